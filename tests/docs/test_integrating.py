"""``docs/integrating.md`` runs as written: every fenced block is taken from the page and
run against a live gateway. Shell blocks run in bash (curl on a real port), the operator's
``regsosek client create`` makes the client whose credentials are then substituted for
the page's placeholders, GraphQL blocks are sent with a real token, JSON blocks are
answers of the contract's shape, the Python sync runs against the change feed before and
after a real import batch (and once more, receiving nothing), and the webhook signature
check verifies a body signed by the gateway's own key."""

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
import pytest
from joserfc.errors import BadSignatureError

from api.auth.keys import KeyStore
from api.webhooks.signing import sign_detached
from db.importer import import_registry
from tests.db.support import layout_rows, write_csv
from tests.support import REPO, TEST_SECRET, live_server, make_settings

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


SEND_BACK = "\n## 9. "
"""Where the page's reading half ends; its sending half (proposals, reports) has its own
test: ``tests/docs/test_send_back.py``."""


def blocks(language: str, *, sending: bool = False) -> list[str]:
    """The page's fenced blocks in ``language``: of sections 1-8, or (``sending``) of 9."""
    reading, _, send_back = GUIDE.read_text().partition(SEND_BACK)
    text = send_back if sending else reading
    return [code for lang, code in BLOCK.findall(text) if lang == language]


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
    assert len(blocks("sh")) == 6
    assert len(blocks("graphql")) == 2
    assert len(blocks("json")) == 3
    assert len(blocks("python")) == 2
    for placeholder in PLACEHOLDERS:
        assert placeholder in blocks("sh")[1]


def _operator(block: str) -> bool:
    return block.startswith("regsosek ")


def test_the_webhook_example_carries_kinds_and_identities_only() -> None:
    (example,) = [json.loads(text) for text in blocks("json") if '"changes"' in text]
    assert {change["kind"] for change in example["changes"]} <= {"ENTERED", "UPDATED", "LEFT"}
    for change in example["changes"]:
        (row,) = [value for key, value in change.items() if key != "kind"]
        assert set(row) == {"id"}


def test_the_error_examples_have_the_contracts_shape() -> None:
    codes = []
    for text in blocks("json"):
        if '"errors"' not in text:
            continue
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
    operator, subscribe = [block for block in blocks("sh") if _operator(block)]
    exports, *calls = [block for block in blocks("sh") if not _operator(block)]

    # The operator registers the client (the page's first block) and its webhook.
    made = await _run(["bash", "-euo", "pipefail", "-c", operator], env=environment, cwd=work)
    assert made.returncode == 0, made.stderr
    credentials = json.loads(made.stdout)
    hooked = await _run(["bash", "-euo", "pipefail", "-c", subscribe], env=environment, cwd=work)
    assert hooked.returncode == 0, hooked.stderr
    assert json.loads(hooked.stdout)["program"] == "dinsos-pkh"

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
                (connection,) = body["data"].values()
                assert connection["nodes"]

        # The sync: everything, then a release's changes once, then nothing.
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
        release = await _import_a_batch(url, tmp_path / "batch")
        second = await _run([python, str(example)], env=python_env, cwd=work)
        assert second.returncode == 0, second.stderr
        third = await _run([python, str(example)], env=python_env, cwd=work)
        assert third.returncode == 0, third.stderr

        # The signature check, on a body signed with the gateway's own key.
        await _check_the_verification_example(url, server.url)

    connection = await asyncpg.connect(url)
    try:
        expected = await connection.fetch(
            "SELECT id, kk_number, welfare_decile FROM households"
            " WHERE kabupaten_code = '3509' AND welfare_decile <= 4 ORDER BY id"
        )
        seeded = await connection.fetchval(
            "SELECT count(*) FROM program_changes c JOIN releases r ON r.no = c.release_no"
            " WHERE c.program = 'dinsos-pkh' AND r.id = 'seed'"
        )
        kinds = dict(
            await connection.fetch(
                "SELECT c.kind::text, count(*) FROM program_changes c"
                " JOIN releases r ON r.no = c.release_no"
                " WHERE c.program = 'dinsos-pkh' AND r.id = $1 GROUP BY c.kind",
                release,
            )
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
    assert first.stdout.startswith(f"received {seeded} changes ({seeded} entered, 0 updated")
    # The batch re-imports 40 families; only those it changed come, once.
    entered, updated, left = (kinds.get(kind, 0) for kind in ("ENTERED", "UPDATED", "LEFT"))
    assert 0 < entered + updated + left < 40
    assert second.stdout.startswith(
        f"received {entered + updated + left} changes ({entered} entered, {updated} updated,"
        f" {left} left)"
    )
    assert third.stdout.startswith("received 0 changes")


async def _import_a_batch(url: str, directory: Path) -> str:
    """A release re-importing 40 families of Jember: 10 change desil (some in or out of
    dinsos-pkh's desil 1-4), 5 change address, the rest come unchanged."""
    connection = await asyncpg.connect(url)
    try:
        kks = await connection.fetchval(
            "SELECT array_agg(kk_number ORDER BY id) FROM (SELECT kk_number, id FROM households"
            " WHERE kabupaten_code = '3509' ORDER BY id LIMIT 40) f"
        )
        rows = await layout_rows(connection, kks)
    finally:
        await connection.close()
    for row in rows["households"][:10]:
        row["welfare_decile"] = 11 - row["welfare_decile"]
    for row in rows["households"][10:15]:
        row["address"] = row["address"] + " (pindah RT)"
    await import_registry(url, write_csv(directory, rows), release="2025Q4")
    return "2025Q4"


async def _check_the_verification_example(url: str, gateway: str) -> None:
    namespace: dict[str, object] = {}
    os.environ["GATEWAY"] = gateway
    try:
        exec(compile(blocks("python")[1], "verify_webhook.py", "exec"), namespace)
        verify = namespace["verify"]
        assert callable(verify)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        try:
            keys = await KeyStore.open(pool=pool, master_secret=bytes.fromhex(TEST_SECRET))
        finally:
            await pool.close()
        body = b'{"changes": [{"kind": "LEFT", "household": {"id": "10"}}]}'
        signature = sign_detached(body, keys=keys)
        header = await asyncio.to_thread(verify, body, signature)
        assert header["kid"] == keys.current().kid
        altered = body.replace(b"LEFT", b"ENTERED")
        with pytest.raises(BadSignatureError):
            await asyncio.to_thread(verify, altered, signature)
    finally:
        del os.environ["GATEWAY"]
