"""One error hierarchy for the whole gateway, below every layer (``db``, ``policies``,
``schema``, ``audit`` and ``api`` may all raise these).

Each expected failure is a ``GatewayError`` with a GraphQL ``extensions.code``
and an HTTP status. ``api.error_response`` turns any of them into the one error
answer; ``db.failures.as_gateway_error`` is the one place a database failure
becomes one of them. Messages are written for the caller: they never carry SQL,
table names, stack traces or the name of a field the caller may not see.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    code: ClassVar[str] = "INTERNAL"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadInput(GatewayError):
    code = "BAD_USER_INPUT"
    status = 400


class Forbidden(GatewayError):
    code = "FORBIDDEN"
    status = 403


class QueryTooComplex(GatewayError):
    code = "QUERY_TOO_COMPLEX"
    status = 400


class RateLimited(GatewayError):
    code = "RATE_LIMITED"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class Unavailable(GatewayError):
    code = "UNAVAILABLE"
    status = 503


class Unauthenticated(GatewayError):
    """No valid bearer token: answered before the GraphQL document is read."""

    code = "UNAUTHENTICATED"
    status = 401

    def __init__(self, message: str = "A valid bearer token is required.") -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class Internal(GatewayError):
    code = "INTERNAL"
    status = 500
