"""The console's "Breach pack" button in headless Chromium against a live gateway: a client
reads a family, the auditor asks for that client's pack over the period, the chain is
verified, the counts are shown and the self-contained summary page is downloaded; the
page's strict CSP is never violated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.downloads import downloaded
from tests.browser.test_console import STORAGE, WATCH_CSP, _clients, _token
from tests.support import live_server, make_settings

pytestmark = pytest.mark.browser


async def test_the_breach_pack_button_downloads_the_verified_summary(
    browser: webdriver.Chrome,
    make_database: Callable[[], Awaitable[str]],
    tmp_path: Path,
) -> None:
    url = await make_database()
    made = await _clients(url, ["inspektorat-audit", "dinsos-pkh"])
    household = made["household"][0]
    leaky = made["dinsos-pkh"][0]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with live_server(make_settings(url, tmp_path)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            dinsos = await _token(client, made["dinsos-pkh"])
            answer = await client.post(
                "/graphql",
                json={"query": f'{{ household(id: "{household}") {{ id kkNumber }} }}'},
                headers=dinsos,
            )
            assert answer.json()["data"]["household"]["id"] == household

        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
        browser.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        wait = WebDriverWait(browser, 30)
        browser.get(server.url + "/console/")
        client_id, secret = made["inspektorat-audit"]
        wait.until(lambda b: b.find_element(By.ID, "client-id").is_displayed())
        browser.find_element(By.ID, "client-id").send_keys(client_id)
        browser.find_element(By.ID, "client-secret").send_keys(secret)
        browser.find_element(By.ID, "signin-button").click()
        wait.until(lambda b: b.find_element(By.ID, "chain-verdict").text.startswith("Utuh"))

        browser.find_element(By.ID, "tab-anomalies").click()
        browser.find_element(By.ID, "breach-client").send_keys(leaky)
        browser.find_element(By.ID, "breach-button").click()
        saved = downloaded(wait, downloads, "*.html")
        result = browser.find_element(By.ID, "breach-result").text
        assert result.startswith("1 permintaan / requests, 1 keluarga / households, 0 orang")
        assert [path.name for path in saved] == [f"ringkasan-kebocoran-{leaky}.html"]
        html = saved[0].read_text(encoding="utf-8")
        assert "Utuh / Intact over the window" in html
        assert "household.kkNumber" in html
        assert "<script" not in html

        state = browser.execute_script(STORAGE)
        assert state["violations"] == []
        assert (state["cookie"], state["local"], state["session"]) == ("", 0, 0)
