"""Telling a passing database fault from a real one, retrying the former, and masking secrets.

A refused, reset or timed-out connection, a server restarting, a lock or deadlock timeout: these
pass, so a page read is retried with jittered exponential back-off and only then reported as
:class:`SourceUnavailable`. A missing table or a syntax error does not pass and is raised at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from connectors.sources.base import SourceUnavailable, TransientSourceError
from overlay.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

# MySQL/MariaDB client and server error numbers that pass: can't connect (2002, 2003), server gone
# or lost (2006, 2013, 2055), too many connections (1040), shutdown in progress (1053), lock wait
# timeout (1205), deadlock (1213), connection killed (1927), idle disconnect (4031).
_MYSQL_TRANSIENT = {2002, 2003, 2006, 2013, 2055, 1040, 1053, 1205, 1213, 1927, 4031}
# PostgreSQL SQLSTATE classes/codes that pass: connection exceptions (08), insufficient resources
# (53), operator intervention such as admin shutdown / cannot connect now (57P), serialization
# failure and deadlock (40001, 40P01), lock not available (55P03).
_PG_TRANSIENT_PREFIXES = ("08", "53", "57P", "40001", "40P01", "55P03")
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "busy")


def mask_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (for messages and logs)."""
    try:
        return make_url(dsn).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable dsn>"


def _password(dsn: str) -> str | None:
    try:
        return make_url(dsn).password
    except ArgumentError:
        return None


def scrub(text: str, dsn: str) -> str:
    """``text`` with the DSN's password (if it appears verbatim) masked."""
    password = _password(dsn)
    return text.replace(password, "***") if password else text


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the driver error it wraps (``orig``) and its causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or current in seen:
            continue
        seen.append(current)
        todo.extend((current.__context__, current.__cause__, getattr(current, "orig", None)))
    return seen


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault worth retrying (see the module docstring)."""
    for err in _chain(exc):
        if isinstance(err, OSError | TimeoutError | sa.exc.TimeoutError):  # incl. refused / reset
            return True
        if isinstance(err, sa.exc.DBAPIError) and err.connection_invalidated:
            return True
        sqlstate = getattr(err, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_PG_TRANSIENT_PREFIXES):
            return True
        if type(err).__module__.startswith("pymysql") and err.args and err.args[0] in _MYSQL_TRANSIENT:
            return True
        if isinstance(err, sqlite3.OperationalError) and any(s in str(err) for s in _SQLITE_TRANSIENT):
            return True
        if type(err).__name__ in {"ConnectionDoesNotExistError", "ConnectionFailureError"}:
            return True  # asyncpg: the server went away mid-query
    return False


def describe(exc: BaseException, dsn: str) -> str:
    """A one-line description of a database error, password masked, without SQLAlchemy's noise."""
    orig = getattr(exc, "orig", None)
    text = f"{type(orig or exc).__name__}: {orig or exc}".split("\n[SQL:", 1)[0].splitlines()[0]
    return scrub(text, dsn)


async def with_retries(
    call: Callable[[], Awaitable[T]], *, what: str, dsn: str, attempts: int, max_wait_s: float
) -> T:
    """``await call()``; transient faults are retried, then raised as :class:`SourceUnavailable`."""

    async def classified() -> T:
        try:
            return await call()
        except Exception as exc:
            if is_transient(exc):
                raise TransientSourceError(describe(exc, dsn)) from exc
            raise

    def before_sleep(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning("sql.retry", what=what, attempt=state.attempt_number, error=str(error), dsn=mask_dsn(dsn))

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.2, max=max_wait_s),
        retry=retry_if_exception_type(TransientSourceError),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return await retrying(classified)
    except TransientSourceError as exc:
        raise SourceUnavailable(f"{what} on {mask_dsn(dsn)} failed after {attempts} attempts: {exc}") from exc
