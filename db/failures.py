"""What a database exception means for the caller of the gateway.

``failure_kind`` sorts what asyncpg raised into three answers: the database is
*unavailable* (restarting, a connection broke under a statement, no connection
could be had in time, too many connections), the statement ran out of its
*timeout* (``statement_timeout``), or a value the caller sent is a *bad value*
PostgreSQL cannot take (a NUL character in text, a number out of range). Anything
else is a fault of the gateway and stays one.
"""

from __future__ import annotations

from typing import Literal

from asyncpg import exceptions as pg

FailureKind = Literal["unavailable", "timeout", "bad_value"]

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, and TimeoutError (no connection in time, a silent peer)
    pg.PostgresConnectionError,  # class 08
    pg.InterfaceError,  # the connection closed under a statement
    pg.InternalClientError,  # a connection that read the server's goodbye, not yet closed
    pg.OperatorInterventionError,  # class 57: admin shutdown, crash, cannot connect now
    pg.InsufficientResourcesError,  # class 53: too many connections, out of memory
    pg.ReadOnlySQLTransactionError,  # a primary that became a replica
    pg.InvalidAuthorizationSpecificationError,  # class 28: the gateway's login refused
    pg.InvalidCatalogNameError,  # 3D000: the database is gone
    pg.ObjectNotInPrerequisiteStateError,  # 55000: not accepting connections; 55P03 lock wait
)


def failure_kind(error: BaseException) -> FailureKind | None:
    """What ``error`` means for the caller; None for a fault of the gateway itself."""
    if isinstance(error, pg.QueryCanceledError) and "statement timeout" in str(error):
        return "timeout"
    if isinstance(error, UNAVAILABLE):
        return "unavailable"
    if isinstance(error, pg.DataError):  # class 22: a bound value PostgreSQL cannot take
        return "bad_value"
    return None
