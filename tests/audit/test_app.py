"""The running gateway audits through a started writer (``gateway_state(app).audit``)."""

from __future__ import annotations

import asyncpg
from starlette.applications import Starlette

from api.state import gateway_state
from audit.verify import verify_chain
from audit.writer import AuditWriter
from tests.audit.support import sample_event


async def test_the_running_gateway_records_through_its_audit_writer(
    app: Starlette, registry_url: str
) -> None:
    writer = gateway_state(app).audit
    assert isinstance(writer, AuditWriter)
    first = await writer.record(sample_event(1, request_id="app-wiring-1"))
    second = await writer.record(sample_event(2, request_id="app-wiring-2"))
    assert second == first + 1
    connection = await asyncpg.connect(registry_url)
    try:
        rows = await connection.fetch(
            "SELECT seq FROM audit_events WHERE request_id LIKE 'app-wiring-%' ORDER BY seq"
        )
        report = await verify_chain(connection)
    finally:
        await connection.close()
    assert [row["seq"] for row in rows] == [first, second]
    assert report.ok, report.damage
