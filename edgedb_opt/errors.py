"""The one exception tree of edgeopt.

Every error a user can cause is an :class:`EdgeOptError`; the CLI turns each into a single
line on stderr in one place. Native errors (sqlite3, turso, pydantic) are wrapped with
``raise ... from`` so ``--verbose`` still shows their origin. The library speaks in its own
terms (parameter names, not command-line flags); the CLI adds the flag hints when it prints.

::

    EdgeOptError
    ├── ConfigError            configuration that cannot work: settings, options, constructor
    │                          arguments (not a request's input)
    ├── InvalidInput           a request's input is wrong; names the field and why (HTTP 422)
    │   └── AnswerRejected     one answer of a batch is invalid (edgedb_opt.study.models)
    ├── NotFound               a row the request names does not exist (HTTP 404)
    ├── Conflict               the request conflicts with the stored state (HTTP 409)
    ├── DriverError            the database could not be opened, or a statement failed
    │   ├── UnavailableError   could not be reached: another region may serve (HTTP 503)
    │   └── PoolTimeout        no connection free within the pool's timeout (HTTP 503)
    ├── PackError              a pack or step file is malformed (names file and line)
    ├── MigrationError         a step could not be applied or rolled back
    │   └── ChecksumDriftError a step's file changed after it was applied
    ├── RewriteError           SQL given to the rewriter could not be parsed
    ├── WorkloadError          a workload file given to the advisor is malformed
    └── CacheError             the query cache was misused or a loader failed

:func:`http_status` maps any exception to the status a web handler answers with: the client's
mistakes are 4xx, an unreachable or saturated database 503, everything else 500.

>>> issubclass(PoolTimeout, DriverError), issubclass(ChecksumDriftError, MigrationError)
(True, True)
>>> http_status(InvalidInput("limit must be at most 100, not 1000000", field="limit"))
422
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    """What a caller can change to get past an error: ``param`` (the Python parameter's name)
    given ``value``, or turned on when ``value`` is None.

    ``action`` says how: ``"include"`` (add ``value`` to the list ``param``), ``"set"``, or
    ``"raise"`` (a larger number). :meth:`text` says it in the library's words; the CLI says
    it with flags instead.

    >>> Hint("steps", "a", "include").text(), Hint("force").text()
    ("include 'a' in steps", 'pass force=True')
    """

    param: str
    value: str | None = None
    action: str = "set"

    def text(self) -> str:
        if self.action == "include":
            return f"include {self.value!r} in {self.param}"
        if self.action == "raise":
            return f"raise {self.param}"
        return f"pass {self.param}={self.value if self.value is not None else True!r}"


class EdgeOptError(Exception):
    """Root of every error edgeopt raises on purpose.

    Args:
        message: what is wrong. When ``param`` is given, the message starts with that
            parameter's name, so a shell can put its own name for it (a flag) there.
        param: the Python parameter the error is about, if one.
        hint: what to change, appended to the message in parentheses.

    >>> str(EdgeOptError("step 'b' needs 'a'", hint=Hint("steps", "a", "include")))
    "step 'b' needs 'a' (include 'a' in steps)"
    """

    # Class defaults, so a subclass that sets up its own arguments still has all three.
    message: str = ""
    param: str | None = None
    hint: Hint | None = None

    def __init__(
        self, message: str = "", *, param: str | None = None, hint: Hint | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.hint = hint

    def __str__(self) -> str:
        message = self.message or super().__str__()
        return f"{message} ({self.hint.text()})" if self.hint else message


class ConfigError(EdgeOptError):
    """Configuration that cannot work: settings, command options, constructor arguments (bad
    URL scheme, bad value). A request's input is :class:`InvalidInput` instead."""


class DriverError(EdgeOptError):
    """The database could not be opened or a statement failed in the driver."""


class UnavailableError(DriverError):
    """The database could not be reached (server down, connection refused, sync failing).

    Unlike a failed statement, trying another region may succeed: the runtime fails over.
    """


class PackError(EdgeOptError):
    """A pack or step file is malformed; the message names the file and line."""


class MigrationError(EdgeOptError):
    """A step could not be applied or rolled back; the database is left as it was."""


class ChecksumDriftError(MigrationError):
    """A step's file changed after it was applied."""


class RewriteError(EdgeOptError):
    """SQL given to the rewriter could not be parsed.

    Args:
        message: what went wrong.
        sql: the SQL text.
        position: 1-based (line, column) of the problem, when known.
    """

    def __init__(self, message: str, *, sql: str = "", position: tuple[int, int] | None = None):
        super().__init__(message)
        self.sql = sql
        self.position = position


class WorkloadError(EdgeOptError):
    """A workload file given to the advisor is malformed; names the statement and line."""


class PoolTimeout(DriverError):
    """A pool could not hand out a connection within its timeout.

    A :class:`DriverError`: the statement did not run, as when the database refuses it.
    """


class CacheError(EdgeOptError):
    """The query cache was misused or a loader failed."""


class InvalidInput(EdgeOptError):
    """A request's input is wrong: a value out of range, of the wrong type, malformed.

    The client can fix it; :func:`http_status` answers 422 (Unprocessable Content: the
    request was well-formed HTTP, its values are not acceptable).

    Args:
        message: the whole sentence, naming the field and why
            (``"limit must be at most 100, not 1000000"``).
        field: the input the error is about: a parameter (``"limit"``) or a path into a
            request body (``"answers[3].selected_answer"``).
        reason: why the value is refused, without the field's name
            (``"must be at most 100, not 1000000"``); the message when not given.
        hint: what to change, appended to the message in parentheses.

    >>> err = InvalidInput("limit must be at most 100, not 1000000", field="limit",
    ...                    reason="must be at most 100, not 1000000")
    >>> err.field, err.reason
    ('limit', 'must be at most 100, not 1000000')
    """

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        reason: str | None = None,
        hint: Hint | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.field = field
        self.reason = reason if reason is not None else message

    @classmethod
    def of(cls, field: str, reason: str) -> InvalidInput:
        """The error for ``field`` refused because ``reason``; the message is both.

        >>> str(InvalidInput.of("limit", "must be at least 1, not 0"))
        'limit must be at least 1, not 0'
        """
        return cls(f"{field} {reason}", field=field, reason=reason)


class NotFound(EdgeOptError):
    """A row the request names does not exist (``unknown study session 7``).

    Args:
        message: what was not found.
        what: the kind of row (``"study session"``), if one.
        hint: what to change.
    """

    def __init__(
        self, message: str = "", *, what: str | None = None, hint: Hint | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.what = what


class Conflict(EdgeOptError):
    """The request conflicts with the stored state: it is valid on its own, but cannot
    apply to the rows as they are now (repeating it unchanged will not help)."""


def http_status(exc: BaseException) -> int:
    """The HTTP status a handler answers ``exc`` with.

    :class:`InvalidInput` (and :class:`~edgedb_opt.study.models.AnswerRejected`) 422,
    :class:`NotFound` 404, :class:`Conflict` 409, :class:`UnavailableError` and
    :class:`PoolTimeout` 503 (try again, maybe elsewhere); :class:`ConfigError`, every other
    :class:`EdgeOptError` and any other exception 500 (the server's fault, not the client's).

    >>> [http_status(e) for e in (NotFound("x"), Conflict("x"), PoolTimeout("x"))]
    [404, 409, 503]
    >>> http_status(ConfigError("x")), http_status(ValueError("x"))
    (500, 500)
    """
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, UnavailableError | PoolTimeout):
        return 503
    return 500
