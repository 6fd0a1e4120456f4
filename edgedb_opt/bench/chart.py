"""``--chart FILE``: a PNG of the before/after bars, and with several scales the scale curve.

One scale: one panel, baseline and optimized median per operation (log scale). Several
scales (``--scales``): one figure with two panels, the bars of the largest scale on the
left and, on the right, each operation's median latency against the number of answers
(baseline dashed, optimized solid, log-log). Several engines at one scale (``--engine
both``): one bars panel per engine, side by side. matplotlib is an optional extra
(``pip install 'edgeopt[chart]'``) and is imported only here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgedb_opt.bench.report import BenchReport
from edgedb_opt.errors import ConfigError

__all__ = ["INSTALL_HINT", "write_chart"]

INSTALL_HINT = "--chart needs matplotlib: pip install 'edgeopt[chart]'"


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    matplotlib.use("Agg")  # files only: never open a window or need a display
    return importlib.import_module("matplotlib.pyplot")


def check_chart_support() -> None:
    """ConfigError with :data:`INSTALL_HINT` when matplotlib is missing (checked before a
    long run rather than after it)."""
    _pyplot()


def speedup_label(speedup: float) -> str:
    """A bar's label: whole numbers from 10x, one decimal below (1.5x is not "2x").

    >>> [speedup_label(s) for s in (1.46, 9.94, 10.4, 3685.2)]
    ['1.5x', '9.9x', '10x', '3685x']
    """
    return f"{speedup:.0f}x" if speedup >= 9.95 else f"{speedup:.1f}x"


def _bars(ax: Any, report: BenchReport) -> None:
    names = [op.name for op in report.operations]
    xs = range(len(names))
    width = 0.4
    base = [op.baseline_ms for op in report.operations]
    opt = [op.optimized_ms for op in report.operations]
    ax.bar([x - width / 2 for x in xs], base, width, label="baseline", color="#c0504d")
    ax.bar([x + width / 2 for x in xs], opt, width, label="optimized", color="#4f81bd")
    for x, op in zip(xs, report.operations, strict=True):
        ax.annotate(speedup_label(op.speedup), (x + width / 2, op.optimized_ms), ha="center",
                    va="bottom", fontsize=7)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("median latency, ms (log)")
    engine = report.extra.get("engine", "sqlite")
    ax.set_title(f"baseline vs optimized, scale {report.scale}, engine {engine}")
    ax.legend(fontsize=8)


def _curve(ax: Any, reports: Sequence[BenchReport]) -> None:
    ordered = sorted(reports, key=lambda r: r.answers)
    xs = [max(r.answers, 1) for r in ordered]
    for i, op in enumerate(ordered[-1].operations):
        rows = [next(o for o in r.operations if o.name == op.name) for r in ordered]
        color = f"C{i % 10}"
        ax.plot(xs, [o.baseline_ms for o in rows], "--o", color=color, markersize=3)
        ax.plot(xs, [o.optimized_ms for o in rows], "-o", color=color, markersize=3,
                label=op.name)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("answers in the database (log)")
    ax.set_ylabel("median latency, ms (log)")
    ax.set_title("scale curve: baseline dashed, optimized solid")
    ax.legend(fontsize=7)


def write_chart(reports: Sequence[BenchReport], path: Path) -> Path:
    """Write the PNG for one report (bars) or several (bars + scale curve); return ``path``.

    Raises:
        ConfigError: matplotlib is missing, or the file cannot be written.
    """
    plt = _pyplot()
    by_engine: dict[str, list[BenchReport]] = {}
    for r in reports:
        by_engine.setdefault(str(r.extra.get("engine", "sqlite")), []).append(r)
    bars = [max(rs, key=lambda r: r.answers) for rs in by_engine.values()]
    curve = max(len(rs) for rs in by_engine.values()) > 1
    panels = len(bars) + curve
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 5), squeeze=False)
    try:
        for ax, report in zip(axes[0], bars, strict=False):
            _bars(ax, report)
        if curve:
            _curve(axes[0][-1], list(by_engine.values())[-1])
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=110)
    except OSError as exc:
        raise ConfigError(
            f"chart {path}: cannot write it: {exc.strerror or exc}", param="chart"
        ) from exc
    finally:
        plt.close(fig)
    return path
