"""``POST /oauth/token``: the client-credentials grant, throttled and audited, failing closed.

Every request leaves one audit event before its response, whatever the
outcome; if the event cannot be recorded the caller gets 503 and no token.
Client authentication failures count against the client id and the address
(``api.auth.ratelimit``). The protocol itself is authlib's (``api.auth.server``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import parse_qsl

import asyncpg
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth.policy_view import PolicySource
from api.auth.ratelimit import FailedAuthLimiter
from api.auth.server import ClientProfile, TokenClient, TokenRequest, TokenResponse, TokenServer
from api.observability.middleware import request_id, trace_id
from api.state import gateway_state
from audit.events import AuditEvent, Endpoint, Outcome
from db import access
from errors import Unavailable

log = logging.getLogger(__name__)

MAX_FORM_BYTES: Final = 4096
FORM_TYPE: Final = "application/x-www-form-urlencoded"
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_OUTCOMES: Final = {
    "invalid_client": Outcome.UNAUTHENTICATED,
    "unauthorized_client": Outcome.DENIED,
    "access_denied": Outcome.DENIED,
}


@dataclass(slots=True)
class _Attempt:
    """What one token request turned out to be, for the audit event and the counters."""

    request_id: str
    address: str | None
    trace_id: str | None = None
    client_id: str | None = None
    profile: ClientProfile | None = None
    outcome: str = Outcome.ERROR
    error_code: str | None = None


class _Refused(Exception):
    def __init__(self, response: TokenResponse) -> None:
        super().__init__(response[1].get("error"))
        self.response = response


def _invalid_request(description: str) -> _Refused:
    status, body, headers = InvalidRequestError(description)()
    return _Refused((status, body, headers))


class TokenEndpoint:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        server: TokenServer,
        limiter: FailedAuthLimiter,
        policies: PolicySource,
        uri: str,
    ) -> None:
        self._pool = pool
        self._server = server
        self._limiter = limiter
        self._policies = policies
        self._uri = uri

    async def __call__(self, request: Request) -> Response:
        attempt = _Attempt(
            request_id=request_id(request),
            address=request.client.host if request.client else None,
            trace_id=trace_id(request),
        )
        try:
            response = await self._respond(request, attempt)
        except Unavailable:
            response = _unavailable()
            attempt.outcome, attempt.error_code = Outcome.UNAVAILABLE, "temporarily_unavailable"
        except (OSError, asyncpg.PostgresError, TimeoutError):
            log.warning("token endpoint: database unavailable", exc_info=True)
            response = _unavailable()
            attempt.outcome, attempt.error_code = Outcome.UNAVAILABLE, "temporarily_unavailable"
        try:
            await gateway_state(request.app).audit.record(_audit_event(attempt))
        except Exception:
            # Fail closed: without its audit event the request gets no token.
            log.error("token endpoint: audit event not recorded", exc_info=True)
            return _unavailable()
        return response

    async def _respond(self, request: Request, attempt: _Attempt) -> Response:
        basic_id, basic_secret = extract_basic_authorization(request.headers)
        attempt.client_id = basic_id
        try:
            form = await _read_form(request)
            attempt.client_id = basic_id or form.get("client_id")
            _check_parameters(form, basic_id=basic_id, basic_secret=basic_secret)
        except _Refused as refused:
            return self._finish(refused.response, attempt)

        wait = await self._limiter.retry_after(client_id=attempt.client_id, address=attempt.address)
        if wait is not None:
            attempt.outcome, attempt.error_code = Outcome.RATE_LIMITED, "rate_limited"
            return JSONResponse(
                {
                    "error": "rate_limited",
                    "error_description": "Too many failed client authentications; retry later.",
                },
                status_code=429,
                headers={**NO_STORE, "Retry-After": str(wait)},
            )

        clients = await self._clients(attempt.client_id)
        oauth_request = TokenRequest(
            uri=self._uri, headers=request.headers, form=form, clients=clients
        )
        result = await asyncio.to_thread(self._server.respond, oauth_request)
        known = clients.get(attempt.client_id or "")
        attempt.profile = known.profile if known is not None else None
        if result[1].get("error") == "invalid_client":
            await self._limiter.record_failure(client_id=attempt.client_id, address=attempt.address)
            for client in oauth_request.looked_up:
                if client.secret_matched and client.refusal:
                    log.warning("client %s refused: %s", client.client_id, client.refusal)
        return self._finish(result, attempt)

    async def _clients(self, client_id: str | None) -> dict[str, TokenClient]:
        if not client_id:
            return {}
        programs = self._policies().programs
        clients: dict[str, TokenClient] = {}
        for row in await access.clients_for_authentication(self._pool, [client_id]):
            program = programs.get(row["program"])
            refusal = None
            if not row["enabled"]:
                refusal = "disabled"
            elif program is None:
                refusal = f"program {row['program']!r} is not in the policy set"
            elif not program.agreement.in_force(date.today()):
                refusal = f"the agreement of program {program.name!r} is not in force"
            profile = None
            if program is not None:
                profile = ClientProfile(
                    client_id=row["client_id"],
                    program=program.name,
                    agency=program.agency,
                    agreement=program.agreement.number,
                    purpose=program.purpose,
                )
            clients[row["client_id"]] = TokenClient(
                client_id=row["client_id"],
                secret_hash=row["secret_hash"],
                profile=profile,
                refusal=refusal,
            )
        return clients

    def _finish(self, result: TokenResponse, attempt: _Attempt) -> Response:
        status, body, headers = result
        error = body.get("error")
        if status == 200 and error is None:
            attempt.outcome = Outcome.ALLOWED
        else:
            attempt.error_code = str(error)
            attempt.outcome = _OUTCOMES.get(str(error), Outcome.INVALID)
        response_headers = {
            name: value for name, value in headers if name.lower() != "content-type"
        }
        return JSONResponse(body, status_code=status, headers={**response_headers, **NO_STORE})


async def _read_form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE:
        raise _invalid_request(f"The request body must be {FORM_TYPE}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _invalid_request("The request body is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise _invalid_request("The request body is not a valid form.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _invalid_request(f"The parameter {name!r} is repeated.")
        form[name] = value
    # RFC 6749 §3.2: a parameter sent without a value is treated as omitted.
    return {name: value for name, value in form.items() if value}


def _check_parameters(
    form: dict[str, str], *, basic_id: str | None, basic_secret: str | None
) -> None:
    if "grant_type" not in form:
        raise _invalid_request("Missing 'grant_type' parameter.")
    if basic_id is not None and "client_secret" in form:
        raise _invalid_request("Use one client authentication method, not two.")
    if basic_id is not None and form.get("client_id", basic_id) != basic_id:
        raise _invalid_request("The client ids of the header and the form differ.")


def _unavailable() -> Response:
    return JSONResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": "The service is unavailable; no token was issued.",
        },
        status_code=503,
        headers={**NO_STORE, "Retry-After": "5"},
    )


def _audit_event(attempt: _Attempt) -> AuditEvent:
    profile = attempt.profile
    values: dict[str, Any] = {}
    if profile is not None:
        values = {
            "agency": profile.agency,
            "program": profile.program,
            "agreement": profile.agreement,
            "purpose": profile.purpose,
        }
    return AuditEvent(
        endpoint=Endpoint.TOKEN,
        outcome=attempt.outcome,
        request_id=attempt.request_id,
        trace_id=attempt.trace_id,
        client_id=attempt.client_id,
        remote_addr=attempt.address,
        error_code=attempt.error_code,
        **values,
    )
