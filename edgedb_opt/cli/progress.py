"""Progress display for long commands: a bar for seeding, a live status line for migrations.

Both draw only on a terminal's stderr, so piped output and ``--json`` stay clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import click

from edgedb_opt.migrate.engine import Event
from edgedb_opt.sqltext import Statement

T = TypeVar("T")


def first_line(sql: str) -> str:
    """The first line of a statement, cut to fit one terminal line.

    >>> first_line("  CREATE INDEX i\\n  ON t (a);")
    'CREATE INDEX i'
    """
    return sql.strip().splitlines()[0][:90]


class ProgressBar:
    """A click progress bar on a terminal's stderr, silent otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._label = ""
        self._done = 0

    def update(self, label: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None or label != self._label:
            self.close()
            self._label, self._done = label, 0
            self._bar = click.progressbar(
                length=max(total, 1), label=f"{label:<26}", file=sys.stderr
            )
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


class LiveProgress:
    """A live status line on a terminal's stderr once a run passes one second.

    The database work runs in the driver's thread, so a ticker task on the event loop can
    redraw the line (step, statement, elapsed time) while a long index build is under way.
    """

    def __init__(self, *, enabled: bool, total: int) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.total = total
        self.t0 = time.perf_counter()
        self.index = 0
        self.step = ""
        self.what = ""
        self.since = self.t0
        self.shown = False

    def __call__(self, event: Event) -> None:
        kind, step_id, payload = event
        if kind == "start":
            self.index += 1
            self.step, self.what = step_id, ""
        elif kind == "statement_start" and isinstance(payload, Statement):
            self.what, self.since = first_line(payload.sql), time.perf_counter()

    def draw(self) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.t0 < 1.0 or not self.step:
            return
        line = (
            f"[{self.index}/{self.total}] {self.step}: {self.what[:60]} "
            f"({now - self.since:.1f} s, {now - self.t0:.1f} s in all)"
        )
        click.echo(f"\r\x1b[2K{line}", err=True, nl=False)
        self.shown = True

    async def tick(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.2)

    async def around(self, work: Awaitable[T]) -> T:
        """Await ``work`` while redrawing the status line; clear it afterwards."""
        ticker = asyncio.create_task(self.tick())
        try:
            return await work
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            if self.shown:
                click.echo("\r\x1b[2K", err=True, nl=False)
