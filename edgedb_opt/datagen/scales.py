"""How much data a seed makes: the named scales of ``edgeopt seed --scale``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """How much data a seed makes; answers are the bulk, the rest is proportional."""

    name: str
    users: int
    exams: int
    objectives_per_exam: int
    questions: int
    answers: int
    sessions: int
    test_attempts: int
    accounts: int
    tweets: int
    opportunities: int
    growth_days: int = 365
    answer_days: int = 90


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("tiny", 100, 3, 10, 500, 5_000, 250, 25, 3, 300, 150),
        Scale("small", 2_000, 8, 20, 10_000, 200_000, 10_000, 1_000, 5, 5_000, 3_000),
        Scale("medium", 20_000, 15, 30, 100_000, 2_000_000, 100_000, 10_000, 6, 30_000, 20_000),
        Scale("large", 80_000, 20, 40, 300_000, 10_000_000, 500_000, 50_000, 8, 100_000, 60_000),
    )
}
