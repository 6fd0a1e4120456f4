"""``edgeopt init`` and ``edgeopt seed``: the reference schema and synthetic data."""

from __future__ import annotations

import datetime as dt
import time

import click

from edgedb_opt import datagen
from edgedb_opt.cli.common import db_option, json_option, run
from edgedb_opt.cli.common import emit_json as _emit_json
from edgedb_opt.cli.common import with_db as _with_db
from edgedb_opt.cli.progress import ProgressBar
from edgedb_opt.drivers.base import Driver
from edgedb_opt.schema import init_schema

__all__ = ["init", "seed"]


@click.command()
@db_option
@json_option
def init(db: str, as_json: bool) -> None:
    """Create the reference schema (schema/base.sql) where it is absent.

    Example: edgeopt init --db app.db
    """
    created = run(_with_db(db, init_schema))
    if as_json:
        _emit_json({"created": created})
    elif created:
        click.echo(f"created {len(created)} tables in {db}: {', '.join(created)}")
    else:
        click.echo(f"{db} already has the reference schema")


@click.command()
@db_option
@json_option
@click.option(
    "--scale",
    type=click.Choice(list(datagen.SCALES)),
    default="tiny",
    show_default=True,
    help="How much data.",
)
@click.option("--seed", "seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--anchor",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date the data ends at (default: today, UTC). Same seed + anchor = same bytes.",
)
def seed(db: str, as_json: bool, scale: str, seed: int, anchor: dt.datetime | None) -> None:
    """Fill an empty database with deterministic synthetic study data.

    Example: edgeopt seed --db app.db --scale small --seed 7
    """
    bar = ProgressBar(enabled=not as_json)

    async def body(conn: Driver) -> dict[str, int]:
        await init_schema(conn)
        return await datagen.seed_database(
            conn, scale=scale, seed=seed, anchor=anchor, progress=bar.update
        )

    t0 = time.perf_counter()
    try:
        counts = run(_with_db(db, body))
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    if as_json:
        _emit_json({"scale": scale, "seed": seed, "rows": counts, "seconds": round(seconds, 2)})
        return
    total = sum(counts.values())
    click.echo(f"seeded {db} at scale {scale} (seed {seed}): {total:,} rows in {seconds:.1f} s")
    for table, n in counts.items():
        click.echo(f"  {table:<26} {n:>10,}")
