"""``edgeopt loadtest``: the CLI over :mod:`edgedb_opt.loadtest`."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from edgedb_opt.cli.common import emit_json, json_option, run
from edgedb_opt.loadtest import (
    SCENARIOS,
    LoadOptions,
    failures,
    format_report,
    parse_fail_if,
    parse_mix,
    prepare_target,
    run_load,
    write_csv,
)


@click.command()
@click.option(
    "--scenario",
    type=click.Choice(list(SCENARIOS)),
    default="light",
    show_default=True,
    help="light 100 users, medium 500, heavy 1,000, spike 100 -> 1,500 -> 100 over 40 s.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds of load (spike: at least its 40 s shape).",
)
@click.option(
    "--db",
    "db",
    envvar="EDGEOPT_DB",
    default=None,
    help="A seeded file with the pack applied (the run writes to it) or a loopback URL; "
    "default: a fresh copy of a cached seeded database (env EDGEOPT_DB).",
)
@json_option
@click.option(
    "--csv", "csv_file", type=click.Path(dir_okay=False), help="Write one row per operation."
)
@click.option("--mix", help="Operation weights, e.g. study_questions=40,record_answers=30,...")
@click.option(
    "--think",
    "think_ms",
    type=click.FloatRange(min=0),
    default=2000.0,
    show_default=True,
    help="Mean think time in ms (each pause is uniform on 0.5x..1.5x).",
)
@click.option(
    "--fail-if",
    "fail_if",
    multiple=True,
    help="Exit 2 when error_rate=X or p95_ms=Y (each read) is exceeded (repeatable).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Cast and choices seed.")
@click.option("--users", type=click.IntRange(min=1), help="Override the scenario's user count.")
@click.option("--max-requests", type=click.IntRange(min=1), help="Stop after this many requests.")
@click.option(
    "--scale",
    default="small",
    show_default=True,
    help="Scale of the default database (ignored with --db).",
)
@click.option("--readers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--read-only",
    is_flag=True,
    hidden=True,
    help="Make the writer refuse writes (PRAGMA query_only): every write fails and is counted.",
)
def loadtest(
    scenario: str,
    duration: float,
    db: str | None,
    as_json: bool,
    csv_file: str | None,
    mix: str | None,
    think_ms: float,
    fail_if: tuple[str, ...],
    seed: int,
    users: int | None,
    max_requests: int | None,
    scale: str,
    readers: int,
    read_only: bool,
) -> None:
    """Simulated users running the study flow through one EdgeDatabase; latency report.

    Each user thinks (1-3 s by default), then runs one operation of the mix: study
    questions 40%, record answers 30%, session progress 15%, leaderboard 10%, growth
    analytics 5%. Exit status 2 when a --fail-if threshold is exceeded.

    Example: edgeopt loadtest --scenario heavy --duration 60 --fail-if p95_ms=25
    """
    limits = parse_fail_if(fail_if)
    options = LoadOptions(
        scenario=scenario,
        duration=duration,
        users=users,
        mix=parse_mix(mix),
        think_ms=think_ms,
        seed=seed,
        max_requests=max_requests,
        readers=readers,
        read_only=read_only,
        progress=None if as_json else _progress_writer(),
    )
    target = prepare_target(db, scale=scale, seed=seed)
    try:
        report = run(run_load(target, options))
    finally:
        target.cleanup()
    if not as_json and sys.stderr.isatty():
        click.echo("", err=True)  # end the live line
    if csv_file:
        write_csv(csv_file, report["operations"])
    if as_json:
        emit_json(report)
    else:
        click.echo(format_report(report))
    broken = failures(report, limits)
    if broken:
        click.echo(f"edgeopt: loadtest failed: {'; '.join(broken)}", err=True)
        sys.exit(2)


def _progress_writer() -> Callable[[str], None]:
    """The live line: rewritten in place on a terminal, one line per 5 s otherwise."""
    tty = sys.stderr.isatty()
    state = {"n": 0}

    def show(line: str) -> None:
        state["n"] += 1
        if tty:
            click.echo(f"\r{line}", err=True, nl=False)
        elif state["n"] % 10 == 1:  # a log file gets a line every 5 s, not every 0.5 s
            click.echo(line, err=True)

    return show
