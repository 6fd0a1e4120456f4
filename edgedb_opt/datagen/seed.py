"""Deterministic synthetic data for the reference schema (``edgeopt seed``).

The same seed and anchor give byte-identical tables. The data is shaped like a real study
platform: a few very heavy users and a long tail, inactive and unreviewed questions, NULLs
wherever the schema allows them, and aggregates (question stats, session and test counters,
``user_progress``) that agree exactly with the ``user_answers`` rows they summarize.

Answers come in blocks (a study session, a practice test, or a few loose answers) planned up
front and generated in time order, so answer ids follow ``answered_at`` as in a live database.
Each chunk of answers is written in one transaction together with the sessions and test
attempts it points to, while the next chunk is generated. Question stats are written last
(``UPDATE`` by id): the questions must exist before the answers that cite them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable, Sequence
from itertools import accumulate
from operator import itemgetter

from edgedb_opt.datagen import text as txt
from edgedb_opt.datagen.scales import SCALES, Scale
from edgedb_opt.datagen.study import _DAY, _LOOSE, _SESSION, _Block, _hms, _Row, _Study
from edgedb_opt.datagen.text import pick
from edgedb_opt.drivers.base import Driver
from edgedb_opt.errors import ConfigError
from edgedb_opt.schema import TABLES, existing_tables

DEFAULT_ANCHOR_NOTE = (
    "The anchor defaults to today at 00:00 UTC, so the data looks current to queries that use "
    "datetime('now'): answers fall in the 90 days and growth metrics in the 365 days before it."
)
Progress = Callable[[str, int, int], None]
CHUNK_ROWS = 25_000
_REVIEW = ("approved", "pending", "needs_revision", "rejected")


def _columns(spec: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for line in spec.strip().splitlines():
        if not line[0].isspace():
            table, _, line = line.partition(":")
            out[table] = []
        out[table] += line.split()
    return {table: ", ".join(cols) for table, cols in out.items()}


_COLUMNS = _columns("""
users: id email name display_name role is_active timezone created_at last_login_at
exams: id code name vendor description passing_score time_limit_minutes is_active created_at
objectives: id exam_id parent_id code name weight sort_order
questions: id exam_id objective_id text type answers explanation reference tags difficulty
    is_active review_status created_at updated_at
study_sessions: id user_id exam_id mode status total_questions answered_count correct_count
    accuracy avg_time_seconds objective_scores started_at completed_at
test_attempts: id user_id exam_id status total_questions correct_count score passed
    time_spent_seconds started_at completed_at
user_answers: answered_at user_id question_id study_session_id test_attempt_id selected_answer
    is_correct time_spent_seconds confidence_level flagged attempt_number client_answer_id
user_progress: user_id exam_id questions_answered correct_answers accuracy current_streak
    best_streak study_time_seconds readiness_score last_studied_at updated_at
twitter_accounts: id handle display_name is_active created_at
tweets: id account_id external_id text kind impressions likes retweets replies ai_cost posted_at
growth_metrics: account_id date followers new_followers impressions engagements ai_costs
engagement_opportunities: account_id source_tweet_id author_handle text status relevance_score
    suggested_reply created_at acted_at
""")


def _insert_sql(table: str) -> str:
    """The INSERT of the generated columns of ``table``.

    >>> _insert_sql("growth_metrics")
    'INSERT INTO growth_metrics (account_id, date, ...) VALUES (?, ?, ?, ?, ?, ?, ?)'
    """
    cols = _COLUMNS[table]
    return f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * (cols.count(',') + 1))})"


def _check(sc: Scale) -> None:
    counts = (sc.answers, sc.sessions, sc.test_attempts, sc.tweets, sc.opportunities)
    if (
        min(sc.users, sc.exams, sc.accounts, sc.answer_days) < 1
        or sc.questions < sc.exams
        or sc.objectives_per_exam < 2
        or min(*counts, sc.growth_days) < 0
    ):
        raise ConfigError(
            f"scale {sc.name!r} cannot work: it needs users, exams, accounts and answer_days "
            "of at least 1, questions >= exams, objectives_per_exam >= 2, no negative counts"
        )


async def seed_database(
    db: Driver,
    *,
    scale: str | Scale = "tiny",
    seed: int = 42,
    anchor: dt.datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Fill an empty reference schema with deterministic synthetic data.

    Args:
        db: an open driver; the schema must exist (``init_schema``) and hold no rows.
        scale: a name of :data:`SCALES` or a :class:`Scale`.
        seed: the same seed and anchor give byte-identical tables.
        anchor: the "now" the data is relative to; naive means UTC. See
            :data:`DEFAULT_ANCHOR_NOTE` for the default.
        progress: called as ``progress(table, done, total)`` after each inserted chunk
            (sessions and test attempts go in with the answers and report once, at the end;
            ``question_stats`` reports the update of the questions' answer counters).
    Returns:
        Rows inserted per table.
    Raises:
        ConfigError: unknown or unusable scale, missing schema, or tables that hold rows.

    Each chunk commits on its own, so a failure half-way (disk full) leaves the chunks
    already written: seed a fresh file again rather than resuming.
    """
    if isinstance(scale, str):
        if scale not in SCALES:
            raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        scale = SCALES[scale]
    _check(scale)
    present = await existing_tables(db)
    for table in TABLES:
        if table not in present:
            raise ConfigError(f"database has no {table} table; create the schema first")
        if await db.fetch_all(f"SELECT 1 FROM {table} LIMIT 1"):
            raise ConfigError(f"database already has data in {table}; seed an empty database")
    if anchor is None:
        anchor = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=dt.UTC)
    seeder = _Seeder(db, scale, seed, anchor.astimezone(dt.UTC).replace(microsecond=0), progress)
    await seeder.run()
    return seeder.counts


class _Seeder(_Study):
    """One seeding run. Times in the answer window are seconds since ``base`` (a midnight)."""

    def __init__(
        self, db: Driver, sc: Scale, seed: int, anchor: dt.datetime, progress: Progress | None
    ) -> None:
        self.db, self.sc, self.seed, self.progress = db, sc, seed, progress
        self.counts = dict.fromkeys(TABLES, 0)
        self.now = int(anchor.timestamp())
        start = anchor - dt.timedelta(days=sc.answer_days)
        base = start.replace(hour=0, minute=0, second=0)
        self.base = int(base.timestamp())
        self.hi = self.now - self.base  # the window is [lo, hi)
        self.lo = self.hi - sc.answer_days * _DAY
        dates = (base + dt.timedelta(days=d) for d in range(sc.answer_days + 2))
        self.days = [d.strftime("%Y-%m-%d ") for d in dates]
        self.prog: dict[int, list[int]] = {}  # user_id * (exams + 1) + exam_id -> aggregates
        self.attempts: dict[int, int] = {}  # user_id * (questions + 1) + question_id -> count
        self.seq = 0

    def rng(self, part: str) -> random.Random:
        # String seeds go through SHA-512: stable across runs and Python builds.
        return random.Random(f"edgeopt:{self.seed}:{part}")

    def stamp(self, t: int) -> str:
        return self.days[t // _DAY] + _hms()[t % _DAY]

    async def insert(self, table: str, rows: Sequence[_Row], sql: str = "") -> None:
        for i in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[i : i + CHUNK_ROWS]
            async with self.db.transaction():
                await self.db.executemany(sql or _insert_sql(table), chunk)
            self.tick(table, len(chunk), len(rows))

    def tick(self, table: str, n: int, total: int, *, report: bool = True) -> None:
        self.counts[table] = self.counts.get(table, 0) + n
        if report and self.progress is not None:
            self.progress(table, self.counts[table], total)

    async def run(self) -> None:
        self.plan_users()
        blocks = self.plan_blocks()
        await self.insert_users(blocks)
        await self.insert_exams()
        await self.insert_questions()
        await self.insert_study(blocks)
        await self.insert_aggregates()
        await self.insert_growth()

    def plan_users(self) -> None:
        r, sc = self.rng("users"), self.sc
        ranks = list(range(sc.users))
        r.shuffle(ranks)
        heavy = max(1, sc.users // 100)
        # Zipf-like activity with a doubled head of power users; 10% never study at all.
        self.weights = [
            (2.0 if k < heavy else 0.0 if r.random() < 0.1 else 1.0) / (k + 1) ** 0.7 for k in ranks
        ]
        exam_cw = list(accumulate(1 / (e + 1) ** 0.6 for e in range(sc.exams)))
        self.user_exams: list[tuple[int, ...]] = []
        self.skill: list[float] = []
        self.start_day: list[int] = []  # 0, or the window day the user signed up
        for _ in range(sc.users):
            want = min(sc.exams, r.choices((1, 2, 3), (60, 30, 10))[0])
            picked: list[int] = []
            while len(picked) < want:
                e = r.choices(range(1, sc.exams + 1), cum_weights=exam_cw)[0]
                picked += [] if e in picked else [e]
            self.user_exams.append(tuple(picked))
            self.skill.append(min(0.95, max(0.3, r.gauss(0.68, 0.1))))
            self.start_day.append(0 if r.random() < 0.85 else r.randrange(1, sc.answer_days))

    async def insert_users(self, blocks: Sequence[_Block]) -> None:
        r = self.rng("user_rows")
        last = {b[2]: b[0] for b in blocks}  # blocks are time-ordered: the last start wins
        rows = []
        for u in range(1, self.sc.users + 1):
            if sd := self.start_day[u - 1]:  # signed up the day before their first block
                created = self.base + (self.lo // _DAY + sd - 1) * _DAY + r.randrange(_DAY)
            else:
                created = self.base + self.lo - r.randrange(_DAY, 700 * _DAY)
            login = txt.fmt_time(created + r.randrange(1, 3 * _DAY)) if r.random() < 0.5 else None
            if u in last:  # logged in just before their last block, after signing up
                t = max(last[u] - r.randrange(30, 900), created - self.base + 1, self.lo)
                login = self.stamp(t)
            email, name, nick, tz = txt.person(r, u)
            role = r.choices(("student", "author", "admin"), (970, 25, 5))[0]
            active = 0 if r.random() < 0.04 else 1
            rows.append((u, email, name, nick, role, active, tz, txt.fmt_time(created), login))
        await self.insert("users", rows)

    async def insert_exams(self) -> None:
        exams = txt.exam_rows(self.sc.exams, self.now)
        self.topics = [()] + [txt.EXAMS[(e - 1) % len(txt.EXAMS)][3] for e, *_ in exams]
        self.vendors: list[str | None] = [None] + [x[3] for x in exams]
        self.passing: list[float] = [0.0] + [x[5] for x in exams]
        objectives, self.leaves = txt.objective_rows(
            self.rng("objectives"), self.topics, self.sc.objectives_per_exam
        )
        await self.insert("exams", exams)
        await self.insert("objectives", objectives)

    async def insert_questions(self) -> None:
        r, sc = self.rng("questions"), self.sc
        ne, nq = sc.exams, sc.questions
        exam_cw = list(accumulate(1 / (e + 1) ** 0.3 for e in range(ne)))
        # Per question, what answering it needs (index 0 is a placeholder: ids start at 1).
        self.q_key: list[str] = [""]
        self.q_wrong: list[tuple[str, ...]] = [("",)]
        self.q_obj: list[int | None] = [None]
        self.q_diff, self.q_secs = [0.0], [0.0]
        self.pools: list[list[int]] = [[] for _ in range(ne + 1)]  # approved, per exam
        self.obj_pools: dict[int, list[int]] = {}
        rows: list[_Row] = []
        for q in range(1, nq + 1):
            e = q if q <= ne else r.choices(range(1, ne + 1), cum_weights=exam_cw)[0]
            qtype = r.choices(("single", "multiple", "true_false"), (80, 12, 8))[0]
            diff = r.choices((1, 2, 3, 4, 5), (8, 22, 40, 22, 8))[0]
            status = r.choices(_REVIEW, (85, 8, 4, 3))[0]
            active = 0 if status == "rejected" or r.random() < 0.075 else 1
            obj = None if r.random() < 0.06 else pick(r, self.leaves[e])
            text, options, key, wrong, why, ref, tags = txt.question_content(
                r, self.topics[e], self.vendors[e], qtype
            )
            self.q_key.append(key)
            self.q_wrong.append(wrong)
            self.q_obj.append(obj)
            self.q_diff.append((diff - 3) * 0.09)
            self.q_secs.append(20.0 + 12 * diff + (25 if qtype == "multiple" else 0))
            if status == "approved":  # only reviewed questions are served and answered
                created = self.base + self.lo - r.randrange(_DAY, 800 * _DAY)
                self.pools[e].append(q)
                if obj is not None:
                    self.obj_pools.setdefault(obj, []).append(q)
            else:
                created = self.now - r.randrange(_DAY, 120 * _DAY)
            updated = created if r.random() < 0.7 else r.randrange(created, self.now)
            content = (text, qtype, options, why, ref, tags, diff, active, status)
            rows.append((q, e, obj, *content, txt.fmt_time(created), txt.fmt_time(updated)))
        self.exam_objs = [[o for o in objs if o in self.obj_pools] for objs in self.leaves]
        for e in range(1, ne + 1):
            self.pools[e] = self.pools[e] or [q for q in range(1, nq + 1) if rows[q - 1][1] == e]
        await self.insert("questions", rows)

    async def insert_study(self, blocks: Sequence[_Block]) -> None:
        """Sessions, test attempts and their answers, generated while the last chunk is written."""
        nq = self.sc.questions + 1
        self.q_tot, self.q_cor, self.q_tsum, self.q_tcnt = ([0] * nq for _ in range(4))
        r = self.rng("answers")
        self.lognormal = [r.lognormvariate(0.0, 0.45) for _ in range(4096)]
        totals = dict.fromkeys(("study_sessions", "test_attempts", "user_answers"), 0)
        for b in blocks:
            totals["user_answers"] += b[5]
            totals["study_sessions" if b[1] == _SESSION else "test_attempts"] += b[1] != _LOOSE
        chunk: dict[str, list[_Row]] = {t: [] for t in totals}
        writer: asyncio.Future[None] | None = None
        try:
            for i, block in enumerate(blocks, 1):
                self.answer_block(r, block, chunk)
                if len(chunk["user_answers"]) >= CHUNK_ROWS or i == len(blocks):
                    if writer is not None:
                        await writer
                    writer = asyncio.ensure_future(self.write_chunk(chunk, totals))
                    chunk = {t: [] for t in totals}
                elif writer is not None and i % 32 == 0:
                    await asyncio.sleep(0)  # lets the writer move on to its next statement
            if writer is not None:
                await writer
            for table in ("study_sessions", "test_attempts"):
                self.tick(table, 0, totals[table])
        finally:
            if writer is not None and not writer.done():
                await asyncio.gather(writer, return_exceptions=True)

    async def write_chunk(self, chunk: dict[str, list[_Row]], totals: dict[str, int]) -> None:
        chunk["user_answers"].sort(key=itemgetter(0))  # ids follow answered_at
        async with self.db.transaction():
            for table, rows in chunk.items():  # parents first: sessions, tests, then answers
                if rows:
                    await self.db.executemany(_insert_sql(table), rows)
        for table, rows in chunk.items():  # one progress bar for the three: the answers'
            self.tick(table, len(rows), totals[table], report=table == "user_answers")

    async def insert_growth(self) -> None:
        rows = txt.dashboard(
            self.rng("growth"),
            accounts=self.sc.accounts,
            tweets=self.sc.tweets,
            opportunities=self.sc.opportunities,
            days=self.sc.growth_days,
            now=self.now,
        )
        for table, table_rows in rows.items():
            await self.insert(table, table_rows)
