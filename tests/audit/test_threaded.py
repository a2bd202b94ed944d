"""The writer on its own thread: the same chain, the same fail-closed guarantees as the plain
writer (``test_writer.py``), its steps taken off the caller's thread and loop."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.auth.clients import create_client
from api.auth.policy_view import PolicySetView
from api.state import gateway_state
from audit.events import AuditEvent
from audit.sql.chain import CHAIN_LOCK
from audit.threaded import ThreadedAuditWriter
from errors import Unavailable
from tests.audit.support import ChainDatabase, sample_event, write_events
from tests.audit.test_writer import TERMINATE_WRITER
from tests.support import make_settings, running


def writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "audit-writer"]


async def test_concurrent_recorders_form_one_gapless_chain_in_batches(
    chain_db: ChainDatabase,
) -> None:
    writer = chain_db.threaded_writer()
    await writer.start()
    try:
        seqs = await write_events(writer, 400, concurrency=16)
    finally:
        await writer.close()
    assert seqs == list(range(1, 401))
    assert writer.steps < 200, "events should share chain steps (group commit)"
    report = await chain_db.verify()
    assert report.ok, report.damage
    assert (report.events_valid, report.head_seq) == (400, 400)


async def test_record_returns_the_committed_seq_of_that_event(chain_db: ChainDatabase) -> None:
    writer = chain_db.threaded_writer()
    await writer.start()
    try:
        seq = await writer.record(sample_event(7, request_id="the-one", outcome="denied"))
    finally:
        await writer.close()
    rows = await chain_db.fetch("SELECT request_id, outcome FROM audit_events WHERE seq = $1", seq)
    assert [tuple(row) for row in rows] == [("the-one", "denied")]


class ThreadsSeen:
    """An observer noting the thread each of its calls came from."""

    def __init__(self) -> None:
        self.recorded_on: set[str] = set()
        self.stepped_on: set[str] = set()
        self.seqs: list[int | None] = []

    def recorded(self, event: AuditEvent, *, seq: int | None, seconds: float) -> None:
        self.recorded_on.add(threading.current_thread().name)
        self.seqs.append(seq)

    def stepped(self, *, events: int, seconds: float | None) -> None:
        self.stepped_on.add(threading.current_thread().name)


async def test_steps_run_on_the_writer_thread_and_waits_are_observed_on_the_callers(
    chain_db: ChainDatabase,
) -> None:
    observer = ThreadsSeen()
    writer = chain_db.threaded_writer(observer=observer)
    await writer.start()
    try:
        assert len(writer_threads()) == 1
        seqs = await write_events(writer, 20, concurrency=4)
    finally:
        await writer.close()
    caller = threading.current_thread().name
    assert observer.stepped_on == {"audit-writer"}
    assert observer.recorded_on == {caller}
    assert sorted(seq for seq in observer.seqs if seq is not None) == seqs == list(range(1, 21))
    assert writer_threads() == []


async def test_close_commits_events_queued_before_it(chain_db: ChainDatabase) -> None:
    writer = chain_db.threaded_writer(flush_ms=50)
    await writer.start()
    pending = [asyncio.ensure_future(writer.record(sample_event(index))) for index in range(20)]
    await asyncio.sleep(0)
    await writer.close()
    assert sorted(await asyncio.gather(*pending)) == list(range(1, 21))
    with pytest.raises(Unavailable):
        await writer.record(sample_event())
    report = await chain_db.verify()
    assert report.ok
    assert [c.seq for c in report.checkpoints][-1] == 20, "close seals the head"


async def test_record_before_start_is_refused(chain_db: ChainDatabase) -> None:
    writer = chain_db.threaded_writer()
    with pytest.raises(Unavailable):
        await writer.record(sample_event())


async def test_start_fails_closed_when_the_database_refuses(chain_db: ChainDatabase) -> None:
    owner = await chain_db.owner()
    try:
        await owner.execute("REVOKE INSERT ON audit_checkpoints FROM regsosek_app")
    finally:
        await owner.close()
    writer = chain_db.threaded_writer()
    with pytest.raises(Unavailable):
        await writer.start()
    assert writer_threads() == []
    with pytest.raises(Unavailable):
        await writer.record(sample_event())
    await writer.close()


async def test_fails_closed_when_insert_is_revoked_then_recovers(chain_db: ChainDatabase) -> None:
    writer = chain_db.threaded_writer()
    await writer.start()
    owner = await chain_db.owner()
    try:
        await write_events(writer, 3)
        await owner.execute("REVOKE INSERT ON audit_events FROM regsosek_app")
        results = await asyncio.gather(
            *(writer.record(sample_event(index)) for index in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, Unavailable) for result in results)
        assert await owner.fetchval("SELECT count(*) FROM audit_events") == 3
        await owner.execute("GRANT INSERT ON audit_events TO regsosek_app")
        assert await writer.record(sample_event(9)) == 4
    finally:
        await writer.close()
        await owner.close()
    report = await chain_db.verify()
    assert report.ok
    assert report.head_seq == 4


async def test_no_seq_before_the_step_commits_and_fails_closed_when_the_connection_dies(
    chain_db: ChainDatabase,
) -> None:
    writer = chain_db.threaded_writer()
    await writer.start()
    owner = await chain_db.owner()
    try:
        await write_events(writer, 2)
        # Hold the chain lock so that the writer's next step waits inside its transaction.
        await owner.execute("SELECT pg_advisory_lock($1)", CHAIN_LOCK)
        recording = asyncio.ensure_future(writer.record(sample_event(3)))
        await asyncio.sleep(0.3)
        assert not recording.done()
        assert await owner.fetchval(TERMINATE_WRITER) == 1
        with pytest.raises(Unavailable):
            await recording
        await owner.execute("SELECT pg_advisory_unlock($1)", CHAIN_LOCK)
        assert await writer.record(sample_event(4)) == 3
    finally:
        await writer.close()
        await owner.close()
    assert (await chain_db.verify()).ok


QUERY = "query Pull { households(first: 3) { nodes { id members { id } } } }"


async def bearer(
    http: httpx.AsyncClient, *, url: str, app_policies: PolicySetView
) -> dict[str, str]:
    connection = await asyncpg.connect(url)
    try:
        made = await create_client(
            connection, program="dinsos-pkh", name="threaded writer test", policies=app_policies
        )
    finally:
        await connection.close()
    answer = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(made.client_id, made.client_secret),
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_a_gateway_with_the_settings_audits_through_the_thread_and_fails_closed(
    chain_db: ChainDatabase, tmp_path: Path
) -> None:
    settings = make_settings(
        chain_db.url, tmp_path, audit_writer_thread=True, switch_interval_ms=0.5
    )
    before = sys.getswitchinterval()
    async with running(create_app(settings)) as app:
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        state = gateway_state(app)
        assert isinstance(state.audit, ThreadedAuditWriter)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await bearer(http, url=chain_db.url, app_policies=state.policies.current)
            answer = await http.post("/graphql", json={"query": QUERY}, headers=headers)
            assert answer.status_code == 200, answer.text
            nodes = answer.json()["data"]["households"]["nodes"]
            rows = await chain_db.fetch(
                "SELECT household_ids FROM audit_events WHERE request_id = $1",
                answer.headers["x-request-id"],
            )
            assert [row["household_ids"] for row in rows] == [
                sorted(int(node["id"]) for node in nodes)
            ]
            owner = await chain_db.owner()
            try:
                await owner.execute("REVOKE INSERT ON audit_events FROM regsosek_app")
                refused = await http.post("/graphql", json={"query": QUERY}, headers=headers)
                await owner.execute("GRANT INSERT ON audit_events TO regsosek_app")
            finally:
                await owner.close()
            assert refused.status_code == 503, refused.text
            assert "data" not in refused.json()
    assert writer_threads() == []
    assert sys.getswitchinterval() == before
    report = await chain_db.verify()
    assert report.ok, report.damage
