"""Trusted documents end to end (CONTRACT §9): ``regsosek documents add`` registers and bounds
a document, ``documents: required`` refuses anything else, the registered one runs by id and
discloses exactly the bound's field paths, and ``policy check`` lists one that no longer
validates."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.app import create_app
from api.state import gateway_state
from tests.schema.conftest import error_codes, token_headers
from tests.support import POLICY_DIR, cli_env, make_settings, running

DOCUMENT = """query Warga($first: Int = 5) {
  households(first: $first) { nodes { id headName members { name age } } }
}
"""


def _policies(tmp_path: Path) -> Path:
    """The shipped policies, with kec-sumbersari running registered documents only."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    with (folder / "programs" / "kec-sumbersari.yaml").open("a") as program_file:
        program_file.write("documents: required\n")
    return folder


async def _regsosek(
    url: str, tmp_path: Path, policies: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(url, tmp_path / "data"), "REGSOSEK_POLICY_DIR": str(policies)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "regsosek", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return done


async def _event(url: str, request_id: str) -> asyncpg.Record:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT * FROM audit_events WHERE request_id = $1", request_id
        )
    finally:
        await connection.close()
    assert row is not None
    return row


async def test_documents_required_refuses_ad_hoc_and_runs_the_registered_one(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    policies = _policies(tmp_path)
    file = tmp_path / "warga.graphql"
    file.write_text(DOCUMENT)
    added = await _regsosek(
        url,
        tmp_path,
        policies,
        "documents",
        "add",
        "--program",
        "kec-sumbersari",
        str(file),
        "--json",
    )
    assert added.returncode == 0, added.stderr
    registered: dict[str, Any] = json.loads(added.stdout)
    document_id = registered["documentId"]
    (bound,) = registered["operations"]
    assert bound["maxRows"] == {"households": 5, "persons": 0, "membersOfHouseholds": 5}
    bound_paths = {
        item["path"] if item["mode"] == "FULL" else f"{item['path']}[{item['mode']}]"
        for item in bound["fieldPaths"]
    }

    explained = await _regsosek(
        url, tmp_path, policies, "policy", "explain", "kec-sumbersari", "--documents"
    )
    assert explained.returncode == 0, explained.stderr
    assert "registered documents of kec-sumbersari: 1" in explained.stdout
    for path in bound_paths:
        assert path in explained.stdout
    assert "at most 5 household(s) + the members of 5 household(s) per request" in (
        explained.stdout
    )

    listed = await _regsosek(url, tmp_path, policies, "documents", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(d["program"], d["documentId"], d["valid"]) for d in json.loads(listed.stdout)] == [
        ("kec-sumbersari", document_id, True)
    ]

    app = create_app(make_settings(url, tmp_path, policy_dir=policies))
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            ad_hoc = await http.post("/graphql", json={"query": DOCUMENT}, headers=headers)
            assert error_codes(ad_hoc.json()) == ["FORBIDDEN"]
            assert "documents: required" in ad_hoc.json()["errors"][0]["message"]
            assert (await _event(url, ad_hoc.headers["x-request-id"]))["outcome"] == "denied"

            answer = await http.post("/graphql", json={"documentId": document_id}, headers=headers)
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["data"]["households"]["nodes"]) == 5
            event = await _event(url, answer.headers["x-request-id"])
            assert set(event["field_paths"]) == bound_paths
            assert event["document_hash"] == document_id.removeprefix("sha256:")
            assert len(event["household_ids"]) <= 5

            fewer = await http.post(
                "/graphql",
                json={"documentId": document_id, "variables": {"first": 2}},
                headers=headers,
            )
            assert len(fewer.json()["data"]["households"]["nodes"]) == 2

            unknown = await http.post(
                "/graphql", json={"documentId": "sha256:" + "0" * 64}, headers=headers
            )
            assert error_codes(unknown.json()) == ["BAD_USER_INPUT"]
            assert (await _event(url, unknown.headers["x-request-id"]))["document_hash"] == "0" * 64
            malformed = await http.post("/graphql", json={"documentId": "md5:abc"}, headers=headers)
            assert error_codes(malformed.json()) == ["BAD_USER_INPUT"]
            other = await token_headers(app, http, owner_url=url, program="dinsos-pkh")
            elsewhere = await http.post("/graphql", json={"documentId": document_id}, headers=other)
            assert error_codes(elsewhere.json()) == ["BAD_USER_INPUT"]

            # Validated once for the policy in force, and kept outside the LRU of ad-hoc text.
            runtime = gateway_state(app).engine.runtimes["kec-sumbersari"]
            assert DOCUMENT in runtime.trusted
            assert runtime.documents.get(DOCUMENT) is None

            # A new policy under which it no longer validates: refused, naming the check.
            csv = policies / "policy.csv"
            csv.write_text(csv.read_text().replace("p, kec-sumbersari, Person.age, FULL\n", ""))
            assert gateway_state(app).policies.reload()
            stale = await http.post("/graphql", json={"documentId": document_id}, headers=headers)
            assert error_codes(stale.json()) == ["FORBIDDEN"]
            assert "no longer validates" in stale.json()["errors"][0]["message"]

    # Under that policy, policy check lists it.
    checked = await _regsosek(url, tmp_path, policies, "policy", "check")
    assert checked.returncode == 1, checked.stdout
    assert f"document {document_id} of kec-sumbersari no longer validates" in checked.stdout

    removed = await _regsosek(url, tmp_path, policies, "documents", "remove", document_id)
    assert removed.returncode == 0, removed.stderr
    again = await _regsosek(url, tmp_path, policies, "documents", "remove", document_id)
    assert again.returncode == 1


async def test_documents_add_refuses_a_document_that_does_not_validate(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    file = tmp_path / "bad.graphql"
    file.write_text("{ households(first: 1) { nodes { welfareDecile } } }")
    refused = await _regsosek(
        url, tmp_path, POLICY_DIR, "documents", "add", "--program", "kec-sumbersari", str(file)
    )
    assert refused.returncode == 1
    assert "welfareDecile" in refused.stderr
    assert "not registered" in refused.stderr
