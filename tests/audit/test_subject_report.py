"""``subjectReport`` and ``regsosek audit subject-report`` / ``verify-report``: every
disclosure of a person (NIK) or a family (No KK), signed with the gateway's key and
verifiable offline against its published JWKS; the lookup itself is on the record."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from api.cli import app
from audit.report_signing import InvalidReport, sign_report, verify_report
from audit.subjects import signed_report
from tests.audit.conftest import HistoryGateway
from tests.schema.conftest import error_codes, gql
from tests.support import ISSUER, REPO, TEST_SECRET

REPORT = """
query Report($nik: String, $kk: String) {
  subjectReport(nik: $nik, kkNumber: $kk) {
    kind version nik kkNumber found generatedAt asOf householdIds personIds
    members { personId householdId memberNo nikMasked initials }
    entries {
      sequence occurredAt clientId agency program agreement purpose purposeCode caseRef
      operationName fieldPaths fields { path mode } householdDisclosed personIds members
    }
    sealedCount sealed { until count }
    iss kid jws
  }
}
"""


async def _family(gateway: HistoryGateway, *, offset: int = 3) -> dict[str, Any]:
    """A household in dinsos-pkh's scope with at least two members, that no history names
    (each test takes its own ``offset``: the gateway and its trail are the module's)."""
    connection = await asyncpg.connect(gateway.url)
    try:
        row = await connection.fetchrow(
            "SELECT h.id, h.kk_number, h.desa_code FROM households AS h"
            " WHERE h.kabupaten_code = '3509' AND h.welfare_decile <= 4"
            " AND (SELECT count(*) FROM persons AS p WHERE p.household_id = h.id) >= 2"
            " ORDER BY h.id DESC OFFSET $1 LIMIT 1",
            offset,
        )
        assert row is not None
        members = await connection.fetch(
            "SELECT id, member_no, nik, name FROM persons WHERE household_id = $1"
            " ORDER BY member_no, id",
            row["id"],
        )
    finally:
        await connection.close()
    return {**dict(row), "members": [dict(member) for member in members]}


async def _report(
    gateway: HistoryGateway, headers: dict[str, str], **subject: str
) -> dict[str, Any]:
    status, body = await gql(gateway.http, headers, REPORT, subject)
    assert status == 200, body
    assert "errors" not in body, body
    report: dict[str, Any] = body["data"]["subjectReport"]
    return report


async def _jwks(gateway: HistoryGateway) -> dict[str, Any]:
    answer = await gateway.http.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    keys: dict[str, Any] = answer.json()
    return keys


async def test_a_family_report_lists_every_disclosure_signed_and_verifiable_offline(
    history_gateway: HistoryGateway,
) -> None:
    family = await _family(history_gateway)
    household = str(family["id"])
    dinsos = await history_gateway.bearer("dinsos-pkh")
    _status, body = await gql(
        history_gateway.http,
        dinsos,
        "query Family($id: ID!) { household(id: $id) { id headName members { nik name } } }",
        {"id": household},
    )
    assert body["data"]["household"]["id"] == household
    dinkes = await history_gateway.bearer("dinkes-pbi")
    _status, body = await gql(
        history_gateway.http,
        dinkes,
        "query Desa($code: String!) { persons(first: 1000, filter: {regionCode: $code})"
        " { nodes { nik age } } }",
        {"code": family["desa_code"]},
    )
    assert body["data"]["persons"]["nodes"]
    auditor = await history_gateway.bearer("inspektorat-audit")

    report = await _report(history_gateway, auditor, kk=family["kk_number"])
    assert report["found"] is True
    assert report["kkNumber"] == family["kk_number"]
    assert report["nik"] is None
    assert report["householdIds"] == [household]
    assert report["personIds"] == sorted((str(m["id"]) for m in family["members"]), key=int)
    assert report["sealedCount"] == 0
    assert report["sealed"] == []
    # Members: member number, the NIK's last four digits and initials, nothing else of them.
    for shown, member in zip(report["members"], family["members"], strict=True):
        assert shown["personId"] == str(member["id"])
        assert shown["memberNo"] == member["member_no"]
        assert shown["nikMasked"] == "*" * 12 + member["nik"][-4:]
        assert shown["initials"] == " ".join(w[0] + "." for w in member["name"].split())
    by_program = {entry["program"]: entry for entry in report["entries"]}
    assert set(by_program) == {"dinsos-pkh", "dinkes-pbi"}
    dinsos_entry = by_program["dinsos-pkh"]
    assert dinsos_entry["householdDisclosed"] is True
    assert dinsos_entry["agency"]
    assert dinsos_entry["clientId"]
    assert {"path": "household.members.nik", "mode": "FULL"} in dinsos_entry["fields"]
    assert dinsos_entry["personIds"] == report["personIds"]
    first = report["members"][0]
    assert (
        f"{first['memberNo']}: {first['nikMasked']} {first['initials']}" in dinsos_entry["members"]
    )
    dinkes_entry = by_program["dinkes-pbi"]
    assert dinkes_entry["householdDisclosed"] is False
    assert {"path": "persons.nodes.nik", "mode": "PSEUDONYM"} in dinkes_entry["fields"]

    # The JWS is the report itself, naming the gateway as its issuer (as its tokens do),
    # and verifies against the published JWKS alone.
    assert report["iss"] == ISSUER
    jwks = await _jwks(history_gateway)
    kid, signed = verify_report(report["jws"], jwks=jwks)
    assert kid == report["kid"]
    unsigned = {k: v for k, v in report.items() if k not in ("kid", "jws")}
    assert orjson.loads(orjson.dumps(signed)) == orjson.loads(orjson.dumps(unsigned)) | {
        "entries": signed["entries"]
    }
    assert [e["sequence"] for e in signed["entries"]] == [e["sequence"] for e in report["entries"]]
    assert signed["members"] == report["members"]
    with pytest.raises(InvalidReport):
        verify_report(report["jws"], jwks={"keys": []})

    # The auditor's lookup is a disclosure of the family: the next report names it.
    again = await _report(history_gateway, auditor, kk=family["kk_number"])
    looked = [e for e in again["entries"] if e["program"] == "inspektorat-audit"]
    assert len(looked) == 1
    assert looked[0]["fieldPaths"] == ["subjectReport"]
    assert looked[0]["householdDisclosed"] is True
    assert looked[0]["personIds"] == report["personIds"]


async def test_a_person_report_names_the_person_and_no_other_member(
    history_gateway: HistoryGateway,
) -> None:
    family = await _family(history_gateway)
    person = family["members"][-1]
    auditor = await history_gateway.bearer("inspektorat-audit")
    report = await _report(history_gateway, auditor, nik=person["nik"])
    assert report["found"] is True
    assert report["nik"] == person["nik"]
    assert report["personIds"] == [str(person["id"])]
    assert report["householdIds"] == [str(family["id"])]
    assert [m["personId"] for m in report["members"]] == [str(person["id"])]

    missing = await _report(history_gateway, auditor, nik="9999999999999999")
    assert missing["found"] is False
    assert missing["entries"] == []
    assert missing["members"] == []
    verify_report(missing["jws"], jwks=await _jwks(history_gateway))


@pytest.mark.parametrize(
    "variables",
    [{}, {"nik": "3509010101900001", "kk": "3509010101900001"}, {"nik": "35091"}, {"kk": "x"}],
)
async def test_exactly_one_well_formed_subject_or_bad_user_input(
    history_gateway: HistoryGateway, variables: dict[str, str]
) -> None:
    auditor = await history_gateway.bearer("inspektorat-audit")
    _status, body = await gql(history_gateway.http, auditor, REPORT, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body.get("data") is None


@pytest.mark.parametrize("program", ["bps-admin", "dinsos-pkh", "dp3akb-keluarga"])
async def test_no_other_program_has_subject_report(
    history_gateway: HistoryGateway, program: str
) -> None:
    headers = await history_gateway.bearer(program)
    _status, body = await gql(
        history_gateway.http, headers, '{ subjectReport(nik: "3509010101900001") { found } }'
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "Cannot query field 'subjectReport'" in body["errors"][0]["message"]


CLI_ISSUER = "https://regsosek.jemberkab.example"


def _regsosek(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REGSOSEK_")},
        "DATABASE_URL": url,
        "REGSOSEK_POLICY_DIR": str(REPO / "policies"),
        "REGSOSEK_SECRET_KEY": TEST_SECRET,
        "REGSOSEK_ISSUER": CLI_ISSUER,
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "-m", "regsosek", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
        check=False,
    )


async def test_the_cli_writes_a_signed_report_that_verify_report_checks_byte_for_byte(
    history_gateway: HistoryGateway, tmp_path: Path
) -> None:
    family = await _family(history_gateway, offset=7)
    dinsos = await history_gateway.bearer("dinsos-pkh")
    await gql(
        history_gateway.http,
        dinsos,
        "query Family($id: ID!) { household(id: $id) { id members { nik } } }",
        {"id": str(family["id"])},
    )
    out = tmp_path / "laporan.jws"
    url = history_gateway.url
    done = await asyncio.to_thread(
        _regsosek,
        url,
        "audit",
        "subject-report",
        "--kk",
        family["kk_number"],
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"No KK {family['kk_number']}, found" in done.stdout

    # Against the database's keys, and offline against a saved copy of the published JWKS.
    checked = await asyncio.to_thread(
        _regsosek, url, "audit", "verify-report", str(out), cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stderr
    assert "Signature valid" in checked.stdout
    assert f"Issuer: {CLI_ISSUER}" in checked.stdout
    assert "dinsos-pkh" in checked.stdout
    jwks = tmp_path / "jwks.json"
    jwks.write_text(orjson.dumps(await _jwks(history_gateway)).decode())
    offline = await asyncio.to_thread(
        _regsosek,
        "postgresql://nobody@127.0.0.1:1/none",
        "audit",
        "verify-report",
        str(out),
        "--jwks",
        str(jwks),
        "--json",
        cwd=tmp_path,
    )
    assert offline.returncode == 0, offline.stderr
    report = orjson.loads(offline.stdout)
    assert report["kkNumber"] == family["kk_number"]
    assert report["iss"] == CLI_ISSUER
    assert [e["program"] for e in report["entries"]] == ["dinsos-pkh"]

    # Any edited byte fails: in the header, the payload, the signature, and the last
    # character of the signature (whose unused bits a lax decoder would ignore).
    original = out.read_bytes()
    positions = [5, len(original) // 2, len(original) - 10, len(original) - 2]
    for position in positions:
        edited = bytearray(original)
        edited[position] = ord("A") if edited[position] != ord("A") else ord("B")
        tampered = tmp_path / f"edited-{position}.jws"
        tampered.write_bytes(bytes(edited))
        refused = await asyncio.to_thread(
            _regsosek,
            url,
            "audit",
            "verify-report",
            str(tampered),
            "--jwks",
            str(jwks),
            cwd=tmp_path,
        )
        assert refused.returncode == 1, (position, refused.stdout)
        assert "INVALID" in refused.stderr

    # The command's lookup is on the record, naming the family, before the file was written.
    connection = await asyncpg.connect(url)
    try:
        event = await connection.fetchrow(
            "SELECT client_id, program, outcome, household_ids, person_ids, field_paths"
            " FROM audit_events WHERE endpoint = 'cli' ORDER BY seq DESC LIMIT 1"
        )
    finally:
        await connection.close()
    assert event is not None
    assert event["program"] == "inspektorat-audit"
    assert event["outcome"] == "allowed"
    assert event["client_id"].startswith("cli:")
    assert list(event["household_ids"]) == [family["id"]]
    assert list(event["person_ids"]) == [m["id"] for m in family["members"]]
    assert list(event["field_paths"]) == ["subjectReport"]


async def test_the_cli_refuses_two_subjects_and_writes_nothing(
    history_gateway: HistoryGateway, tmp_path: Path
) -> None:
    out = tmp_path / "none.jws"
    done = await asyncio.to_thread(
        _regsosek,
        history_gateway.url,
        "audit",
        "subject-report",
        "--kk",
        "3509010101900001",
        "--nik",
        "3509010101900001",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "exactly one" in done.stderr
    assert not out.exists()


@dataclass(frozen=True)
class _Key:
    kid: str
    alg: str
    private_key: Any


@dataclass(frozen=True)
class _Keys:
    key: _Key

    def current(self) -> _Key:
        return self.key


def test_a_report_signed_before_issuers_were_stated_still_verifies(tmp_path: Path) -> None:
    """A report signed without ``iss`` (before it was added) verifies and says so; one
    signed with it names its issuer, inside the signature."""
    private = ECKey.generate_key("P-256", parameters={"kid": "k-2026-old"})
    keys = _Keys(_Key("k-2026-old", "ES256", private))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(orjson.dumps({"keys": [private.as_dict(private=False)]}).decode())
    unsigned = {"kind": "regsosek-subject-report", "version": 1, "nik": None, "entries": []}
    old = tmp_path / "old.jws"
    old.write_text(sign_report(unsigned, keys=keys)[1])
    new = tmp_path / "new.jws"
    new.write_text(signed_report(unsigned, keys=keys, issuer=CLI_ISSUER)["jws"])

    runner = CliRunner()
    checked_old = runner.invoke(app, ["audit", "verify-report", str(old), "--jwks", str(jwks)])
    assert checked_old.exit_code == 0, checked_old.output
    assert "Signature valid (key k-2026-old)" in checked_old.output
    assert "Issuer: not stated" in checked_old.output
    checked_new = runner.invoke(app, ["audit", "verify-report", str(new), "--jwks", str(jwks)])
    assert checked_new.exit_code == 0, checked_new.output
    assert f"Issuer: {CLI_ISSUER}" in checked_new.output
    assert verify_report(new.read_text(), jwks=orjson.loads(jwks.read_text()))[1]["iss"] == (
        CLI_ISSUER
    )
    assert "iss" not in verify_report(old.read_text(), jwks=orjson.loads(jwks.read_text()))[1]
