"""``regsosek serve --workers 2`` end to end: a burst of concurrent requests over both worker
processes, then ``regsosek audit verify`` passes and every answer has its audit event."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import orjson

from api.auth.clients import Credentials, create_client
from policies import load_policies
from tests.ops.support import parse_metrics, value
from tests.support import REPO, TEST_PSEUDONYM_KEY, TEST_SECRET, MakeDatabase, _free_port

REGSOSEK = str(Path(sys.executable).with_name("regsosek"))
PROGRAM = "kec-sumbersari"
QUERY = {"query": "query Burst { households(first: 3) { nodes { id } } }"}
BURST = 48
CONCURRENCY = 12


def _environment(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "REGSOSEK_DATA_DIR": str(data_dir),
        "REGSOSEK_POLICY_DIR": str(REPO / "policies"),
        "REGSOSEK_SECRET_KEY": TEST_SECRET,
        "REGSOSEK_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY,
        "REGSOSEK_ISSUER": f"http://127.0.0.1:{port}",
        "REGSOSEK_LOG_JSON": "true",
        "REGSOSEK_GRAPHIQL": "false",
    }


@contextmanager
def serving(
    environment: dict[str, str], *, port: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``regsosek serve --workers 2`` in its own process group, stopped (SIGTERM) at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [REGSOSEK, "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _ready(http: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, _tail(log)
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, _tail(log)
        await asyncio.sleep(0.2)


async def _burst(base_url: str, token: str) -> list[httpx.Response]:
    """``BURST`` requests, ``CONCURRENCY`` at a time, each on a new connection."""
    limits = httpx.Limits(max_keepalive_connections=0)
    gate = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:

        async def one() -> httpx.Response:
            async with gate:
                return await http.post("/graphql", json=QUERY, headers=headers)

        return await asyncio.gather(*(one() for _ in range(BURST)))


async def _tokens_from_both_workers(
    base_url: str, credentials: Credentials, log: Path
) -> list[str]:
    """Tokens, each asked on a new connection, until both workers have issued one (a worker
    still starting does not accept yet, and a burst sent then would find only the other)."""
    limits = httpx.Limits(max_keepalive_connections=0)
    tokens: list[str] = []
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        while True:
            issued = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
            assert issued.status_code == 200, issued.text
            tokens.append(issued.json()["access_token"])
            lines = _request_lines(log)
            if len({line["pid"] for line in lines if line["endpoint"] == "/oauth/token"}) == 2:
                return tokens
            assert time.monotonic() < deadline, "the second worker never served"
            await asyncio.sleep(0.1)


def _request_lines(log: Path) -> list[dict[str, object]]:
    lines = []
    for raw in log.read_bytes().splitlines():
        if raw.startswith(b"{"):
            line = orjson.loads(raw)
            if line.get("event") == "request":
                lines.append(line)
    return lines


async def test_two_workers_share_one_audit_chain_and_one_metrics_view(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = await make_database()
    port = _free_port()
    log = tmp_path / "serve.log"
    owner = await asyncpg.connect(url)
    try:
        credentials = await create_client(
            owner, program=PROGRAM, name="burst", policies=load_policies(REPO / "policies")
        )
    finally:
        await owner.close()
    base_url = f"http://127.0.0.1:{port}"
    environment = _environment(url, tmp_path / "data", port)
    with serving(environment, port=port, log=log) as process:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await _ready(http, process, log)
            tokens = await _tokens_from_both_workers(base_url, credentials, log)
            answers = await _burst(base_url, tokens[-1])
            metrics = parse_metrics((await http.get("/metrics")).text)
        assert process.poll() is None
    assert process.returncode == 0, _tail(log)

    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * BURST, statuses
    served_by = {line["pid"] for line in _request_lines(log) if line["endpoint"] == "/graphql"}
    assert len(served_by) == 2, "both workers answered part of the burst"

    # /metrics, whichever worker answered it, adds up both workers' counts.
    allowed = {"endpoint": "graphql", "program": PROGRAM, "outcome": "allowed"}
    assert value(metrics, "regsosek_requests_total", **allowed) == BURST
    assert (
        value(metrics, "regsosek_http_request_duration_seconds_count", endpoint="/graphql") == BURST
    )

    verify = await asyncio.create_subprocess_exec(
        REGSOSEK,
        "audit",
        "verify",
        "--json",
        env=environment,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(verify.communicate(), 60)
    assert verify.returncode == 0, out.decode() + err.decode()
    report = orjson.loads(out)
    assert report["ok"] is True
    assert report["range"]["events"] == BURST + len(tokens)

    owner = await asyncpg.connect(url)
    try:
        events = await owner.fetch(
            "SELECT request_id, outcome, client_id FROM audit_events WHERE endpoint = 'graphql'"
        )
    finally:
        await owner.close()
    audited = {row["request_id"]: (row["outcome"], row["client_id"]) for row in events}
    for answer in answers:
        assert audited[answer.headers["x-request-id"]] == ("allowed", credentials.client_id)
    assert len(audited) == BURST
