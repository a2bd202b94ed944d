"""Proposal → ``regsosek proposals export`` → ``regsosek import --release`` → settled status,
with the real commands, a real gateway and real tokens."""

from __future__ import annotations

import csv
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.db.support import write_csv
from tests.proposals.support import PROPOSALS, PROPOSE_PLAIN, koreksi
from tests.releases.support import fetch, gateway, household, rows_of
from tests.support import cli_env, regsosek

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
    paths = [entry["fieldPaths"] for entry in ledger["data"]["disclosures"]]
    assert ["proposeChange"] in paths
    assert ["proposals.export"] in paths
    assert ["proposals.status"] in paths
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
