"""``assistanceOverlap`` (bappeda-statistik, k = 10): households reached by several programs,
from real reports, k-suppressed with complementary suppression."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from policies.masks import pseudonym
from schema.suppression import Cell, Dimension, region_steps
from tests.proposals.support import post
from tests.proposals.test_reports import REPORT
from tests.releases.support import fetch, gateway
from tests.schema.stats_support import recoverable
from tests.support import TEST_PSEUDONYM_KEY

OVERLAP = """
query Overlap($by: [HouseholdDimension!]!) {
  assistanceOverlap(groupBy: $by) {
    key { regionCode assistanceProgram } count suppressed
  }
}
"""
LEVELS: tuple[list[str], ...] = (["KECAMATAN"], ["KABUPATEN"], ["PROVINSI"], [])


def reports(household_ids: list[int] | list[str], *programs: str) -> list[dict[str, Any]]:
    return [
        {"subject": str(h), "program": program, "year": 2026, "month": 10}
        for h in household_ids
        for program in programs
    ]


async def test_overlap_cells_under_k_are_suppressed_and_not_recoverable_from_totals(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    areas = await fetch(
        url,
        "SELECT kecamatan_code, array_agg(id ORDER BY id) AS ids FROM households"
        " WHERE kabupaten_code = '3509' AND welfare_decile <= 4"
        " GROUP BY kecamatan_code HAVING count(*) >= 12 ORDER BY kecamatan_code LIMIT 3",
    )
    assert len(areas) == 3
    reached = {
        areas[0]["kecamatan_code"]: areas[0]["ids"][:12],
        areas[1]["kecamatan_code"]: areas[1]["ids"][:3],
        areas[2]["kecamatan_code"]: areas[2]["ids"][:11],
    }
    only_pkh = areas[1]["ids"][3:12]
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        every = [h for ids in reached.values() for h in ids]
        body = await gw.query(dinsos, REPORT, {"input": reports(every, "PKH", "BPNT")})
        assert body["data"]["reportAssistance"]["accepted"] == 2 * len(every)
        await gw.query(dinsos, REPORT, {"input": reports(only_pkh, "PKH")})

        bappeda = await gw.headers("bappeda-statistik")
        tables = [
            (await gw.query(bappeda, OVERLAP, {"by": by}))["data"]["assistanceOverlap"]
            for by in LEVELS
        ]
        by_program = await gw.query(bappeda, OVERLAP, {"by": ["ASSISTANCE_PROGRAM"]})
        refused = await post(gw, dinsos, OVERLAP, {"by": []})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    cells = {cell["key"]["regionCode"]: cell for cell in tables[0]}
    small = cells[areas[1]["kecamatan_code"]]
    assert small["suppressed"] is True
    assert small["count"] is None
    for table in tables:
        for cell in table:
            assert cell["suppressed"] or cell["count"] >= 10
    (total,) = tables[-1]
    assert total["suppressed"] or total["count"] == len(every)
    programs = {
        c["key"]["assistanceProgram"]: c["count"] for c in by_program["data"]["assistanceOverlap"]
    }
    assert programs == {"BPNT": len(every), "PKH": len(every)}

    dims = [Dimension("region", region_steps(7))]
    published = [
        {
            (cell["key"]["regionCode"],): Cell(
                (cell["key"]["regionCode"],), cell["count"] or 0, cell["suppressed"]
            )
            for cell in table
        }
        for table in tables
    ]
    grid = [(kecamatan,) for kecamatan in sorted(reached)]
    levels = [(level,) for level in range(len(LEVELS))]
    assert recoverable(published, levels=levels, dims=dims, grid=grid) == []


BY_DESA = """
query Overlap($by: [HouseholdDimension!]!) {
  assistanceOverlap(groupBy: $by) { key { regionCode assistanceProgram } count suppressed }
}
"""


async def test_pkh_pbi_jkn_and_bpnt_reaching_the_same_families_by_desa(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """dinsos-pkh reports PKH and BPNT for families and dinkes-pbi PBI_JKN for one member of
    each (by its own pseudonym): Bappeda sees, per desa, the families all three reached,
    with a desa under k suppressed (and a complement beside it)."""
    url = await make_database()
    # The test registry has under 10 families of deciles 1-4 in any desa: gather the largest
    # kecamatan's into three of its desas, 15 (12 reached by all three programs, 3 by
    # PBI-JKN alone), 3 and 11 families.
    (kecamatan,) = await fetch(
        url,
        "SELECT kecamatan_code, array_agg(id ORDER BY id) AS ids,"
        " array_agg(DISTINCT desa_code ORDER BY desa_code) AS desas FROM households"
        " WHERE kabupaten_code = '3509' AND welfare_decile <= 4"
        " GROUP BY kecamatan_code ORDER BY count(*) DESC, kecamatan_code LIMIT 1",
    )
    assert len(kecamatan["ids"]) >= 29
    assert len(kecamatan["desas"]) >= 3
    ids = kecamatan["ids"]
    groups = {kecamatan["desas"][0]: ids[:15], kecamatan["desas"][1]: ids[15:18]}
    groups[kecamatan["desas"][2]] = ids[18:29]
    for desa, members in groups.items():
        await fetch(
            url,
            "UPDATE households SET desa_code = $1::text, sls_code = $1::text || right(sls_code, 4)"
            " WHERE id = ANY($2::bigint[])",
            desa,
            members,
        )
    niks = {
        row["household_id"]: row["nik"]
        for row in await fetch(
            url,
            "SELECT household_id, min(nik) AS nik FROM persons"
            " WHERE household_id = ANY($1::bigint[]) GROUP BY household_id",
            ids[:29],
        )
    }
    key = bytes.fromhex(TEST_PSEUDONYM_KEY)
    large, small, _ = groups
    all_three = ids[:12] + ids[15:29]
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        body = await gw.query(dinsos, REPORT, {"input": reports(all_three, "PKH", "BPNT")})
        assert body["data"]["reportAssistance"] == {"accepted": 52, "errors": []}
        dinkes = await gw.headers("dinkes-pbi")
        named = [pseudonym(niks[h], program="dinkes-pbi", pseudonym_key=key) for h in ids[:29]]
        body = await gw.query(dinkes, REPORT, {"input": reports(named, "PBI_JKN")})
        assert body["data"]["reportAssistance"] == {"accepted": 29, "errors": []}

        bappeda = await gw.headers("bappeda-statistik")
        by_program = await gw.query(bappeda, BY_DESA, {"by": ["DESA", "ASSISTANCE_PROGRAM"]})
        by_desa = await gw.query(bappeda, BY_DESA, {"by": ["DESA"]})
    cells = {
        (c["key"]["regionCode"], c["key"]["assistanceProgram"]): (c["count"], c["suppressed"])
        for c in by_program["data"]["assistanceOverlap"]
    }
    for program in ("PKH", "BPNT", "PBI_JKN"):
        assert cells[(large, program)] == (12, False)
        assert cells[(small, program)] == (None, True)
    assert {program for _, program in cells} == {"PKH", "BPNT", "PBI_JKN"}
    assert all(suppressed or count >= 10 for count, suppressed in cells.values())
    totals = {c["key"]["regionCode"]: c["count"] for c in by_desa["data"]["assistanceOverlap"]}
    assert totals[large] == 12
    assert totals[small] is None
