"""A TTL + LRU query cache with tags, single-flight loads and stale-load protection.

:class:`QueryCache` stores the *results* of async loaders in a cachetools ``TLRUCache`` (least
recently used entries go first when it is full; every entry lives ``ttl`` seconds, or the
``ttl`` given with its load). It adds what an async handler needs on top:

- **Single-flight**: concurrent misses on one key, in one event loop, share one load (an
  ``asyncio.Task``); the loader runs once and every waiter gets its value or its exception.
  A waiter that is cancelled does not cancel the load for the others. Exceptions are never
  stored: the next call loads again.
- **Tags** tie an entry to what it read (``user:42``, ``exam:7``, a table name);
  ``invalidate("user:42")`` drops every entry tagged so. ``AnswerWriter(cache=...)`` calls it
  after each commit.
- **No stale store**: a load that is in flight when one of its tags (or the whole cache) is
  invalidated still answers the callers that were waiting for it, but its result is not
  stored, and callers arriving after the invalidation start a fresh load.
- **Replicas** (with an ``EdgeDatabase`` whose regions are embedded replicas, which sets
  :attr:`QueryCache.positions`): an invalidation remembers the write position it followed
  (a *fence* per tag), and a load stores its result only if every read it made was served at
  or past the fences of its tags; a replica that has not pulled the write yet answers that
  caller, but its answer is never kept. A caller whose request must reach a position (its
  read-your-writes token) never joins a load started for a lower one.
- **Threads**: all state sits behind one ``threading.Lock`` that is never held across an
  ``await``; loads are shared per event loop, so a thread running its own loop never awaits a
  future of another loop (it may run the same loader once more, in its own loop).

>>> import asyncio
>>> cache = QueryCache(maxsize=100, ttl=30)
>>> async def load() -> dict[str, int]:
...     return {"answered": 3}
>>> async def demo() -> tuple[bool, int]:
...     first = await cache.get_or_load(("progress", 1), load, tags=["user:1"])
...     again = await cache.get_or_load(("progress", 1), load, tags=["user:1"])
...     return first is again, cache.invalidate("user:1")
>>> asyncio.run(demo())
(True, 1)
>>> s = cache.stats()
>>> (s.hits, s.misses, s.hit_rate, s.loads, s.size)
(1, 1, 0.5, 1, 0)
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, Protocol

from cachetools import TLRUCache

from edgedb_opt.errors import CacheError, ConfigError
from edgedb_opt.runtime.consistency import reading

__all__ = ["CacheStats", "Loader", "Positions", "QueryCache"]

#: Fences kept per tag before the oldest fold into one floor (conservative, bounded memory).
_MAX_FENCES = 65536


class Positions(Protocol):
    """Where the cache learns write positions (``EdgeDatabase`` with replicas provides it)."""

    def current(self) -> int | None:
        """This process's last write position (None: no positions kept)."""

    def required(self) -> int:
        """The position of this process's writes the calling request must read at."""


#: A zero-argument callable returning an awaitable, e.g. an ``async def`` with no parameters.
Loader = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of a :class:`QueryCache`'s counters (since it was created).

    Attributes:
        hits: lookups answered from a stored entry (``get_or_load`` and ``get_many``).
        misses: lookups that found no live entry (they either started a load or joined one;
            for ``get_many``, keys not found).
        hit_rate: hits / (hits + misses), 0.0 before any lookup.
        loads: loader runs, failed ones included.
        load_errors: loader runs that raised.
        load_seconds_total: time spent in loaders, by the cache's timer.
        evictions: entries the cache dropped on its own: TTL expiries and LRU evictions
            (not ``invalidate`` or ``clear``).
        stale_refused: loads not stored because a replica served them before it held a
            write that invalidated one of their tags.
        size: live entries now.
        maxsize: the most entries it holds.
    """

    hits: int
    misses: int
    hit_rate: float
    loads: int
    load_errors: int
    load_seconds_total: float
    evictions: int
    size: int
    maxsize: int
    stale_refused: int = 0


class _Entry(NamedTuple):
    value: Any
    tags: frozenset[str]
    ttl: float


#: Loads are shared per (cache key, event loop).
_FlightKey = tuple[Hashable, asyncio.AbstractEventLoop]


class _Flight:
    """One shared load; ``stale`` is set when it must not be stored any more."""

    __slots__ = ("key", "required", "stale", "store_tags", "tags", "task", "ttl")

    def __init__(
        self,
        key: _FlightKey,
        tags: frozenset[str],
        ttl: float,
        store_tags: Callable[[Any], Iterable[str]] | None,
        required: int = 0,
    ) -> None:
        self.key = key
        self.required = required
        self.tags = tags
        self.ttl = ttl
        self.store_tags = store_tags
        self.stale = False
        self.task: asyncio.Task[Any] | None = None


def _expires(_key: Hashable, entry: _Entry, now: float) -> float:
    return now + entry.ttl


class _Store(TLRUCache[Hashable, _Entry]):
    """A ``TLRUCache`` whose entries carry their own time to live, and that reports each entry
    it drops by itself (expiry or LRU eviction)."""

    def __init__(
        self,
        maxsize: int,
        timer: Callable[[], float],
        dropped: Callable[[Hashable, _Entry], None],
    ) -> None:
        super().__init__(maxsize, _expires, timer)
        self._dropped = dropped

    def expire(self, time: float | None = None) -> list[tuple[Hashable, _Entry]]:
        expired = super().expire(time)
        for key, entry in expired:
            self._dropped(key, entry)
        return expired

    def popitem(self) -> tuple[Hashable, _Entry]:
        key, entry = super().popitem()
        self._dropped(key, entry)
        return key, entry


def _seconds(ttl: object) -> float | None:
    """``ttl`` as a float if it is a number of seconds above 0 (``math.inf`` included)."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        return None
    return float(ttl)


def _tag_set(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise CacheError(f"tags must be a collection of strings, not the string {tags!r}")
    out = frozenset(tags)
    for tag in out:
        if not isinstance(tag, str):
            raise CacheError(f"a cache tag must be a string, not {tag!r}")
    return out


class QueryCache:
    """Results of async loaders, kept ``ttl`` seconds, at most ``maxsize`` of them.

    Args:
        maxsize: the most entries held; the least recently used goes first (an integer >= 1).
        ttl: seconds an entry lives after it is stored (> 0; ``math.inf`` never expires).
        timer: the clock of the TTL and of ``load_seconds_total``; tests pass a fake one.
    Raises:
        ConfigError: maxsize or ttl out of range, or timer not callable.
    """

    def __init__(
        self, maxsize: int, ttl: float, *, timer: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigError(f"cache maxsize must be an integer of at least 1, not {maxsize!r}")
        seconds = _seconds(ttl)
        if seconds is None:
            raise ConfigError(f"cache ttl must be a number of seconds above 0, not {ttl!r}")
        if not callable(timer):
            raise ConfigError(f"cache timer must be callable, not {timer!r}")
        self.maxsize = maxsize
        self.ttl = seconds
        self._timer = timer
        self._lock = threading.Lock()
        self._data = _Store(maxsize, timer, self._dropped)
        self._tagged: dict[str, set[Hashable]] = {}
        self._flights: dict[_FlightKey, _Flight] = {}
        self._hits = self._misses = self._loads = self._load_errors = self._evictions = 0
        self._load_seconds = 0.0
        self._stale_refused = 0
        #: Set by a database whose reads can lag its writes (see the module docstring).
        self.positions: Positions | None = None
        self._fences: dict[str, int] = {}  # insertion-ordered: the oldest fold first
        self._floor = 0

    def __len__(self) -> int:
        """The number of live entries."""
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        return f"QueryCache(maxsize={self.maxsize}, ttl={self.ttl})"

    async def get_or_load(
        self,
        key: Hashable,
        loader: Loader,
        tags: Iterable[str] = (),
        ttl: float | None = None,
        store_tags: Callable[[Any], Iterable[str]] | None = None,
    ) -> Any:
        """The value stored under ``key``, else the result of ``await loader()``, stored.

        Args:
            key: any hashable (StudyQueries uses ``(operation, variant, *arguments)``).
            loader: called with no arguments; its awaitable's result is cached, never the
                awaitable itself. Concurrent misses in one event loop share one call.
            tags: what the result depends on; ``invalidate(tag)`` drops it.
            ttl: seconds this result lives (> 0), instead of the cache's ``ttl``. The load
                that stores the entry decides: callers joining a load in flight share it.
            store_tags: computes, from the loaded value, the tags it is stored under in
                place of ``tags``: finer ones the value itself determines (a study pick
                depends on the user's answers to the picked questions only). ``tags`` still
                guard the load in flight, so they must cover every stored tag's writes.
        Returns:
            The value (shared between callers: treat it as read-only).
        Raises:
            CacheError: an unhashable key, tags given as one string, a ttl that is not a
                number above 0, a loader that is not callable or whose result is itself
                awaitable.
            Exception: whatever the loader raised, to every caller waiting for that load;
                nothing is stored.
        """
        if not callable(loader):
            raise CacheError(f"loader must be a callable returning an awaitable: {loader!r}")
        seconds = self.ttl if ttl is None else _seconds(ttl)
        if seconds is None:
            raise CacheError(f"cache ttl must be a number of seconds above 0, not {ttl!r}")
        loop = asyncio.get_running_loop()
        required = self.positions.required() if self.positions is not None else 0
        with self._lock:
            try:
                entry = self._data.get(key)
            except TypeError as exc:
                raise CacheError(f"cache key must be hashable: {key!r}") from exc
            if entry is not None:
                self._hits += 1
                return entry.value
            self._misses += 1
            flight = self._flights.get((key, loop))
            # A load started for a lower position may read a replica short of this caller's.
            starting = flight is None or flight.required < required
            if flight is not None and starting:
                # Superseded: invalidations no longer find it, so it must not store.
                flight.stale = True
            if flight is None or starting:
                # Tags are read on a miss only: a hit stays a dictionary lookup.
                flight = self._flights[key, loop] = _Flight(
                    (key, loop), _tag_set(tags), seconds, store_tags, required
                )
        if starting:
            # Created outside the lock: an eager task factory would run _load up to its first
            # await right here, and _load takes the lock.
            flight.task = task = loop.create_task(self._load(key, loader, flight))
            task.add_done_callback(partial(self._landed, flight))
        assert flight.task is not None  # set before any other caller of this loop runs
        # shield: a waiter's cancellation must not cancel the load the others share.
        return await asyncio.shield(flight.task)

    async def _load(self, key: Hashable, loader: Loader, flight: _Flight) -> Any:
        started = self._timer()
        try:
            with reading() as record:
                value = await loader()
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()  # never awaited by anyone: close it to spare the warning
                raise CacheError(f"the loader for {key!r} returned an awaitable, not a result")
            tags = flight.tags if flight.store_tags is None else _tag_set(flight.store_tags(value))
        except Exception:
            with self._lock:
                self._count_load(started, failed=True)
                self._detach(flight)
            raise
        with self._lock:
            self._count_load(started, failed=False)
            self._detach(flight)
            if flight.stale:
                pass
            elif record.lowest is not None and self._fenced(flight.tags | tags, record.lowest):
                self._stale_refused += 1
            else:
                self._store(key, _Entry(value, tags, flight.ttl))
        return value

    def _fenced(self, tags: frozenset[str], lowest: int) -> bool:
        """Whether a read at position ``lowest`` may predate an invalidation of ``tags``."""
        return any(self._fences.get(tag, self._floor) > lowest for tag in tags)

    def _fence(self, tags: Iterable[str]) -> None:
        """Remember that ``tags`` were invalidated after the current write (lock held)."""
        position = self.positions.current() if self.positions is not None else None
        if position is None:
            return
        for tag in tags:
            self._fences.pop(tag, None)
            self._fences[tag] = position
        while len(self._fences) > _MAX_FENCES:
            oldest = next(iter(self._fences))
            self._floor = max(self._floor, self._fences.pop(oldest))

    def _count_load(self, started: float, *, failed: bool) -> None:
        self._loads += 1
        self._load_errors += failed
        self._load_seconds += self._timer() - started

    def _detach(self, flight: _Flight) -> None:
        """Stop new callers from joining ``flight`` (lock held)."""
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]

    def _landed(self, flight: _Flight, task: asyncio.Task[Any]) -> None:
        # A task cancelled before it started never ran _load's own detach.
        with self._lock:
            self._detach(flight)
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" log when every waiter left

    def _store(self, key: Hashable, entry: _Entry) -> None:
        """Store ``entry`` under ``key``, replacing any older one (lock held)."""
        with self._data.timer as now:  # one frozen time for the expiry and the pop
            self._data.expire(now)
            old = self._data.pop(key, None)
            if old is not None:
                self._untag(key, old)
            self._data[key] = entry
        for tag in entry.tags:
            self._tagged.setdefault(tag, set()).add(key)

    def _untag(self, key: Hashable, entry: _Entry) -> None:
        for tag in entry.tags:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]

    def _dropped(self, key: Hashable, entry: _Entry) -> None:
        # Called by _Store from inside its own methods, which run under self._lock.
        self._evictions += 1
        self._untag(key, entry)

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """The live values among ``keys``, without loading anything.

        Returns:
            ``{key: value}`` for the keys found, in the order given; each found key counts
            as a hit, each missing one as a miss.
        Raises:
            CacheError: an unhashable key.
        """
        found: dict[Hashable, Any] = {}
        with self._lock, self._data.timer:
            for key in keys:
                try:
                    entry = self._data.get(key)
                except TypeError as exc:
                    raise CacheError(f"cache key must be hashable: {key!r}") from exc
                if entry is None:
                    self._misses += 1
                else:
                    self._hits += 1
                    found[key] = entry.value
        return found

    def invalidate(self, *tags: str) -> int:
        """Drop every entry tagged with any of ``tags``; loads in flight that read one of
        them answer their waiters but are not stored.

        Returns:
            The number of live entries dropped.
        Raises:
            CacheError: a tag that is not a string.
        """
        wanted = _tag_set(tags)
        dropped = 0
        with self._lock:
            self._fence(wanted)
            for fkey, flight in list(self._flights.items()):
                if not flight.tags.isdisjoint(wanted):
                    flight.stale = True
                    del self._flights[fkey]
            with self._data.timer as now:
                self._data.expire(now)  # after this every indexed key is live at `now`
                keys = {key for tag in wanted for key in self._tagged.get(tag, ())}
                for key in keys:
                    entry = self._data.pop(key, None)
                    if entry is not None:
                        self._untag(key, entry)
                        dropped += 1
        return dropped

    def clear(self) -> int:
        """Drop every entry; loads in flight answer their waiters but are not stored.

        Returns:
            The number of live entries dropped.
        """
        with self._lock:
            position = self.positions.current() if self.positions is not None else None
            if position is not None:
                self._fences.clear()
                self._floor = max(self._floor, position)
            for flight in self._flights.values():
                flight.stale = True
            self._flights.clear()
            live = len(self._data)  # expires first (counted as evictions)
            self._data.clear()
            self._tagged.clear()
        return live

    def stats(self) -> CacheStats:
        """The counters now (expired entries are swept first, so ``evictions`` is current)."""
        with self._lock:
            size = len(self._data)
            lookups = self._hits + self._misses
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                hit_rate=self._hits / lookups if lookups else 0.0,
                loads=self._loads,
                load_errors=self._load_errors,
                load_seconds_total=self._load_seconds,
                evictions=self._evictions,
                size=size,
                maxsize=self.maxsize,
                stale_refused=self._stale_refused,
            )
