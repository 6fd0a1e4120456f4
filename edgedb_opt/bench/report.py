"""A benchmark run's report: the table, ``--json`` (the documented shape), ``--csv``, and the
regression gate against a saved ``--json`` (``--baseline FILE --fail-if-slower PCT``)."""

from __future__ import annotations

import csv
import json
import os
import platform
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedb_opt.bench.runner import OperationResult
from edgedb_opt.errors import ConfigError

__all__ = [
    "CSV_COLUMNS",
    "BenchReport",
    "load_saved",
    "machine_info",
    "regressions",
    "table_lines",
    "write_csv",
]

CSV_COLUMNS = (
    "scale", "name", "baseline_ms", "optimized_ms", "speedup", "same_results",
    "baseline_p95_ms", "optimized_p95_ms", "runs", "target", "met",
)  # fmt: skip


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: cores, Python, SQLite, platform."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
    }


@dataclass
class BenchReport:
    """One scale's results (``answers``: rows in ``user_answers``, the curve's x axis)."""

    scale: str
    operations: list[OperationResult]
    answers: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``{"scale", "operations": [{"name", "baseline_ms", "optimized_ms", "speedup",
        "same_results", ...}], ...}``."""
        return {
            "scale": self.scale,
            "operations": [op.as_dict() for op in self.operations],
            "answers": self.answers,
            "seconds": round(self.seconds, 1),
            "machine": machine_info(),
            **self.extra,
        }


def _fmt_ms(ms: float) -> str:
    return f"{ms:,.3f}" if ms < 100 else f"{ms:,.1f}"


def table_lines(report: BenchReport) -> list[str]:
    """The printed table: operation, baseline ms, optimized ms, speedup, same, target, met."""
    head = (
        f"{'operation':<24} {'baseline ms':>12} {'optimized ms':>13} {'speedup':>9} "
        f"{'same':>5} {'target':>7} {'met':>4}"
    )
    engine = report.extra.get("engine", "sqlite")
    title = f"scale {report.scale} ({report.answers:,} answers), engine {engine}"
    lines = [title, head, "-" * len(head)]
    for op in report.operations:
        target = "-" if op.target is None else f"{op.target:g}x"
        met = "-" if op.met is None else ("yes" if op.met else "NO")
        lines.append(
            f"{op.name:<24} {_fmt_ms(op.baseline_ms):>12} {_fmt_ms(op.optimized_ms):>13} "
            f"{op.speedup:>8.1f}x {'yes' if op.same_results else 'NO':>5} {target:>7} {met:>4}"
        )
    if report.scale != "medium":
        lines.append("(targets are the study-flow issue's, judged at scale medium)")
    return lines


def write_csv(reports: Sequence[BenchReport], path: Path) -> None:
    """One row per operation (and scale), columns :data:`CSV_COLUMNS`."""
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for report in reports:
                for op in report.operations:
                    writer.writerow({"scale": report.scale, **op.as_dict()})
    except OSError as exc:
        raise ConfigError(
            f"csv {path}: cannot write it: {exc.strerror or exc}", param="csv"
        ) from exc


def load_saved(path: Path) -> dict[str, Any]:
    """A report saved with ``--json``; ConfigError if it cannot be read or is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"baseline {path}: cannot read it: {exc.strerror or exc}", param="baseline"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"baseline {path} is not JSON: {exc}", param="baseline") from exc
    ops = data.get("operations") if isinstance(data, dict) else None
    if not isinstance(ops, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str)
        and isinstance(o.get("optimized_ms"), int | float)
        for o in ops
    ):  # fmt: skip
        raise ConfigError(f"baseline {path} is not a saved bench JSON report", param="baseline")
    return dict(data)


def regressions(report: BenchReport, saved: Mapping[str, Any], pct: float) -> list[str]:
    """Every operation whose optimized median is more than ``pct`` percent above the saved
    one, as ``"name: 1.234 ms vs 0.900 ms saved (+37%)"``."""
    before = {o["name"]: float(o["optimized_ms"]) for o in saved["operations"]}
    out = []
    for op in report.operations:
        old = before.get(op.name)
        if old is None or old <= 0:
            continue
        change = (op.optimized_ms / old - 1) * 100
        if change > pct:
            out.append(
                f"{op.name}: {op.optimized_ms:.3f} ms vs {old:.3f} ms saved (+{change:.0f}%)"
            )
    return out
