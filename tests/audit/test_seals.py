"""``sealed_until``: a program under investigation has its disclosures sealed by its policy.

Each event of the program carries the seal from the moment of the request (inside the hash
chain, so a seal cannot be added or moved afterwards without breaking it); subject reports
withhold sealed entries through the seal's day, and say how many are sealed until when."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.state import gateway_state
from audit.events import AuditEvent, Endpoint, Outcome
from db.wib import WIB
from tests.audit.conftest import HistoryGateway
from tests.audit.support import ChainDatabase, StaticKey
from tests.audit.test_tampering import assert_damage
from tests.schema.conftest import gql
from tests.support import POLICY_DIR, make_settings, running

SEAL = date(2099, 12, 31)
REPORT = """
query Report($kk: String) {
  subjectReport(kkNumber: $kk) {
    entries { sequence program fieldPaths }
    sealedCount sealed { until count }
  }
}
"""


@pytest.fixture
async def sealed_gateway(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> AsyncIterator[HistoryGateway]:
    """A gateway whose dinsos-pkh policy is sealed until ``SEAL`` (an investigation)."""
    url = await make_database()
    policies = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, policies, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dinsos = policies / "programs" / "dinsos-pkh.yaml"
    dinsos.write_text(dinsos.read_text() + f"sealed_until: {SEAL.isoformat()}\n")
    settings = make_settings(url, tmp_path / "data", policy_dir=policies)
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield HistoryGateway(url=url, app=app, http=http)


async def _household(url: str) -> tuple[int, str]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT id, kk_number FROM households"
            " WHERE kabupaten_code = '3509' AND welfare_decile <= 4 ORDER BY id LIMIT 1"
        )
    finally:
        await connection.close()
    assert row is not None
    return row["id"], row["kk_number"]


async def test_a_sealed_programs_disclosure_is_counted_not_shown_and_chained(
    sealed_gateway: HistoryGateway,
) -> None:
    household, kk = await _household(sealed_gateway.url)
    dinsos = await sealed_gateway.bearer("dinsos-pkh")
    _status, body = await gql(
        sealed_gateway.http,
        dinsos,
        "query Family($id: ID!) { household(id: $id) { id headName } }",
        {"id": str(household)},
    )
    assert body["data"]["household"]["id"] == str(household)
    connection = await asyncpg.connect(sealed_gateway.url)
    try:
        seq, seal = await connection.fetchrow(
            "SELECT seq, sealed_until FROM audit_events WHERE program = 'dinsos-pkh'"
            " AND outcome = 'allowed' ORDER BY seq DESC LIMIT 1"
        )
    finally:
        await connection.close()
    assert seal == SEAL  # the seal as the policy stood at the request, in the event

    auditor = await sealed_gateway.bearer("inspektorat-audit")
    _status, body = await gql(sealed_gateway.http, auditor, REPORT, {"kk": kk})
    report = body["data"]["subjectReport"]
    assert report["entries"] == []
    assert report["sealedCount"] == 1
    assert report["sealed"] == [{"until": SEAL.isoformat(), "count": 1}]

    # The seal is hashed: moving it (here: lifting it early) breaks the chain at that event.
    chain = ChainDatabase(url=sealed_gateway.url, key=StaticKey())
    assert (await chain.verify()).ok
    await chain.tamper(f"UPDATE audit_events SET sealed_until = '2020-01-01' WHERE seq = {seq}")
    assert_damage(await chain.verify(), seq=seq, kind="edited")


async def test_a_seal_withholds_through_its_day_and_shows_the_entry_after_it(
    sealed_gateway: HistoryGateway,
) -> None:
    household, kk = await _household(sealed_gateway.url)
    today = datetime.now(UTC).astimezone(WIB).date()
    writer = gateway_state(sealed_gateway.app).audit
    sequences = {}
    for name, seal in (("past", today - timedelta(days=1)), ("today", today)):
        sequences[name] = await writer.record(
            AuditEvent(
                endpoint=Endpoint.GRAPHQL,
                outcome=Outcome.ALLOWED,
                request_id=f"sealed-{name}",
                client_id="rc_sealed",
                agency="DINSOS",
                program="dinsos-pkh",
                field_paths=["household.headName"],
                household_ids=[household],
                row_count=1,
                sealed_until=seal,
            )
        )
    auditor = await sealed_gateway.bearer("inspektorat-audit")
    _status, body = await gql(sealed_gateway.http, auditor, REPORT, {"kk": kk})
    report = body["data"]["subjectReport"]
    assert [entry["sequence"] for entry in report["entries"]] == [str(sequences["past"])]
    assert report["entries"][0]["fieldPaths"] == ["household.headName"]
    assert report["sealedCount"] == 1
    assert report["sealed"] == [{"until": today.isoformat(), "count": 1}]
