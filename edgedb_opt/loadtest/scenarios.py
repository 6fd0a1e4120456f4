"""What a load test runs: scenarios (how many users when), the operation mix, thresholds.

Think time and throughput: each simulated user loops *think, then one operation*. Think
time is uniform on ``[0.5, 1.5] x think_ms`` (default mean 2,000 ms, so 1 to 3 s); with
service times of a few milliseconds a user makes about ``1000 / think_ms`` requests per
second, so ``N`` users make about ``N / 2`` req/s: light (100) ~50, medium (500) ~250,
heavy (1,000) ~500 req/s, and the spike's 1,500 users ~750 req/s at the top.

The spike shape (seconds from the start, users active):

====== ===================================
0-5    100 (warm)
5-15   linear ramp from 100 to 1,500
15-25  1,500 (hold)
25-35  linear ramp from 1,500 back to 100
35-40+ 100 (until the end of the run)
====== ===================================

Its run lasts 40 s, or ``--duration`` when that is longer (the last phase stretches).

>>> SCENARIOS["spike"].users_at(10.0), SCENARIOS["spike"].users_at(20.0)
(800, 1500)
>>> parse_mix("study_questions=3,leaderboard=1")["study_questions"]
0.75
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edgedb_opt.errors import ConfigError

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_THINK_MS",
    "OPERATIONS",
    "READ_OPERATIONS",
    "SCENARIOS",
    "Scenario",
    "Thresholds",
    "parse_fail_if",
    "parse_mix",
    "spike_users",
]

#: Every operation a simulated user can run, in report order.
OPERATIONS = (
    "study_questions",
    "record_answers",
    "session_progress",
    "leaderboard",
    "growth_analytics",
)
#: The reads (``--fail-if p95_ms`` applies to each); the other two write.
READ_OPERATIONS = ("study_questions", "leaderboard", "growth_analytics")
#: The study flow's request mix (issue 5), in percent.
DEFAULT_MIX: Mapping[str, float] = {
    "study_questions": 0.40,
    "record_answers": 0.30,
    "session_progress": 0.15,
    "leaderboard": 0.10,
    "growth_analytics": 0.05,
}
DEFAULT_THINK_MS = 2000.0
#: A spike's phases: (seconds, users at the end of the phase); users move linearly within.
_SPIKE = ((5.0, 100), (10.0, 1500), (10.0, 1500), (10.0, 100), (5.0, 100))
SPIKE_SECONDS = sum(s for s, _ in _SPIKE)


def spike_users(t: float) -> int:
    """Users active ``t`` seconds into a spike run (see the module docstring).

    >>> [spike_users(t) for t in (0, 5, 15, 30, 39, 300)]
    [100, 100, 1500, 800, 100, 100]
    """
    start_users, at = 100, 0.0
    for seconds, users in _SPIKE:
        if t < at + seconds:
            return round(start_users + (users - start_users) * (t - at) / seconds)
        start_users, at = users, at + seconds
    return start_users


@dataclass(frozen=True)
class Scenario:
    """A named load: its peak user count and the users active at each moment.

    Attributes:
        name: light, medium, heavy or spike.
        users: the most users active at once.
        min_seconds: the shortest run the shape needs (0: any ``--duration``).
    """

    name: str
    users: int
    min_seconds: float = 0.0
    shape: Callable[[float], int] | None = None

    def users_at(self, t: float) -> int:
        """Users that should be active ``t`` seconds into the run."""
        return self.users if self.shape is None else self.shape(t)

    def with_users(self, users: int) -> Scenario:
        """The same scenario with ``users`` at the peak (a spike scales its shape)."""
        if users < 1:
            raise ConfigError(f"users must be at least 1, not {users}", param="users")
        if self.shape is None:
            return Scenario(self.name, users, self.min_seconds)
        peak, shape = self.users, self.shape

        def scaled(t: float) -> int:
            return max(1, round(shape(t) * users / peak))

        return Scenario(self.name, users, self.min_seconds, scaled)


SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("light", 100),
        Scenario("medium", 500),
        Scenario("heavy", 1000),
        Scenario("spike", 1500, SPIKE_SECONDS, spike_users),
    )
}


def parse_mix(text: str | None) -> dict[str, float]:
    """Weights from ``name=weight,...`` (unnamed operations get 0), normalized to sum 1.

    None or empty gives :data:`DEFAULT_MIX`.

    >>> parse_mix("leaderboard=x")
    Traceback (most recent call last):
    ...
    edgedb_opt.errors.ConfigError: mix: weight of leaderboard must be a number >= 0, not 'x'
    """
    if not text:
        return dict(DEFAULT_MIX)
    weights = dict.fromkeys(OPERATIONS, 0.0)
    for part in text.split(","):
        name, sep, value = (p.strip() for p in part.partition("="))
        if not sep or name not in weights:
            raise ConfigError(
                f"mix: expected name=weight with a name among {', '.join(OPERATIONS)}, "
                f"not {part.strip()!r}",
                param="mix",
            )
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not weight >= 0 or weight == float("inf"):
            raise ConfigError(
                f"mix: weight of {name} must be a number >= 0, not {value!r}", param="mix"
            )
        weights[name] = weight
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError("mix: at least one weight must be above 0", param="mix")
    return {k: v / total for k, v in weights.items()}


@dataclass(frozen=True)
class Thresholds:
    """``--fail-if`` limits: the run fails when a measured value is above one."""

    error_rate: float | None = None
    p95_ms: float | None = None


def parse_fail_if(items: tuple[str, ...] | list[str]) -> Thresholds:
    """Thresholds from ``--fail-if`` values such as ``error_rate=0.001`` and ``p95_ms=25``.

    >>> parse_fail_if(["error_rate=0", "p95_ms=25"])
    Thresholds(error_rate=0.0, p95_ms=25.0)
    >>> parse_fail_if(["p99=3"])
    Traceback (most recent call last):
    ...
    edgedb_opt.errors.ConfigError: fail_if: expected error_rate=X or p95_ms=Y, not 'p99=3'
    """
    found: dict[str, float] = {}
    for item in items:
        name, sep, value = (p.strip() for p in item.partition("="))
        if not sep or name not in ("error_rate", "p95_ms"):
            raise ConfigError(
                f"fail_if: expected error_rate=X or p95_ms=Y, not {item!r}", param="fail_if"
            )
        try:
            limit = float(value)
        except ValueError:
            limit = -1.0
        if not 0 <= limit < float("inf"):
            raise ConfigError(
                f"fail_if: {name} must be a number >= 0, not {value!r}", param="fail_if"
            )
        found[name] = limit
    return Thresholds(**found)
