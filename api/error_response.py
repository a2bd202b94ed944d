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
GRAPHQL_RESPONSE: Final = "application/graphql-response+json"
"""The GraphQL-over-HTTP spec's media type: answered when the Accept header prefers it.
Its status-code rules are the gateway's own already: 200 with ``data``, 4xx/5xx without."""


def response_media_type(accept: str | None) -> str:
    """``application/graphql-response+json`` when the client names it and prefers it at least
    as much as ``application/json``; otherwise ``application/json`` (a missing Accept, ``*/*``
    and every client written before the spec get what they always got)."""
    if not accept or GRAPHQL_RESPONSE not in accept:
        return JSON
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))
    preferred = weights.get(GRAPHQL_RESPONSE, 0.0)
    plain = max(weights.get(JSON, 0.0), weights.get("application/*", 0.0), weights.get("*/*", 0.0))
    return GRAPHQL_RESPONSE if preferred > 0 and preferred >= plain else JSON


def error_response(
    error: GatewayError,
    *,
    request_id: str,
    messages: list[dict[str, Any]] | None = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    media_type: str = JSON,
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
        media_type=media_type,
        headers={
            **error.headers,
            **(headers or {}),
            "X-Request-Id": request_id,
            "Vary": "Accept",
        },
    )
