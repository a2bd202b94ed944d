"""``regsosek audit breach``: a client's real GraphQL requests, then the pack for a window
holding some of them. Its subjects are exactly the union of the ids the ledger recorded for
that client in that window (checked against SQL written here, not the pack's); a tampered
event in the window makes it exit 1 naming that sequence number, with nothing written."""

from __future__ import annotations

import asyncio
import csv
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.auth.clients import create_client
from api.state import gateway_state
from audit.events import format_time
from audit.verify import verify_chain
from tests.audit.support import ChainDatabase, StaticKey
from tests.schema.conftest import error_codes, gql
from tests.support import cli_env, make_settings, regsosek, running

FAMILIES = "{ households(first: 4) { nodes { id kkNumber headName members { nik name } } } }"
ONE = "query One($id: ID!) { household(id: $id) { id address housing { tenure } } }"
PEOPLE = "{ persons(first: 3) { nodes { id nik sex } } }"
NAMES = "{ households(first: 2) { nodes { id headName } } }"
BREACH_PACK = """
query Breach($c: String!, $from: DateTime!, $to: DateTime!) {
  breachPack(clientId: $c, from: $from, to: $to) {
    verified damage { sequence kind } firstSequence lastSequence events households persons
    summaryHtml
  }
}
"""


@dataclass
class Story:
    url: str
    client_id: str
    start: datetime
    end: datetime
    console: dict[str, Any]
    """``breachPack`` as the auditor's console asked it for the same window."""
    refused: list[str]
    """The error codes when dinsos-pkh asks ``breachPack``."""


async def _client(
    http: httpx.AsyncClient, app: Starlette, url: str, program: str
) -> tuple[str, dict[str, str]]:
    connection = await asyncpg.connect(url)
    try:
        made = await create_client(
            connection,
            program=program,
            name=f"breach test {program}",
            policies=gateway_state(app).policies.current,
        )
    finally:
        await connection.close()
    answer = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(made.client_id, made.client_secret),
    )
    assert answer.status_code == 200, answer.text
    return made.client_id, {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
async def story(make_database: Callable[[], Awaitable[str]], tmp_path: Path) -> Story:
    """dinsos-pkh's ``leaky`` client reads families, one family's housing and persons inside
    the window; before and after it, and another client inside it, read others."""
    url = await make_database()
    app = create_app(make_settings(url, tmp_path / "app"))
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            leaky, headers = await _client(http, app, url, "dinsos-pkh")
            _, other = await _client(http, app, url, "dinsos-pkh")
            _, auditor = await _client(http, app, url, "inspektorat-audit")
            assert (await gql(http, headers, NAMES))[0] == 200
            await asyncio.sleep(0.01)
            start = datetime.now(UTC)
            status, body = await gql(http, headers, FAMILIES)
            assert status == 200, body
            last_family = body["data"]["households"]["nodes"][-1]["id"]
            assert (await gql(http, headers, ONE, {"id": last_family}))[0] == 200
            assert (await gql(http, headers, PEOPLE))[0] == 200
            assert (await gql(http, headers, "{ households { nodes { nope } } }"))[0] == 400
            assert (await gql(http, other, PEOPLE))[0] == 200
            await asyncio.sleep(0.01)
            end = datetime.now(UTC)
            assert (await gql(http, headers, PEOPLE))[0] == 200
            window = {"c": leaky, "from": start.isoformat(), "to": end.isoformat()}
            status, body = await gql(http, auditor, BREACH_PACK, window)
            assert status == 200, body
            _, refused = await gql(http, headers, BREACH_PACK, window)
    return Story(
        url=url,
        client_id=leaky,
        start=start,
        end=end,
        console=body["data"]["breachPack"],
        refused=error_codes(refused),
    )


async def _ledger(story: Story, column: str) -> list[int]:
    """The union of the ids the client's events in the window recorded (independent SQL)."""
    connection = await asyncpg.connect(story.url)
    try:
        rows = await connection.fetch(
            f"SELECT DISTINCT x FROM audit_events AS e, unnest(e.{column}) AS x"
            " WHERE e.client_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 ORDER BY x",
            story.client_id,
            story.start,
            story.end,
        )
    finally:
        await connection.close()
    return [row[0] for row in rows]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def _breach(story: Story, out: Path, data_dir: Path) -> tuple[int, str, str]:
    return await regsosek(
        "audit",
        "breach",
        "--client",
        story.client_id,
        "--from",
        format_time(story.start),
        "--to",
        format_time(story.end),
        "--out",
        str(out),
        env=cli_env(story.url, data_dir),
    )


async def test_the_pack_names_exactly_the_ledgers_subjects_with_identity_and_fields(
    story: Story, tmp_path: Path
) -> None:
    out = tmp_path / "pack"
    code, stdout, stderr = await _breach(story, out, tmp_path / "cli")
    assert code == 0, stdout + stderr

    households = _read(out / "households.csv")
    persons = _read(out / "persons.csv")
    assert [int(row["household_id"]) for row in households] == await _ledger(story, "household_ids")
    assert [int(row["person_id"]) for row in persons] == await _ledger(story, "person_ids")
    assert households
    assert persons

    connection = await asyncpg.connect(story.url)
    try:
        registry = dict(await connection.fetch("SELECT id, kk_number FROM households"))
        niks = dict(await connection.fetch("SELECT id, nik FROM persons"))
        events = [
            row[0]
            for row in await connection.fetch(
                "SELECT seq FROM audit_events WHERE client_id = $1 AND occurred_at >= $2"
                " AND occurred_at < $3 AND cardinality(household_ids || person_ids) > 0"
                " ORDER BY seq",
                story.client_id,
                story.start,
                story.end,
            )
        ]
        run = await connection.fetchrow(
            "SELECT * FROM audit_events WHERE endpoint = 'cli' ORDER BY seq DESC LIMIT 1"
        )
        assert (await verify_chain(connection)).ok
    finally:
        await connection.close()
    for row in households:
        assert row["kk_number"] == registry[int(row["household_id"])]
        assert row["in_registry"] == "yes"
    for row in persons:
        assert row["nik"] == niks[int(row["person_id"])]
    assert [int(row["sequence"]) for row in _read(out / "events.csv")] == events
    assert len(events) == 3  # the refused request disclosed nothing

    # What left, per subject, with its mode: the family's housing only for the one family.
    with_housing = [row for row in households if "housing.tenure" in row["fields"]]
    assert len(with_housing) == 1
    assert "households.nodes.kkNumber (FULL)" in households[0]["fields"]
    assert all("nik (FULL)" in row["fields"] for row in persons)
    assert all("housing" not in row["fields"] for row in persons)

    # The run is an audit event of the auditor, naming every subject of the pack.
    assert run is not None
    assert run["program"] == "inspektorat-audit"
    assert sorted(run["household_ids"]) == await _ledger(story, "household_ids")
    assert sorted(run["person_ids"]) == await _ledger(story, "person_ids")

    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["audit_event_seq"] == run["seq"]
    assert manifest["counts"]["households"] == len(households)
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest

    html = (out / "ringkasan.html").read_text(encoding="utf-8")
    for outside in ("<script", "http://", "https://"):
        assert outside not in html
    assert "default-src 'none'" in html
    notices = _read(out / "pemberitahuan-subjek.csv")
    assert len(notices) == len(households) + len(persons)
    assert {row["nik"] for row in notices if row["jenis_subjek"] == "ORANG"} == {
        row["nik"] for row in persons
    }
    sample = (out / "pemberitahuan-subjek-contoh.txt").read_text(encoding="utf-8")
    assert notices[0]["no_kk"] in sample
    assert "Pasal 46" in sample
    authority = (out / "pemberitahuan-lembaga.txt").read_text(encoding="utf-8")
    assert f"{len(households):,} keluarga (No KK) dan {len(persons):,} orang (NIK)" in authority
    assert "MASIH AKTIF" in authority


async def test_a_tampered_event_in_the_window_stops_the_pack_naming_it(
    story: Story, tmp_path: Path
) -> None:
    connection = await asyncpg.connect(story.url)
    try:
        seq = await connection.fetchval(
            "SELECT seq FROM audit_events WHERE client_id = $1 AND occurred_at >= $2"
            " ORDER BY seq OFFSET 1 LIMIT 1",
            story.client_id,
            story.start,
        )
    finally:
        await connection.close()
    chain = ChainDatabase(url=story.url, key=StaticKey())
    await chain.tamper(
        "UPDATE audit_events SET household_ids = household_ids[2:] WHERE seq = $1", args=[(seq,)]
    )
    out = tmp_path / "reports" / "pack"
    code, stdout, stderr = await _breach(story, out, tmp_path / "cli")
    assert code == 1, stdout + stderr
    assert f"first bad seq {seq}: edited" in stderr
    assert not (tmp_path / "reports").exists()
    runs = await chain.fetch("SELECT seq FROM audit_events WHERE endpoint = 'cli'")
    assert runs == []


async def test_a_bad_window_or_a_used_directory_is_refused(story: Story, tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "old.txt").write_text("x")
    code, _, stderr = await _breach(story, used, tmp_path / "cli")
    assert code == 2
    assert "not an empty directory" in stderr
    code, _, stderr = await regsosek(
        "audit", "breach", "--client", story.client_id, "--from", "2026-13-01",
        "--to", "2026-12-01", "--out", str(tmp_path / "x"),
        env=cli_env(story.url, tmp_path / "cli"),
    )  # fmt: skip
    assert code == 2
    assert "Traceback" not in stderr


async def test_the_console_summary_counts_the_same_subjects_and_names_none(
    story: Story,
) -> None:
    console = story.console
    assert console["verified"] is True
    assert console["damage"] is None
    assert console["households"] == len(await _ledger(story, "household_ids"))
    assert console["persons"] == len(await _ledger(story, "person_ids"))
    assert console["events"] == 3
    html = console["summaryHtml"]
    assert "households.nodes.members.nik" in html
    assert "<script" not in html
    connection = await asyncpg.connect(story.url)
    try:
        kk_numbers = [row[0] for row in await connection.fetch("SELECT kk_number FROM households")]
    finally:
        await connection.close()
    assert not [kk for kk in kk_numbers if kk in html]
    assert story.refused == ["BAD_USER_INPUT"]
