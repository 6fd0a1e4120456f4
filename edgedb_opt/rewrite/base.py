"""The shapes every rewrite rule shares: its signature, its outcome, and the final result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlglot import exp

from edgedb_opt.rewrite.schema import Schema


@dataclass
class RuleOutcome:
    """What one rule did to a tree.

    Args:
        expression: the tree after the rule (the same object, changed in place, or a new root).
        applied: how many places the rule rewrote.
        refusals: why it left other candidate places alone, one reason per place.
    """

    expression: exp.Expr
    applied: int = 0
    refusals: list[str] = field(default_factory=list)


class RewriteRule(Protocol):
    """A rule: a function from tree to tree that may refuse, with a reason, where unsafe."""

    __name__: str

    def __call__(self, expression: exp.Expr, *, schema: Schema) -> RuleOutcome: ...


@dataclass(frozen=True)
class Refusal:
    """A rule that found a candidate and left it alone, and why."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Change:
    """One part of the original text a rewrite replaced: ``original[start:end]`` became
    ``rewritten``; every byte outside the changes is the original's."""

    start: int
    end: int
    original: str
    rewritten: str


@dataclass(frozen=True)
class RewriteResult:
    """The rewritten SQL, the rules that changed it, the rules that declined, and where the
    text changed.

    >>> RewriteResult("SELECT 1", [], [Refusal("r", "why")]).as_dict()
    {'sql': 'SELECT 1', 'applied': [], 'refused': [{'rule': 'r', 'reason': 'why'}], 'changed': []}
    """

    sql: str
    applied: list[str]
    refused: list[Refusal]
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any rule rewrote the statement."""
        return bool(self.applied)

    def as_dict(self) -> dict[str, Any]:
        """The ``edgeopt rewrite --json`` document: ``{"sql", "applied", "refused",
        "changed"}``; each change is ``{"start", "end", "original", "rewritten"}`` (offsets
        into the original text, end exclusive)."""
        return {
            "sql": self.sql,
            "applied": list(self.applied),
            "refused": [{"rule": r.rule, "reason": r.reason} for r in self.refused],
            "changed": [
                {"start": c.start, "end": c.end, "original": c.original, "rewritten": c.rewritten}
                for c in self.changes
            ],
        }
