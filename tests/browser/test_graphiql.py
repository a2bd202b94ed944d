"""GraphiQL in a real browser: load it, paste a real token, run a query, see the rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from api.auth.clients import create_client
from policies import load_policies
from tests.support import REPO, live_server, make_settings

pytestmark = pytest.mark.browser

SET_EDITOR = """
const editors = [...document.querySelectorAll('.CodeMirror')].map(e => e.CodeMirror);
const query = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
const headers = editors.find(e => e !== query && e.getValue().trim() === '{}');
query.setValue(arguments[0]);
headers.setValue(arguments[1]);
return editors.length;
"""
RESULT_TEXT = """
const result = document.querySelector('.graphiql-response .CodeMirror');
return result ? result.CodeMirror.getValue() : '';
"""


async def test_graphiql_runs_a_query_with_a_real_token(
    browser: webdriver.Chrome, registry_url: str, tmp_path: Path
) -> None:
    connection = await asyncpg.connect(registry_url)
    try:
        credentials = await create_client(
            connection,
            program="dinsos-pkh",
            name="browser",
            policies=load_policies(REPO / "policies"),
        )
        expected = await connection.fetch(
            "SELECT id FROM households WHERE kabupaten_code = '3509' AND welfare_decile <= 4"
            " ORDER BY id LIMIT 3"
        )
    finally:
        await connection.close()
    with live_server(make_settings(registry_url, tmp_path)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            answer = await client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
        token = answer.json()["access_token"]

        browser.get(server.url + "/graphql")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".graphiql-execute-button")) > 0)
        wait.until(
            lambda b: (
                b.execute_script("return document.querySelectorAll('.CodeMirror').length") >= 2
            )
        )
        query = "{ households(first: 3) { nodes { id headName members { name } } } }"
        headers = json.dumps({"Authorization": f"Bearer {token}"})
        browser.execute_script(SET_EDITOR, query, headers)
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        wait.until(lambda b: '"households"' in b.execute_script(RESULT_TEXT))
        shown = json.loads(browser.execute_script(RESULT_TEXT))
    ids = [int(node["id"]) for node in shown["data"]["households"]["nodes"]]
    assert ids == [row["id"] for row in expected]
    assert all(node["members"] for node in shown["data"]["households"]["nodes"])


HINTS = """
const cm = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
cm.setValue(arguments[0]);
cm.focus();
cm.setCursor({line: 0, ch: arguments[1]});
cm.showHint({completeSingle: false});
return [...document.querySelectorAll('.CodeMirror-hints .CodeMirror-hint')]
  .map(li => li.textContent);
"""
HEADERS_TEXT = """
const editors = [...document.querySelectorAll('.CodeMirror')].map(e => e.CodeMirror);
const headers = editors.find(e => e.getValue().includes('Authorization'));
return headers ? headers.getValue() : '';
"""


async def _unauthenticated_events(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM audit_events WHERE outcome = 'unauthenticated'"
        )
        return count
    finally:
        await connection.close()


async def _client(url: str, program: str) -> tuple[str, str]:
    connection = await asyncpg.connect(url)
    try:
        made = await create_client(
            connection, program=program, name="browser", policies=load_policies(REPO / "policies")
        )
    finally:
        await connection.close()
    return made.client_id, made.client_secret


def _hints(browser: webdriver.Chrome, text: str) -> list[str]:
    """GraphiQL's autocompletion at the end of ``text`` (an empty list until the schema loads)."""
    shown: list[str] = browser.execute_script(HINTS, text, len(text))
    return shown


def _wait_for_graphiql(browser: webdriver.Chrome) -> WebDriverWait[webdriver.Chrome]:
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".graphiql-execute-button")) > 0)
    wait.until(
        lambda b: b.execute_script("return document.querySelectorAll('.CodeMirror').length") >= 2
    )
    return wait


async def test_graphiql_sign_in_loads_only_the_programs_schema_and_runs_a_query(
    browser: webdriver.Chrome, make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    client_id, secret = await _client(url, "dp3akb-keluarga")
    with live_server(make_settings(url, tmp_path)) as server:
        browser.get(server.url + "/graphql")
        wait = _wait_for_graphiql(browser)
        assert _hints(browser, "{ households { nodes { ") == [], "no schema before sign-in"
        browser.find_element(By.ID, "client-id").send_keys(client_id)
        browser.find_element(By.ID, "client-secret").send_keys(secret)
        browser.find_element(By.ID, "signin-button").click()
        wait.until(lambda b: b.find_element(By.ID, "signed-in").is_displayed())
        assert browser.find_element(By.ID, "client-secret").get_attribute("value") == ""
        wait.until(lambda b: _hints(b, "{ households { nodes { ") != [])
        offered = set(_hints(browser, "{ households { nodes { "))
        assert {"id", "headName", "address", "members"} <= offered
        assert not offered & {"kkNumber", "welfareDecile", "housing", "assistance", "assets"}
        assert "Bearer " in browser.execute_script(HEADERS_TEXT)
        stored = browser.execute_script(
            "return [localStorage.length, sessionStorage.length, document.cookie]"
        )
        assert stored == [0, 0, ""], "the token is kept in memory only"

        query = "{ households(first: 2) { nodes { id headName } } }"
        browser.execute_script(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
            ".setValue(arguments[0])",
            query,
        )
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        wait.until(lambda b: '"households"' in b.execute_script(RESULT_TEXT))
        shown = json.loads(browser.execute_script(RESULT_TEXT))
    assert len(shown["data"]["households"]["nodes"]) == 2
    assert await _unauthenticated_events(url) == 0


async def test_loading_graphiql_leaves_no_failed_sign_in_in_the_audit_trail(
    browser: webdriver.Chrome, make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    with live_server(make_settings(url, tmp_path)) as server:
        for _ in range(2):
            browser.get(server.url + "/graphql")
            _wait_for_graphiql(browser)
            await asyncio.sleep(2)  # the old page had introspected by now
    connection = await asyncpg.connect(url)
    try:
        outcomes = await connection.fetch(
            "SELECT outcome, count(*) AS n FROM audit_events WHERE endpoint = 'graphql'"
            " GROUP BY outcome"
        )
    finally:
        await connection.close()
    assert {row["outcome"]: row["n"] for row in outcomes} == {"page": 2}


async def test_a_token_pasted_into_the_headers_tab_loads_its_schema(
    browser: webdriver.Chrome, make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """Changing the Authorization header by hand re-introspects with the new token."""
    url = await make_database()
    tokens = {}
    with live_server(make_settings(url, tmp_path)) as server:
        for program in ("dinsos-pkh", "dp3akb-keluarga"):
            client_id, secret = await _client(url, program)
            async with httpx.AsyncClient(base_url=server.url) as client:
                answer = await client.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client_id, secret),
                )
            tokens[program] = answer.json()["access_token"]
        browser.get(server.url + "/graphql")
        wait = _wait_for_graphiql(browser)
        paste = (
            "const editors = [...document.querySelectorAll('.CodeMirror')].map(e => e.CodeMirror);"
            "const query = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;"
            "const headers = editors.find(e => e !== query && e.getValue().trim().startsWith('{'));"
            "headers.setValue(arguments[0]);"
        )
        browser.execute_script(
            paste, json.dumps({"Authorization": f"Bearer {tokens['dinsos-pkh']}"})
        )
        wait.until(lambda b: "welfareDecile" in _hints(b, "{ households { nodes { "))
        browser.execute_script(
            paste, json.dumps({"Authorization": f"Bearer {tokens['dp3akb-keluarga']}"})
        )
        wait.until(lambda b: "welfareDecile" not in _hints(b, "{ households { nodes { "))
        assert "headName" in _hints(browser, "{ households { nodes { ")
    assert await _unauthenticated_events(url) == 0
