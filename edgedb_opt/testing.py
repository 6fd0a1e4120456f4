"""Test helpers: turn the monitor's N+1 warning into a test failure.

Use it around the code under test, or once for every test through a fixture. Keep the
fixture synchronous (a plain ``def``): the test's event loop then starts inside the block,
so its tasks see the block, while an async fixture's setup and teardown may run in
different contexts::

    import pytest
    from edgedb_opt.runtime.monitor import Monitor, MonitoredDriver
    from edgedb_opt.testing import forbid_n_plus_one

    @pytest.fixture
    def monitor() -> Monitor:
        return Monitor(n_plus_one_threshold=5)

    @pytest.fixture
    def no_n_plus_one(monitor: Monitor) -> Iterator[None]:
        with forbid_n_plus_one(monitor):
            yield

    async def test_study_page(no_n_plus_one: None, monitor: Monitor, driver: Driver) -> None:
        await render_study_page(MonitoredDriver(driver, monitor))

The failure then shows in the test's teardown, naming the statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from edgedb_opt.runtime.monitor import Monitor

__all__ = ["forbid_n_plus_one"]


@contextmanager
def forbid_n_plus_one(monitor: Monitor, *, threshold: int | None = None) -> Iterator[None]:
    """Fail with AssertionError when any request scope inside the block sees an N+1.

    The block is itself a request scope (named ``forbid_n_plus_one``), so code that opens no
    scope of its own is checked as a whole; scopes opened inside (in this task or tasks it
    starts) are checked each on their own. Detections still count in the monitor's metrics
    and alerts, but do not also warn. An exception already leaving the block wins.

    Args:
        monitor: the monitor the statements are reported to.
        threshold: runs allowed per statement shape in scopes that set none themselves
            (default: the monitor's ``n_plus_one_threshold``).

    >>> m = Monitor(n_plus_one_threshold=2)
    >>> with forbid_n_plus_one(m):
    ...     for user_id in range(3):
    ...         m.observe(f"SELECT name FROM users WHERE id = {user_id}", 0.001)
    Traceback (most recent call last):
    ...
    AssertionError: N+1 in 'forbid_n_plus_one': SELECT name FROM users WHERE id = ? ran 3 ...
    """
    with (
        monitor.capture_n_plus_one(threshold=threshold) as found,
        monitor.request_scope("forbid_n_plus_one"),
    ):
        yield
    if found:
        raise AssertionError("\n".join(alert.message for alert in found))
