"""What every driver shares about its lifetime: what it is connected to, closing, and a
``ResourceWarning`` when it is collected open (as aiosqlite does)."""

from __future__ import annotations

import warnings
from typing import Any

from edgedb_opt.drivers.base import Capabilities
from edgedb_opt.errors import DriverError


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

    async def __aenter__(self) -> Any:
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
