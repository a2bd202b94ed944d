"""``docs/integrating.md`` section 9 runs as written: an agency's proposal (curl, real token),
the operator's ``regsosek proposals export`` and BPS's ``regsosek import --release``, the
settled status, an assistance report, and Bappeda's ``assistanceOverlap``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from tests.docs.test_integrating import PLACEHOLDERS, blocks
from tests.support import cli_env, live_server, make_settings

BIN = Path(sys.executable).parent


async def _bash(script: str, *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _answers(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_section_9_has_the_blocks_it_promises() -> None:
    shell = blocks("sh", sending=True)
    assert [block.startswith("regsosek ") for block in shell] == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert len(blocks("graphql", sending=True)) == 1


async def test_the_round_trip_runs_as_written(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    work = tmp_path / "agency"
    work.mkdir()
    operator_env = {**cli_env(url, tmp_path / "data"), "PATH": f"{BIN}:/usr/bin:/bin"}
    agency_env = {k: v for k, v in operator_env.items() if k != "DATABASE_URL"}
    create, exports, token = blocks("sh")[:3]
    propose, export, settle, status, report = blocks("sh", sending=True)

    made = await _bash(create, env=operator_env, cwd=work)
    assert made.returncode == 0, made.stderr
    credentials = json.loads(made.stdout)
    with live_server(make_settings(url, tmp_path / "data")) as server:
        for placeholder, value in zip(
            PLACEHOLDERS,
            (server.url, credentials["client_id"], credentials["client_secret"]),
            strict=True,
        ):
            exports = exports.replace(placeholder, value)
        proposed = await _bash(
            "\n".join([exports, token, propose, 'echo "household: $HOUSEHOLD"']),
            env=agency_env,
            cwd=work,
        )
        assert proposed.returncode == 0, proposed.stderr
        (answer,) = _answers(proposed.stdout)
        assert answer["data"]["proposeChange"]["status"] == "SUBMITTED"  # type: ignore[index]
        household = proposed.stdout.splitlines()[-1].removeprefix("household: ")

        for operator_step in (export, settle):
            ran = await _bash(operator_step, env=operator_env, cwd=work)
            assert ran.returncode == 0, ran.stderr
        assert "1 accepted, 0 rejected" in ran.stdout

        followed = await _bash(
            "\n".join([exports, token, f"HOUSEHOLD={household}", status, report]),
            env=agency_env,
            cwd=work,
        )
        assert followed.returncode == 0, followed.stderr
        listing, reported = _answers(followed.stdout)
        (node,) = listing["data"]["proposals"]["nodes"]  # type: ignore[index]
        assert node["status"] == "ACCEPTED"
        assert node["settledIn"] == {"id": "2026-12-verval"}
        assert reported["data"]["reportAssistance"] == {"accepted": 2, "errors": []}  # type: ignore[index]

        bappeda = await _bash(
            "regsosek client create --program bappeda-statistik --json",
            env=operator_env,
            cwd=work,
        )
        assert bappeda.returncode == 0, bappeda.stderr
        secret = json.loads(bappeda.stdout)
        async with httpx.AsyncClient(base_url=server.url) as http:
            granted = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(secret["client_id"], secret["client_secret"]),
            )
            headers = {"Authorization": f"Bearer {granted.json()['access_token']}"}
            (document,) = blocks("graphql", sending=True)
            body = (await http.post("/graphql", json={"query": document}, headers=headers)).json()
    assert "errors" not in body, body
    cells = body["data"]["assistanceOverlap"]
    assert cells
    assert all(cell["suppressed"] and cell["count"] is None for cell in cells)
