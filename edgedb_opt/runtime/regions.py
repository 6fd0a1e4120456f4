"""Settings, which region serves a request, and where reads and writes go when regions fail.

Settings come from keyword arguments, then ``EDGEOPT_*`` environment variables, then a TOML
file, then defaults (earlier wins; nested keys use ``__``, as in
``EDGEOPT_COUNTRY_REGIONS__DE=fra``; ``EDGEOPT_REGIONS`` is a JSON list). The file is the
deployment's shape, the environment the per-machine override (a secret, the region), which is
why the environment wins. :func:`load_settings` turns every mistake into one
:class:`~edgedb_opt.errors.ConfigError` with a line per problem naming the field.

Auth tokens are :class:`~pydantic.SecretStr`: ``repr``, ``str``, JSON dumps and error messages
show ``**********``; only ``auth_token.get_secret_value()`` reveals one.

Region names are lower-cased. A name that is a known Fly.io, AWS or Vercel code (``fra``,
``eu-west-1``, ``iad1``) gets its coordinates from a built-in table; any other name needs
``latitude``/``longitude`` to take part in distance ranking, and without them is ranked after
every region whose position is known (it still works, it just is never "nearest").

>>> s = load_settings(regions=[{"name": "iad", "url": "libsql://a.example", "primary": True},
...                            {"name": "fra", "url": "libsql://b.example"}], region="fra")
>>> region_for_request(s, {"cf-ipcountry": "US"})
'iad'
>>> RegionRouter(s).read_order()
['fra', 'iad']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from edgedb_opt.runtime import geo as _geo
from edgedb_opt.runtime.settings import (
    COUNTRY_HEADERS,
    PLATFORM_VARIABLES,
    RegionSettings,
    Settings,
    load_settings,
    local_region,
    region_for_request,
)

__all__ = [
    "COUNTRY_HEADERS",
    "PLATFORM_VARIABLES",
    "RegionRouter",
    "RegionSettings",
    "RegionState",
    "Settings",
    "load_settings",
    "local_region",
    "region_for_request",
]


@dataclass(frozen=True)
class RegionState:
    """One region's routing state, as ``edgeopt health`` reports it."""

    healthy: bool
    ewma_ms: float | None
    consecutive_errors: int
    reason: str | None
    primary: bool
    retry_in: float | None  # seconds until an unhealthy region gets a trial request


@dataclass
class _State:
    healthy: bool = True
    ewma_ms: float | None = None
    errors: int = 0
    reason: str | None = None
    since: float = 0.0  # when it went down, or when its last trial request was handed out
    probing: bool = False


def _describe(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    line = text.strip().splitlines()[0] if text.strip() else "error"
    return line if len(line) <= 200 else line[:197] + "..."


class RegionRouter:
    """Picks the region for each read and write, and tracks each region's health.

    Reads: the requested region first, then the others nearest-first by great-circle
    distance (regions without a position after those with one, in configuration order).
    Unhealthy regions are not dropped but moved to the end, nearest-first, so a caller that
    walks the list still has somewhere to go when every region is down. Writes always go to
    the primary: there is nowhere else they may go, so its failures reach the caller.

    A region goes down after ``unhealthy_after_errors`` consecutive failures, when its
    latency EWMA exceeds ``max_latency_ms``, or when a health check says so. After
    ``retry_after`` seconds it is half-open: the next :meth:`read_order` for which it would
    be the first choice hands it one trial request (others keep avoiding it meanwhile). That
    trial's success restores it (its EWMA restarts from that sample); its failure starts a
    new wait. Plain synchronous bookkeeping: use it from one event loop, not from threads.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        local: str | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.local = settings.get_region(local).name if local else local_region(settings)
        self._timer = timer
        self._state = {name: _State() for name in settings.region_names()}
        self._ranked = {name: self._rank(name) for name in settings.region_names()}

    def _rank(self, origin: str) -> list[str]:
        here = self.settings.get_region(origin).point
        others = [r for r in self.settings.regions if r.name != origin]

        def key(item: tuple[int, RegionSettings]) -> tuple[int, float, int]:
            index, region = item
            there = region.point
            if here is None or there is None:
                return (1, 0.0, index)
            return (0, _geo.distance_km(here, there), index)

        return [origin] + [r.name for _, r in sorted(enumerate(others), key=key)]

    def _get(self, region: str) -> tuple[str, _State]:
        name = self.settings.get_region(region).name
        return name, self._state[name]

    def _due(self, state: _State, now: float) -> bool:
        return now - state.since >= self.settings.retry_after

    def read_order(self, region: str | None = None) -> list[str]:
        """Regions to try for a read from ``region`` (default: the local one), best first."""
        ranked = self._ranked[self._get(region or self.local)[0]]
        up = [n for n in ranked if self._state[n].healthy]
        down = [n for n in ranked if not self._state[n].healthy]
        now = self._timer()
        for name in ranked:
            state = self._state[name]
            if state.healthy:
                break
            if self._due(state, now):
                state.probing, state.since = True, now
                return [name, *up, *(n for n in down if n != name)]
        return up + down

    def write_region(self) -> str:
        """The primary region: every write goes there."""
        return self.settings.primary_region.name

    def is_healthy(self, region: str) -> bool:
        """Whether ``region`` is in normal rotation (False while down or half-open)."""
        return self._get(region)[1].healthy

    def record_success(self, region: str, latency_s: float) -> None:
        """Count a successful request to ``region`` that took ``latency_s`` seconds."""
        _, state = self._get(region)
        sample = latency_s * 1000.0
        limit = self.settings.max_latency_ms
        now = self._timer()
        state.errors = 0
        if not state.healthy:
            if not (state.probing or self._due(state, now)):
                return  # a late reply to a request sent before it went down proves little
            state.probing = False
            state.ewma_ms = sample
            if sample > limit:
                self._down(state, f"latency {sample:.0f} ms > {limit:.0f} ms", now)
            else:
                state.healthy, state.reason = True, None
            return
        alpha = self.settings.latency_ewma_alpha
        previous = state.ewma_ms
        state.ewma_ms = sample if previous is None else alpha * sample + (1 - alpha) * previous
        if state.ewma_ms > limit:
            self._down(state, f"latency EWMA {state.ewma_ms:.0f} ms > {limit:.0f} ms", now)

    def record_failure(self, region: str, error: BaseException | str) -> None:
        """Count a failed request to ``region``; enough in a row take it down."""
        _, state = self._get(region)
        state.errors += 1
        now = self._timer()
        if not state.healthy:
            if state.probing:
                self._down(state, f"trial request failed: {_describe(error)}", now)
            return
        if state.errors >= self.settings.unhealthy_after_errors:
            self._down(state, f"{state.errors} consecutive errors, last: {_describe(error)}", now)

    def mark_unhealthy(self, region: str, reason: str) -> None:
        """Take ``region`` out of rotation now (a failed health check); retried as usual."""
        _, state = self._get(region)
        self._down(state, _describe(reason), self._timer())

    def mark_healthy(self, region: str) -> None:
        """Put ``region`` back in rotation now (a passed health check), history cleared."""
        name, _ = self._get(region)
        self._state[name] = _State()

    def snapshot(self) -> dict[str, RegionState]:
        """Every region's state, in configuration order."""
        now = self._timer()
        primary = self.write_region()
        return {
            name: RegionState(
                healthy=s.healthy,
                ewma_ms=s.ewma_ms,
                consecutive_errors=s.errors,
                reason=s.reason,
                primary=name == primary,
                retry_in=None
                if s.healthy
                else max(0.0, self.settings.retry_after - (now - s.since)),
            )
            for name, s in self._state.items()
        }

    @staticmethod
    def _down(state: _State, reason: str, now: float) -> None:
        state.healthy, state.reason, state.since, state.probing = False, reason, now, False
