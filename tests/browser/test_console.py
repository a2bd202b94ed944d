"""The auditor's console in headless Chromium against a live gateway: sign in with a real
auditor client, see the overview chart drawn, find a denial burst the test provoked with
the events behind it, answer "who saw this family's data" and export it as CSV; the token
never lands in a URL, a cookie or web storage, and the strict CSP is never violated."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from api.auth.clients import create_client
from policies import load_policies
from tests.browser.downloads import downloaded
from tests.support import REPO, live_server, make_settings

pytestmark = pytest.mark.browser

WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (event) => window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI));
"""
CHART_STATE = """
const canvas = document.getElementById(arguments[0]);
const chart = window.Chart && window.Chart.getChart(canvas);
if (!chart) return null;
const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
const sums = {};
for (const set of chart.data.datasets) sums[set.label] = set.data.reduce((a, b) => a + b, 0);
return {painted: painted, sums: sums, labels: chart.data.labels.length};
"""
STORAGE = """
return {cookie: document.cookie, local: localStorage.length, session: sessionStorage.length,
        url: location.href, violations: window.__cspViolations || []};
"""


async def _clients(url: str, programs: list[str]) -> dict[str, tuple[str, str]]:
    policies = load_policies(REPO / "policies")
    connection = await asyncpg.connect(url)
    try:
        made = {}
        for program in programs:
            client = await create_client(
                connection, program=program, name=f"console {program}", policies=policies
            )
            made[program] = (client.client_id, client.client_secret)
        household = await connection.fetchval(
            "SELECT id FROM households WHERE kabupaten_code = '3509' AND welfare_decile <= 4"
            " ORDER BY id LIMIT 1"
        )
    finally:
        await connection.close()
    made["household"] = (str(household), "")
    return made


async def _token(client: httpx.AsyncClient, credentials: tuple[str, str]) -> dict[str, str]:
    answer = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_an_auditor_signs_in_sees_the_chart_the_burst_and_who_saw_a_family(
    browser: webdriver.Chrome,
    make_database: Callable[[], Awaitable[str]],
    tmp_path: Path,
) -> None:
    url = await make_database()
    made = await _clients(url, ["inspektorat-audit", "dinsos-pkh", "dp3akb-keluarga"])
    household = made["household"][0]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with live_server(make_settings(url, tmp_path)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            dinsos = await _token(client, made["dinsos-pkh"])
            answer = await client.post(
                "/graphql",
                json={"query": f'{{ household(id: "{household}") {{ id headName }} }}'},
                headers=dinsos,
            )
            assert answer.json()["data"]["household"]["id"] == household
            dp3akb = await _token(client, made["dp3akb-keluarga"])
            for _ in range(10):
                # dp3akb-keluarga's HouseholdFilter has no welfareDecileMax: refused as invalid.
                answer = await client.post(
                    "/graphql",
                    json={"query": "{ households(filter: {welfareDecileMax: 2}) { totalCount } }"},
                    headers=dp3akb,
                )
                assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
        browser.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        wait = WebDriverWait(browser, 20)
        browser.get(server.url + "/console/")
        client_id, secret = made["inspektorat-audit"]
        wait.until(lambda b: b.find_element(By.ID, "client-id").is_displayed())
        browser.find_element(By.ID, "client-id").send_keys(client_id)
        browser.find_element(By.ID, "client-secret").send_keys(secret)
        browser.find_element(By.ID, "signin-button").click()

        # The overview: the chart is drawn, with the requests the test made.
        wait.until(lambda b: b.execute_script(CHART_STATE, "requests-chart") is not None)
        chart = browser.execute_script(CHART_STATE, "requests-chart")
        assert chart["painted"] > 1000
        assert chart["labels"] == 7
        assert chart["sums"]["dinsos-pkh"] == 1
        assert chart["sums"]["dp3akb-keluarga"] == 10
        assert browser.find_element(By.ID, "chain-verdict").text.startswith("Utuh")
        assert browser.find_element(By.ID, "client-secret").get_attribute("value") == ""

        # The denial burst, with the events behind it.
        browser.find_element(By.ID, "tab-anomalies").click()
        dp3akb_id = made["dp3akb-keluarga"][0]
        selector = f'li[data-rule="DENIAL_BURST"][data-subject="{dp3akb_id}"]'
        burst = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, selector))
        assert "10 refused requests" in burst.text
        burst.find_element(By.TAG_NAME, "summary").click()
        rows = burst.find_elements(By.CSS_SELECTOR, "details table tr")
        assert len(rows) == 1 + 10
        assert all("INVALID" in row.text and "BAD_USER_INPUT" in row.text for row in rows[1:])

        # Who saw this family's data: the lookup tab, the id, search.
        browser.find_element(By.ID, "tab-lookup").click()
        Select(browser.find_element(By.ID, "lookup-kind")).select_by_value("household")
        browser.find_element(By.ID, "lookup-value").send_keys(household)
        browser.find_element(By.ID, "lookup-search").click()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#lookup-table tr")) > 1)
        shown = browser.find_elements(By.CSS_SELECTOR, "#lookup-table tr")
        assert len(shown) == 2
        assert "dinsos-pkh" in shown[1].text
        assert "household.headName" in shown[1].text

        browser.find_element(By.ID, "lookup-export").click()
        exported = downloaded(wait, downloads, "*.csv")
        assert [path.name for path in exported] == [f"pengungkapan-keluarga-{household}.csv"]
        table = list(csv.reader(io.StringIO(exported[0].read_text(encoding="utf-8-sig"))))
        assert table[0][:3] == ["No. urut / Sequence", "Waktu (WIB) / Time (WIB)", "Program"]
        assert [row[2] for row in table[1:]] == ["dinsos-pkh"]

        # The token stayed in memory only; nothing the page did broke its CSP.
        state = browser.execute_script(STORAGE)
        assert state == {
            "cookie": "",
            "local": 0,
            "session": 0,
            "url": server.url + "/console/",
            "violations": [],
        }
