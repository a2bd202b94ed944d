"""``/graphql``: ``POST`` authenticates, executes, audits, answers; ``GET`` serves GraphiQL to
browsers; every other request is refused the one way (405), and audited.

The order is the contract: the bearer token is checked before the body is
read (401 ``invalid_token`` otherwise); the operation runs under the program
the server's registry binds the client to; one audit event is committed for
every request, allowed or not, before anything is sent back. If it cannot be
committed, the caller gets UNAVAILABLE and no data. A GET never executes an
operation.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from api.error_response import JSON, error_response, response_media_type
from api.graphql.documents import document_hash
from api.observability.middleware import request_id, trace_id
from api.state import gateway_state
from audit.events import AuditEvent, Endpoint, Outcome
from db.failures import as_gateway_error
from errors import (
    BadInput,
    Forbidden,
    GatewayError,
    Internal,
    QueryTooComplex,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from policies import choose_purpose
from schema.execute import Caller, Execution

log = logging.getLogger("regsosek.graphql")
STATIC: Final = Path(__file__).resolve().parent.parent / "static"
PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self';"
    " style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none';"
    " base-uri 'none'; object-src 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

MAX_BODY_BYTES = 64 * 1024
MAX_VARIABLES_BYTES = 16 * 1024

OUTCOME_OF_CODE: Final = {
    BadInput.code: Outcome.INVALID,
    Forbidden.code: Outcome.DENIED,
    QueryTooComplex.code: Outcome.TOO_COMPLEX,
    RateLimited.code: Outcome.RATE_LIMITED,
    Unavailable.code: Outcome.UNAVAILABLE,
    Unauthenticated.code: Outcome.UNAUTHENTICATED,
    Internal.code: Outcome.ERROR,
}
"""The audit outcome of a request refused with an ``extensions.code``."""


PURPOSE_HEADER: Final = "regsosek-purpose"
CASE_REF_HEADER: Final = "regsosek-case-ref"


@dataclass(frozen=True)
class OperationBody:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    variables_hash: str | None
    purpose: str | None = None
    """``extensions.purpose``: the purpose code the body names."""
    case_ref: str | None = None
    """``extensions.caseRef``: the case reference the body names."""
    document_id: str | None = None
    """``documentId``: a registered (trusted) document instead of ``query``."""


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise QueryTooComplex(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise QueryTooComplex(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes) -> OperationBody:
    """The GraphQL-over-HTTP JSON body; anything else is BAD_USER_INPUT."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadInput("The request body is not valid JSON.") from None
    if isinstance(payload, list):
        raise BadInput("Batched operations are not accepted: send one operation per request.")
    if not isinstance(payload, dict):
        raise BadInput("The request body must be a JSON object with a `query`.")
    query = payload.get("query")
    document_id = payload.get("documentId")
    if document_id is not None:
        if not isinstance(document_id, str):
            raise BadInput("`documentId` must be a string: `sha256:<hex>`.")
        if query is not None:
            raise BadInput("Send either `query` or `documentId`, not both.")
        query = ""
    elif not isinstance(query, str) or not query.strip():
        raise BadInput("The request needs a `query` string (or a registered `documentId`).")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise BadInput("`variables` must be a JSON object.")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadInput("`operationName` must be a string.")
    variables_hash = None
    if variables:
        canonical = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
        if len(canonical) > MAX_VARIABLES_BYTES:
            raise QueryTooComplex(f"`variables` are larger than {MAX_VARIABLES_BYTES} bytes.")
        variables_hash = hashlib.sha256(canonical).hexdigest()
    purpose, case_ref = _extensions(payload.get("extensions"))
    return OperationBody(
        query,
        variables,
        operation_name,
        variables_hash,
        purpose=purpose,
        case_ref=case_ref,
        document_id=document_id,
    )


def _extensions(extensions: object) -> tuple[str | None, str | None]:
    """``extensions.purpose`` and ``extensions.caseRef`` (CONTRACT §9)."""
    if extensions is None:
        return None, None
    if not isinstance(extensions, dict):
        raise BadInput("`extensions` must be a JSON object.")
    named: list[str | None] = []
    for key in ("purpose", "caseRef"):
        value = extensions.get(key)
        if value is not None and not isinstance(value, str):
            raise BadInput(f"`extensions.{key}` must be a string.")
        named.append(value.strip() or None if value is not None else None)
    return named[0], named[1]


def named_purpose(request: Request, body: OperationBody) -> tuple[str | None, str | None]:
    """The purpose code and case reference a request names: its headers, else its body's
    ``extensions``; the two naming different values is BAD_USER_INPUT."""
    named: list[str | None] = []
    for header, given in ((PURPOSE_HEADER, body.purpose), (CASE_REF_HEADER, body.case_ref)):
        value = (request.headers.get(header) or "").strip() or None
        if value is not None and given is not None and value != given:
            raise BadInput(f"`{header}` and the body's `extensions` name different values.")
        named.append(value or given)
    return named[0], named[1]


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


async def graphql_post(request: Request) -> Response:
    state = gateway_state(request.app)
    minted = request_id(request)
    media_type = response_media_type(request.headers.get("accept"))
    event = AuditEvent(
        endpoint=Endpoint.GRAPHQL,
        outcome=Outcome.ERROR,
        request_id=minted,
        trace_id=trace_id(request),
        remote_addr=_remote(request),
    )
    messages: list[dict[str, Any]] | None = None
    try:
        try:
            principal = await state.auth.authenticate(request)
        except Unauthenticated as refused:
            event.outcome, event.error_code = Outcome.UNAUTHENTICATED, refused.code
            await state.audit.record(event)
            return error_response(refused, request_id=minted, media_type=media_type)
        program = state.policies.current.programs.get(principal.program)
        event.client_id, event.agency, event.program = (
            principal.client_id,
            principal.agency,
            principal.program,
        )
        if program is not None:
            event.agreement, event.purpose = program.agreement.number, program.purpose
            event.sealed_until = program.sealed_until  # the seal as it stands now, chained
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise BadInput("Send GraphQL as `Content-Type: application/json`.")
        body = parse_body(await _read_body(request))
        event.operation_name = body.operation_name
        event.variables_hash = body.variables_hash
        event.purpose_code, event.case_ref = named_purpose(request, body)
        if program is None or not program.agreement.in_force(date.today()):
            raise Forbidden("Your program's data-sharing agreement is not in force.")
        named = event.purpose_code
        if named is None and program.purposes:
            event.purpose_code = program.purposes[0].code
        purpose = choose_purpose(program, code=named, case_ref=event.case_ref)
        if body.document_id is None and program.documents_required:
            raise Forbidden(
                "Your program's policy runs registered documents only (`documents: required`):"
                " send `documentId` instead of `query` (`regsosek documents add`)."
            )
        state.quotas.admit(program, client_id=principal.client_id)
        query = body.query
        if body.document_id is not None:
            event.document_hash = document_hash(body.document_id)
            query = await state.documents.text(program=program.name, document_id=body.document_id)
        caller = Caller(
            principal.client_id, program.under(purpose), purpose=purpose, case_ref=event.case_ref
        )
        execution: Execution = await state.engine.execute(
            caller,
            query=query,
            variables=body.variables,
            operation_name=body.operation_name,
            trusted=body.document_id is not None,
        )
        pending = execution.pending
        event.operation_name = execution.operation_name
        event.document_hash = execution.document_hash
        try:
            if execution.error is not None:
                messages = execution.messages or None
                raise execution.error
            disclosure = execution.disclosure
            event.outcome = Outcome.ALLOWED
            event.field_paths = sorted(disclosure.field_paths)
            event.household_ids = sorted(disclosure.household_ids)
            event.person_ids = sorted(disclosure.person_ids)
            event.row_count = disclosure.rows
            await state.audit.record(event)
            if pending is not None:
                # A mutation's writes commit only after its audit event has.
                await pending.commit()
                pending = None
        finally:
            if pending is not None:
                await pending.rollback()
        state.quotas.disclosed(client_id=principal.client_id, rows=disclosure.rows)
        assert execution.body is not None
        return Response(
            execution.body,
            media_type=media_type,
            headers={"X-Request-Id": minted, "Vary": "Accept"},
        )
    except GatewayError as error:
        if isinstance(error, Internal):
            log.error("request %s failed", minted, exc_info=error, extra={"request_id": minted})
        return await _refuse(request, event, error, messages)
    except Exception as error:
        return await _refuse(request, event, unexpected(error, request_id=minted), None)


def unexpected(error: Exception, *, request_id: str) -> GatewayError:
    """An exception nothing below handled: the database failure's answer (UNAVAILABLE when it
    is down, ``db.failures.as_gateway_error``), else INTERNAL.

    INTERNAL is logged with the request id the caller was given, and its text
    never reaches the caller.
    """
    answer = as_gateway_error(error)
    if answer is not None:
        log.warning("request %s: database failure: %s", request_id, type(error).__name__)
        return answer
    log.error("request %s failed", request_id, exc_info=error, extra={"request_id": request_id})
    return Internal("The gateway failed to answer.")


async def _refuse(
    request: Request,
    event: AuditEvent,
    error: GatewayError,
    messages: list[dict[str, Any]] | None,
) -> Response:
    """Answer an error, after auditing it; a failed audit write becomes UNAVAILABLE."""
    event.outcome = OUTCOME_OF_CODE.get(error.code, Outcome.ERROR)
    event.error_code = error.code
    event.field_paths, event.household_ids, event.person_ids, event.row_count = [], [], [], 0
    media_type = response_media_type(request.headers.get("accept"))
    try:
        await gateway_state(request.app).audit.record(event)
    except GatewayError as failed:
        return error_response(failed, request_id=event.request_id, media_type=media_type)
    return error_response(
        error, request_id=event.request_id, messages=messages, media_type=media_type
    )


async def graphql_get(request: Request) -> Response:
    """GraphiQL for browsers (when enabled); a GET never executes an operation."""
    state = gateway_state(request.app)
    if "text/html" not in request.headers.get("accept", "") or not state.settings.graphiql_enabled:
        return await refuse_method(request, allow="POST")
    event = AuditEvent(
        endpoint=Endpoint.GRAPHQL,
        outcome=Outcome.PAGE,
        request_id=request_id(request),
        trace_id=trace_id(request),
        remote_addr=_remote(request),
    )
    await state.audit.record(event)
    return FileResponse(STATIC / "graphiql.html", headers=PAGE_HEADERS)


async def graphql_other(request: Request) -> Response:
    """Any other method on ``/graphql``."""
    return await refuse_method(request, allow="GET, POST")


async def refuse_method(request: Request, *, allow: str) -> Response:
    """The one refusal of what is not a POSTed operation (nor a browser's GET of GraphiQL):
    405 ``BAD_USER_INPUT`` with ``Allow``, audited like every request."""
    event = AuditEvent(
        endpoint=Endpoint.GRAPHQL,
        outcome=Outcome.INVALID,
        error_code=BadInput.code,
        request_id=request_id(request),
        trace_id=trace_id(request),
        remote_addr=_remote(request),
    )
    await gateway_state(request.app).audit.record(event)
    error = BadInput("Send operations with POST and `Content-Type: application/json`.")
    return error_response(error, request_id=event.request_id, status=405, headers={"Allow": allow})
