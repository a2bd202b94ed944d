"""``regsosek audit report``: one self-contained HTML file holding the same figures as the
GraphQL API gives the auditor for the same period."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Awaitable, Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from db.wib import WIB
from tests.audit.conftest import HistoryDatabase, HistoryGateway
from tests.releases.support import fetch, gateway
from tests.schema.conftest import gql
from tests.support import REPO

REGSOSEK = REPO / ".venv" / "bin" / "regsosek"
OCTOBER = {"from": "2026-10-01T00:00:00+07:00", "to": "2026-11-01T00:00:00+07:00"}
QUERY = """
query Report($from: DateTime!, $to: DateTime!) {
  auditSummary(from: $from, to: $to) {
    totals { requests allowed refused denied rateLimited rowsDisclosed tokensIssued failedSignIns events }
    programDays { day program requests allowed refused denied rateLimited rowsDisclosed tokensIssued }
    failedSignIns { day endpoint clientId attempts }
    fieldsDisclosed { program fieldPath requests }
  }
  auditAnomalies(from: $from, to: $to) { rule subject program eventCount measure sequences }
}
"""


class Tables(HTMLParser):
    """Every ``<table id>``'s rows as lists of cell texts; every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.bars: list[dict[str, str | None]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "rect" and "data-value" in attributes:
            self.bars.append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _body(rows: list[list[str]]) -> list[list[str]]:
    return rows[1:]


def _text(value: Any) -> str:
    return "—" if value is None else str(value)


async def test_the_report_holds_the_figures_the_api_gives(
    history_db: HistoryDatabase, history_gateway: HistoryGateway, tmp_path: Path
) -> None:
    out = tmp_path / "oktober.html"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REGSOSEK_")},
        "DATABASE_URL": history_db.url,
        "REGSOSEK_POLICY_DIR": str(REPO / "policies"),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [
            str(REGSOSEK),
            "audit",
            "report",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "6 anomalies; audit chain intact" in done.stdout

    headers = await history_gateway.bearer("inspektorat-audit")
    status, body = await gql(history_gateway.http, headers, QUERY, OCTOBER)
    assert status == 200, body
    summary, anomalies = body["data"]["auditSummary"], body["data"]["auditAnomalies"]

    parsed = Tables()
    parsed.feed(out.read_text(encoding="utf-8"))
    tables = parsed.tables

    assert _body(tables["program-days"]) == [
        [
            cell["day"],
            cell["program"],
            *(
                str(cell[key])
                for key in (
                    "requests",
                    "allowed",
                    "refused",
                    "denied",
                    "rateLimited",
                    "rowsDisclosed",
                    "tokensIssued",
                )
            ),
        ]
        for cell in summary["programDays"]
    ]
    totals = {row[0]: row[1] for row in _body(tables["totals"])}
    assert totals["Requests"] == str(summary["totals"]["requests"])
    assert totals["Rows disclosed"] == str(summary["totals"]["rowsDisclosed"])
    assert totals["Failed sign-ins"] == str(summary["totals"]["failedSignIns"])
    assert totals["FORBIDDEN"] == str(summary["totals"]["denied"])
    assert _body(tables["failed-sign-ins"]) == [
        [f["day"], f["endpoint"], _text(f["clientId"]), str(f["attempts"])]
        for f in summary["failedSignIns"]
    ]
    assert _body(tables["fields-disclosed"]) == [
        [f["program"], f["fieldPath"], str(f["requests"])] for f in summary["fieldsDisclosed"]
    ]
    assert [
        [row[0], row[1], row[2], row[5], row[6], row[9]] for row in _body(tables["anomalies"])
    ] == [
        [
            a["rule"],
            a["subject"],
            _text(a["program"]),
            str(a["eventCount"]),
            str(a["measure"]),
            " ".join(a["sequences"]),
        ]
        for a in anomalies
    ]
    assert len(anomalies) == 6
    assert tables["chain"][1][1].startswith("FULL")

    # The charts are inline SVG: one bar segment per program and day with requests.
    requests_bars = {
        (bar["data-day"], bar["data-program"]): int(bar["data-value"] or 0)
        for bar in parsed.bars[: len(summary["programDays"])]
    }
    assert requests_bars == {
        (cell["day"], cell["program"]): cell["requests"]
        for cell in summary["programDays"]
        if cell["requests"]
    }

    # Self-contained: nothing to fetch, nothing to run.
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "link", "img", "iframe")]
    assert not [
        (tag, name, value)
        for tag, attributes in parsed.tags
        for name, value in attributes.items()
        if name in ("src", "href")
        or ((value or "").startswith(("http://", "https://")) and name != "xmlns")
    ]


def test_a_bad_date_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(REGSOSEK),
            "audit",
            "report",
            "--from",
            "2026-10-40",
            "--to",
            "2026-10-31",
            "--out",
            str(tmp_path / "x.html"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert done.returncode == 2
    assert "YYYY-MM-DD" in done.stderr + done.stdout
    assert not (tmp_path / "x.html").exists()


async def test_the_report_shows_each_disclosures_purpose_and_case_reference(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """Disclosures are listed by program, purpose code and case reference, and an anomaly
    names the purposes and cases its events named."""
    url = await make_database()
    complaint = {"Regsosek-Purpose": "PENANGANAN_PENGADUAN", "Regsosek-Case-Ref": "ADU-2026-0117"}
    async with gateway(url, tmp_path) as gw:
        dinsos = await gw.headers("dinsos-pkh")
        await gw.query(dinsos, "{ households(first: 2) { nodes { id welfareDecile } } }")
        await gw.query({**dinsos, **complaint}, "{ households(first: 3) { nodes { id } } }")
        refused = {**dinsos, **complaint, "Regsosek-Case-Ref": "ADU-2026-0118"}
        for _ in range(10):
            # welfareDecile is outside the complaint purpose's fields: refused, ten times.
            answer = await gw.http.post(
                "/graphql",
                json={"query": "{ households(first: 1) { nodes { welfareDecile } } }"},
                headers=refused,
            )
            assert answer.json()["errors"], answer.text
    today = datetime.now(WIB).date().isoformat()
    out = tmp_path / "today.html"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REGSOSEK_")},
        "DATABASE_URL": url,
        "REGSOSEK_POLICY_DIR": str(REPO / "policies"),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [str(REGSOSEK), "audit", "report", "--from", today, "--to", today, "--out", str(out)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sequences = {
        (row["purpose_code"], row["case_ref"]): row["seq"]
        for row in await fetch(
            url,
            "SELECT purpose_code, case_ref, seq FROM audit_events"
            " WHERE endpoint = 'graphql' AND outcome = 'allowed'",
        )
    }
    parsed = Tables()
    parsed.feed(out.read_text(encoding="utf-8"))
    tables = parsed.tables
    assert tables["purposes"][0] == [
        "Program",
        "Purpose",
        "Case reference",
        "Requests",
        "Rows",
        "Sequences",
    ]
    pengaduan = sequences[("PENANGANAN_PENGADUAN", "ADU-2026-0117")]
    verifikasi = sequences[("VERIFIKASI_PKH", None)]
    assert _body(tables["purposes"]) == [
        [
            "dinsos-pkh",
            "PENANGANAN_PENGADUAN",
            "ADU-2026-0117",
            "1",
            "3",
            f"#{pengaduan}–#{pengaduan}",
        ],
        ["dinsos-pkh", "VERIFIKASI_PKH", "—", "1", "2", f"#{verifikasi}–#{verifikasi}"],
    ]
    assert tables["anomalies"][0][-1] == "Purpose (case)"
    bursts = [row for row in _body(tables["anomalies"]) if row[0] == "DENIAL_BURST"]
    assert [row[-1] for row in bursts] == ["PENANGANAN_PENGADUAN (ADU-2026-0118)"]
