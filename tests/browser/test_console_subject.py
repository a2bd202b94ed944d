"""The console's subject lookups in headless Chromium against a live gateway: a family found
by its No KK and a person by NIK (not by internal id), members shown only by masked NIK and
initials, bilingual column headers, and the "Subject report" button's file, a JWS that
verifies against the gateway's published JWKS.

With ``REGSOSEK_DOCS_SCREENSHOTS=1`` the test also refreshes ``docs/console-subject-report.png``
(the screenshot ``docs/auditing.md`` shows)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from api.auth.clients import create_client
from audit.report_signing import verify_report
from policies import load_policies
from tests.browser.downloads import downloaded
from tests.browser.test_console import STORAGE, WATCH_CSP
from tests.support import REPO, live_server, make_settings

pytestmark = pytest.mark.browser

SCREENSHOT = REPO / "docs" / "console-subject-report.png"
HEADINGS = [
    "No. urut / Sequence",
    "Waktu (WIB) / Time (WIB)",
    "Program",
    "Instansi / Agency",
    "Klien / Client",
    "Perjanjian / Agreement",
    "Tujuan / Purpose",
    "No. perkara / Case ref",
    "Diungkap / Disclosed",
    "Field (modus) / Fields (mode)",
]


async def _setup(url: str) -> dict[str, Any]:
    policies = load_policies(REPO / "policies")
    connection = await asyncpg.connect(url)
    try:
        clients = {}
        for program in ("inspektorat-audit", "dinsos-pkh"):
            made = await create_client(
                connection, program=program, name=f"console {program}", policies=policies
            )
            clients[program] = (made.client_id, made.client_secret)
        family = await connection.fetchrow(
            "SELECT h.id, h.kk_number FROM households AS h"
            " WHERE h.kabupaten_code = '3509' AND h.welfare_decile <= 4"
            " AND (SELECT count(*) FROM persons AS p WHERE p.household_id = h.id) >= 3"
            " ORDER BY h.id LIMIT 1"
        )
        assert family is not None
        members = await connection.fetch(
            "SELECT id, member_no, nik, name FROM persons WHERE household_id = $1"
            " ORDER BY member_no, id",
            family["id"],
        )
    finally:
        await connection.close()
    return {
        "clients": clients,
        "household": str(family["id"]),
        "kk": family["kk_number"],
        "members": [dict(member) for member in members],
    }


def _rows(browser: webdriver.Chrome, table: str) -> list[list[str]]:
    return [
        [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
        for row in browser.find_elements(By.CSS_SELECTOR, f"#{table} tr")
    ]


def _initials(name: str) -> str:
    return " ".join(word[0] + "." for word in name.split())


async def test_an_auditor_finds_a_family_by_kk_and_downloads_its_signed_report(
    browser: webdriver.Chrome,
    make_database: Callable[[], Awaitable[str]],
    tmp_path: Path,
) -> None:
    url = await make_database()
    made = await _setup(url)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with live_server(make_settings(url, tmp_path)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            answer = await client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=made["clients"]["dinsos-pkh"],
            )
            dinsos = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            answer = await client.post(
                "/graphql",
                json={
                    "query": "query F($id: ID!) { household(id: $id) { id members { nik name } } }",
                    "variables": {"id": made["household"]},
                },
                headers=dinsos,
            )
            assert answer.json()["data"]["household"]["id"] == made["household"]
            jwks = (await client.get("/.well-known/jwks.json")).json()

        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
        browser.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        wait = WebDriverWait(browser, 20)
        browser.get(server.url + "/console/")
        client_id, secret = made["clients"]["inspektorat-audit"]
        wait.until(lambda b: b.find_element(By.ID, "client-id").is_displayed())
        browser.find_element(By.ID, "client-id").send_keys(client_id)
        browser.find_element(By.ID, "client-secret").send_keys(secret)
        browser.find_element(By.ID, "signin-button").click()
        wait.until(lambda b: b.find_element(By.ID, "app").is_displayed())

        # A family by its No KK (the lookup's first choice).
        browser.find_element(By.ID, "tab-lookup").click()
        kind = Select(browser.find_element(By.ID, "lookup-kind"))
        assert kind.first_selected_option.get_attribute("value") == "kk"
        assert browser.find_element(By.ID, "subject-report").is_enabled() is False
        browser.find_element(By.ID, "lookup-value").send_keys(made["kk"])
        browser.find_element(By.ID, "lookup-search").click()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#lookup-table tr")) > 1)
        rows = _rows(browser, "lookup-table")
        assert rows[0] == HEADINGS
        assert len(rows) == 2
        assert rows[1][2] == "dinsos-pkh"
        assert "household.members.nik (FULL)" in rows[1][9]
        assert rows[1][8].startswith("keluarga / household")
        assert "No KK " + made["kk"] in browser.find_element(By.ID, "lookup-summary").text

        # Members by masked NIK and initials: the full NIK and name appear nowhere.
        members = _rows(browser, "lookup-members")
        assert members[0] == [
            "No. anggota / Member no.",
            "NIK (tersamar) / NIK (masked)",
            "Inisial / Initials",
        ]
        assert members[1:] == [
            [str(m["member_no"]), "*" * 12 + m["nik"][-4:], _initials(m["name"])]
            for m in made["members"]
        ]
        page = browser.find_element(By.TAG_NAME, "body").text
        for member in made["members"]:
            assert member["nik"] not in page
            assert member["name"] not in page
            assert f"{member['member_no']}: " + "*" * 12 + member["nik"][-4:] in rows[1][8]

        if os.environ.get("REGSOSEK_DOCS_SCREENSHOTS") == "1":
            browser.save_screenshot(str(tmp_path / "subject.png"))
            shutil.copyfile(tmp_path / "subject.png", SCREENSHOT)

        # The "Subject report" button: the signed file, verifiable with the published JWKS.
        browser.find_element(By.ID, "subject-report").click()
        name = f"laporan-subjek-kk-{made['kk']}.jws"
        assert downloaded(wait, downloads, name) == [downloads / name]
        kid, report = verify_report((downloads / name).read_text(encoding="ascii"), jwks=jwks)
        assert kid == jwks["keys"][0]["kid"]
        assert report["kkNumber"] == made["kk"]
        assert [entry["program"] for entry in report["entries"]] == ["dinsos-pkh"]
        assert report["personIds"] == sorted((str(m["id"]) for m in made["members"]), key=int)

        # A person by NIK: only that person among the members.
        person = made["members"][1]
        kind.select_by_value("nik")
        browser.find_element(By.ID, "lookup-value").clear()
        browser.find_element(By.ID, "lookup-value").send_keys(person["nik"])
        browser.find_element(By.ID, "lookup-search").click()
        wait.until(lambda b: "NIK " + person["nik"] in b.find_element(By.ID, "lookup-summary").text)
        assert _rows(browser, "lookup-members")[1:] == [
            [str(person["member_no"]), "*" * 12 + person["nik"][-4:], _initials(person["name"])]
        ]
        rows = _rows(browser, "lookup-table")
        # dinsos-pkh's read of the family, then the auditor's own KK lookup that named it.
        assert [row[2] for row in rows[1:]] == ["dinsos-pkh", "inspektorat-audit"]

        state = browser.execute_script(STORAGE)
        assert state["violations"] == []
        assert state["local"] == 0
        assert state["session"] == 0
