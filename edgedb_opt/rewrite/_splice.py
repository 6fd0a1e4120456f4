"""Write a rewritten tree back as the original text with only the changed parts replaced.

Rendering a whole statement through sqlglot changes parts no rule touched (``CAST(d AS DATE)``
becomes ``DATE(d)``, ``mod(b, 2)`` becomes ``b % 2``, ``count(*)`` names its column
``COUNT(*)``). So before the rules run, :class:`Original` tags every node with its place in a
pristine copy, and :meth:`Original.render` writes the rewritten tree top-down:

- a node equal to its pristine self is written as its original text, byte for byte;
- a changed node whose children map one to one onto its pristine children is its original
  text with only the changed children's spans replaced (recursively);
- anything else (a node a rule created) is written by sqlglot, with every unchanged original
  node inside it again written as its original text.

A node's span is found from the token positions of its leaves, widened token by token until
the text parses back to the very same node, so a span is never a guess. The caller parses the
whole result again and compares it with the rewritten tree before using it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from sqlglot import TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token  # type: ignore[attr-defined]

from edgedb_opt.errors import EdgeOptError
from edgedb_opt.rewrite._scope import names_matter

_TAG = "edgeopt_orig"
_WIDEN = 6  # tokens tried on each side of a node's leaves (keywords, parentheses, NOT, CAST()
#: Clause nodes the SQLite generator writes with a leading separator of its own.
_CLAUSES = (exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Limit,
            exp.Offset)  # fmt: skip
Span = tuple[int, int]


class Original:
    """The original text of a statement and a pristine copy of its tree, for rendering.

    Args:
        sql: the statement text.
        tree: its parse tree, about to be changed by the rules (tagged in place here).
        parse: parses a fragment into a node of the given class (or any expression).
    """

    def __init__(
        self, sql: str, tree: exp.Expr, parse: Callable[[str, type[exp.Expr]], exp.Expr | None]
    ) -> None:
        self.sql = sql
        self._parse = parse
        for index, node in enumerate(tree.walk()):
            node.meta[_TAG] = index
        self.pristine = tree.copy()
        self._by_tag = {n.meta[_TAG]: n for n in self.pristine.walk()}
        self._tokens: list[Token] = Dialect.get_or_raise("sqlite").tokenize(sql)
        self._starts = {t.start: i for i, t in enumerate(self._tokens)}
        self._ends = {t.end: i for i, t in enumerate(self._tokens)}
        self._spans: dict[int, Span | None] = {}
        self._edits: list[tuple[int, int, str, bool]] = []
        self._quiet = 0  # > 0 while sqlglot writes a node: its inner splices are not edits
        #: Unchanged original parts sqlglot had to write itself (no span found for them).
        self.rewritten_untouched: list[str] = []

    def render(self, node: exp.Expr) -> str:
        """The text of ``node`` (a rewritten tree, or a part of one); see the module doc."""
        self._edits = []
        self.rewritten_untouched = []
        text = self._render(node)
        own = self.span(node)
        if own is not None and not self._edits and text != self.sql[own[0] : own[1]]:
            self._edits.append((own[0], own[1], text, False))  # written whole by sqlglot
        # What lies outside the statement's tokens (comments, a trailing semicolon) stays.
        return self.sql[: own[0]] + text + self.sql[own[1] :] if own is not None else text

    def renamed_columns(self, tree: exp.Expr) -> list[str]:
        """Unaliased result columns whose text the rewrite changed, where names are visible:
        SQLite names such a column after its text, so the rewrite would rename it."""
        out: list[str] = []
        for select in tree.find_all(exp.Select):
            if not names_matter(select):
                continue
            for item in select.expressions:
                if isinstance(item, exp.Alias | exp.Column | exp.Star):
                    continue  # named by its alias, or by the column's own name
                before = self._pristine(item)
                if before is None or before != item:
                    span = self.span(item) if before is not None else None
                    out.append(self.sql[span[0] : span[1]] if span else item.sql("sqlite"))
        return out

    def changes(self) -> list[tuple[int, int, str, bool]]:
        """The innermost replacements the last :meth:`render` made: (start, end) of the
        original text (end exclusive), the text written there instead, and whether the
        replaced part was an operand (an expression SQLite must group as one)."""
        spans = sorted(set(self._edits))
        return [
            e for e in spans if not any(o != e and e[0] <= o[0] and o[1] <= e[1] for o in spans)
        ]

    # -- spans ----------------------------------------------------------------------------
    def _pristine(self, node: exp.Expr) -> exp.Expr | None:
        tag = node.meta.get(_TAG)
        return self._by_tag.get(tag) if isinstance(tag, int) else None

    def span(self, node: exp.Expr) -> Span | None:
        """Where the pristine node with ``node``'s tag is written, or None if unknown."""
        original = self._pristine(node)
        if original is None:
            return None
        tag = original.meta[_TAG]
        if tag not in self._spans:
            self._spans[tag] = self._find_span(original)
        return self._spans[tag]

    def _find_span(self, node: exp.Expr) -> Span | None:
        leaves = [
            (n.meta["start"], n.meta["end"])
            for n in node.walk()
            if isinstance(n.meta.get("start"), int) and isinstance(n.meta.get("end"), int)
        ]
        if not leaves:
            return None
        first = self._starts.get(min(s for s, _ in leaves))
        last = self._ends.get(max(e for _, e in leaves))
        if first is None or last is None:
            return None
        tries = sorted(
            ((left, right) for left in range(_WIDEN + 1) for right in range(_WIDEN + 1)),
            key=lambda lr: (lr[0] + lr[1], lr),
        )
        for left, right in tries:
            lo, hi = first - left, last + right
            if lo < 0 or hi >= len(self._tokens):
                continue
            start, end = self._tokens[lo].start, self._tokens[hi].end + 1
            if self._balanced(lo, hi) and self._parses_to(self.sql[start:end], node):
                return start, end
        return None

    def _balanced(self, lo: int, hi: int) -> bool:
        """Whether tokens lo..hi close every parenthesis they open (sqlglot accepts
        ``cast(x AS integer`` without its ``)``: parsing back alone would not notice)."""
        depth = 0
        for token in self._tokens[lo : hi + 1]:
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
                if depth < 0:
                    return False
        return depth == 0

    def _parses_to(self, text: str, node: exp.Expr) -> bool:
        try:
            parsed = self._parse(text, type(node))
        except (SqlglotError, EdgeOptError, ValueError, KeyError, TypeError):
            return False  # not a span of this node
        return parsed is not None and parsed == node

    # -- rendering ------------------------------------------------------------------------
    def _unchanged(self, node: exp.Expr) -> Span | None:
        original = self._pristine(node)
        if original is None or original != node:
            return None
        return self.span(node)

    def _render(self, node: exp.Expr) -> str:
        span = self._unchanged(node)
        if span is not None:
            return self.sql[span[0] : span[1]]
        spliced = self._splice_children(node)
        if spliced is not None:
            return spliced
        self._quiet += 1
        try:
            return str(_ReusingGenerator(self).generate(node))
        finally:
            self._quiet -= 1

    def _splice_children(self, node: exp.Expr) -> str | None:
        """The original text of ``node`` with its changed children's spans replaced, when its
        children map one to one onto the pristine node's; else None."""
        original = self._pristine(node)
        own = self.span(node)
        if original is None or own is None or type(original) is not type(node):
            return None
        found = self._edits_in(node, original, own)
        if found is None:
            return None
        edits, inserts = found
        edits += [((at, at), extra, False) for at, extra in inserts]
        moved = {id(new) for (start, end), new, _ in edits if start == end}
        edits.sort(key=lambda e: e[0])
        if any(a[0][1] > b[0][0] for a, b in itertools.pairwise(edits)):
            return None
        out, at = [], own[0]
        for (start, end), new, operand in edits:
            out.append(self.sql[at:start])
            # A node that was elsewhere before (moved, or new) brings no edits of its own at
            # this place: only the whole replacement counts.
            in_place = id(new) not in moved and new.meta.get(_TAG) == self._tag_at(start, end)
            self._quiet += 0 if in_place else 1
            try:
                text = self._render(new) if start != end else " " + self._render(new).strip()
            finally:
                self._quiet -= 0 if in_place else 1
            if not self._quiet:
                self._edits.append((start, end, text, operand))
            out.append(text)
            at = end
        out.append(self.sql[at : own[1]])
        return "".join(out)

    def _tag_at(self, start: int, end: int) -> int | None:
        """The tag of the pristine node whose span is exactly (start, end), if one was found."""
        for tag, span in self._spans.items():
            if span == (start, end):
                return tag
        return None

    def _edits_in(
        self, node: exp.Expr, original: exp.Expr, own: Span
    ) -> tuple[list[tuple[Span, exp.Expr, bool]], list[tuple[int, exp.Expr]]] | None:
        """The children of ``node`` that changed, with the span each replaces in ``own``, and
        joins appended; None when they do not map one to one onto ``original``'s children."""
        edits: list[tuple[Span, exp.Expr, bool]] = []
        inserts: list[tuple[int, exp.Expr]] = []
        for key in set(node.args) | set(original.args):
            now, before = _as_list(node.args.get(key)), _as_list(original.args.get(key))
            if len(now) != len(before):
                if key != "joins" or len(now) < len(before) or not isinstance(node, exp.Select):
                    return None
                # Joins appended after the last source: inserted after its text.
                last = before[-1] if before else original.args.get("from_")
                after = self.span(last) if isinstance(last, exp.Expr) else None
                if after is None or any(n is not o for n, o in zip(now, before, strict=False)):
                    return None
                inserts += [(after[1], extra) for extra in now[len(before) :]]
                now = now[: len(before)]
            for new, old in zip(now, before, strict=True):
                if not isinstance(new, exp.Expr) or not isinstance(old, exp.Expr):
                    if new != old:
                        return None
                    continue
                if new.meta.get(_TAG) == old.meta.get(_TAG) and new == old:
                    continue
                if _infix_negation(node, new, old):
                    # "x NOT IN (...)": the NOT sits inside its operand's text; splice the
                    # operand's children within the same span.
                    inner = self._edits_in(new, old, own)
                    if inner is None:
                        return None
                    edits += inner[0]
                    inserts += inner[1]
                    continue
                where = self.span(old)
                if where is None or where == own or not own[0] <= where[0] <= where[1] <= own[1]:
                    return None
                edits.append((where, new, _is_operand(old)))
        return edits, inserts


def _infix_negation(node: exp.Expr, new: exp.Expr, old: exp.Expr) -> bool:
    return (
        isinstance(node, exp.Not)
        and isinstance(old, exp.In | exp.Like | exp.Glob | exp.Between | exp.Is)
        and type(new) is type(old)
        and new.meta.get(_TAG) == old.meta.get(_TAG)
    )


def _has_parts(node: exp.Expr) -> bool:
    """Whether ``node`` holds other expressions (a leaf written anew comes out the same)."""
    return any(isinstance(v, exp.Expr) or (isinstance(v, list) and v) for v in node.args.values())


def _is_operand(node: exp.Expr) -> bool:
    if isinstance(node, (exp.Query, *_CLAUSES, exp.Table, exp.TableAlias, exp.Identifier)):
        return False
    if isinstance(node, (exp.Alias, exp.Distinct)):
        return False
    return not (isinstance(node, exp.Subquery) and isinstance(node.parent, (exp.From, exp.Join)))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class _ReusingGenerator(Dialect.get_or_raise("sqlite").generator_class):  # type: ignore[misc]
    """SQLite's generator, writing every unchanged original node as its original text."""

    def __init__(self, original: Original) -> None:
        super().__init__(unsupported_level=_raise_level())
        self._original = original

    def sql(
        self, expression: exp.Expr | str | None, key: str | None = None, comment: bool = True
    ) -> str:
        node = expression.args.get(key) if key and isinstance(expression, exp.Expr) else expression
        if isinstance(node, exp.Expr) and node.meta.get(_TAG) is not None:
            span = self._original._unchanged(node)
            text = (
                self._original.sql[span[0] : span[1]]
                if span is not None
                else self._original._splice_children(node)
            )
            if text is not None:
                return f"{self.sep()}{text}" if isinstance(node, _CLAUSES) else text
            if span is None and self._original._pristine(node) == node and _has_parts(node):
                self._original.rewritten_untouched.append(type(node).__name__)
        return str(super().sql(expression, key, comment))


def _raise_level() -> Any:
    from sqlglot.errors import ErrorLevel

    return ErrorLevel.RAISE
