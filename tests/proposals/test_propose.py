"""``proposeChange`` and ``proposals`` through the real app, real tokens, the seeded registry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from api.state import gateway_state
from db.importer import ImportRejected
from errors import Unavailable
from schema.proposals import NOT_VISIBLE
from tests.proposals.support import EVIDENCE, PROPOSALS, PROPOSE, PROPOSE_PLAIN, koreksi, post
from tests.releases.support import (
    fetch,
    gateway,
    household,
    import_release,
    rows_of,
)


async def _dinsos_household(url: str) -> tuple[int, str, str]:
    """A household dinsos-pkh may read (desil 1-4 in 3509) that does not rent: id, No KK,
    tenure."""
    (row,) = await fetch(
        url,
        "SELECT id, kk_number, tenure::text FROM households WHERE kabupaten_code = '3509'"
        " AND welfare_decile <= 4 AND tenure <> 'RENT' ORDER BY id LIMIT 1",
    )
    return row["id"], row["kk_number"], row["tenure"]


async def test_a_koreksi_is_stored_beside_the_registry_audited_and_only_its_program_sees_it(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    household_id, kk, tenure = await _dinsos_household(url)
    registry_before = await fetch(url, "SELECT * FROM households WHERE id = $1", household_id)
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        body = await gw.query(
            dinsos, PROPOSE, {"input": koreksi(household_id, tenure="RENT", floor_area="36")}
        )
        proposal = body["data"]["proposeChange"]
        assert proposal["kind"] == "KOREKSI"
        assert proposal["status"] == "SUBMITTED"
        assert proposal["values"] == [
            {"field": "tenure", "value": "RENT"},
            {"field": "floor_area", "value": "36"},
        ]
        assert proposal["evidenceSha256"] == EVIDENCE
        assert proposal["household"] == {"id": str(household_id), "kkNumber": kk}
        assert proposal["settledIn"] is None

        mine = await gw.query(dinsos, PROPOSALS, {})
        assert mine["data"]["proposals"]["totalCount"] == 1
        assert mine["data"]["proposals"]["nodes"][0]["id"] == proposal["id"]

        kecamatan = await gw.headers("kec-sumbersari")
        theirs = await gw.query(kecamatan, PROPOSALS, {})
        assert theirs["data"]["proposals"] == {
            "totalCount": 0,
            "pageInfo": {"hasNextPage": False, "endCursor": None},
            "nodes": [],
        }
        dp3akb = await gw.headers("dp3akb-keluarga")
        refused = await post(gw, dp3akb, PROPOSALS, {})
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "data" not in refused or refused["data"] is None

    assert await fetch(url, "SELECT * FROM households WHERE id = $1", household_id) == (
        registry_before
    )
    assert registry_before[0]["tenure"] == tenure
    (event,) = await fetch(
        url,
        "SELECT program, outcome, household_ids, field_paths FROM audit_events"
        " WHERE operation_name = 'Propose'",
    )
    assert event["program"] == "dinsos-pkh"
    assert event["outcome"] == "allowed"
    assert event["household_ids"] == [household_id]
    assert "proposeChange" in event["field_paths"]


async def test_a_household_out_of_scope_is_refused_like_one_that_does_not_exist(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    (rich,) = await fetch(url, "SELECT id FROM households WHERE welfare_decile >= 8 LIMIT 1")
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        outside = await post(
            gw, dinsos, PROPOSE_PLAIN, {"input": koreksi(rich["id"], tenure="RENT")}
        )
        missing = await post(
            gw, dinsos, PROPOSE_PLAIN, {"input": koreksi(987654321, tenure="RENT")}
        )
    assert outside["errors"][0]["message"] == missing["errors"][0]["message"] == NOT_VISIBLE
    assert outside["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert missing["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await fetch(url, "SELECT * FROM proposals") == []


async def test_a_bad_value_is_refused_with_the_importers_reason(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    household_id, kk, _ = await _dinsos_household(url)
    rows = await rows_of(url, [kk])
    household(rows, kk)["tenure"] = "CASTLE"
    with pytest.raises(ImportRejected) as rejected:
        await import_release(url, tmp_path / "bad", rows, release="bad")
    (problem,) = [p for p in rejected.value.problems if p.column == "tenure"]
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        body = await post(
            gw, dinsos, PROPOSE_PLAIN, {"input": koreksi(household_id, tenure="CASTLE")}
        )
        not_granted = await post(
            gw, dinsos, PROPOSE_PLAIN, {"input": koreksi(household_id, welfare_decile="1")}
        )
        bad_hash = await post(
            gw,
            dinsos,
            PROPOSE_PLAIN,
            {"input": {**koreksi(household_id, tenure="RENT"), "evidenceSha256": "abc"}},
        )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["message"] == f"values[0] (tenure): {problem.reason}"
    assert not_granted["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert bad_hash["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await fetch(url, "SELECT * FROM proposals") == []


async def test_a_new_proposal_supersedes_the_pending_one_and_nothing_is_ever_updated(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    household_id, _, _ = await _dinsos_household(url)
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        first = await gw.query(
            dinsos, PROPOSE_PLAIN, {"input": koreksi(household_id, tenure="RENT")}
        )
        await gw.query(dinsos, PROPOSE_PLAIN, {"input": koreksi(household_id, tenure="OTHER")})
        page = await gw.query(dinsos, PROPOSALS, {"first": 1})
        listing = page["data"]["proposals"]
        assert listing["totalCount"] == 2
        assert listing["pageInfo"]["hasNextPage"]
        assert listing["nodes"][0]["id"] == first["data"]["proposeChange"]["id"]
        assert listing["nodes"][0]["status"] == "SUPERSEDED"
        rest = await gw.query(
            dinsos, PROPOSALS, {"first": 1, "after": listing["pageInfo"]["endCursor"]}
        )
        assert rest["data"]["proposals"]["nodes"][0]["status"] == "SUBMITTED"
        pending = await gw.query(dinsos, PROPOSALS, {"filter": {"status": "SUBMITTED"}})
        assert pending["data"]["proposals"]["totalCount"] == 1
        other = await gw.headers("kec-sumbersari")
        forged = await post(
            gw, other, PROPOSALS, {"first": 1, "after": listing["pageInfo"]["endCursor"]}
        )
        assert forged["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    connection = await asyncpg.connect(url)
    try:
        for statement in (
            "UPDATE proposals SET note = 'changed'",
            "DELETE FROM proposal_statuses",
            "TRUNCATE proposals CASCADE",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await connection.execute(statement)
    finally:
        await connection.close()


async def test_no_audit_event_no_proposal(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write commits only after its audit event: when the event cannot be written the caller
    gets UNAVAILABLE and nothing is stored."""
    url = await make_database()
    household_id, _, _ = await _dinsos_household(url)
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")

        async def broken(event: object) -> int:
            raise Unavailable("The audit trail cannot be written.")

        monkeypatch.setattr(gateway_state(gw.app).audit, "record", broken)
        answer = await gw.http.post(
            "/graphql",
            json={
                "query": PROPOSE_PLAIN,
                "variables": {"input": koreksi(household_id, tenure="RENT")},
            },
            headers=dinsos,
        )
    assert answer.status_code == 503
    assert answer.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert "data" not in answer.json()
    assert await fetch(url, "SELECT * FROM proposals") == []
    assert await fetch(url, "SELECT * FROM proposal_statuses") == []


async def test_a_kecamatan_proposes_a_new_family_in_its_region_only(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    (inside,) = await fetch(
        url, "SELECT code FROM regions WHERE code LIKE '3509720%' AND level = 'DESA' LIMIT 1"
    )
    (outside,) = await fetch(
        url, "SELECT code FROM regions WHERE code LIKE '3509710%' AND level = 'DESA' LIMIT 1"
    )

    def usul(desa: str, **more: str) -> dict[str, object]:
        values = {"kk_number": "3509721501260001", "desa_code": desa, "head_name": "Siti", **more}
        return {
            "kind": "USUL",
            "values": [{"field": f, "value": v} for f, v in values.items()],
            "evidenceSha256": EVIDENCE,
            "caseRef": "MUSDES-2026-03",
        }

    async with gateway(url, tmp_path) as gw:
        kecamatan = await gw.headers("kec-sumbersari")
        made = await gw.query(kecamatan, PROPOSE_PLAIN, {"input": usul(inside["code"])})
        assert made["data"]["proposeChange"]["kind"] == "USUL"
        assert made["data"]["proposeChange"]["status"] == "SUBMITTED"
        elsewhere = await post(gw, kecamatan, PROPOSE_PLAIN, {"input": usul(outside["code"])})
        assert elsewhere["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        bad = await post(
            gw, kecamatan, PROPOSE_PLAIN, {"input": usul(inside["code"], member_count="0")}
        )
        assert (
            bad["errors"][0]["message"]
            == "values[3] (member_count): must be between 1 and 30, not 0"
        )
        dinsos = await gw.headers("dinsos-pkh")
        not_its_kind = await post(gw, dinsos, PROPOSE_PLAIN, {"input": usul(inside["code"])})
        assert not_its_kind["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    (stored,) = await fetch(url, "SELECT kind, household_id, kk_number FROM proposals")
    assert tuple(stored) == ("USUL", None, "3509721501260001")
