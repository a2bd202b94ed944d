"""GraphiQL in a real browser: load it, paste a real token, run a query, see the rows."""

from __future__ import annotations

import json
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
const [query, second, third] = editors;
query.setValue(arguments[0]);
const headers = [second, third].find(e => e && e.getValue().includes('Authorization'));
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
