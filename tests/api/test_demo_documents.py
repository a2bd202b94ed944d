"""The demo registers one trusted document per shipped program, each valid under the shipped
policy and runnable by its id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from api.app import create_app
from api.cli.demo import register_demo_documents
from api.cli.demo_documents import DEMO_DOCUMENTS
from db.documents import list_documents
from policies import load_policies
from tests.schema.conftest import CASE_REFS, token_headers
from tests.support import POLICY_DIR, make_settings, running


def test_every_shipped_program_has_a_demo_document() -> None:
    assert set(DEMO_DOCUMENTS) == set(load_policies(POLICY_DIR).programs)


async def test_the_demo_documents_register_and_run_by_id(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    policies = load_policies(POLICY_DIR)
    connection = await asyncpg.connect(url)
    try:
        registered = await register_demo_documents(connection, policies=policies)
        again = await register_demo_documents(connection, policies=policies)
        stored = await list_documents(connection)
    finally:
        await connection.close()
    assert len(registered) == len(DEMO_DOCUMENTS) == len(stored)
    assert again == registered
    ids = {doc.program: doc.document_id for doc in stored}
    app = create_app(make_settings(url, tmp_path))
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for program in ("dinkes-pbi", "dp3akb-perlindungan-anak", "bappeda-statistik"):
                headers = {
                    **await token_headers(app, http, owner_url=url, program=program),
                    **CASE_REFS.get(program, {}),
                }
                body = {"documentId": ids[program], "variables": {"desa": "3509"}}
                answer = await http.post("/graphql", json=body, headers=headers)
                assert answer.status_code == 200, (program, answer.text)
                assert "errors" not in answer.json()
