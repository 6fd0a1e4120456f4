"""The hot study flow: read operations in baseline and optimized form, and answer writers."""

from __future__ import annotations

from edgedb_opt.study.baseline_writer import BaselineAnswerWriter
from edgedb_opt.study.limits import Limits
from edgedb_opt.study.models import Answer, AnswerRejected, WriteResult
from edgedb_opt.study.queries import StudyQueries
from edgedb_opt.study.writer import AnswerWriter

__all__ = [
    "Answer",
    "AnswerRejected",
    "AnswerWriter",
    "BaselineAnswerWriter",
    "Limits",
    "StudyQueries",
    "WriteResult",
]
