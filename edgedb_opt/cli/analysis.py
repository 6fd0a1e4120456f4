"""``edgeopt`` commands that inspect a database: rewrite, health, advise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edgedb_opt.cli.common import (
    db_option,
    json_option,
    replica_option_value,
    root_option,
    run,
)
from edgedb_opt.cli.common import emit_json as _emit_json
from edgedb_opt.cli.common import with_db as _with_db
from edgedb_opt.drivers import parse_target
from edgedb_opt.errors import ConfigError


@click.command()
@click.argument("sql")
@db_option
@json_option
def rewrite(sql: str, db: str, as_json: bool) -> None:
    """Rewrite SQL with the NULL-safe rules; show the rules applied and those refused.

    SQL is one statement, or - to read it from stdin. Column nullability and keys come from
    the database at --db; when the default ./edgeopt.db does not exist, from the reference
    schema (schema/base.sql).

    Example: edgeopt rewrite "SELECT id FROM exams WHERE id NOT IN (SELECT exam_id FROM questions)"
    """
    from edgedb_opt.rewrite import Schema, optimize, read_schema
    from edgedb_opt.schema import base_sql

    text = sys.stdin.read() if sql == "-" else sql
    ctx = click.get_current_context()
    source = ctx.get_parameter_source("db")
    defaulted = source in (click.core.ParameterSource.DEFAULT, None)
    if defaulted and parse_target(db)[0] == "sqlite" and not Path(parse_target(db)[1]).exists():
        schema = Schema.from_ddl(base_sql())
    else:
        schema = run(_with_db(db, read_schema, read_only=True, must_exist=True))
    result = optimize(text, schema, pretty=not as_json)
    if as_json:
        _emit_json(result.as_dict())
        return
    click.echo(result.sql)
    click.echo(f"-- applied: {', '.join(result.applied) or 'none'}")
    for refusal in result.refused:
        click.echo(f"-- refused {refusal.rule}: {refusal.reason}")


@click.command()
@db_option
@json_option
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="EDGEOPT_CONFIG",
    help="A TOML settings file (regions, pools, cache); env EDGEOPT_CONFIG.",
)
@click.option("--prometheus", is_flag=True, help="Print Prometheus exposition text.")
def health(db: str, as_json: bool, config: str | None, prometheus: bool) -> None:
    """Check connectivity and latency, pragmas, WAL size, hot-query plans, FTS5 integrity,
    statistics freshness, replica lag, pools and cache; recommend fixes.

    Exit status: 0 healthy (warnings allowed), 2 unhealthy (a check failed), 1 error.

    Example: edgeopt health --db app.db --json
    """
    from edgedb_opt.runtime.database import EdgeDatabase
    from edgedb_opt.runtime.health import health as check_health
    from edgedb_opt.runtime.health import prometheus_text
    from edgedb_opt.runtime.regions import load_settings

    source = click.get_current_context().get_parameter_source("db")
    overrides: dict[str, Any] = {}
    if config is None or source not in (click.core.ParameterSource.DEFAULT, None):
        overrides["db"] = db
    if replica_option_value():
        overrides["replica"] = replica_option_value()
    if root_option("driver"):
        overrides["driver"] = root_option("driver")
    settings = load_settings(config, **overrides)

    async def body() -> tuple[Any, bytes]:
        edge = await EdgeDatabase.connect(settings, must_exist=True, tune=False)
        try:
            report = await check_health(edge)
            return report, prometheus_text(report, edge) if prometheus else b""
        finally:
            await edge.close()

    report, text = run(body())
    if prometheus:
        click.echo(text.decode(), nl=False)
    elif as_json:
        _emit_json(report.as_dict())
    else:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        for c in report.checks:
            click.echo(f"{marks[c.level]} {c.name:<18} {c.detail}")
        for n, rec in enumerate(report.recommendations, 1):
            click.echo(f"{'recommendations:' if n == 1 else '':<16}  {n}. {rec}")
        click.echo("healthy" if report.healthy else "UNHEALTHY")
    if not report.healthy:
        sys.exit(2)


@click.command()
@click.option(
    "--workload",
    type=click.Path(dir_okay=False),
    default=None,
    help="The application's statements, one per ';' ('-- weight: N' before one says how often "
    "it runs; '-- params: JSON' gives sample values); also what Monitor.export_workload writes.",
)
@click.option(
    "--trace",
    type=click.Path(dir_okay=False),
    default=None,
    help="Instead of --workload: a SQLite trace (sqlite3's .trace output, or what Python's "
    "set_trace_callback printed), statements counted per fingerprint.",
)
@db_option
@json_option
@click.option("--budget-mb", type=float, default=None, help="Total size the new indexes may take.")
@click.option(
    "--emit-pack",
    type=click.Path(file_okay=False),
    default=None,
    help="Write the proposals as a pack folder for edgeopt apply --pack DIR.",
)
@click.option(
    "--compare-expert",
    is_flag=True,
    help="Also run sqlite3's .expert on the same statements and measure both sets.",
)
@click.option(
    "--verify",
    "verify_pack",
    type=click.Path(file_okay=False),
    default=None,
    help="After apply --pack DIR: time the statements of the advice kept in DIR on the live "
    "file (read-only) and show before / predicted / now per statement.",
)
def advise(
    workload: str | None,
    trace: str | None,
    db: str,
    as_json: bool,
    budget_mb: float | None,
    emit_pack: str | None,
    compare_expert: bool,
    verify_pack: str | None,
) -> None:
    """Propose indexes for a workload, measured on a scratch copy of the database.

    Covering and partial candidates from each statement's shape, timed with values from the
    data; a greedy set by time saved per byte. Existing indexes no statement uses, and
    prefix duplicates, are reported (never dropped). The database is only read.

    Example: edgeopt advise --db app.db --workload workload.sql --emit-pack packs/app
    """
    from edgedb_opt.advise import advise as run_advise
    from edgedb_opt.advise import compare_with_expert, load_trace, load_workload
    from edgedb_opt.advise import emit_pack as write_pack

    kind, where = parse_target(db)
    if kind != "sqlite":
        raise ConfigError(f"--db {db!r}: advise works on SQLite files (copy the database locally)")
    if verify_pack is not None:
        _verify(where, verify_pack, as_json)
        return
    if (workload is None) == (trace is None):
        raise ConfigError("give the statements as --workload FILE or as --trace FILE (one)")
    statements = load_workload(workload) if workload is not None else load_trace(str(trace))

    def say(text: str) -> None:
        click.echo(f"advise: {text}", err=True)

    advice = run_advise(where, statements, budget_mb=budget_mb, progress=say)
    if compare_expert:
        say("measuring sqlite3 .expert's proposals and ours on fresh copies")
        compare_with_expert(where, statements, advice)
    files = write_pack(advice, emit_pack) if emit_pack else []
    if as_json:
        out = advice.as_dict()
        out["pack_files"] = [str(f) for f in files]
        _emit_json(out)
        return
    _print_advice(advice, files)


def _verify(db: str, pack: str, as_json: bool) -> None:
    from edgedb_opt.advise.verify import verify

    result = verify(db, pack)
    if as_json:
        _emit_json(result.as_dict())
        return
    click.echo(f"{'#':>3} {'weight':>6} {'before ms':>10} {'predicted':>10} {'now ms':>10}  uses")
    for s in result.statements:
        now = "(write)" if s.ms_now is None else f"{s.ms_now:.3f}"
        used = ", ".join(s.uses) or "-"
        click.echo(
            f"{s.index:>3} {s.weight:>6g} {s.ms_before:>10.3f} {s.ms_predicted:>10.3f} "
            f"{now:>10}  {used}"
        )
    click.echo(
        f"reads, weighted: {result.reads_ms_before:.3f} ms before, "
        f"{result.reads_ms_predicted:.3f} predicted, {result.reads_ms_now:.3f} now"
    )
    for name in result.missing:
        click.echo(f"  not in the database: {name} (apply the pack first)")


def _print_advice(advice: Any, files: list[Path]) -> None:
    click.echo(f"{'#':>3} {'weight':>6} {'before ms':>11} {'after ms':>10}  indexes used / note")
    for s in advice.statements:
        used = ", ".join(s.uses) or (s.note or "-")
        click.echo(f"{s.index:>3} {s.weight:>6g} {s.ms_before:>11.3f} {s.ms_after:>10.3f}  {used}")
    click.echo(
        f"weighted workload: {advice.weighted_ms_before:.3f} ms before, "
        f"{advice.weighted_ms_after:.3f} ms after; {len(advice.indexes)} indexes, "
        f"{advice.total_bytes:,} bytes (from {advice.candidates} candidates)"
    )
    for idx in advice.indexes:
        serves = ", ".join(str(i) for i in idx.serves)
        click.echo(f"  {idx.create_sql};  -- {idx.bytes:,} bytes, statements {serves}")
    for line in advice.unused_existing + advice.prefix_duplicates:
        click.echo(f"  suggestion (not applied): {line}")
    if advice.comparison:
        c = advice.comparison
        click.echo(f"{'':<10} {'indexes':>8} {'bytes':>14} {'weighted ms':>12}")
        click.echo(f"{'before':<10} {'-':>8} {'-':>14} {c['weighted_ms_before']:>12.3f}")
        for who in ("expert", "ours"):
            r = c[who]
            click.echo(
                f"{who:<10} {r['index_count']:>8} {r['bytes']:>14,} {r['weighted_ms']:>12.3f}"
            )
    for f in files:
        click.echo(f"wrote {f}")
