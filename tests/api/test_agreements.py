"""A program outside its agreement's validity window is denied everything."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import yaml
from starlette.applications import Starlette

from api.app import create_app
from api.auth.clients import create_client
from api.state import gateway_state
from tests.schema.conftest import error_codes, token_headers
from tests.support import REPO, MakeDatabase, make_settings, running

QUERY = {"query": "{ households(first: 3) { nodes { id } } }"}


def policies_with_window(
    tmp_path: Path, program: str, *, valid_from: str, valid_until: str
) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(
        REPO / "policies", directory, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    path = directory / "programs" / f"{program}.yaml"
    document = yaml.safe_load(path.read_text())
    document["agreement"]["valid_from"] = date.fromisoformat(valid_from)
    document["agreement"]["valid_until"] = date.fromisoformat(valid_until)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return directory


async def test_an_expired_agreement_gets_no_token(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = await make_database()
    policy_dir = policies_with_window(
        tmp_path, "kec-sumbersari", valid_from="2020-01-01", valid_until="2021-12-31"
    )
    async with running(create_app(make_settings(url, tmp_path, policy_dir=policy_dir))) as app:
        connection = await asyncpg.connect(url)
        try:
            credentials = await create_client(
                connection,
                program="kec-sumbersari",
                name="expired",
                policies=gateway_state(app).policies.current,
            )
        finally:
            await connection.close()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40010))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answer = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


async def test_a_token_issued_in_force_is_refused_once_the_policy_says_the_agreement_ended(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = await make_database()
    policy_dir = policies_with_window(
        tmp_path, "kec-sumbersari", valid_from="2020-01-01", valid_until="2099-12-31"
    )
    async with running(create_app(make_settings(url, tmp_path, policy_dir=policy_dir))) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40011))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            before = await http.post("/graphql", json=QUERY, headers=headers)
            ended = policies_with_window(
                tmp_path / "ended",
                "kec-sumbersari",
                valid_from="2020-01-01",
                valid_until="2021-12-31",
            )
            shutil.rmtree(policy_dir)
            shutil.copytree(ended, policy_dir)
            assert gateway_state(app).policies.reload()
            after = await http.post("/graphql", json=QUERY, headers=headers)
    assert before.status_code == 200
    assert after.status_code == 403
    assert error_codes(after.json()) == ["FORBIDDEN"]
    assert "data" not in after.json()
    connection = await asyncpg.connect(url)
    try:
        outcome = await connection.fetchval(
            "SELECT outcome FROM audit_events WHERE request_id = $1", after.headers["x-request-id"]
        )
    finally:
        await connection.close()
    assert outcome == "denied"


async def test_dp3akb_schema_has_no_ordering_by_welfare_decile(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    url = gateway_state(app).settings.database_url
    assert url is not None
    headers = await token_headers(app, http, owner_url=url, program="dp3akb-keluarga")
    answer = await http.post(
        "/graphql",
        json={"query": '{ __type(name: "HouseholdOrder") { enumValues { name } } }'},
        headers=headers,
    )
    names = {value["name"] for value in answer.json()["data"]["__type"]["enumValues"]}
    assert names == {"ID_ASC", "UPDATED_AT_ASC"}
    dinsos = await token_headers(app, http, owner_url=url, program="dinsos-pkh")
    answer = await http.post(
        "/graphql",
        json={"query": '{ __type(name: "HouseholdOrder") { enumValues { name } } }'},
        headers=dinsos,
    )
    assert {value["name"] for value in answer.json()["data"]["__type"]["enumValues"]} == {
        "ID_ASC",
        "WELFARE_DECILE_ASC",
        "UPDATED_AT_ASC",
    }
