"""``edgeopt`` commands that inspect a database: rewrite, health (advise joins them)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edgedb_opt._cli_common import (
    db_option,
    json_option,
    main,
    replica_option_value,
    root_option,
    run,
)
from edgedb_opt._cli_common import emit_json as _emit_json
from edgedb_opt._cli_common import with_db as _with_db
from edgedb_opt.drivers import parse_target


@main.command()
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
    from edgedb_opt._resources import base_sql
    from edgedb_opt.rewrite import Schema, optimize, read_schema

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


@main.command()
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
    from edgedb_opt.database import EdgeDatabase
    from edgedb_opt.health import health as check_health
    from edgedb_opt.health import prometheus_text
    from edgedb_opt.regions import load_settings

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
