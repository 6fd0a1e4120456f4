"""Study activity for :mod:`edgedb_opt.datagen.seed`: who studies when, and what they answer.

:class:`_Study` is the base of the seeding run (``datagen.seed._Seeder``). It plans the sessions,
test attempts and loose answers as time-ordered blocks, turns one block into its answer rows
(and its session or test row), and derives the question stats and ``user_progress`` from the
answers. The user, question and window attributes it reads are set by the seeder.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from edgedb_opt.datagen.scales import Scale
from edgedb_opt.datagen.text import pick

_Row = tuple[Any, ...]
#: start, kind, user_id, exam_id, planned questions, answered, status, mode, id within its kind
_Block = tuple[int, int, int, int, int, int, str, str, int]
_DAY = 86_400
_SESSION, _TEST, _LOOSE = 0, 1, 2
_MODES = ("practice", "review", "speed_drill", "weak_areas", "custom")
_OPEN = ("active", "in_progress")  # status of an unfinished session / test attempt
_SESSION_SIZES = (4, 8, 8, 12, 15, 15, 20, 25, 40)
_HOURS_CW = list(
    accumulate((2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 7, 7, 8, 9, 9, 9, 8, 6, 4))
)
_CONF_RIGHT, _CONF_WRONG = (3, 4, 4, 5, 5, 5), (1, 2, 2, 3, 3, 4)
_UUID_VARIANT = 0x8000  # RFC 9562 variant bits, above 14 bits of sequence number
_STATS_SQL = (
    "UPDATE questions SET total_attempts = ?, correct_attempts = ?, avg_time_seconds = ?"
    " WHERE id = ?"
)


@functools.cache
def _hms() -> list[str]:
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(_DAY)]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _score(answered: int, correct: int) -> dict[str, float]:
    return {"answered": answered, "correct": correct, "accuracy": round(correct / answered, 4)}


class _Study:
    """Planning, answering and aggregating study blocks (subclassed by ``seed._Seeder``)."""

    # Set by the seeder: the run, the answer window (seconds since ``base``), users, questions.
    sc: Scale
    counts: dict[str, int]
    base: int
    lo: int
    hi: int
    days: list[str]
    prog: dict[int, list[int]]
    attempts: dict[int, int]
    seq: int
    weights: list[float]
    user_exams: list[tuple[int, ...]]
    skill: list[float]
    start_day: list[int]
    passing: list[float]
    q_key: list[str]
    q_wrong: list[tuple[str, ...]]
    q_obj: list[int | None]
    q_diff: list[float]
    q_secs: list[float]
    pools: list[list[int]]
    obj_pools: dict[int, list[int]]
    exam_objs: list[list[int]]
    lognormal: list[float]
    q_tot: list[int]
    q_cor: list[int]
    q_tsum: list[int]
    q_tcnt: list[int]

    if TYPE_CHECKING:

        def rng(self, part: str) -> random.Random: ...

        def stamp(self, t: int) -> str: ...

        async def insert(self, table: str, rows: Sequence[_Row], sql: str = "") -> None: ...

    def plan_blocks(self) -> list[_Block]:
        """Every session, test attempt and run of loose answers, sorted by start time."""
        r, sc = self.rng("plan"), self.sc
        cw = list(accumulate(self.weights))
        raw: list[tuple[int, int, int, int, int, int, str, str]] = []
        self.test_len = [0] + [r.choice((20, 30, 40, 50, 60)) for _ in range(sc.exams)]
        for kind, count in ((_SESSION, sc.sessions), (_TEST, sc.test_attempts)):
            for u in r.choices(range(sc.users), cum_weights=cw, k=count):
                t, e = self.when(r, u), self.exam_of(r, u)
                size = r.choice(_SESSION_SIZES) if kind == _SESSION else self.test_len[e]
                if self.hi - t < (2 + kind) * 3600:  # started just now: still going
                    status, n = _OPEN[kind], r.randrange(size)
                elif r.random() < 0.8:
                    status, n = "completed", size
                else:
                    status, n = "abandoned", r.randrange(1 if kind == _TEST else 0, size)
                mode = r.choices(_MODES, (55, 15, 10, 12, 8))[0] if kind == _SESSION else ""
                raw.append((t, kind, u + 1, e, size, n, status, mode))
        left = sc.answers - sum(b[5] for b in raw)
        for u in r.choices(range(sc.users), cum_weights=cw, k=max(0, left)):
            if left <= 0:
                break
            n = min(left, r.randrange(1, 5))
            raw.append((self.when(r, u), _LOOSE, u + 1, self.exam_of(r, u), n, n, "", ""))
            left -= n
        raw.sort()
        ids = [0, 0, 0]
        blocks: list[_Block] = []
        for b in raw:
            ids[b[1]] += 1
            blocks.append((*b, ids[b[1]]))
        return blocks

    def when(self, r: random.Random, u: int) -> int:
        # Denser toward the anchor, busier in the evening, never before the user signed up.
        t = self.lo + int((self.hi - self.lo) * r.random() ** 0.8)
        d, first, last = t // _DAY, self.lo // _DAY + self.start_day[u], (self.hi - 1) // _DAY
        if d < first:
            d = first + d % (last + 1 - first)
        t = d * _DAY + r.choices(range(24), cum_weights=_HOURS_CW)[0] * 3600 + r.randrange(3600)
        return min(max(t, self.lo), self.hi - 1)

    def exam_of(self, r: random.Random, u: int) -> int:
        ue = self.user_exams[u]
        return ue[0] if len(ue) == 1 or r.random() < 0.7 else pick(r, ue)

    def answer_block(self, r: random.Random, block: _Block, chunk: dict[str, list[_Row]]) -> None:
        """Append one block's answers (and its session or test row) to ``chunk``."""
        t, kind, u, e, planned, n, status, mode, bid = block
        rnd, hi = r.random, self.hi
        pool = self.pools[e]
        if mode in ("weak_areas", "custom") and self.exam_objs[e]:
            focus = self.obj_pools[pick(r, self.exam_objs[e])]
            pool = focus if len(focus) >= n else pool
        qs = r.sample(pool, n) if n <= len(pool) else [pick(r, pool) for _ in range(n)]
        secs, logn, factor = self.q_secs, self.lognormal, 0.45 if mode == "speed_drill" else 1.0
        spent = [
            None if rnd() < 0.05 else int(secs[q] * factor * logn[int(rnd() * 4096)]) for q in qs
        ]
        times, at = [], t
        for s in spent:
            at += (40 if s is None else s) + 2 + int(rnd() * 15)
            times.append(at)
        if times and times[-1] >= hi:  # would run past the anchor: it started earlier
            shift = times[-1] - hi + 1 + int(rnd() * 900)
            t, times = t - shift, [x - shift for x in times]
        sid = bid if kind == _SESSION else None
        tid = bid if kind == _TEST else None
        skill, ukey, attempts = self.skill[u - 1], u * (self.sc.questions + 1), self.attempts
        q_key, q_wrong, q_obj, q_diff = self.q_key, self.q_wrong, self.q_obj, self.q_diff
        q_tot, q_cor, q_tsum, q_tcnt = self.q_tot, self.q_cor, self.q_tsum, self.q_tcnt
        days, hms, bits, seq = self.days, _hms(), r.getrandbits, self.seq
        cid_from, base_ms = hi - 30 * _DAY, self.base * 1000  # older rows predate client keys
        out = chunk["user_answers"]
        ncor = tsum = tcnt = 0
        scores: dict[int, list[int]] = {}
        for q, s, at in zip(qs, spent, times, strict=True):
            key = ukey + q
            a = attempts[key] = attempts.get(key, 0) + 1
            c = 1 if rnd() < skill - q_diff[q] + (0.06 if a > 1 else 0.0) else 0
            wrong = q_wrong[q]
            sel = q_key[q] if c else wrong[int(rnd() * len(wrong))]
            conf = None if rnd() < 0.3 else (_CONF_RIGHT if c else _CONF_WRONG)[int(rnd() * 6)]
            seq += 1
            cid = None
            if at >= cid_from:  # a UUIDv7: time-ordered, made unique by the sequence number
                ms = base_ms + at * 1000 + int(rnd() * 1000)
                cid = (
                    f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7{bits(12):03x}-"
                    f"{_UUID_VARIANT | seq >> 48:04x}-{seq & 0xFFFF_FFFF_FFFF:012x}"
                )
            flag = 1 if rnd() < 0.03 else 0
            stamp = days[at // _DAY] + hms[at % _DAY]
            out.append((stamp, u, q, sid, tid, sel, c, s, conf, flag, a, cid))
            q_tot[q] += 1
            q_cor[q] += c
            ncor += c
            if s is not None:
                q_tsum[q] += s
                q_tcnt[q] += 1
                tsum += s
                tcnt += 1
            if sid is not None and (o := q_obj[q]) is not None:
                score = scores.setdefault(o, [0, 0])
                score[0] += 1
                score[1] += c
        self.seq = seq
        if n:
            p = self.prog.setdefault(u * (self.sc.exams + 1) + e, [0, 0, 0, 0, 0])
            p[0], p[1], p[2], p[3] = p[0] + n, p[1] + ncor, p[2] + tsum, max(p[3], times[-1])
            p[4] |= 1 << (times[0] // _DAY) | 1 << (times[-1] // _DAY)  # days studied, as bits
        start, done = self.stamp(t), status == "completed"
        end = self.stamp(min(times[-1] + 3, hi - 1)) if done else None
        row: _Row
        if kind == _SESSION:
            by_obj = {str(o): _score(k, c) for o, (k, c) in sorted(scores.items())}
            counters = (planned, n, ncor, _ratio(ncor, n), _ratio(tsum, tcnt))
            row = (bid, u, e, mode, status, *counters, json.dumps(by_obj) if n else None)
            chunk["study_sessions"].append((*row, start, end))
        elif kind == _TEST:
            pct = round(100 * ncor / planned, 1) if done else None
            passed = None if pct is None else int(pct >= self.passing[e])
            took = times[-1] - t if n and status != "in_progress" else None
            row = (bid, u, e, status, planned, ncor, pct, passed, took)
            chunk["test_attempts"].append((*row, start, end))

    async def insert_aggregates(self) -> None:
        """Question stats and ``user_progress``, exactly the aggregates of the answers."""
        q_tot, q_cor, q_tsum, q_tcnt = self.q_tot, self.q_cor, self.q_tsum, self.q_tcnt
        stats = [
            (q_tot[q], q_cor[q], _ratio(q_tsum[q], q_tcnt[q]), q)
            for q in range(1, self.sc.questions + 1)
            if q_tot[q]
        ]
        await self.insert("question_stats", stats, _STATS_SQL)
        del self.counts["question_stats"]  # not a table: rows were updated, not inserted
        e1, last_day = self.sc.exams + 1, (self.hi - 1) // _DAY
        rows = []
        for key in sorted(self.prog):
            u, e = divmod(key, e1)
            n, cor, secs, last, days = self.prog[key]
            best, m = 0, days
            while m:  # each round shortens every run of set bits by one
                m &= m << 1
                best += 1
            cur, d = 0, last_day if days >> last_day & 1 else last_day - 1
            while d >= 0 and days >> d & 1:  # a streak is alive if it reaches yesterday
                cur, d = cur + 1, d - 1
            cover = min(1.0, n / min(300, len(self.pools[e])))
            ready = None if n < 20 else round(100 * cor / n * cover**0.5, 1)
            at = self.stamp(last)
            rows.append((u, e, n, cor, cor / n, cur, best, secs, ready, at, at))
        await self.insert("user_progress", rows)
