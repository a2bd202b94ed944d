"""Proposal → ``regsosek proposals export`` → ``regsosek import --release`` → settled status,
with the real commands, a real gateway and real tokens."""

from __future__ import annotations

import csv
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from schema.proposals import NO_PERSON
from tests.db.support import write_csv
from tests.proposals.support import EVIDENCE, PROPOSALS, PROPOSE_PLAIN, koreksi, post
from tests.releases.support import fetch, gateway, household, rows_of
from tests.support import cli_env, regsosek

SUBJECT_REPORT = """
query Report($kk: String!) { subjectReport(kkNumber: $kk) { entries { operationName } } }
"""
LEDGER = """
query Ledger($id: ID!) { disclosures(householdId: $id) { program fieldPaths } }
"""


async def test_a_forwarded_koreksi_is_accepted_when_the_release_carries_it_else_rejected(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = await fetch(
        url,
        "SELECT id, kk_number FROM households WHERE kabupaten_code = '3509'"
        " AND welfare_decile <= 4 AND tenure <> 'RENT' ORDER BY id LIMIT 2",
    )
    (accepted_id, accepted_kk), (rejected_id, rejected_kk) = [(r[0], r[1]) for r in rows]
    env = cli_env(url, tmp_path / "data")
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        for household_id in (accepted_id, rejected_id):
            await gw.query(dinsos, PROPOSE_PLAIN, {"input": koreksi(household_id, tenure="RENT")})

        code, out, err = await regsosek(
            "proposals", "export", "--out", str(tmp_path / "export"), env=env
        )
        assert code == 0, err
        assert "2 proposal(s) forwarded" in out
        manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
        assert [p["kkNumber"] for p in manifest["proposals"]] == [accepted_kk, rejected_kk]
        assert manifest["proposals"][0]["values"] == [{"field": "tenure", "value": "RENT"}]
        with (tmp_path / "export" / "households.csv").open(newline="") as file:
            exported = list(csv.DictReader(file))
        assert [(r["kk_number"], r["tenure"]) for r in exported] == [
            (accepted_kk, "RENT"),
            (rejected_kk, "RENT"),
        ]
        forwarded = await gw.query(dinsos, PROPOSALS, {"filter": {"status": "FORWARDED"}})
        assert forwarded["data"]["proposals"]["totalCount"] == 2
        again, out, _ = await regsosek(
            "proposals", "export", "--out", str(tmp_path / "again"), env=env
        )
        assert again == 0
        assert "0 proposal(s) forwarded" in out

        release = await rows_of(url, [accepted_kk, rejected_kk])
        household(release, accepted_kk)["tenure"] = "RENT"
        code, out, err = await regsosek(
            "import", str(write_csv(tmp_path / "2027Q1", release)), "--release", "2027Q1", env=env
        )
        assert code == 0, err
        assert "1 accepted, 1 rejected" in out

        settled = await gw.query(dinsos, PROPOSALS, {})
        statuses = {
            node["id"]: (node["status"], node["settledIn"])
            for node in settled["data"]["proposals"]["nodes"]
        }
        assert sorted(statuses.values(), key=str) == [
            ("ACCEPTED", {"id": "2027Q1"}),
            ("REJECTED", {"id": "2027Q1"}),
        ]
        auditor = await gw.headers("inspektorat-audit")
        ledger = await gw.query(auditor, LEDGER, {"id": str(accepted_id)})
        report = await gw.query(auditor, SUBJECT_REPORT, {"kk": accepted_kk})
    paths = [entry["fieldPaths"] for entry in ledger["data"]["disclosures"]]
    assert ["proposeChange"] in paths
    assert ["proposals.export"] in paths
    assert ["proposals.status"] in paths
    operations = [e["operationName"] for e in report["data"]["subjectReport"]["entries"]]
    assert "Propose" in operations
    assert any(name.startswith("proposals export ") for name in operations)
    assert "proposals settled in release 2027Q1" in operations
    events = await fetch(
        url,
        "SELECT operation_name, household_ids FROM audit_events WHERE endpoint = 'proposals'"
        " ORDER BY seq",
    )
    assert [e["household_ids"] for e in events] == [
        [accepted_id, rejected_id],
        [accepted_id, rejected_id],
    ]
    code, _, err = await regsosek("audit", "verify", env=env)
    assert code == 0, err


REACTIVATE = """
mutation Reactivate($input: ProposalInput!) {
  proposeChange(input: $input) { id kind status values { field value } }
}
"""
DINKES_PERSONS = "query { persons(first: 200) { nodes { nik healthInsurance { pbiJkn } } } }"


async def test_a_reactivation_by_pseudonym_is_exported_with_its_family_and_settled(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    env = cli_env(url, tmp_path / "data")
    async with gateway(url, tmp_path) as gw:
        dinkes = await gw.headers("dinkes-pbi")
        people = (await gw.query(dinkes, DINKES_PERSONS))["data"]["persons"]["nodes"]
        dropped = next(p["nik"] for p in people if not p["healthInsurance"]["pbiJkn"])
        proposal = {
            "kind": "REACTIVATE",
            "values": [
                {"field": "nik", "value": dropped},
                {"field": "insurance_pbi_jkn", "value": "ya"},
            ],
            "evidenceSha256": EVIDENCE,
            "caseRef": "PBI-2026-17",
        }
        made = await gw.query(dinkes, REACTIVATE, {"input": proposal})
        assert made["data"]["proposeChange"]["values"] == [
            {"field": "insurance_pbi_jkn", "value": "true"}
        ]
        other = {**proposal, "values": [{"field": "nik", "value": "0" * 64}, proposal["values"][1]]}
        refused = await post(gw, dinkes, REACTIVATE, {"input": other})
        assert refused["errors"][0]["message"] == NO_PERSON

        code, _, err = await regsosek(
            "proposals", "export", "--out", str(tmp_path / "out"), env=env
        )
        assert code == 0, err
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        (entry,) = manifest["proposals"]
        assert entry["file"] == "persons.csv"
        with (tmp_path / "out" / "persons.csv").open(newline="") as file:
            family = list(csv.DictReader(file))
        assert family[entry["line"] - 2]["insurance_pbi_jkn"] == "true"
        (stored,) = await fetch(
            url,
            "SELECT count(*) AS n FROM persons p JOIN households h ON h.id = p.household_id"
            " WHERE h.kk_number = $1",
            family[0]["kk_number"],
        )
        assert len(family) == stored["n"]

        code, out, err = await regsosek(
            "import", str(tmp_path / "out"), "--release", "2027Q1-pbi", env=env
        )
        assert code == 0, err
        assert "1 accepted, 0 rejected" in out
        listing = await gw.query(dinkes, PROPOSALS, {})
    (node,) = listing["data"]["proposals"]["nodes"]
    assert node["status"] == "ACCEPTED"
    assert node["settledIn"] == {"id": "2027Q1-pbi"}
    (event,) = await fetch(
        url,
        "SELECT person_ids, household_ids FROM audit_events WHERE operation_name = 'Reactivate'"
        " AND outcome = 'allowed'",
    )
    assert len(event["person_ids"]) == 1
    assert event["household_ids"] == []


async def test_an_export_the_audit_trail_cannot_record_forwards_nothing(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    (row,) = await fetch(
        url,
        "SELECT id FROM households WHERE kabupaten_code = '3509' AND welfare_decile <= 4"
        " ORDER BY id LIMIT 1",
    )
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        await gw.query(dinsos, PROPOSE_PLAIN, {"input": koreksi(row["id"], tenure="RENT")})
    await fetch(url, "REVOKE INSERT ON audit_events FROM regsosek_app")
    code, _, err = await regsosek(
        "proposals", "export", "--out", str(tmp_path / "out"), env=cli_env(url, tmp_path / "d")
    )
    assert code == 1
    assert "nothing was forwarded" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "households.csv").exists()
    assert not (tmp_path / "out" / "manifest.json").exists()
    statuses = await fetch(url, "SELECT status FROM proposal_statuses")
    assert [s["status"] for s in statuses] == ["SUBMITTED"]


async def test_a_new_family_proposed_is_accepted_when_a_release_adds_it(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    (model,) = await fetch(
        url, "SELECT kk_number FROM households WHERE kecamatan_code = '3509720' ORDER BY id LIMIT 1"
    )
    rows = await rows_of(url, [model["kk_number"]])
    (family,) = rows["households"]
    new_kk = model["kk_number"][:12] + f"{(int(model['kk_number'][12:]) + 5000) % 10000:04d}"
    family["kk_number"] = new_kk
    for person in rows["persons"]:
        person["kk_number"] = new_kk
        person["nik"] = person["nik"][:12] + f"{(int(person['nik'][12:]) + 5000) % 10000:04d}"
    rows["assistance"] = []
    usul = {
        "kind": "USUL",
        "values": [
            {"field": "kk_number", "value": new_kk},
            {"field": "desa_code", "value": family["desa_code"]},
            {"field": "head_name", "value": family["head_name"]},
            {"field": "member_count", "value": str(family["member_count"])},
        ],
        "evidenceSha256": EVIDENCE,
        "caseRef": "MUSDES-2026-03",
    }
    env = cli_env(url, tmp_path / "data")
    async with gateway(url, tmp_path) as gw:
        kecamatan = await gw.headers("kec-sumbersari")
        await gw.query(kecamatan, PROPOSE_PLAIN, {"input": usul})
        code, _, err = await regsosek("proposals", "export", "--out", str(tmp_path / "o"), env=env)
        assert code == 0, err
        with (tmp_path / "o" / "households.csv").open(newline="") as file:
            (exported,) = list(csv.DictReader(file))
        assert exported["kk_number"] == new_kk
        assert exported["tenure"] == ""
        code, out, err = await regsosek(
            "import", str(write_csv(tmp_path / "rel", rows)), "--release", "2027Q1-usul", env=env
        )
        assert code == 0, err
        assert "1 accepted, 0 rejected" in out
        listing = await gw.query(kecamatan, PROPOSALS, {})
    (node,) = listing["data"]["proposals"]["nodes"]
    assert (node["kind"], node["status"]) == ("USUL", "ACCEPTED")
    assert node["settledIn"] == {"id": "2027Q1-usul"}
