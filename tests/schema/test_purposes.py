"""Purposes on every request (CONTRACT §9): named by header or ``extensions``, checked against
the agreement before any SQL runs, narrowing fields as if denied, and recorded in the audit."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.app import create_app
from tests.schema.conftest import Headers, error_codes, token_headers
from tests.support import POLICY_DIR, make_settings, running

Bearer = Callable[[str], Awaitable[Headers]]
CHILDREN = "{ persons(first: 3) { nodes { id name birthDate age documents { kia } } } }"


async def _post(
    http: httpx.AsyncClient, headers: Headers, query: str, **extensions: str
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if extensions:
        body["extensions"] = extensions
    return await http.post("/graphql", json=body, headers=headers)


async def _event(owner: asyncpg.Connection, answer: httpx.Response) -> asyncpg.Record:
    request_id = answer.headers["x-request-id"]
    row = await owner.fetchrow("SELECT * FROM audit_events WHERE request_id = $1", request_id)
    assert row is not None
    return row


async def test_child_protection_without_a_case_reference_is_forbidden_and_audited(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = await bearer("dp3akb-perlindungan-anak")
    answer = await _post(http, headers, CHILDREN)
    assert error_codes(answer.json()) == ["FORBIDDEN"]
    assert "case reference" in answer.json()["errors"][0]["message"]
    assert "data" not in answer.json() or answer.json()["data"] is None
    event = await _event(owner, answer)
    assert (event["outcome"], event["purpose_code"], event["case_ref"]) == (
        "denied",
        "PERLINDUNGAN_ANAK",
        None,
    )
    assert event["field_paths"] == []
    assert event["row_count"] == 0


async def test_child_protection_with_a_case_reference_answers_children_only(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = {**await bearer("dp3akb-perlindungan-anak"), "Regsosek-Case-Ref": "UPTD-PPA/2026/117"}
    answer = await _post(http, headers, CHILDREN)
    assert answer.status_code == 200, answer.text
    nodes = answer.json()["data"]["persons"]["nodes"]
    assert nodes
    assert all(node["age"] < 18 for node in nodes)
    event = await _event(owner, answer)
    assert (event["outcome"], event["purpose_code"], event["case_ref"]) == (
        "allowed",
        "PERLINDUNGAN_ANAK",
        "UPTD-PPA/2026/117",
    )
    assert "persons.nodes.name" in event["field_paths"]


async def test_purpose_and_case_ref_in_extensions_and_audit_events(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = await bearer("dp3akb-perlindungan-anak")
    answer = await _post(
        http, headers, CHILDREN, purpose="PERLINDUNGAN_ANAK", caseRef="REG-2026-0042"
    )
    assert answer.status_code == 200, answer.text
    auditor = await bearer("inspektorat-audit")
    seen = await _post(
        http,
        auditor,
        '{ auditEvents(filter: {program: "dp3akb-perlindungan-anak"}, first: 1000)'
        " { nodes { purposeCode caseRef } } }",
    )
    nodes = seen.json()["data"]["auditEvents"]["nodes"]
    assert {"purposeCode": "PERLINDUNGAN_ANAK", "caseRef": "REG-2026-0042"} in nodes


async def test_unknown_purpose_is_forbidden_before_any_sql(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = {**await bearer("dinsos-pkh"), "Regsosek-Purpose": "PENAGIHAN_PAJAK"}
    answer = await _post(http, headers, "{ households(first: 1) { nodes { id } } }")
    assert error_codes(answer.json()) == ["FORBIDDEN"]
    assert "VERIFIKASI_PKH" in answer.json()["errors"][0]["message"]
    event = await _event(owner, answer)
    assert (event["outcome"], event["purpose_code"]) == ("denied", "PENAGIHAN_PAJAK")


async def test_header_and_extensions_naming_different_purposes_is_bad_input(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = {**await bearer("dinsos-pkh"), "Regsosek-Purpose": "VERIFIKASI_PKH"}
    answer = await _post(http, headers, "{ myAccess { program } }", purpose="OTHER")
    assert error_codes(answer.json()) == ["BAD_USER_INPUT"]


async def test_default_purpose_is_the_first_listed_and_my_access_lists_them(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    answer = await _post(
        http,
        await bearer("dinsos-pkh"),
        "{ myAccess { purposeCode caseRef purposes { code caseRefRequired narrowsFields } } }",
    )
    access = answer.json()["data"]["myAccess"]
    assert access["purposeCode"] == "VERIFIKASI_PKH"
    assert access["caseRef"] is None
    assert access["purposes"] == [
        {"code": "VERIFIKASI_PKH", "caseRefRequired": False, "narrowsFields": False},
        {"code": "PENANGANAN_PENGADUAN", "caseRefRequired": True, "narrowsFields": True},
    ]
    assert (await _event(owner, answer))["purpose_code"] == "VERIFIKASI_PKH"


async def test_a_narrowing_purpose_makes_other_fields_unreadable_as_if_denied(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = {
        **await bearer("dinsos-pkh"),
        "Regsosek-Purpose": "PENANGANAN_PENGADUAN",
        "Regsosek-Case-Ref": "ADU/2026/0007",
    }
    kept = await _post(http, headers, "{ households(first: 2) { nodes { headName } } }")
    assert kept.status_code == 200, kept.text
    assert len(kept.json()["data"]["households"]["nodes"]) == 2
    narrowed = await _post(http, headers, "{ households(first: 2) { nodes { welfareDecile } } }")
    missing = await _post(http, headers, "{ households(first: 2) { nodes { noSuchField } } }")
    assert error_codes(narrowed.json()) == error_codes(missing.json()) == ["BAD_USER_INPUT"]
    assert narrowed.json()["errors"][0]["message"] == missing.json()["errors"][0][
        "message"
    ].replace("noSuchField", "welfareDecile")
    stats = await _post(http, headers, "{ householdStats(groupBy: []) { count } }")
    assert error_codes(stats.json()) == ["BAD_USER_INPUT"]
    access = await _post(http, headers, "{ myAccess { fields { type field } } }")
    fields = {(f["type"], f["field"]) for f in access.json()["data"]["myAccess"]["fields"]}
    assert ("Household", "headName") in fields
    assert ("Household", "welfareDecile") not in fields
    plain = await _post(
        http, await bearer("dinsos-pkh"), "{ households(first: 1) { nodes { welfareDecile } } }"
    )
    assert plain.status_code == 200, plain.text


async def test_a_purpose_of_another_program_is_forbidden(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = {**await bearer("kec-sumbersari"), "Regsosek-Purpose": "PELAYANAN_KECAMATAN"}
    answer = await _post(http, headers, "{ myAccess { purposeCode } }")
    assert answer.json()["data"]["myAccess"]["purposeCode"] == "PELAYANAN_KECAMATAN"
    wrong = {**headers, "Regsosek-Purpose": "PERLINDUNGAN_ANAK"}
    refused = await _post(http, wrong, "{ myAccess { purposeCode } }")
    assert error_codes(refused.json()) == ["FORBIDDEN"]


async def test_a_purpose_narrowing_rows_reads_only_those_rows(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    program_file = folder / "programs" / "dinsos-pkh.yaml"
    program_file.write_text(
        program_file.read_text().replace(
            "dpia:",
            "  - code: MUSDES_SUMBERSARI\n"
            "    description: Musyawarah desa di Kecamatan Sumbersari / Village deliberation\n"
            "    case_ref_required: true\n"
            '    rows: {region: {prefix: "3509720"}}\n'
            "dpia:",
        )
    )
    page = "{ households(first: 1000) { totalCount nodes { region { code } } } }"
    app = create_app(make_settings(url, tmp_path, policy_dir=folder))
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            plain = await token_headers(app, http, owner_url=url, program="dinsos-pkh")
            musdes = {
                **plain,
                "Regsosek-Purpose": "MUSDES_SUMBERSARI",
                "Regsosek-Case-Ref": "BA-MUSDES/2026/03",
            }
            everything = (await _post(http, plain, page)).json()["data"]["households"]
            narrowed = (await _post(http, musdes, page)).json()["data"]["households"]
            codes = {node["region"]["code"] for node in narrowed["nodes"]}
            assert codes
            assert all(code.startswith("3509720") for code in codes)
            assert 0 < narrowed["totalCount"] < everything["totalCount"]
            feed = await _post(http, musdes, "{ changes(first: 1) { nodes { kind } } }")
            assert error_codes(feed.json()) == ["BAD_USER_INPUT"]
            access = await _post(http, musdes, "{ myAccess { rowScope } }")
            assert "3509720" in access.json()["data"]["myAccess"]["rowScope"]
