"""What a database exception means for the caller of the gateway.

``failure_kind`` sorts what asyncpg raised into three answers: the database is
*unavailable* (restarting, a connection broke under a statement, no connection
could be had in time, too many connections), the statement ran out of its
*timeout* (``statement_timeout``), or a value the caller sent is a *bad value*
PostgreSQL cannot take (a NUL character in text, a number out of range). Anything
else is a fault of the gateway and stays one.

``as_gateway_error`` is the one place such a failure becomes what the caller is
told (an ``errors.GatewayError``): the GraphQL engine and the HTTP edge both ask it.
"""

from __future__ import annotations

from typing import Final, Literal

from asyncpg import exceptions as pg

from errors import BadInput, GatewayError, QueryTooComplex, Unavailable

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


ANSWERS: Final[dict[FailureKind, tuple[type[GatewayError], str]]] = {
    "unavailable": (Unavailable, "The registry database is not available; try again shortly."),
    "timeout": (
        QueryTooComplex,
        "The query ran longer than the gateway allows one request: ask for fewer rows"
        " (`first`) or fewer nested lists.",
    ),
    "bad_value": (BadInput, "A value in the request cannot be used (for example a NUL character)."),
}
"""What the caller is told for each ``failure_kind``."""


def as_gateway_error(error: BaseException) -> GatewayError | None:
    """The caller's answer to a database failure; None for a fault of the gateway itself."""
    kind = failure_kind(error)
    if kind is None:
        return None
    error_type, message = ANSWERS[kind]
    return error_type(message)
