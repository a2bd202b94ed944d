"""``assistanceOverlap`` (bappeda-statistik, k = 10): households reached by several programs,
from real reports, k-suppressed with complementary suppression."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from schema.suppression import Cell, Dimension, region_steps
from tests.proposals.support import post
from tests.proposals.test_reports import REPORT
from tests.releases.support import fetch, gateway
from tests.schema.stats_support import recoverable

OVERLAP = """
query Overlap($by: [HouseholdDimension!]!) {
  assistanceOverlap(groupBy: $by) {
    key { regionCode assistanceProgram } count suppressed
  }
}
"""
LEVELS: tuple[list[str], ...] = (["KECAMATAN"], ["KABUPATEN"], ["PROVINSI"], [])


def reports(household_ids: list[int], *programs: str) -> list[dict[str, Any]]:
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
