"""The auditors' report fields through ``/graphql`` with real tokens: only the auditor has
them, they are audited, the NIK lookup names exactly the programs that received a
person's data, and a burst of denials provoked now is found with its events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.audit.conftest import HistoryGateway
from tests.schema.conftest import error_codes, gql

REPORT_FIELDS = ("auditSummary", "auditAnomalies", "chainStatus", "personDisclosures")
PROGRAMS = (
    "bps-admin",
    "dinsos-pkh",
    "dp3akb-keluarga",
    "dinkes-pbi",
    "kec-sumbersari",
    "bappeda-statistik",
)
ROOT_NAMES = "{ __schema { queryType { fields { name } } } }"
OVERVIEW = """
query Overview($from: DateTime!, $to: DateTime!) {
  auditSummary(from: $from, to: $to) {
    from to days programs
    totals { events requests allowed refused denied rateLimited rowsDisclosed tokensIssued failedSignIns }
    programDays { day program requests allowed refused denied rateLimited rowsDisclosed tokensIssued }
    failedSignIns { day endpoint clientId attempts }
    fieldsDisclosed { program fieldPath requests }
  }
  auditAnomalies(from: $from, to: $to) {
    rule subject clientId program remoteAddr day firstAt lastAt eventCount measure threshold
    detail sequences events { sequence outcome endpoint }
  }
  chainStatus { ok verification headSequence lastSequence damage { sequence kind } }
}
"""
PERSON = """
query Person($nik: String!) {
  personDisclosures(nik: $nik) {
    found personIds householdIds
    disclosures { sequence occurredAt clientId agency program agreement purpose fieldPaths
                  personDisclosed householdDisclosed }
  }
}
"""


@pytest.mark.parametrize("program", PROGRAMS)
async def test_no_other_program_has_the_report_fields(
    history_gateway: HistoryGateway, program: str
) -> None:
    headers = await history_gateway.bearer(program)
    status, body = await gql(history_gateway.http, headers, ROOT_NAMES)
    assert status == 200
    names = {field["name"] for field in body["data"]["__schema"]["queryType"]["fields"]}
    assert not names & set(REPORT_FIELDS)
    status, body = await gql(history_gateway.http, headers, "{ chainStatus { ok } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "Cannot query field 'chainStatus' on type 'Query'."


async def test_the_auditor_has_them_and_each_request_is_audited(
    history_gateway: HistoryGateway,
) -> None:
    headers = await history_gateway.bearer("inspektorat-audit")
    status, body = await gql(history_gateway.http, headers, ROOT_NAMES)
    names = {field["name"] for field in body["data"]["__schema"]["queryType"]["fields"]}
    assert set(REPORT_FIELDS) <= names
    status, body = await gql(
        history_gateway.http,
        headers,
        OVERVIEW,
        {"from": "2026-10-01T00:00:00+07:00", "to": "2026-11-01T00:00:00+07:00"},
    )
    assert status == 200, body
    assert body["data"]["chainStatus"]["ok"] is True
    status, trail = await gql(
        history_gateway.http,
        headers,
        '{ auditEvents(filter: {program: "inspektorat-audit", outcome: "ALLOWED"},'
        " first: 1000) { nodes { operationName outcome fieldPaths householdIds personIds } } }",
    )
    nodes = trail["data"]["auditEvents"]["nodes"]
    overview = [node for node in nodes if node["operationName"] == "Overview"]
    assert len(overview) == 1
    assert overview[0] == {
        "operationName": "Overview",
        "outcome": "ALLOWED",
        "fieldPaths": [],
        "householdIds": [],
        "personIds": [],
    }


async def test_the_october_overview_counts_what_happened(history_gateway: HistoryGateway) -> None:
    headers = await history_gateway.bearer("inspektorat-audit")
    _status, body = await gql(
        history_gateway.http,
        headers,
        OVERVIEW,
        {"from": "2026-10-01T00:00:00+07:00", "to": "2026-11-01T00:00:00+07:00"},
    )
    summary = body["data"]["auditSummary"]
    assert summary["days"][0] == "2026-10-01"
    assert summary["days"][-1] == "2026-10-31"
    assert len(summary["days"]) == 31
    cells = {(cell["day"], cell["program"]): cell for cell in summary["programDays"]}
    spike = cells[("2026-10-20", "dinsos-pkh")]
    assert (spike["requests"], spike["allowed"], spike["rowsDisclosed"]) == (150, 150, 150)
    burst = cells[("2026-10-21", "dp3akb-keluarga")]
    assert (burst["requests"], burst["refused"], burst["denied"], burst["rowsDisclosed"]) == (
        12,
        12,
        12,
        0,
    )
    assert summary["failedSignIns"] == [
        {"day": "2026-10-22", "endpoint": "GRAPHQL", "clientId": None, "attempts": 5},
        {"day": "2026-10-22", "endpoint": "TOKEN", "clientId": "kec-guess-01", "attempts": 10},
    ]
    assert summary["totals"]["failedSignIns"] == 15
    assert summary["totals"]["denied"] == 21
    assert {(f["program"], f["fieldPath"]) for f in summary["fieldsDisclosed"]} == {
        ("dinsos-pkh", "households.nodes.id"),
        ("dinsos-pkh", "households.nodes.headName"),
    }
    rules = sorted(item["rule"] for item in body["data"]["auditAnomalies"])
    assert rules == sorted(
        ["VOLUME_SPIKE", "OFF_HOURS", "OFF_HOURS", "DENIAL_BURST", "SIGN_IN_BURST", "SCOPE_SWEEP"]
    )


async def test_periods_are_checked(history_gateway: HistoryGateway) -> None:
    headers = await history_gateway.bearer("inspektorat-audit")
    for variables in (
        {"from": "2026-11-01T00:00:00+07:00", "to": "2026-10-01T00:00:00+07:00"},
        {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2026-10-01T00:00:00", "to": "2026-11-01T00:00:00+07:00"},
    ):
        _status, body = await gql(history_gateway.http, headers, OVERVIEW, variables)
        assert error_codes(body) == ["BAD_USER_INPUT"], body


async def _target(history_gateway: HistoryGateway) -> dict[str, Any]:
    """A person in dinsos-pkh's and dinkes-pbi's scopes, in a household no history names."""
    connection = await asyncpg.connect(history_gateway.url)
    try:
        row = await connection.fetchrow(
            "SELECT p.id, p.nik, p.household_id, h.desa_code FROM persons AS p"
            " JOIN households AS h ON h.id = p.household_id"
            " WHERE h.kabupaten_code = '3509' AND h.welfare_decile <= 4"
            " ORDER BY h.id DESC, p.id LIMIT 1"
        )
        other = await connection.fetchval(
            "SELECT id FROM households WHERE kabupaten_code = '3509' AND head_sex = 'FEMALE'"
            " AND id <> $1 ORDER BY id DESC LIMIT 1",
            row["household_id"],
        )
    finally:
        await connection.close()
    assert row is not None
    return {**dict(row), "other_household": other}


async def test_person_disclosures_name_exactly_the_programs_that_received_the_person(
    history_gateway: HistoryGateway,
) -> None:
    target = await _target(history_gateway)
    dinsos = await history_gateway.bearer("dinsos-pkh")
    status, body = await gql(
        history_gateway.http,
        dinsos,
        "query Family($id: ID!) { household(id: $id) { id headName members { nik name } } }",
        {"id": str(target["household_id"])},
    )
    assert body["data"]["household"]["id"] == str(target["household_id"])
    dinkes = await history_gateway.bearer("dinkes-pbi")
    status, body = await gql(
        history_gateway.http,
        dinkes,
        "query Desa($code: String!) { persons(first: 1000, filter: {regionCode: $code})"
        " { nodes { nik sex age } } }",
        {"code": target["desa_code"]},
    )
    assert status == 200, body
    assert body["data"]["persons"]["nodes"]
    dp3akb = await history_gateway.bearer("dp3akb-keluarga")
    status, body = await gql(
        history_gateway.http,
        dp3akb,
        "query Other($id: ID!) { household(id: $id) { id headName } }",
        {"id": str(target["other_household"])},
    )
    assert body["data"]["household"] is not None
    auditor = await history_gateway.bearer("inspektorat-audit")

    status, body = await gql(history_gateway.http, auditor, PERSON, {"nik": target["nik"]})
    assert status == 200, body
    answer = body["data"]["personDisclosures"]
    assert set(answer) == {"found", "personIds", "householdIds", "disclosures"}
    assert answer["found"] is True
    assert answer["personIds"] == [str(target["id"])]
    assert answer["householdIds"] == [str(target["household_id"])]
    received = {item["program"]: item for item in answer["disclosures"]}
    assert set(received) == {"dinsos-pkh", "dinkes-pbi"}
    assert len(answer["disclosures"]) == 2
    assert received["dinsos-pkh"]["householdDisclosed"] is True
    assert received["dinsos-pkh"]["personDisclosed"] is True
    assert "household.members.nik" in received["dinsos-pkh"]["fieldPaths"]
    assert received["dinkes-pbi"]["personDisclosed"] is True
    assert received["dinkes-pbi"]["householdDisclosed"] is False
    assert received["dinkes-pbi"]["agreement"] is not None

    status, body = await gql(history_gateway.http, auditor, PERSON, {"nik": "9999999999999999"})
    assert body["data"]["personDisclosures"] == {
        "found": False,
        "personIds": [],
        "householdIds": [],
        "disclosures": [],
    }
    status, body = await gql(history_gateway.http, auditor, PERSON, {"nik": "35091"})
    assert error_codes(body) == ["BAD_USER_INPUT"]

    # The auditor's lookups are disclosures of the data subject too (UU PDP: the subject
    # learns who looked): the next lookup names the first one, under the auditor's program.
    status, body = await gql(history_gateway.http, auditor, PERSON, {"nik": target["nik"]})
    again = {item["program"]: item for item in body["data"]["personDisclosures"]["disclosures"]}
    assert set(again) == {"dinsos-pkh", "dinkes-pbi", "inspektorat-audit"}
    looked = [
        item
        for item in body["data"]["personDisclosures"]["disclosures"]
        if item["program"] == "inspektorat-audit"
    ]
    assert len(looked) == 1  # the lookup of an unknown NIK named nobody
    assert looked[0]["fieldPaths"] == ["personDisclosures"]
    assert looked[0]["personDisclosed"] is True
    assert looked[0]["householdDisclosed"] is True
    status, body = await gql(
        history_gateway.http,
        auditor,
        "query H($id: ID!) { disclosures(householdId: $id) { program fieldPaths } }",
        {"id": str(target["household_id"])},
    )
    assert status == 200, body
    programs = [item["program"] for item in body["data"]["disclosures"]]
    assert programs.count("inspektorat-audit") == 2  # both NIK lookups; not this one yet
    status, body = await gql(
        history_gateway.http,
        auditor,
        "query H($id: ID!) { disclosures(householdId: $id) { program fieldPaths } }",
        {"id": str(target["household_id"])},
    )
    paths = [item["fieldPaths"] for item in body["data"]["disclosures"]]
    assert ["disclosures"] in paths


async def test_a_burst_of_denials_provoked_now_is_an_anomaly_with_its_events(
    history_gateway: HistoryGateway,
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    client_id, secret = await history_gateway.client("dp3akb-keluarga")
    answer = await history_gateway.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    for _ in range(10):
        # A filter on the welfare decile, which dp3akb-keluarga may not read: its
        # HouseholdFilter has no such field, so the request is refused as invalid.
        _status, body = await gql(
            history_gateway.http,
            headers,
            "{ households(filter: {welfareDecileMax: 3}) { totalCount } }",
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]
    auditor = await history_gateway.bearer("inspektorat-audit")
    period = {
        "from": started.isoformat(),
        "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    _status, body = await gql(
        history_gateway.http,
        auditor,
        "query A($from: DateTime!, $to: DateTime!) { auditAnomalies(from: $from, to: $to)"
        " { rule subject program eventCount sequences } }",
        period,
    )
    bursts = [item for item in body["data"]["auditAnomalies"] if item["rule"] == "DENIAL_BURST"]
    assert [(item["subject"], item["program"], item["eventCount"]) for item in bursts] == [
        (client_id, "dp3akb-keluarga", 10)
    ]
    _status, trail = await gql(
        history_gateway.http,
        auditor,
        'query T($client: String) { auditEvents(filter: {clientId: $client, outcome: "INVALID"})'
        " { nodes { sequence } } }",
        {"client": client_id},
    )
    denied = [node["sequence"] for node in trail["data"]["auditEvents"]["nodes"]]
    assert bursts[0]["sequences"] == denied
