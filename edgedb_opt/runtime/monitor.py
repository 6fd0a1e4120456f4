"""Statement timings by fingerprint, a slow-query log, alerts, an N+1 detector, Prometheus.

A :class:`Monitor` is told about every statement (``observe``; :class:`MonitoredDriver`
does it for any driver) and keeps, per statement shape (:func:`fingerprint`), exact counts,
errors, total and max, and percentiles over a bounded window of recent timings. Inside a
``request_scope()`` it also counts shapes, and a shape run more than ``n_plus_one_threshold``
times in one scope is an N+1: a :class:`NPlusOneWarning` naming the statement and how to
batch it, plus an ``"n_plus_one"`` alert.

>>> m = Monitor(slow_ms=100, n_plus_one_threshold=2)
>>> for ms in (5, 20, 150):
...     m.observe(f"SELECT name FROM users WHERE id = {ms}", ms / 1000)
>>> s = m.stats()["SELECT name FROM users WHERE id = ?"]
>>> s.count, s.p50, s.max, len(m.slow_log)
(3, 0.02, 0.15, 1)
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
import time
import warnings
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

from edgedb_opt.errors import ConfigError
from edgedb_opt.runtime.fingerprint import batch_advice, fingerprint, fingerprint_id
from edgedb_opt.runtime.monitored import MonitoredDriver
from edgedb_opt.runtime.stats import percentile

__all__ = [
    "Alert",
    "Monitor",
    "MonitoredDriver",
    "NPlusOneWarning",
    "SlowQuery",
    "StatementStats",
    "fingerprint",
    "fingerprint_id",
]

logger = logging.getLogger("edgedb_opt.monitor")
AlertKind = Literal["slow_query", "n_plus_one", "error"]
_F = TypeVar("_F", bound=Callable[["Alert"], object])
#: Where statement shapes beyond ``max_fingerprints`` are counted together.
OTHER = "(other statements)"
#: The shapes a workload export keeps: reads and writes (not transactions, pragmas, DDL).
_WORKLOAD = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE)\b", re.IGNORECASE)
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Alert:
    """Something a person should hear about; given to every ``on_alert`` callback.

    ``seconds`` is the statement's time (for ``n_plus_one``: all its runs in the scope);
    ``count`` is how many runs the alert covers.
    """

    kind: AlertKind
    fingerprint: str
    message: str
    seconds: float
    count: int = 1


@dataclass(frozen=True)
class SlowQuery:
    """One statement slower than the monitor's ``slow_ms``; ``at`` is wall-clock epoch time."""

    fingerprint: str
    sql: str
    seconds: float
    at: float


@dataclass(frozen=True)
class StatementStats:
    """Timings of one statement shape, in seconds.

    ``count``, ``errors``, ``total`` and ``max`` cover every run; the percentiles cover the
    monitor's window of most recent runs.
    """

    fingerprint: str
    id: str
    count: int
    errors: int
    total: float
    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float


class NPlusOneWarning(UserWarning):
    """The same statement ran more than the threshold allows inside one request scope."""

    def __init__(self, message: str, *, fingerprint: str, count: int, scope: str) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint
        self.count = count
        self.scope = scope


@dataclass
class _Series:
    shape: str
    id: str
    window: deque[float]
    hist: Any  # the histogram's child for this shape: label lookup once, not per statement
    count: int = 0
    errors: int = 0
    total: float = 0.0
    max: float = 0.0

    def add(self, seconds: float, *, failed: bool = False) -> None:
        self.count += 1
        self.total += seconds
        self.window.append(seconds)
        if seconds > self.max:
            self.max = seconds
        if failed:
            self.errors += 1


@dataclass
class _Scope:
    name: str
    threshold: int
    counts: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class _Capture:
    threshold: int | None
    found: list[Alert] = field(default_factory=list)


def _threshold(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"an N+1 threshold must be an integer of at least 1, not {value!r}")
    return value


class Monitor:
    """Statement timings, slow log, alerts and N+1 detection (see module docstring).

    Args:
        slow_ms: a statement slower than this (strictly) goes to ``slow_log`` and alerts.
        n_plus_one_threshold: a shape may run this many times in one request scope; one
            more is an N+1.
        registry: where the Prometheus metrics live; default a new one per monitor, so
            several monitors (tests, databases) never collide.
        timer: the clock :class:`MonitoredDriver` times statements with.
        window: recent timings kept per shape for the percentiles (bounded memory).
        slow_log_size: slow statements kept.
        max_fingerprints: shapes tracked one by one; later ones count together as
            :data:`OTHER` (bounded memory and metric labels).
    """

    def __init__(
        self,
        *,
        slow_ms: float = 200.0,
        n_plus_one_threshold: int = 10,
        registry: CollectorRegistry | None = None,
        timer: Callable[[], float] = time.perf_counter,
        window: int = 1024,
        slow_log_size: int = 100,
        max_fingerprints: int = 1000,
    ) -> None:
        if not slow_ms >= 0:
            raise ConfigError(f"slow_ms must be >= 0, not {slow_ms!r}")
        for name, value in (
            ("n_plus_one_threshold", n_plus_one_threshold),
            ("window", window),
            ("slow_log_size", slow_log_size),
            ("max_fingerprints", max_fingerprints),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer of at least 1, not {value!r}")
        self.slow_ms = float(slow_ms)
        self.n_plus_one_threshold = n_plus_one_threshold
        self.timer = timer
        self._window = window
        self._max_fingerprints = max_fingerprints
        self.slow_log: deque[SlowQuery] = deque(maxlen=slow_log_size)
        self._series: dict[str, _Series] = {}
        self._callbacks: list[Callable[[Alert], object]] = []
        self._lock = threading.Lock()  # observe() may be called from worker threads too
        # Per monitor, so scopes of one monitor never count another's statements.
        self._scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
            "edgeopt_request_scope", default=None
        )
        self._capture: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar(
            "edgeopt_n_plus_one_capture", default=None
        )
        self.registry = registry if registry is not None else CollectorRegistry()
        by_id = ["fingerprint"]
        try:
            self._hist = Histogram(
                "edgeopt_statement_seconds", "Statement time by fingerprint id", by_id,
                registry=self.registry, buckets=_BUCKETS,
            )  # fmt: skip
            self._errors, self._slow, self._n_plus_one = (
                PromCounter(f"edgeopt_{name}", text, by_id, registry=self.registry)
                for name, text in (
                    ("statement_errors", "Failed statements by fingerprint id"),
                    ("slow_statements", "Statements slower than slow_ms by fingerprint id"),
                    ("n_plus_one", "N+1 detections by fingerprint id"),
                )
            )
            self._info = Gauge(
                "edgeopt_statement_info", "The statement behind each fingerprint id (always 1)",
                ["fingerprint", "statement"], registry=self.registry,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(
                f"registry already holds edgeopt metrics ({exc}); give each Monitor its own"
            ) from exc

    def on_alert(self, callback: _F) -> _F:
        """Call ``callback(alert)`` for every alert from now on; returns it (a decorator too).

        A callback that raises is logged and skipped: alerting never breaks a request.
        """
        self._callbacks.append(callback)
        return callback

    def _alert(self, alert: Alert) -> None:
        for callback in list(self._callbacks):
            try:
                callback(alert)
            except Exception:
                logger.exception("alert callback %r failed on %s", callback, alert.kind)

    def _series_for(self, shape: str) -> _Series:
        series = self._series.get(shape)
        if series is None:
            if len(self._series) >= self._max_fingerprints:
                shape = OTHER
                series = self._series.get(shape)
            if series is None:
                sid = "other" if shape == OTHER else fingerprint_id(shape)
                series = _Series(shape, sid, deque(maxlen=self._window), self._hist.labels(sid))
                self._info.labels(sid, shape[:300]).set(1)
                self._series[shape] = series
        return series

    def observe(self, sql: str, seconds: float, *, error: BaseException | None = None) -> None:
        """Record one run of ``sql`` that took ``seconds`` (and failed with ``error``)."""
        if error is not None or seconds * 1000 > self.slow_ms:
            self.observe_batch([sql], seconds, error=error)
            return
        # The common case, kept lean (about 2 us): it follows every statement.
        shape = fingerprint(sql)
        with self._lock:
            series = self._series_for(shape)
            series.add(seconds)
        series.hist.observe(seconds)
        scope = self._scope.get()
        if scope is not None:
            scope.counts[shape] += 1
            scope.seconds[shape] += seconds

    def observe_batch(
        self, statements: Sequence[str], seconds: float, *, error: BaseException | None = None
    ) -> None:
        """Record statements sent in one round trip that took ``seconds`` together.

        Each statement is timed at an even share of the round trip; if ``error`` is given
        every one of them counts as failed (a failed batch rolls back) and one alert names
        the first. In a request scope each shape counts once per round trip: a batch is
        the cure for N+1, not a case of it.
        """
        if not statements:
            return
        share = seconds / len(statements)
        shapes = [fingerprint(sql) for sql in statements]
        with self._lock:
            touched = [self._series_for(shape) for shape in shapes]
            for series in touched:
                series.add(share, failed=error is not None)
        for series in touched:
            series.hist.observe(share)
        if error is not None:
            for series in touched:
                self._errors.labels(series.id).inc()
            batch = f" (in a batch of {len(statements)})" if len(statements) > 1 else ""
            self._alert(Alert(
                "error", shapes[0], f"statement failed{batch} after {seconds * 1000:.1f} ms: "
                f"{type(error).__name__}: {error}; statement: {shapes[0]}", seconds,
                len(statements),
            ))  # fmt: skip
        if share * 1000 > self.slow_ms:
            for sql, shape, series in zip(statements, shapes, touched, strict=True):
                self.slow_log.append(SlowQuery(shape, sql[:2000], share, time.time()))
                self._slow.labels(series.id).inc()
                self._alert(Alert(
                    "slow_query", shape, f"slow statement: {share * 1000:.1f} ms "
                    f"(over {self.slow_ms:g} ms): {shape}", share,
                ))  # fmt: skip
        scope = self._scope.get()
        if scope is not None:
            for shape, runs in Counter(shapes).items():
                scope.counts[shape] += 1
                scope.seconds[shape] += share * runs

    def stats(self) -> dict[str, StatementStats]:
        """Per statement shape: counts, total, max and window percentiles, in seconds."""
        with self._lock:
            rows = [(s, sorted(s.window)) for s in self._series.values()]
        out = {}
        for s, w in rows:
            p50, p90, p95, p99, p999 = (percentile(w, q) for q in (50, 90, 95, 99, 99.9))
            out[s.shape] = StatementStats(
                s.shape, s.id, s.count, s.errors, s.total, p50, p90, p95, p99, p999, s.max
            )
        return out

    def export_workload(self, path: str | os.PathLike[str]) -> int:
        """Write what this monitor saw as an ``edgeopt advise --workload`` file: one statement
        per fingerprint that reads or writes (its shape, ``?`` for every value), weighted by
        how often it ran, with its count and total time in a comment. No parameter values:
        the monitor never keeps them (they may be secrets); advise draws its own from the
        data. Returns the number of statements written.

        Raises:
            ConfigError: the file cannot be written.
        """
        rows = sorted(self.stats().values(), key=lambda s: (-s.count, s.fingerprint))
        parts = [
            f"-- {s.id}: {s.count} runs, {s.total * 1000:.3f} ms in all, {s.errors} errors\n"
            f"-- weight: {s.count}\n{s.fingerprint};"
            for s in rows
            if s.fingerprint != OTHER and _WORKLOAD.match(s.fingerprint) and s.count > 0
        ]
        head = f"-- edgeopt workload exported by the monitor: {len(parts)} statements\n\n"
        try:
            Path(path).write_text(head + "\n\n".join(parts) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write the workload to {path}: {exc}") from exc
        return len(parts)

    @contextmanager
    def request_scope(
        self, name: str = "request", *, threshold: int | None = None
    ) -> Iterator[None]:
        """Count statement shapes until the block ends, then report each one run more than
        ``threshold`` (default: the monitor's) times as an N+1.

        A plain ``with`` block, also inside ``async def``: the scope lives in a context
        variable, so concurrent asyncio tasks each see their own, and tasks started inside
        the block count into it. Nested scopes count into the innermost only.
        """
        capture = self._capture.get()
        if threshold is None and capture is not None:
            threshold = capture.threshold
        scope = _Scope(name, _threshold(threshold) or self.n_plus_one_threshold)
        token = self._scope.set(scope)
        try:
            yield
        finally:
            self._scope.reset(token)
            for shape, runs in scope.counts.items():
                if runs > scope.threshold:
                    self._report(scope, shape, runs)

    def _report(self, scope: _Scope, shape: str, runs: int) -> None:
        message = (
            f"N+1 in {scope.name!r}: {shape} ran {runs} times (more than {scope.threshold});"
            f" {batch_advice(shape)}"
        )
        self._n_plus_one.labels(fingerprint_id(shape)).inc()
        alert = Alert("n_plus_one", shape, message, scope.seconds[shape], runs)
        capture = self._capture.get()
        if capture is not None:
            capture.found.append(alert)  # the capturer reports it (as a test failure)
        else:
            warnings.warn(
                NPlusOneWarning(message, fingerprint=shape, count=runs, scope=scope.name),
                stacklevel=4,  # the user's ``with`` line, past contextlib's frames
            )
        self._alert(alert)

    @contextmanager
    def capture_n_plus_one(self, *, threshold: int | None = None) -> Iterator[list[Alert]]:
        """Collect the N+1 detections of scopes inside the block (in this task and tasks it
        starts) into the yielded list instead of warning; ``threshold`` applies to scopes
        opened without one. :func:`edgedb_opt.testing.forbid_n_plus_one` builds on it."""
        capture = _Capture(_threshold(threshold))
        token = self._capture.set(capture)
        try:
            yield capture.found
        finally:
            self._capture.reset(token)

    def prometheus_text(self) -> bytes:
        """This monitor's metrics in the Prometheus text format."""
        return generate_latest(self.registry)
