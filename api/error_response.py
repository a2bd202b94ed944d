"""The one shape of every error answer: GraphQL-over-HTTP errors with ``extensions.code`` and
``requestId``.

``requestId`` is the id ``api.observability.middleware`` gave the request (also
its ``X-Request-Id`` header and its audit event's ``request_id``). ``/graphql``,
its refusals and the app's exception handlers (``api.app``) all answer errors
through ``error_response``; the status and headers are the error's
(``errors.GatewayError``) unless the caller names others (405 and ``Allow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
from starlette.responses import Response

from errors import GatewayError

JSON: Final = "application/json"


def error_response(
    error: GatewayError,
    *,
    request_id: str,
    messages: list[dict[str, Any]] | None = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``{"errors": [{message, (locations), extensions: {code, requestId}}]}`` for ``error``;
    ``messages`` (GraphQL's own, with locations) replace the error's one message."""
    entries = messages or [{"message": error.message}]
    body = {
        "errors": [
            {**entry, "extensions": {"code": error.code, "requestId": request_id}}
            for entry in entries
        ]
    }
    return Response(
        orjson.dumps(body),
        status_code=status or error.status,
        media_type=JSON,
        headers={**error.headers, **(headers or {}), "X-Request-Id": request_id},
    )
