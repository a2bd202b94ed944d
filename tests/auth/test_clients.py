"""``regsosek client …`` and what a client's state does to its tokens."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from api.auth import registry
from tests.support import Gateway, cli_env, regsosek


async def test_client_create_json_prints_exactly_the_credentials(
    gateway: Gateway, tmp_path: Path
) -> None:
    env = cli_env(gateway.url, tmp_path)
    code, out, err = await regsosek(
        "client",
        "create",
        "--program",
        "dp3akb-keluarga",
        "--name",
        "SIGA DP3AKB",
        "--json",
        env=env,
    )
    assert code == 0, err
    credentials = json.loads(out)
    assert set(credentials) == {"client_id", "client_secret"}
    assert len(credentials["client_secret"]) >= 43

    row = await gateway.owner.fetchrow(
        "SELECT name, program, secret_hash, enabled FROM oauth_clients WHERE client_id = $1",
        credentials["client_id"],
    )
    assert (row["name"], row["program"], row["enabled"]) == ("SIGA DP3AKB", "dp3akb-keluarga", True)
    assert row["secret_hash"].startswith("scrypt$")
    assert credentials["client_secret"] not in row["secret_hash"]

    async with gateway.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
    assert response.status_code == 200

    code, out, _ = await regsosek("client", "list", env=env)
    assert code == 0
    line = next(line for line in out.splitlines() if credentials["client_id"] in line)
    assert "dp3akb-keluarga" in line
    assert "dp3akb-jember" in line
    assert "yes" in line


async def test_client_create_refuses_a_program_outside_the_policy_set(
    gateway: Gateway, tmp_path: Path
) -> None:
    code, _, err = await regsosek(
        "client", "create", "--program", "dinas-rahasia", env=cli_env(gateway.url, tmp_path)
    )
    assert code == 1
    assert "dinas-rahasia" in err
    assert await gateway.owner.fetchval("SELECT count(*) FROM oauth_clients") == 0


async def test_a_disabled_clients_tokens_stop_within_two_seconds(
    gateway: Gateway, tmp_path: Path
) -> None:
    credentials = await gateway.client()
    token = await gateway.token(credentials)
    assert (await gateway.whoami(token)).status_code == 200  # now cached

    code, _, err = await regsosek(
        "client", "disable", credentials.client_id, env=cli_env(gateway.url, tmp_path)
    )
    assert code == 0, err
    disabled_at = time.monotonic()
    while (await gateway.whoami(token)).status_code == 200:  # noqa: ASYNC110 (polling the API)
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - disabled_at
    assert elapsed <= registry.REFRESH_SECONDS + 1.0
    assert elapsed <= 2.0

    async with gateway.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
        )
    assert response.status_code == 401

    code, _, _ = await regsosek(
        "client", "enable", credentials.client_id, env=cli_env(gateway.url, tmp_path)
    )
    assert code == 0
    await gateway.refreshed()
    assert (await gateway.whoami(token)).status_code == 200


async def test_rotate_secret_replaces_the_secret(gateway: Gateway, tmp_path: Path) -> None:
    credentials = await gateway.client()
    code, out, err = await regsosek(
        "client",
        "rotate-secret",
        credentials.client_id,
        "--json",
        env=cli_env(gateway.url, tmp_path),
    )
    assert code == 0, err
    rotated = json.loads(out)
    assert rotated["client_id"] == credentials.client_id
    assert rotated["client_secret"] != credentials.client_secret
    async with gateway.http() as http:
        old = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
        )
        new = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, rotated["client_secret"]),
        )
    assert (old.status_code, new.status_code) == (401, 200)


async def test_commands_on_an_unknown_client_exit_1(gateway: Gateway, tmp_path: Path) -> None:
    env = cli_env(gateway.url, tmp_path)
    for command in ("disable", "enable", "rotate-secret"):
        code, _, err = await regsosek("client", command, "rc_nobody00000000000000", env=env)
        assert code == 1, command
        assert "rc_nobody" in err


async def test_client_list_json_and_a_piped_table_keep_every_column_whole(
    gateway: Gateway, tmp_path: Path
) -> None:
    env = cli_env(gateway.url, tmp_path)
    name = "Sistem Informasi Kesejahteraan Sosial Next Generation, Dinas Sosial Kabupaten Jember"
    code, out, err = await regsosek(
        "client", "create", "--program", "dinsos-pkh", "--name", name, "--json", env=env
    )
    assert code == 0, err
    client_id = json.loads(out)["client_id"]
    code, out, err = await regsosek("client", "list", "--json", env=env)
    assert code == 0, err
    listed = {row["client_id"]: row for row in json.loads(out)}
    assert listed[client_id]["name"] == name
    assert listed[client_id]["program"] == "dinsos-pkh"
    assert listed[client_id]["enabled"] is True
    code, out, _ = await regsosek("client", "list", env=env)  # stdout is a pipe here
    assert code == 0
    line = next(line for line in out.splitlines() if client_id in line)
    assert name in line, "the table was cut to the width of a terminal"
    code, out, err = await regsosek("keys", "list", "--json", env=env)
    assert code == 0, err
    keys = json.loads(out)
    assert [key["state"] for key in keys].count("active") == 1
    assert {"kid", "alg", "activated_at", "retired_at", "publish_until"} <= set(keys[0])
