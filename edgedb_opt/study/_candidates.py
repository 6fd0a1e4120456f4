"""Each exam's practice candidates, kept in process and checked against the bank's version.

A practice pick is an exactly uniform sample of the candidate ids (active, approved
questions of the exam in the difficulty range, objectives filtered), so it needs all of
them, sorted by id: about 1 ms per call for 9,000 candidates, growing with the bank. The
study pack's ``bank_version`` step keeps a number that triggers move on every change of
the bank that can change a candidate list; answers never move it. :class:`Candidates`
keeps the last list seen per filter with that number, and the pick's one statement reads
the number with the user's recent answers and lists the candidates only when the number
differs from the kept one (a ``CASE`` SQLite evaluates lazily), all in one snapshot.

Written by hand rather than put in the query cache: it must stay exact with the cache off,
and it is revalidated on every call instead of expiring.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import NamedTuple

from cachetools import LRUCache

__all__ = ["VERSION_TABLE", "Candidates", "Listed"]

#: The pack's table holding the bank's version (one row).
VERSION_TABLE = "study_bank_version"


class Listed(NamedTuple):
    """One filter's candidate ids, sorted, and each id's position in that list."""

    ids: list[int]
    position: dict[int, int]


class Candidates:
    """Sorted candidate ids per filter, each with the bank version it was listed at.

    Args:
        maxsize: filters kept (least recently used go first).

    >>> memo = Candidates(maxsize=2)
    >>> _ = memo.put(("exam", 1), 7, [3, 5, 9])
    >>> memo.get(("exam", 1), 7), memo.get(("exam", 1), 8)
    (Listed(ids=[3, 5, 9], position={3: 0, 5: 1, 9: 2}), None)
    >>> memo.version(("exam", 1)), memo.version(("exam", 2))
    (7, None)
    """

    def __init__(self, maxsize: int = 256) -> None:
        self._known: LRUCache[Hashable, tuple[int, Listed]] = LRUCache(maxsize)
        self._lock = threading.Lock()
        #: Whether the database has the version table: None until checked.
        self.available: bool | None = None

    def version(self, key: Hashable) -> int | None:
        """The version of the list kept for ``key``, None without one."""
        with self._lock:
            kept = self._known.get(key)
        return None if kept is None else kept[0]

    def get(self, key: Hashable, version: int | None) -> Listed | None:
        """The list kept for ``key`` if it was listed at ``version``, else None."""
        with self._lock:
            kept = self._known.get(key)
        if kept is None or version is None or kept[0] != version:
            return None
        return kept[1]

    def put(self, key: Hashable, version: int | None, ids: list[int]) -> Listed:
        """Keep ``ids`` (sorted, never modified afterwards) as listed at ``version``."""
        listed = Listed(ids, {value: i for i, value in enumerate(ids)})
        if version is not None:  # a bank without a version row: nothing to check against
            with self._lock:
                self._known[key] = (version, listed)
        return listed
