"""Monitor: fingerprints, percentiles, slow log and alerts, the N+1 detector on a real seeded
SQLite file (the study flow's baseline loop against its optimized JOIN), separate scopes for
separate asyncio tasks, the pytest helper, and Prometheus text that parses back.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from edgedb_opt.drivers.base import Driver
from edgedb_opt.drivers.sqlite_driver import SqliteDriver
from edgedb_opt.errors import ConfigError, DriverError
from edgedb_opt.runtime.monitor import (
    OTHER,
    Alert,
    Monitor,
    MonitoredDriver,
    NPlusOneWarning,
    fingerprint,
    fingerprint_id,
)
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.testing import forbid_n_plus_one
from tests.conftest import ANCHOR, apply_pack, query

OBJECTIVE_LOOKUP = "SELECT objectives.code, objectives.name FROM objectives WHERE objectives.id = ?"
BY_ID = "SELECT questions.id, questions.text FROM questions WHERE questions.id = ?"
JOINED = (
    "SELECT questions.id, questions.text, objectives.code FROM questions"
    " LEFT JOIN objectives ON objectives.id = questions.objective_id"
    " WHERE questions.exam_id = ? ORDER BY questions.id LIMIT ?"
)


class StepTimer:
    """A fake clock that moves ``step`` seconds on every reading, so each statement timed
    by MonitoredDriver (two readings) takes exactly ``step``."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(scope="module")
def packed_template(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("monitor") / "packed.db"
    shutil.copyfile(seeded_template, path)
    asyncio.run(apply_pack(path))
    return path


@pytest.fixture
async def driver(packed_template: Path, tmp_path: Path) -> AsyncIterator[SqliteDriver]:
    path = tmp_path / "packed.db"
    shutil.copyfile(packed_template, path)
    db = await SqliteDriver.open(path)
    try:
        yield db
    finally:
        await db.close()


def n_plus_one_warnings(record: list[warnings.WarningMessage]) -> list[NPlusOneWarning]:
    return [w.message for w in record if isinstance(w.message, NPlusOneWarning)]


@pytest.fixture
def record() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning raised in the test, none filtered out as a repeat."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        yield got


# --- fingerprints -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?"),
        ("SELECT * FROM users WHERE name = 'o''brien' AND score > -1.5e3",
         "SELECT * FROM users WHERE name = ? AND score > ?"),
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (?)"),
        ("SELECT * FROM t WHERE id IN (?, ?, ?, ?)", "SELECT * FROM t WHERE id IN (?)"),
        ("SELECT * FROM t WHERE id IN (:a, 5)", "SELECT * FROM t WHERE id IN (?)"),
        ("SELECT * FROM t WHERE a = :a AND b = @b AND c = $c AND d = ?",
         "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"),
        ("  select A,b\n\tFROM   T  where X = 1 ;", "SELECT a, b FROM t WHERE x = ?"),
        ("SELECT a FROM t -- note 'x'\n WHERE a = 'b--c' /* it's */ LIMIT 10",
         "SELECT a FROM t WHERE a = ? LIMIT ?"),
        ("SELECT x FROM t WHERE id IN (SELECT y FROM u WHERE z = 3)",
         "SELECT x FROM t WHERE id IN (SELECT y FROM u WHERE z = ?)"),
        ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, NULL)",
         "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, NULL)"),
        ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')", "INSERT INTO t (a, b) VALUES (?, ?)"),
        ('SELECT "Mixed Case" FROM t WHERE x IS NULL',
         'SELECT "Mixed Case" FROM t WHERE x IS NULL'),
        ("SELECT a - 5 FROM t2 WHERE b = X'00ff'", "SELECT a - ? FROM t2 WHERE b = ?"),
        # sqlglot reads no ?NNN; the values are gone before it parses.
        ("select * from t where a = ?1 and b in (?2, ?3)",
         "SELECT * FROM t WHERE a = ? AND b IN (?)"),
        # sqlglot cannot parse these: the regex fallback still normalizes values and case.
        ("SELEKT name FROM users WHERE id = 7", "SELEKT NAME FROM USERS WHERE ID = ?"),
        ("CREATE VIRTUAL TABLE f USING fts5(text, content='questions')",
         "CREATE VIRTUAL TABLE F USING FTS5(TEXT, CONTENT=?)"),
    ],
)  # fmt: skip
def test_fingerprint(sql: str, expected: str) -> None:
    assert fingerprint(sql) == expected


def test_fingerprint_keeps_shapes_apart() -> None:
    shapes = {
        fingerprint(s)
        for s in (
            "SELECT * FROM users WHERE id = 1",
            "SELECT * FROM users WHERE name = 1",
            "SELECT * FROM users WHERE id = 1 LIMIT 1",
            "SELECT * FROM users WHERE id IN (SELECT 1)",
            "DELETE FROM users WHERE id = 1",
        )
    }
    assert len(shapes) == 5
    ids = {fingerprint_id(s) for s in shapes}
    assert len(ids) == 5 and all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    assert fingerprint_id("select * from USERS where id=9") == fingerprint_id(
        "SELECT * FROM users WHERE id = :id"
    )


# --- stats, slow log, alerts --------------------------------------------------------------


def test_percentiles_on_known_inputs() -> None:
    m = Monitor(slow_ms=10_000)
    for ms in reversed(range(1, 1001)):
        m.observe(f"SELECT * FROM t WHERE id = {ms}", ms / 1000)
    m.observe("SELECT * FROM t WHERE id = 0", 0.5, error=DriverError("boom"))
    (s,) = m.stats().values()
    assert s.fingerprint == "SELECT * FROM t WHERE id = ?"
    assert s.id == fingerprint_id(s.fingerprint)
    assert (s.count, s.errors, s.max) == (1001, 1, 1.0)
    assert s.total == pytest.approx(500.5 + 0.5)
    # Nearest rank over the 1001 samples 0.001..1.000 plus 0.5 (twice in the middle).
    assert (s.p50, s.p90, s.p95, s.p99, s.p999) == (0.5, 0.9, 0.95, 0.99, 0.999)


def test_window_bounds_memory_but_not_the_totals() -> None:
    m = Monitor(window=10, max_fingerprints=2)
    for i in range(100):
        m.observe("SELECT a FROM t WHERE id = ?", (i + 1) / 1000)
    s = m.stats()["SELECT a FROM t WHERE id = ?"]
    assert (s.count, s.max) == (100, 0.1)
    assert (s.p50, s.p999) == (0.095, 0.1), "percentiles see the last 10 runs only"
    for table in ("u", "v", "w"):
        m.observe(f"SELECT a FROM {table}", 0.001)
    stats = m.stats()
    assert set(stats) == {"SELECT a FROM t WHERE id = ?", "SELECT a FROM u", OTHER}
    assert stats[OTHER].count == 2 and stats[OTHER].id == "other"


def test_slow_log_and_alert_callbacks(caplog: pytest.LogCaptureFixture) -> None:
    m = Monitor(slow_ms=50, slow_log_size=2)
    got: list[Alert] = []

    @m.on_alert
    def broken(alert: Alert) -> None:
        raise RuntimeError("pager down")

    m.on_alert(got.append)
    m.observe("SELECT 1 FROM t WHERE id = 1", 0.050)  # at the threshold: not slow
    m.observe("SELECT 1 FROM t WHERE id = 2", 0.051)
    with caplog.at_level(logging.ERROR, logger="edgedb_opt.monitor"):
        m.observe("UPDATE t SET a = 1", 0.2, error=DriverError("database is locked"))
    m.observe("SELECT 2 FROM t", 0.3)
    assert [(a.kind, a.fingerprint) for a in got] == [
        ("slow_query", "SELECT ? FROM t WHERE id = ?"),
        ("error", "UPDATE t SET a = ?"),
        ("slow_query", "UPDATE t SET a = ?"),
        ("slow_query", "SELECT ? FROM t"),
    ]
    assert "DriverError: database is locked" in got[1].message
    assert "51.0 ms (over 50 ms)" in got[0].message and got[0].seconds == 0.051
    assert [(q.sql, q.seconds) for q in m.slow_log] == [
        ("UPDATE t SET a = 1", 0.2),
        ("SELECT 2 FROM t", 0.3),
    ], "the log keeps the most recent slow_log_size statements, as they were written"
    assert "alert callback" in caplog.text and "pager down" in caplog.text


def test_invalid_settings_are_config_errors() -> None:
    bad: list[dict[str, Any]] = [{"slow_ms": -1}, {"n_plus_one_threshold": 0}, {"window": 1.5}]
    for kwargs in bad:
        with pytest.raises(ConfigError):
            Monitor(**kwargs)
    m = Monitor()
    with pytest.raises(ConfigError, match="at least 1"), m.request_scope(threshold=0):
        pass
    registry = CollectorRegistry()
    Monitor(registry=registry)
    with pytest.raises(ConfigError, match="its own"):
        Monitor(registry=registry)


# --- MonitoredDriver on a real file ---------------------------------------------------------


async def test_monitored_driver_times_every_statement(driver: SqliteDriver) -> None:
    m = Monitor(timer=StepTimer(0.25), n_plus_one_threshold=3)
    db = MonitoredDriver(driver, m)
    assert isinstance(db, Driver) and db.inner is driver
    assert (db.name, db.target, db.capabilities) == (
        driver.name,
        driver.target,
        driver.capabilities,
    )
    await db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    with m.request_scope("import"):
        await db.executemany("INSERT INTO notes (body) VALUES (?)", [(f"n{i}",) for i in range(9)])
        assert await db.batch([("INSERT INTO notes (body) VALUES (?)", ("b",))] * 8) == [1] * 8
        await db.execute_each(
            [("UPDATE notes SET body = ? WHERE id = ?", ("x", i)) for i in (1, 2)]
        )
        async with db.transaction():
            assert db.in_transaction
            await db.execute("DELETE FROM notes WHERE id = ?", (3,))
        rows = await db.fetch_all("SELECT COUNT(*) FROM notes")
        with pytest.raises(DriverError):
            await db.fetch_all("SELECT nope FROM notes")
    assert rows == [(16,)]
    stats = m.stats()
    insert = stats["INSERT INTO notes (body) VALUES (?)"]
    assert insert.count == 9, "executemany is one run, a batch of 8 is 8"
    assert insert.total == pytest.approx(0.5)
    assert insert.max == 0.25 and insert.p50 == pytest.approx(0.25 / 8)
    assert stats["UPDATE notes SET body = ? WHERE id = ?"].count == 2
    assert stats["SELECT nope FROM notes"].errors == 1
    assert "BEGIN IMMEDIATE TRANSACTION" not in stats, "the driver's own BEGIN is not timed"
    # 0.25 s per round trip is over the default 200 ms; a batch's share (1/8) is not.
    assert [q.fingerprint for q in m.slow_log] == [
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
        "INSERT INTO notes (body) VALUES (?)",
        "DELETE FROM notes WHERE id = ?",
        "SELECT COUNT(*) FROM notes",
        "SELECT nope FROM notes",
    ]


# --- the N+1 detector -----------------------------------------------------------------------


def heavy_user(path: Path) -> tuple[int, int]:
    user, exam = query(
        path,
        "SELECT ua.user_id, q.exam_id FROM user_answers ua JOIN questions q"
        " ON q.id = ua.question_id GROUP BY 1, 2 ORDER BY COUNT(*) DESC LIMIT 1",
    )[0]
    return int(user), int(exam)  # type: ignore[call-overload]


async def test_study_baseline_is_flagged_and_optimized_is_not(
    driver: SqliteDriver, packed_template: Path, record: list[warnings.WarningMessage]
) -> None:
    m = Monitor(n_plus_one_threshold=10)
    alerts: list[Alert] = []
    m.on_alert(alerts.append)
    user, exam = heavy_user(packed_template)
    picks = {}
    for variant in ("baseline", "optimized"):
        study = StudyQueries(MonitoredDriver(driver, m), variant=variant, now=lambda: ANCHOR)
        with m.request_scope(f"study {variant}"):
            picks[variant] = await study.study_questions(user, exam, limit=15, seed=5)
    assert picks["baseline"] == picks["optimized"] and len(picks["baseline"]) == 15
    (warning,) = n_plus_one_warnings(record)
    assert warning.fingerprint == OBJECTIVE_LOOKUP
    assert (warning.count, warning.scope) == (15, "study baseline")
    text = str(warning)
    assert OBJECTIVE_LOOKUP in text and "ran 15 times (more than 10)" in text
    assert "JOIN objectives" in text and "WHERE objectives.id IN (?, ?, ...)" in text
    assert [(a.kind, a.fingerprint, a.count) for a in alerts] == [
        ("n_plus_one", OBJECTIVE_LOOKUP, 15)
    ]
    assert m.stats()[OBJECTIVE_LOOKUP].count == 15


async def test_per_row_loop_fires_and_the_join_stays_quiet(
    driver: SqliteDriver, record: list[warnings.WarningMessage]
) -> None:
    m = Monitor(n_plus_one_threshold=10)
    db = MonitoredDriver(driver, m)
    with m.request_scope("join"):
        joined = await db.fetch_all(JOINED, (1, 12))
    assert len(joined) == 12 and not n_plus_one_warnings(record)
    with m.request_scope("loop"):
        ids = await db.fetch_all(
            "SELECT id FROM questions WHERE exam_id = ? ORDER BY id LIMIT ?", (1, 12)
        )
        looped = [(await db.fetch_all(BY_ID, (qid,)))[0] for (qid,) in ids]
    assert [r[:2] for r in joined] == looped
    (warning,) = n_plus_one_warnings(record)
    assert record[-1].filename == __file__, "the warning points at the request scope's line"
    assert warning.fingerprint == BY_ID and warning.count == 12
    assert "WHERE questions.id IN (?, ?, ...)" in str(warning)
    # Exactly at the threshold is not an N+1.
    with m.request_scope("ten"):
        for qid in range(10):
            await db.fetch_all(BY_ID, (qid,))
    assert len(n_plus_one_warnings(record)) == 1


async def test_separate_tasks_have_separate_scopes(
    driver: SqliteDriver, record: list[warnings.WarningMessage]
) -> None:
    m = Monitor(n_plus_one_threshold=10)
    db = MonitoredDriver(driver, m)
    order: list[str] = []

    async def handler(name: str, lookups: int) -> None:
        with m.request_scope(name):
            for qid in range(lookups):
                await db.fetch_all(BY_ID, (qid + 1,))
                order.append(name)
                await asyncio.sleep(0)

    await asyncio.gather(handler("a", 8), handler("b", 8), handler("c", 11))
    assert order[:3] != ["a"] * 3, "the handlers must interleave for this test to mean anything"
    (warning,) = n_plus_one_warnings(record)
    assert (warning.scope, warning.count) == ("c", 11), "27 lookups in all, 11 in scope c"

    async def child(lookups: int) -> None:
        for qid in range(lookups):
            await db.fetch_all(BY_ID, (qid,))

    with m.request_scope("parent"):  # tasks started inside a scope count into it
        await asyncio.gather(child(6), child(6))
    assert [w.scope for w in n_plus_one_warnings(record)] == ["c", "parent"]


def test_forbid_n_plus_one(record: list[warnings.WarningMessage]) -> None:
    m = Monitor(n_plus_one_threshold=10)
    alerts: list[Alert] = []
    m.on_alert(alerts.append)
    ran_4 = r"N\+1 in 'inner': SELECT name FROM users WHERE id = \? ran 4 times \(more than 3\)"
    with (
        pytest.raises(AssertionError, match=ran_4),
        forbid_n_plus_one(m, threshold=3),
        m.request_scope("inner"),
    ):
        for i in range(4):
            m.observe(f"SELECT name FROM users WHERE id = {i}", 0.001)
    with forbid_n_plus_one(m):  # the monitor's own threshold (10) applies
        for i in range(4):
            m.observe(f"SELECT name FROM users WHERE id = {i}", 0.001)
        m.observe("SELECT name FROM users WHERE id IN (1, 2, 3, 4)", 0.001)
    with pytest.raises(KeyError), forbid_n_plus_one(m, threshold=1):
        m.observe("SELECT 1", 0.0)
        m.observe("SELECT 2", 0.0)
        raise KeyError("the error already leaving the block wins")
    assert not n_plus_one_warnings(record), "a captured N+1 fails the test instead of warning"
    assert [a.kind for a in alerts] == ["n_plus_one", "n_plus_one"]


def test_documented_fixture_fails_an_async_test(tmp_path: Path) -> None:
    """The fixture from edgedb_opt.testing's docstring, in a real pytest run."""
    (tmp_path / "test_page.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            import pytest
            from edgedb_opt.runtime.monitor import Monitor
            from edgedb_opt.testing import forbid_n_plus_one

            @pytest.fixture
            def monitor():
                return Monitor(n_plus_one_threshold=5)

            @pytest.fixture
            def no_n_plus_one(monitor):
                with forbid_n_plus_one(monitor):
                    yield

            async def lookup(monitor, i):
                await asyncio.sleep(0)
                monitor.observe(f"SELECT name FROM users WHERE id = {i}", 0.001)

            async def test_loop(no_n_plus_one, monitor):
                for i in range(6):
                    await lookup(monitor, i)

            async def test_batched(no_n_plus_one, monitor):
                await asyncio.gather(*(lookup(monitor, i) for i in range(5)))
            """
        )
    )
    options = ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options,
         "--rootdir", str(tmp_path), str(tmp_path / "test_page.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "2 passed, 1 error" in out, out  # test_loop passes, then fails in teardown
    assert "ERROR at teardown of test_loop" in out
    assert "SELECT name FROM users WHERE id = ? ran 6 times (more than 5)" in out


# --- Prometheus -----------------------------------------------------------------------------


def test_prometheus_text_parses_and_holds_the_counts() -> None:
    m = Monitor(slow_ms=100, n_plus_one_threshold=2)
    other = Monitor()  # a registry each: no clash, and no leak between them
    with warnings.catch_warnings(record=True), m.request_scope():
        for i in range(3):
            m.observe(f"SELECT * FROM users WHERE id = {i}", 0.004)
    m.observe("SELECT * FROM users WHERE id = 9", 0.150)
    m.observe("DELETE FROM users", 0.002, error=DriverError("readonly"))
    other.observe("SELECT 1", 0.001)
    lookup, delete = (
        fingerprint_id(s) for s in ("SELECT * FROM users WHERE id = ?", "DELETE FROM users")
    )
    families = {f.name: f for f in text_string_to_metric_families(m.prometheus_text().decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("edgeopt_statement_seconds_count", (("fingerprint", lookup),))] == 4
    assert samples[("edgeopt_statement_seconds_sum", (("fingerprint", lookup),))] == pytest.approx(
        0.162
    )
    assert (
        samples[("edgeopt_statement_seconds_bucket", (("fingerprint", lookup), ("le", "0.005")))]
        == 3
    )
    assert samples[("edgeopt_statement_errors_total", (("fingerprint", delete),))] == 1
    assert samples[("edgeopt_slow_statements_total", (("fingerprint", lookup),))] == 1
    assert samples[("edgeopt_n_plus_one_total", (("fingerprint", lookup),))] == 1
    info = {dict(s.labels)["fingerprint"]: dict(s.labels)["statement"]
            for s in families["edgeopt_statement_info"].samples}  # fmt: skip
    assert info == {lookup: "SELECT * FROM users WHERE id = ?", delete: "DELETE FROM users"}
    assert b"SELECT ?" not in m.prometheus_text() and b"SELECT ?" in other.prometheus_text()
