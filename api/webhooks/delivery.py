"""One attempt of one webhook delivery: audit, sign, POST, keep the receipt or retry.

The body carries, for each change of the batch, its kind and the identity of
the row in the form the program reads it (a household id, a person id, or
for a PSEUDONYM program the person's pseudonym): never a field value. The
agency then reads what it needs through the API, audited as any read.

The order is the request path's: the audit event (endpoint ``webhook``,
outcome ``allowed``, the ids the body names) is committed before the body
leaves; if it cannot be, nothing is sent and the attempt is retried. Every
attempt that sends the body is a disclosure, whatever the receiver answers.
A 2xx is the receipt (status and the first ``RECEIPT_LIMIT`` characters of
the answer, kept with the delivery). Anything else is retried with
exponential back-off until ``give_up_after`` (24 h) from the delivery's
creation; then it is marked ``expired``. Redirects are not followed.

With tracing on (``api.observability.tracing``), each attempt is a CLIENT span
``webhook POST`` (program, subscription, delivery, attempt, the receiver's
status and the outcome; the delivery's statements are its children), its trace
id is stored with the attempt's audit event, and the POST carries its
``traceparent``, so the receiving agency's traces join the gateway's. Off,
nothing of OpenTelemetry is imported and no ``traceparent`` is sent.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
import httpx
import orjson
from pgqueuer.domain.errors import RetryRequested
from sqlalchemy import ColumnElement

from api.observability.tracing import ClientSpan, Tracing
from api.webhooks.signing import SIGNATURE_HEADER, sign_detached
from audit.events import AuditEvent, format_time
from audit.signing import SigningKeySource
from db import webhooks
from db.webhooks import CHANGES, Delivery, PushedChange
from errors import GatewayError
from policies import FieldMode, PolicySet, Program
from policies.masks import program_key, pseudonymised
from policies.rls import SET_PROGRAM_SQL

log = logging.getLogger("regsosek.webhooks")

RECEIPT_LIMIT = 2000


class Recorder(Protocol):
    """What records audit events (``audit.writer.AuditWriter``)."""

    async def record(self, event: AuditEvent) -> int: ...


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 10.0
    """Seconds before the second attempt; doubled for each attempt after."""
    longest_delay: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)
    jitter: float = 0.1
    """Each delay varies by up to this fraction, so receivers are not hit in lockstep."""

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt."""
        seconds = min(self.first_delay * 2 ** max(attempts - 1, 0), self.longest_delay)
        seconds *= 1 + random.uniform(-self.jitter, self.jitter)
        return timedelta(seconds=max(seconds, 0.0))


@dataclass(frozen=True)
class Outcome:
    status: str
    """``delivered``, ``pending`` (will be retried), ``expired``, ``cancelled``, ``gone``."""
    retry_in: timedelta | None = None


def identity_reader(program: Program, pseudonym_key: bytes) -> ColumnElement[Any] | None:
    """The SQL of the program's pseudonym of a change's NIK, for a PSEUDONYM program."""
    if program.mode("Person", "nik") is FieldMode.PSEUDONYM:
        return pseudonymised(CHANGES.c.nik, key=program_key(pseudonym_key, program.name))
    return None


def _identity(change: PushedChange) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": change.kind}
    if change.person_id is not None:
        if change.pseudonym is not None:
            entry["person"] = {"nik": change.pseudonym}
        else:
            entry["person"] = {"id": str(change.person_id)}
    else:
        entry["household"] = {"id": str(change.household_id)}
    return entry


def body_of(delivery: Delivery, changes: list[PushedChange], *, attempt: int) -> bytes:
    return orjson.dumps(
        {
            "delivery": str(delivery.id),
            "subscription": delivery.subscription_id,
            "program": delivery.program,
            "attempt": attempt,
            "sentAt": format_time(datetime.now(UTC)),
            "release": {"id": delivery.release_id, "importedAt": format_time(delivery.release_at)},
            "changes": [_identity(change) for change in changes],
        }
    )


def disclosure_event(
    delivery: Delivery,
    program: Program,
    changes: list[PushedChange],
    *,
    attempt: int,
    trace_id: str | None = None,
) -> AuditEvent:
    """The audit event of one push: the ids the body names, under endpoint ``webhook``."""
    households = sorted({c.household_id for c in changes if c.person_id is None and c.household_id})
    persons = sorted({c.person_id for c in changes if c.person_id is not None})
    paths = ["webhook.changes.kind"]
    if households:
        paths.append("webhook.changes.household.id")
    if persons:
        pseudonyms = any(c.pseudonym is not None for c in changes)
        paths.append(
            "webhook.changes.person.nik[PSEUDONYM]" if pseudonyms else "webhook.changes.person.id"
        )
    return AuditEvent(
        endpoint="webhook",
        outcome="allowed",
        request_id=f"webhook-{delivery.id}-{attempt}",
        program=program.name,
        agency=program.agency,
        agreement=program.agreement.number,
        purpose=program.purpose,
        remote_addr=None,
        operation_name=f"webhook {delivery.subscription_id} release {delivery.release_id}",
        field_paths=paths,
        household_ids=households,
        person_ids=persons,
        row_count=len(households) + len(persons),
        sealed_until=program.sealed_until,
        trace_id=trace_id,
    )


class Deliverer:
    """Sends deliveries; one instance per worker process."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        keys: SigningKeySource,
        audit: Recorder,
        policies: Callable[[], PolicySet],
        pseudonym_key: bytes,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._pool = pool
        self._keys = keys
        self._audit = audit
        self._policies = policies
        self._pseudonym_key = pseudonym_key
        self._http = http
        self._retry = retry or RetryPolicy()
        self._tracing = tracing

    async def attempt(self, delivery_id: int) -> Outcome:
        """One attempt; the outcome says whether (and when) to try again."""
        with self._span(delivery_id) as span:
            outcome = await self._attempt(delivery_id, span)
            if span is not None:
                span.set("regsosek.webhook.outcome", outcome.status)
            return outcome

    def _span(self, delivery_id: int) -> AbstractContextManager[ClientSpan | None]:
        if self._tracing is None:
            return nullcontext()
        attributes: dict[str, str | int] = {
            "http.request.method": "POST",
            "regsosek.webhook.delivery": delivery_id,
        }
        return self._tracing.client_span("webhook POST", attributes=attributes)

    async def _attempt(self, delivery_id: int, span: ClientSpan | None) -> Outcome:
        async with self._pool.acquire() as connection:
            delivery = await webhooks.load_delivery(connection, delivery_id)
            if delivery is None:
                return Outcome("gone")
            if delivery.status != "pending":
                return Outcome(delivery.status)
            program = self._policies().programs.get(delivery.program)
            if not delivery.enabled or program is None:
                await webhooks.cancel_delivery(connection, delivery_id)
                return Outcome("cancelled")
            attempt = delivery.attempts + 1
            if span is not None:
                span.set("regsosek.program", program.name)
                span.set("regsosek.webhook.subscription", delivery.subscription_id)
                span.set("regsosek.webhook.attempt", attempt)
            if not program.agreement.in_force(datetime.now(UTC).date()):
                error = "the program's data-sharing agreement is not in force"
                return await self._failed(connection, delivery, attempt=attempt, error=error)
            async with connection.transaction(readonly=True):
                await connection.execute(SET_PROGRAM_SQL, program.name)
                changes = await webhooks.delivery_changes(
                    connection, delivery, pseudonym=identity_reader(program, self._pseudonym_key)
                )
            body = body_of(delivery, changes, attempt=attempt)
            signature = sign_detached(body, keys=self._keys)
            try:
                await self._audit.record(
                    disclosure_event(
                        delivery,
                        program,
                        changes,
                        attempt=attempt,
                        trace_id=span.trace.trace_id if span is not None else None,
                    )
                )
            except GatewayError:
                error = "the audit trail could not be written; nothing was sent"
                return await self._failed(connection, delivery, attempt=attempt, error=error)
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature,
                "Regsosek-Delivery": str(delivery.id),
                "Regsosek-Attempt": str(attempt),
                "User-Agent": "regsosek-gateway-webhooks",
            }
            if span is not None:
                headers["traceparent"] = span.trace.traceparent
            try:
                response = await self._http.post(delivery.url, content=body, headers=headers)
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"[:500]
                return await self._failed(connection, delivery, attempt=attempt, error=error)
            if span is not None:
                span.set("http.response.status_code", response.status_code)
            if 200 <= response.status_code < 300:
                await webhooks.record_attempt(
                    connection,
                    delivery.id,
                    status="delivered",
                    receipt_status=response.status_code,
                    receipt_body=response.text[:RECEIPT_LIMIT],
                    error=None,
                )
                return Outcome("delivered")
            error = f"HTTP {response.status_code}"
            return await self._failed(
                connection, delivery, attempt=attempt, error=error, status=response.status_code
            )

    async def _failed(
        self,
        connection: asyncpg.Connection,
        delivery: Delivery,
        *,
        attempt: int,
        error: str,
        status: int | None = None,
    ) -> Outcome:
        delay = self._retry.delay(attempt)
        deadline = delivery.created_at + self._retry.give_up_after
        expired = datetime.now(UTC) + delay > deadline
        await webhooks.record_attempt(
            connection,
            delivery.id,
            status="expired" if expired else "pending",
            receipt_status=status,
            receipt_body=None,
            error=error,
        )
        log.warning(
            "webhook delivery %s attempt %s failed: %s%s",
            delivery.id,
            attempt,
            error,
            " (given up)" if expired else f" (next in {delay.total_seconds():.0f} s)",
        )
        return Outcome("expired") if expired else Outcome("pending", retry_in=delay)

    async def run_job(self, delivery_id: int) -> None:
        """The queue's entry point: one attempt, and a retry request when one is due."""
        outcome = await self.attempt(delivery_id)
        if outcome.retry_in is not None:
            raise RetryRequested(delay=outcome.retry_in, reason="delivery not acknowledged")
