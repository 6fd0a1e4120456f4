"""Recording a load test's outcomes and turning them into its report (text, JSON, CSV).

Percentiles are nearest-rank over every latency of the run (kept whole: a 60 s heavy run
is ~30,000 floats), so p99.9 is a real observation, never an interpolation.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedb_opt.loadtest.scenarios import OPERATIONS, READ_OPERATIONS, Thresholds
from edgedb_opt.runtime.stats import percentile

__all__ = [
    "CSV_COLUMNS",
    "QUANTILES",
    "Recorder",
    "failures",
    "format_report",
    "write_csv",
]

#: (report key, quantile in percent) of every latency percentile reported.
QUANTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9))
CSV_COLUMNS = (
    "operation", "count", "errors", "throughput_rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
    "p99_9_ms", "max_ms", "errors_by_type",
)  # fmt: skip


@dataclass
class _Op:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class Recorder:
    """Latencies and errors per operation, plus a few counters sampled during the run.

    >>> r = Recorder()
    >>> r.ok("leaderboard", 2.0); r.error("leaderboard", ValueError("x"), 1.0)
    >>> r.requests, r.errors, r.operation("leaderboard", 1.0)["errors_by_type"]
    (2, 1, {'ValueError': 1})
    """

    def __init__(self) -> None:
        self.ops: dict[str, _Op] = {name: _Op() for name in OPERATIONS}
        self.requests = 0
        self.errors = 0
        self.cancelled = 0
        self.max_writer_queue = 0
        self.max_waiting = 0
        self._window: list[float] = []  # latencies since the last progress line

    def ok(self, op: str, ms: float) -> None:
        self.ops[op].latencies_ms.append(ms)
        self._window.append(ms)
        self.requests += 1

    def error(self, op: str, exc: BaseException, ms: float) -> None:
        """Count a failed operation by its exception's class name (its latency too)."""
        self.ops[op].latencies_ms.append(ms)
        self.ops[op].errors[type(exc).__name__] += 1
        self.requests += 1
        self.errors += 1

    def recent_p95(self) -> float:
        """p95 (ms) of the latencies since the previous call."""
        window, self._window = sorted(self._window), []
        return percentile(window, 95.0)

    def operation(self, name: str, seconds: float) -> dict[str, Any]:
        """One operation's row: count, throughput, percentiles, errors by type."""
        op = self.ops[name]
        ordered = sorted(op.latencies_ms)
        row: dict[str, Any] = {
            "operation": name,
            "count": len(ordered),
            "errors": sum(op.errors.values()),
            "throughput_rps": round(len(ordered) / seconds, 2) if seconds > 0 else 0.0,
        }
        for key, q in QUANTILES:
            row[f"{key}_ms"] = round(percentile(ordered, q), 3)
        row["max_ms"] = round(ordered[-1], 3) if ordered else 0.0
        row["errors_by_type"] = dict(op.errors.most_common())
        return row


def failures(report: Mapping[str, Any], limits: Thresholds) -> list[str]:
    """What broke a ``--fail-if`` limit, one phrase each (empty: the run passed).

    The p95 limit applies to each read operation that ran.
    """
    broken: list[str] = []
    overall = report["overall"]
    if limits.error_rate is not None and overall["error_rate"] > limits.error_rate:
        broken.append(f"error_rate {overall['error_rate']:g} > {limits.error_rate:g}")
    if limits.p95_ms is not None:
        for row in report["operations"]:
            read = row["operation"] in READ_OPERATIONS and row["count"]
            if read and row["p95_ms"] > limits.p95_ms:
                name, p95 = row["operation"], row["p95_ms"]
                broken.append(f"{name} p95 {p95:g} ms > {limits.p95_ms:g}")
    return broken


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """One row per operation, columns :data:`CSV_COLUMNS` (errors by type as ``A:n;B:m``)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(CSV_COLUMNS)
        for row in rows:
            kinds = ";".join(f"{k}:{v}" for k, v in row["errors_by_type"].items())
            out.writerow([*(row[c] for c in CSV_COLUMNS[:-1]), kinds])


def format_report(report: Mapping[str, Any]) -> str:
    """The human-readable report: a table of operations, then the overall figures."""
    head = (
        f"{'operation':<18}{'count':>8}{'req/s':>9}"
        + "".join(f"{k.replace('_', '.'):>9}" for k, _ in QUANTILES)
        + f"{'max':>9}  errors"
    )
    lines = [head]
    for row in report["operations"]:
        errs = ", ".join(f"{k} {v}" for k, v in row["errors_by_type"].items()) or "0"
        cells = "".join(f"{row[f'{k}_ms']:>9.2f}" for k, _ in QUANTILES)
        lines.append(
            f"{row['operation']:<18}{row['count']:>8}{row['throughput_rps']:>9.1f}{cells}"
            f"{row['max_ms']:>9.2f}  {errs}"
        )
    o = report["overall"]
    lines.append("(latencies in ms)")
    lines.append(
        f"{report['scenario']}: {o['users_peak']} users peak, {o['seconds']:.1f} s, "
        f"{o['requests']} requests ({o['throughput_rps']:.1f}/s), "
        f"error rate {o['error_rate']:.4%}, cancelled at the deadline {o['cancelled']}"
    )
    lines.append(
        f"cache hit rate {o['cache_hit_rate']:.1%} ({o['cache_hits']} hits, "
        f"{o['cache_misses']} misses); pool wait p95 {o['pool_wait_p95_ms']:.2f} ms, "
        f"timeouts {o['pool_timeouts']}, max waiting {o['max_pool_waiting']}, "
        f"max writer queue {o['max_writer_queue']}, "
        f"writer hold p95 {o['writer_hold_p95_ms']:.2f} ms"
    )
    return "\n".join(lines)
