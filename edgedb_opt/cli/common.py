"""What every ``edgeopt`` command shares: the click group, one-line errors, shared options.

The group itself lives in :mod:`edgedb_opt.cli`, which adds each command module's commands;
this module imports none of them, so dependencies point one way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from edgedb_opt.drivers import DRIVER_NAMES, open_driver
from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import EdgeOptError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class EdgeoptGroup(click.Group):
    """Turns every EdgeOptError into ``edgeopt: error: <one line>`` and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeOptError as exc:
            if _verbose(ctx):
                raise
            click.echo(f"edgeopt: error: {cli_message(exc)}", err=True)
            ctx.exit(1)


#: Library parameter names whose flag is not ``--`` + the name with dashes.
_FLAGS = {"busy_timeout_ms": "--lock-timeout", "think_ms": "--think"}


def flag(param: str) -> str:
    """The command-line flag of a library parameter.

    >>> flag("budget_mb"), flag("busy_timeout_ms")
    ('--budget-mb', '--lock-timeout')
    """
    return _FLAGS.get(param, "--" + param.replace("_", "-"))


def cli_message(exc: EdgeOptError) -> str:
    """One line for ``exc`` in the shell's terms: the parameter it names and the hint it
    carries said as flags.

    >>> from edgedb_opt.errors import ConfigError, Hint, MigrationError
    >>> cli_message(ConfigError("db '': empty", param="db"))
    "--db '': empty"
    >>> cli_message(MigrationError("b needs a", hint=Hint("step", "a", "include")))
    'b needs a (add --step a)'
    """
    message = exc.message or Exception.__str__(exc)
    if exc.param and message.startswith(exc.param):
        message = flag(exc.param) + message[len(exc.param) :]
    hint = exc.hint
    if hint is not None:
        if hint.action == "include":
            said = f"add {flag(hint.param)} {hint.value}"
        elif hint.action == "raise":
            said = f"raise {flag(hint.param)} to wait longer"
        else:
            said = f"use {flag(hint.param)}" + (f" {hint.value}" if hint.value else "")
        message = f"{message} ({said})"
    return " ".join(message.split())


def _verbose(ctx: click.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(obj and obj.get("verbose"))


def set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "verbose": True}
    return value


def _set_replica(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "replica": value}
    return value


def replica_option_value() -> str | None:
    """The ``--replica`` file of the running command, if one was given."""
    value = root_option("replica")
    return str(value) if value else None


def _set_driver(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "driver": value}
    return value


def _set_flag(name: str) -> Callable[[click.Context, click.Parameter, bool], bool]:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            root = ctx.find_root()
            root.obj = {**(root.obj or {}), name: True}
        return value

    return callback


def root_option(name: str) -> Any:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj.get(name) if obj else None


def db_option(func: F) -> F:
    """``--db`` (default ``$EDGEOPT_DB``, else ``./edgeopt.db``), ``--replica``, ``--verbose``."""
    func = click.option(
        "--db",
        "db",
        envvar="EDGEOPT_DB",
        default="./edgeopt.db",
        show_default=True,
        help="Database: a path, file:PATH, turso:PATH, or a sync server's http(s):// or "
        "libsql:// URL (env EDGEOPT_DB).",
    )(func)
    func = click.option(
        "--replica",
        type=click.Path(dir_okay=False),
        envvar="EDGEOPT_REPLICA",
        expose_value=False,
        callback=_set_replica,
        help="Embedded replica file for an http(s):// or libsql:// --db "
        "(env EDGEOPT_REPLICA; default: under the user cache directory).",
    )(func)
    func = click.option(
        "--read-only",
        is_flag=True,
        expose_value=False,
        callback=_set_flag("read_only"),
        help="Open the database with SQLite's read-only mode: any write fails.",
    )(func)
    func = click.option(
        "--driver",
        type=click.Choice(list(DRIVER_NAMES)),
        envvar="EDGEOPT_DRIVER",
        expose_value=False,
        callback=_set_driver,
        help="Force the driver instead of reading it from --db, e.g. libsql for "
        "libsql-client's file: mode (env EDGEOPT_DRIVER).",
    )(func)
    return verbose_option(func)


def verbose_option(func: F) -> F:
    """``--verbose``: tracebacks instead of one-line errors (on the group and each command)."""
    return click.option(
        "--verbose",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=set_verbose,
        help="Show tracebacks on errors.",
    )(func)


def json_option(func: F) -> F:
    """``--json``: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def pack_option(func: F) -> F:
    return click.option(
        "--pack",
        "packs",
        multiple=True,
        default=("study",),
        show_default=True,
        help="A bundled pack's name or a pack folder (repeatable).",
    )(func)


def dry_run_option(func: F) -> F:
    """``--dry-run``: print the exact SQL; open the database read-only."""
    return click.option(
        "--dry-run", is_flag=True, help="Print the SQL that would run; change nothing."
    )(func)


def lock_timeout_option(func: F) -> F:
    return click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=60.0,
        show_default=True,
        help="Seconds to wait for another process's write lock.",
    )(func)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def with_db(url: str, body: Callable[[Driver], Awaitable[T]], **open_kw: Any) -> T:
    if root_option("read_only"):
        open_kw["read_only"] = True
    db = await open_driver(
        url, replica=replica_option_value(), driver=root_option("driver"), **open_kw
    )
    try:
        return await body(db)
    finally:
        await db.close()


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
