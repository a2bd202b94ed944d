"""``docs/integrating.md`` runs as written: every fenced block is taken from the page and
run against a live gateway. Shell blocks run in bash (curl on a real port), the operator's
``regsosek client create`` makes the client whose credentials are then substituted for
the page's placeholders, GraphQL blocks are sent with a real token, JSON blocks are
answers of the contract's shape, and the Python example syncs into SQLite, twice."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from tests.support import REPO, live_server, make_settings

GUIDE = REPO / "docs" / "integrating.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
PLACEHOLDERS = (
    "https://regsosek.example.go.id",
    "CLIENT_ID_FROM_OPERATOR",
    "CLIENT_SECRET_FROM_OPERATOR",
)
CODES = {
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "QUERY_TOO_COMPLEX",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL",
}


def blocks(language: str) -> list[str]:
    return [text for lang, text in BLOCK.findall(GUIDE.read_text()) if lang == language]


async def _run(
    command: list[str], *, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_guide_has_the_blocks_it_promises() -> None:
    assert len(blocks("sh")) == 5
    assert len(blocks("graphql")) == 2
    assert len(blocks("json")) == 2
    assert len(blocks("python")) == 1
    for placeholder in PLACEHOLDERS:
        assert placeholder in blocks("sh")[1]


def test_the_error_examples_have_the_contracts_shape() -> None:
    codes = []
    for text in blocks("json"):
        body = json.loads(text)
        (error,) = body["errors"]
        assert error["extensions"]["code"] in CODES
        codes.append(error["extensions"]["code"])
    assert codes == ["RATE_LIMITED", "UNAVAILABLE"]


async def test_the_integrators_guide_runs_as_written(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    work = tmp_path / "agency"
    work.mkdir()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REGSOSEK_")},
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "DATABASE_URL": url,
        "REGSOSEK_POLICY_DIR": str(REPO / "policies"),
        "REGSOSEK_DATA_DIR": str(tmp_path / "operator"),
    }
    operator, exports, *calls = blocks("sh")

    # The operator registers the client (the page's first block).
    made = await _run(["bash", "-euo", "pipefail", "-c", operator], env=environment, cwd=work)
    assert made.returncode == 0, made.stderr
    credentials = json.loads(made.stdout)

    with live_server(make_settings(url, tmp_path / "data")) as server:
        # The developer's shell: exports with the real values, then every command in order.
        script = exports
        for placeholder, value in zip(
            PLACEHOLDERS,
            (server.url, credentials["client_id"], credentials["client_secret"]),
            strict=True,
        ):
            script = script.replace(placeholder, value)
        script = "\n".join([script, *calls])
        shell_env = {k: v for k, v in environment.items() if k != "DATABASE_URL"}
        ran = await _run(["bash", "-euo", "pipefail", "-c", script], env=shell_env, cwd=work)
        assert ran.returncode == 0, ran.stderr
        lines = ran.stdout.splitlines()
        assert re.fullmatch(r"token: \d{3,} characters", lines[0])
        answers = [json.loads(line) for line in lines if line.startswith("{")]
        assert len(answers) == 2
        access, second_page = answers
        assert access["data"]["myAccess"]["program"] == "dinsos-pkh"
        first_page = json.loads((work / "page1.json").read_text())["data"]["households"]["nodes"]
        following = second_page["data"]["households"]["nodes"]
        assert len(following) == 2
        assert int(following[0]["id"]) > int(first_page[-1]["id"])

        # The GraphQL blocks, sent as they are with a real token.
        async with httpx.AsyncClient(base_url=server.url) as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            for document in blocks("graphql"):
                answer = await http.post("/graphql", json={"query": document}, headers=headers)
                body = answer.json()
                assert "errors" not in body, body
                assert body["data"]["households"]["nodes"]

        # The Python example, twice: everything, then only what changed since.
        example = work / "sync.py"
        example.write_text(blocks("python")[0])
        python_env = {
            **shell_env,
            "GATEWAY": server.url,
            "CLIENT_ID": credentials["client_id"],
            "CLIENT_SECRET": credentials["client_secret"],
        }
        python = str(REPO / ".venv" / "bin" / "python")
        first = await _run([python, str(example)], env=python_env, cwd=work)
        assert first.returncode == 0, first.stderr
        second = await _run([python, str(example)], env=python_env, cwd=work)
        assert second.returncode == 0, second.stderr

    connection = await asyncpg.connect(url)
    try:
        expected = await connection.fetch(
            "SELECT id, kk_number, welfare_decile FROM households"
            " WHERE kabupaten_code = '3509' AND welfare_decile <= 4 ORDER BY id"
        )
        newest = await connection.fetchval(
            "SELECT max(updated_at) FROM households"
            " WHERE kabupaten_code = '3509' AND welfare_decile <= 4"
        )
        boundary = await connection.fetchval(
            "SELECT count(*) FROM households WHERE kabupaten_code = '3509'"
            " AND welfare_decile <= 4 AND updated_at = $1",
            newest,
        )
    finally:
        await connection.close()
    stored = sqlite3.connect(work / "households.sqlite")
    try:
        rows = stored.execute(
            "SELECT id, kk_number, welfare_decile FROM households ORDER BY id"
        ).fetchall()
    finally:
        stored.close()
    assert rows == [tuple(row) for row in expected]
    assert first.stdout.startswith(f"received {len(expected)} households; {len(expected)} stored")
    # The second run asks from the newest updatedAt it stored: only the boundary rows come again.
    assert second.stdout.startswith(f"received {boundary} households; {len(expected)} stored")
