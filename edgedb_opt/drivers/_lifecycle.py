"""What every driver shares about its lifetime: what it is connected to, closing, a
``ResourceWarning`` when it is collected open, and an opening that can be awaited or entered
(both as aiosqlite does)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, Protocol, Self, TypeVar

from edgedb_opt.drivers.base import Capabilities
from edgedb_opt.errors import DriverError


class _Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class Opening(Generic[C]):
    """Something being opened: ``await`` it for the object, or ``async with`` it to close the
    object on the way out. Opens at most once.

    >>> import asyncio, tempfile
    >>> from edgedb_opt.drivers import open_driver
    >>> async def both(path: str) -> tuple[list[Any], list[Any]]:
    ...     async with open_driver(path) as a:
    ...         first = await a.fetch_all("SELECT 1")
    ...     async with await open_driver(path) as b:
    ...         return first, await b.fetch_all("SELECT 2")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     asyncio.run(both(f"{folder}/o.db"))
    ([(1,)], [(2,)])
    """

    def __init__(self, open_: Callable[[], Coroutine[Any, Any, C]]) -> None:
        self._open = open_
        self._opened: C | None = None

    def __await__(self) -> Generator[Any, None, C]:
        return self._open().__await__()

    async def __aenter__(self) -> C:
        self._opened = await self._open()
        return self._opened

    async def __aexit__(self, *exc: object) -> None:
        if self._opened is not None:
            opened, self._opened = self._opened, None
            await opened.close()


class DriverLifecycle:
    """Base of the drivers: ``target``, ``capabilities``, ``closed``, ``async with``.

    Subclasses implement ``close()`` (setting ``_closed``) and may override ``_abandon`` to
    release what a driver collected open still holds, without awaiting.
    """

    name = "driver"

    def __init__(self, *, target: str, capabilities: Capabilities) -> None:
        self._target = target
        self._capabilities = capabilities
        self._closed = False

    @property
    def target(self) -> str:
        return self._target

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise DriverError(f"{self.name} driver for {self._target} is closed")

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            warnings.warn(
                f"{self.name} driver for {self._target} was never closed",
                ResourceWarning,
                stacklevel=2,
            )
            self._abandon()

    def _abandon(self) -> None:
        """Release what a driver collected open still holds (no awaiting: no loop may be left)."""
