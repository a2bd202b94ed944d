"""``docs/integrating.md`` §3a-3b: the purpose and document examples are requests a
gateway takes as written (header names, body shapes), sent through the running app."""

from __future__ import annotations

import json
import re

import httpx
from starlette.applications import Starlette

from tests.schema.conftest import Headers, token_headers
from tests.support import REPO

GUIDE = (REPO / "docs" / "integrating.md").read_text()
HTTP = re.compile(r"^```http\n(.*?)^```", re.S | re.M)


def _requests() -> list[tuple[dict[str, str], dict[str, object]]]:
    found = []
    for block in HTTP.findall(GUIDE):
        head, body = block.split("\n\n", 1)
        lines = head.splitlines()
        assert lines[0] == "POST /graphql HTTP/1.1"
        headers = dict(line.split(": ", 1) for line in lines[1:])
        found.append((headers, json.loads(body)))
    return found


def test_the_guide_shows_a_purpose_header_extensions_and_a_document_id() -> None:
    (with_headers, headers_body), (_, extensions_body), (_, document_body) = _requests()
    assert {"Regsosek-Purpose", "Regsosek-Case-Ref"} <= set(with_headers)
    extensions = extensions_body["extensions"]
    assert isinstance(extensions, dict)
    assert set(extensions) == {"purpose", "caseRef"}
    assert "query" not in document_body
    assert str(document_body["documentId"]).startswith("sha256:")
    assert "query" in headers_body


async def test_the_purpose_examples_run(
    app: Starlette, http: httpx.AsyncClient, registry_url: str
) -> None:
    async def bearer(program: str) -> Headers:
        return await token_headers(app, http, owner_url=registry_url, program=program)

    (child_headers, child_body), (_, complaint_body), _ = _requests()
    purpose = {k: v for k, v in child_headers.items() if k.startswith("Regsosek-")}
    child = await http.post(
        "/graphql",
        json=child_body,
        headers={**await bearer("dp3akb-perlindungan-anak"), **purpose},
    )
    assert child.status_code == 200, child.text
    assert child.json()["data"]["persons"]["nodes"]
    complaint = await http.post("/graphql", json=complaint_body, headers=await bearer("dinsos-pkh"))
    assert complaint.json()["data"]["myAccess"] == {
        "purposeCode": "PENANGANAN_PENGADUAN",
        "caseRef": "ADU/2026/0007",
    }
