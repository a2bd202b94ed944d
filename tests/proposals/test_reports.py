"""``reportAssistance``: by household id, by the program's own pseudonym; all or nothing; each
program reports only the assistance its policy names (dinsos-pkh PKH and BPNT, dinkes-pbi
PBI_JKN)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from policies.masks import pseudonym
from schema.proposals import NO_PERSON, NOT_VISIBLE
from tests.proposals.support import post
from tests.releases.support import fetch, gateway
from tests.support import TEST_PSEUDONYM_KEY

REPORT = """
mutation Report($input: [AssistanceReportInput!]!) {
  reportAssistance(input: $input) { accepted errors { index message } }
}
"""
PSEUDONYMS = "query { persons(first: 1) { nodes { nik } } }"


def row(subject: object, **overrides: object) -> dict[str, object]:
    return {
        "subject": str(subject),
        "program": "PKH",
        "year": 2026,
        "month": 11,
        "benefit": "Rp 750.000",
        **overrides,
    }


async def test_a_report_is_all_or_nothing_with_each_bad_rows_reason(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    inside = await fetch(
        url,
        "SELECT id FROM households WHERE kabupaten_code = '3509' AND welfare_decile <= 4"
        " ORDER BY id LIMIT 2",
    )
    (outside,) = await fetch(url, "SELECT id FROM households WHERE welfare_decile >= 8 LIMIT 1")
    receipts_before = await fetch(url, "SELECT count(*) FROM assistance_receipts")
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        refused = await gw.query(
            dinsos,
            REPORT,
            {
                "input": [
                    row(inside[0]["id"]),
                    row(outside["id"]),
                    row(inside[1]["id"], month=13),
                    row(987654321),
                    row(inside[1]["id"], program="PBI_JKN"),
                ]
            },
        )
        assert refused["data"]["reportAssistance"] == {
            "accepted": 0,
            "errors": [
                {"index": 1, "message": NOT_VISIBLE},
                {"index": 2, "message": "month: must be between 1 and 12, not 13"},
                {"index": 3, "message": NOT_VISIBLE},
                {
                    "index": 4,
                    "message": "program: dinsos-pkh may not report PBI_JKN"
                    " (its policy reports: BPNT, PKH)",
                },
            ],
        }
        assert await fetch(url, "SELECT * FROM assistance_reports") == []
        accepted = await gw.query(
            dinsos,
            REPORT,
            {
                "input": [
                    row(inside[0]["id"]),
                    row(inside[1]["id"], month=12),
                    row(inside[1]["id"], program="BPNT", benefit=None),
                ]
            },
        )
        assert accepted["data"]["reportAssistance"] == {"accepted": 3, "errors": []}
    stored = await fetch(
        url,
        "SELECT program, household_id, person_id, assistance_program, year, month, benefit"
        " FROM assistance_reports ORDER BY id",
    )
    assert [tuple(r) for r in stored] == [
        ("dinsos-pkh", inside[0]["id"], None, "PKH", 2026, 11, "Rp 750.000"),
        ("dinsos-pkh", inside[1]["id"], None, "PKH", 2026, 12, "Rp 750.000"),
        ("dinsos-pkh", inside[1]["id"], None, "BPNT", 2026, 11, None),
    ]
    assert await fetch(url, "SELECT count(*) FROM assistance_receipts") == receipts_before
    (event,) = await fetch(
        url,
        "SELECT household_ids FROM audit_events WHERE operation_name = 'Report' AND row_count > 0",
    )
    assert event["household_ids"] == sorted(r["id"] for r in inside)


async def test_dinkes_reports_by_its_own_pseudonym_and_no_one_elses(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    async with gateway(url, tmp_path) as gw:
        dinkes = await gw.headers("dinkes-pbi")
        (person,) = (await gw.query(dinkes, PSEUDONYMS))["data"]["persons"]["nodes"]
        token = person["nik"]
        (stored,) = await _person_of(url, token)
        theirs = pseudonym(
            str(stored["nik"]),
            program="dinsos-pkh",
            pseudonym_key=bytes.fromhex(TEST_PSEUDONYM_KEY),
        )
        refused = await gw.query(
            dinkes,
            REPORT,
            {
                "input": [
                    row(token, program="PBI_JKN"),
                    row(theirs, program="PBI_JKN"),
                    row(stored["nik"], program="PBI_JKN"),
                    row(token, program="PKH"),
                ]
            },
        )
        assert refused["data"]["reportAssistance"] == {
            "accepted": 0,
            "errors": [
                {"index": 1, "message": NO_PERSON},
                {"index": 2, "message": NO_PERSON},
                {
                    "index": 3,
                    "message": "program: dinkes-pbi may not report PKH"
                    " (its policy reports: PBI_JKN)",
                },
            ],
        }
        accepted = await gw.query(dinkes, REPORT, {"input": [row(token, program="PBI_JKN")]})
        assert accepted["data"]["reportAssistance"] == {"accepted": 1, "errors": []}
        kecamatan = await gw.headers("kec-sumbersari")
        not_granted = await post(gw, kecamatan, REPORT, {"input": [row(token)]})
        assert not_granted["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    (report,) = await fetch(
        url, "SELECT household_id, person_id, assistance_program FROM assistance_reports"
    )
    assert tuple(report) == (stored["household_id"], stored["id"], "PBI_JKN")
    (event,) = await fetch(
        url, "SELECT person_ids FROM audit_events WHERE operation_name = 'Report' AND row_count > 0"
    )
    assert event["person_ids"] == [stored["id"]]


async def _person_of(url: str, token: str) -> list[dict[str, object]]:
    """The person (id, household, NIK) whose dinkes-pbi pseudonym is ``token``."""
    key = bytes.fromhex(TEST_PSEUDONYM_KEY)
    rows = await fetch(url, "SELECT id, household_id, nik FROM persons")
    return [
        dict(r)
        for r in rows
        if pseudonym(r["nik"], program="dinkes-pbi", pseudonym_key=key) == token
    ]
