"""``edgeopt bench`` and ``edgeopt demo``: thin shells over :mod:`edgedb_opt.bench`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgedb_opt.bench.chart import check_chart_support, write_chart
from edgedb_opt.bench.demo import DEMO_RUNS, run_demo
from edgedb_opt.bench.report import BenchReport, load_saved, regressions, table_lines, write_csv
from edgedb_opt.bench.run import parse_engines, parse_scales, run_bench
from edgedb_opt.cli.common import emit_json, json_option
from edgedb_opt.cli.progress import ProgressBar
from edgedb_opt.errors import ConfigError

__all__ = ["bench", "demo"]

#: Exit status when ``--fail-if-slower`` finds a regression (1 is any other error).
REGRESSION_EXIT = 2


def _echo_table(report: BenchReport) -> None:
    for line in table_lines(report):
        click.echo(line)


@click.command()
@click.option(
    "--db",
    "source",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Measure copies of this seeded study database instead of seeding (never modified).",
)
@click.option("--scale", default=None, help="Datagen scale: tiny, small, medium (default), large.")
@click.option("--scales", default=None, help="Several scales, e.g. tiny,small,medium (curve).")
@click.option("--seed", type=int, default=42, show_default=True, help="Datagen seed.")
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=None,
    help="Measured calls per variant (default 5, up to 30 for fast calls).",
)
@json_option
@click.option("--csv", "csv_file", type=click.Path(path_type=Path), help="Write one row per op.")
@click.option("--chart", type=click.Path(path_type=Path), help="Write a PNG chart (matplotlib).")
@click.option("--cache", is_flag=True, help="Optimized variant with the query cache on.")
@click.option(
    "--engine",
    type=click.Choice(["sqlite", "turso", "both"]),
    default="sqlite",
    show_default=True,
    help="The engine both variants run on: SQLite, the Turso engine (pyturso), or both in turn.",
)
@click.option(
    "--baseline",
    "saved",
    type=click.Path(path_type=Path),
    help="A saved --json report to compare optimized medians with.",
)
@click.option(
    "--fail-if-slower",
    type=click.FloatRange(min=0),
    default=None,
    help="With --baseline: exit 2 if an optimized median regressed by more than PCT %.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where seeded files are kept (default $XDG_CACHE_HOME/edgeopt/bench).",
)
def bench(
    source: Path | None,
    scale: str | None,
    scales: str | None,
    seed: int,
    runs: int | None,
    as_json: bool,
    csv_file: Path | None,
    chart: Path | None,
    cache: bool,
    engine: str,
    saved: Path | None,
    fail_if_slower: float | None,
    cache_dir: Path | None,
) -> None:
    """Baseline vs optimized for every study-flow operation, on copies of one database.

    The baseline copy keeps base.sql and SQLite's defaults; the other gets the study pack
    and runs through EdgeDatabase. With --scales, FILE of --chart holds two panels: the bars
    of the largest scale and latency against data size for both variants.

    Example: edgeopt bench --scale small --json > small.json && edgeopt bench --scale small
    --baseline small.json --fail-if-slower 20
    """
    if fail_if_slower is not None and saved is None:
        raise ConfigError("--fail-if-slower needs --baseline FILE (a saved bench --json)")
    if scales and (scale or source):
        raise ConfigError("give --scales, or --scale / --db, not both")
    previous = load_saved(saved) if saved is not None else None
    if chart is not None:
        check_chart_support()
    names = parse_scales(scales) if scales else [scale]
    bar = ProgressBar(enabled=True)
    try:
        reports = [
            run_bench(
                scale=s,
                source=source,
                seed=seed,
                runs=runs,
                cache=cache,
                cache_dir=cache_dir,
                progress=bar.update,
                engine=e,
            )
            for s in names
            for e in parse_engines(engine)
        ]
    finally:
        bar.close()
    report = reports[-1]
    if as_json:
        data = report.as_dict()
        if len(names) > 1:
            data["scales"] = [r.as_dict() for r in reports]
        if engine == "both":
            data["engines"] = [r.as_dict() for r in reports[-2:]]
        emit_json(data)
    else:
        for r in reports:
            _echo_table(r)
            click.echo("")
    if csv_file is not None:
        write_csv(reports, csv_file)
    if chart is not None:
        write_chart(reports, chart)
        click.echo(f"chart written to {chart}", err=as_json)
    if previous is not None and fail_if_slower is not None:
        slower = regressions(report, previous, fail_if_slower)
        if slower:
            click.echo(
                f"edgeopt: slower than {saved} by more than {fail_if_slower:g}%: "
                + "; ".join(slower),
                err=True,
            )
            sys.exit(REGRESSION_EXIT)


@click.command()
@click.option(
    "--db",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("./edgeopt-demo.db"),
    show_default=True,
    help="The demo file (deleted and re-created).",
)
@click.option("--scale", default="small", show_default=True, help="Datagen scale (tests: tiny).")
@click.option("--chart", type=click.Path(path_type=Path), help="Write the before/after PNG here.")
def demo(path: Path, scale: str, chart: Path | None) -> None:
    """The tour: seed, bench before, apply the pack, bench after, status, roll back.

    Example: edgeopt demo --chart demo.png
    """
    if chart is not None:
        check_chart_support()
    bar = ProgressBar(enabled=True)
    try:
        result = run_demo(path, scale=scale, runs=DEMO_RUNS, say=click.echo, progress=bar.update)
    finally:
        bar.close()
    click.echo("")
    _echo_table(result.report)
    if chart is not None:
        click.echo(f"chart written to {write_chart([result.report], chart)}")
    click.echo("\n6. status after apply:")
    for s in result.status:
        click.echo(f"   {s.id:<28} {s.state:<8} {s.reason or ''}".rstrip())
    click.echo(f"7. rolled back {len(result.rolled_back)} steps")
    click.echo(f"schema restored: {'yes' if result.schema_restored else 'NO'}")
    click.echo(f"demo finished in {result.seconds:.1f} s")
    if not result.schema_restored:
        raise ConfigError("rollback did not restore the schema (see above)")
