"""A policy change is a release: the rows it moves in or out of a program's scope."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from policies.apply import apply_and_record
from policies.snapshot import snapshot
from tests.releases.support import drain, fetch, gateway
from tests.support import REPO


async def test_widening_a_scope_enters_the_rows_it_admits_and_history_stays(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    seeded = await fetch(url, "SELECT count(*) FROM program_changes WHERE program = 'dinsos-pkh'")
    files, policy_set = snapshot(policies)
    same = await apply_and_record(url, files=files, policy_set=policy_set)
    assert same.release is None  # the version in force: nothing to record

    program = policies / "programs" / "dinsos-pkh.yaml"
    program.write_text(
        program.read_text().replace("welfare_decile: {lte: 4}", "welfare_decile: {lte: 5}")
    )
    files, policy_set = snapshot(policies)
    applied = await apply_and_record(url, files=files, policy_set=policy_set)
    assert applied.release is not None
    assert applied.release.startswith("policy-")

    desil_5 = await fetch(
        url,
        "SELECT id FROM households WHERE kabupaten_code = '3509' AND welfare_decile = 5 ORDER BY id",
    )
    changes = await fetch(
        url,
        "SELECT c.program, c.kind::text, c.household_id FROM program_changes c"
        " JOIN releases r ON r.no = c.release_no WHERE r.id = $1 ORDER BY c.position",
        applied.release,
    )
    assert [(row["program"], row["kind"], row["household_id"]) for row in changes] == [
        ("dinsos-pkh", "ENTERED", row["id"]) for row in desil_5
    ]
    # The seed's changes were computed with the old scope and stay as they were.
    kept = await fetch(
        url,
        "SELECT count(*) FROM program_changes c JOIN releases r ON r.no = c.release_no"
        " WHERE c.program = 'dinsos-pkh' AND r.id = 'seed'",
    )
    assert kept[0][0] == seeded[0][0]

    # Narrowing it back: the same rows leave.
    program.write_text(
        program.read_text().replace("welfare_decile: {lte: 5}", "welfare_decile: {lte: 4}")
    )
    files, policy_set = snapshot(policies)
    back = await apply_and_record(url, files=files, policy_set=policy_set)
    left = await fetch(
        url,
        "SELECT c.kind::text, c.household_id FROM program_changes c JOIN releases r"
        " ON r.no = c.release_no WHERE r.id = $1 ORDER BY c.position",
        back.release,
    )
    assert [(row["kind"], row["household_id"]) for row in left] == [
        ("LEFT", row["id"]) for row in desil_5
    ]

    # Another program is not told about dinsos-pkh's policy changes.
    async with gateway(url, tmp_path / "data") as gw:
        kec = await gw.query(await gw.headers("kec-sumbersari"), "{ releases { id } }")
        dinsos = await gw.query(await gw.headers("dinsos-pkh"), "{ releases { id } }")
        nodes, _ = await drain(gw, await gw.headers("bps-admin"), after=None)
    assert [release["id"] for release in kec["data"]["releases"]] == ["seed"]
    assert [release["id"] for release in dinsos["data"]["releases"]] == [
        back.release,
        applied.release,
        "seed",
    ]
    assert {node["release"]["id"] for node in nodes} == {"seed"}
