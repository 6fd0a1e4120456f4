"""What one request of the study flow may ask for: the bounds every input is checked against.

:class:`Limits` holds them, with defaults safe for a public endpoint. ``StudyQueries(...,
limits=...)`` and both answer writers take one; a value past a bound is refused with
:class:`~edgedb_opt.errors.InvalidInput` naming the input, never clamped (a client that asked
for 1,000,000 rows learns that it gets at most 100, rather than silently getting 100).

>>> limits = Limits(max_page=50)
>>> limits.check_page("limit", 20)
20
>>> limits.check_page("limit", 1_000_000)
Traceback (most recent call last):
...
edgedb_opt.errors.InvalidInput: limit must be at most 50, not 1000000
>>> limits.check_id("user_id", "12")
Traceback (most recent call last):
...
edgedb_opt.errors.InvalidInput: user_id must be an integer id, not '12'
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from edgedb_opt.errors import ConfigError, InvalidInput

__all__ = ["DEFAULT_LIMITS", "MAX_ID", "Limits", "limits_or_default", "show"]

#: The largest integer SQLite stores: an id past it cannot name a row (and would overflow).
MAX_ID = 2**63 - 1
_Count = Annotated[int, Strict(), Field(ge=1)]


def show(value: object, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters, for a message about a client's value.

    >>> show("x" * 100, 12), show(10**5000)
    ("'xxxxxxxx...", 'an integer of 16610 bits')
    """
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # a repr that fails: a value refused anyway
        text = f"a {type(value).__name__}"
    return text if len(text) <= width else text[: width - 3] + "..."


class Limits(BaseModel):
    """Bounds on a request's input; every field has a default safe for a public endpoint.

    Attributes:
        max_batch: answers per ``record()`` call (default 500).
        max_page: the largest ``limit`` of any read (default 100).
        max_selected_answer: characters of an answer's ``selected_answer`` (default 64).
        max_search_text: characters of a search text (default 200).
        max_time_spent_seconds: an answer's ``time_spent_seconds`` (default 86400, a day).
        future_skew_s: an answer's ``answered_at`` may be at most this many seconds after
            the writer's clock (default 300: clients' clocks run a little ahead).
        min_answered_at: the earliest ``answered_at`` accepted (default 2000-01-01 UTC; a
            naive value means UTC).
        max_id: the largest id (user, exam, question, session, ...) accepted (default and
            at most 2**63 - 1, SQLite's largest integer).
        max_window_days: the longest time window of a read, in days: ``growth_analytics``'s
            ``days`` and ``study_questions``'s ``exclude_recent_hours`` (default 3660).
        max_objectives: ids in a ``study_questions`` objective filter (default 500; each
            is a bound variable of the statement).

    Raises:
        ConfigError: a bound that cannot work (0, negative, a bool, a text).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_batch: _Count = 500
    max_page: _Count = 100
    max_selected_answer: _Count = 64
    max_search_text: _Count = 200
    max_time_spent_seconds: Annotated[int, Strict(), Field(ge=0)] = 86_400
    future_skew_s: Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)] = 300.0
    min_answered_at: Annotated[dt.datetime, Strict()] = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    max_id: Annotated[int, Strict(), Field(ge=1, le=MAX_ID)] = MAX_ID
    max_window_days: _Count = 3660
    max_objectives: _Count = 500

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"limits.{where}: {str(err['msg']).lower()}") from exc

    @field_validator("min_answered_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value

    def check_id(self, name: str, value: object) -> int:
        """``value`` if it is an ``int`` (not a bool) within 1..max_id, else InvalidInput."""
        if isinstance(value, bool) or not isinstance(value, int):
            reason = f"must be an integer id, not {show(value)}"
        elif not 1 <= value <= self.max_id:
            reason = f"must be between 1 and {self.max_id}, not {show(value)}"
        else:
            return value
        raise InvalidInput.of(name, reason)

    def check_page(self, name: str, value: object) -> int:
        """A ``limit``: an ``int`` within 1..max_page, else InvalidInput (never clamped)."""
        return self.check_count(name, value, self.max_page)

    def check_count(self, name: str, value: object, high: int) -> int:
        """An ``int`` within 1..high, else InvalidInput naming ``name``."""
        if isinstance(value, bool) or not isinstance(value, int):
            reason = f"must be an integer, not {show(value)}"
        elif value < 1:
            reason = f"must be at least 1, not {show(value)}"
        elif value > high:
            reason = f"must be at most {high}, not {show(value)}"
        else:
            return value
        raise InvalidInput.of(name, reason)

    def check_hours(self, name: str, value: object) -> float:
        """A window in hours: a finite number (not a bool) within 0..max_window_days * 24."""
        high = self.max_window_days * 24
        if isinstance(value, bool) or not isinstance(value, int | float):
            reason = f"must be a number of hours, not {show(value)}"
        elif isinstance(value, float) and not math.isfinite(value):
            reason = f"must be a finite number of hours, not {show(value)}"
        elif not 0 <= value <= high:
            reason = f"must be between 0 and {high} hours, not {show(value)}"
        else:
            return value
        raise InvalidInput.of(name, reason)

    def check_text(self, name: str, value: object) -> str:
        """A ``str`` of at most ``max_search_text`` characters, else InvalidInput."""
        if not isinstance(value, str):
            reason = f"must be a text, not {show(value)}"
        elif len(value) > self.max_search_text:
            reason = f"must be at most {self.max_search_text} characters, not {len(value)}"
        else:
            return value
        raise InvalidInput.of(name, reason)


#: The limits used when none are given.
DEFAULT_LIMITS = Limits()


def limits_or_default(limits: object) -> Limits:
    """``limits``, or the defaults for None; ConfigError for anything else."""
    if limits is None:
        return DEFAULT_LIMITS
    if not isinstance(limits, Limits):
        raise ConfigError(f"limits must be a Limits or None, not {show(limits)}")
    return limits
