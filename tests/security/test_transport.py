"""GraphQL over HTTP, abused: batching, CSRF, methods, content types, bodies, tokens, HTTP itself.

Only ``POST /graphql`` with ``Content-Type: application/json`` and a bearer
token executes an operation, one per request. Everything else is refused in
the gateway's one error shape, audited (every request that reaches
``/graphql``), and leaves the gateway serving; what uvicorn refuses on its own
(malformed HTTP) never reaches the application and shows no internals either.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from api.graphql.endpoint import MAX_BODY_BYTES
from api.settings import Settings
from api.state import gateway_state
from tests.security.conftest import LEAKS, Probe
from tests.support import LiveServer, MakeDatabase, live_server

QUERY = {"query": "{ myAccess { program } }"}


@pytest.mark.parametrize("size", [2, 10, 100])
async def test_json_array_batching_is_refused(probe: Probe, size: int) -> None:
    await probe.post("kec-sumbersari", [QUERY] * size, expect="BAD_USER_INPUT")
    await probe.check()


async def test_aliases_do_not_batch_past_the_root_field_limit(probe: Probe) -> None:
    batched = "{ " + " ".join(f"a{i}: myAccess {{ program }}" for i in range(50)) + " }"
    await probe.post("kec-sumbersari", {"query": batched}, expect="QUERY_TOO_COMPLEX")
    await probe.check()


async def test_get_never_executes(probe: Probe) -> None:
    """CSRF: a query in the URL of a GET is never run, whatever it carries."""
    headers = probe.headers["kec-sumbersari"]
    for accept in ("application/json", "*/*", "application/graphql-response+json"):
        answer = await probe.http.get(
            "/graphql",
            params={"query": QUERY["query"], "variables": "{}"},
            headers={**headers, "Accept": accept},
        )
        probe.record("kec-sumbersari", "GET", answer, "BAD_USER_INPUT", status=405)
        assert answer.headers["allow"] == "POST"
        assert "kec-sumbersari" not in answer.text
    page = await probe.http.get(
        "/graphql", params=QUERY, headers={**headers, "Accept": "text/html"}
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "kec-sumbersari" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    await probe.check()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"query=%7B+myAccess+%7B+program+%7D+%7D"),
        ("text/plain", orjson.dumps(QUERY)),
        ("text/plain;charset=UTF-8", orjson.dumps(QUERY)),
        ("application/graphql", b"{ myAccess { program } }"),
        ("application/jsonp", orjson.dumps(QUERY)),
        ("", orjson.dumps(QUERY)),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
            + orjson.dumps(QUERY)
            + b'\r\n--x\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--x--\r\n',
        ),
    ],
    ids=["form", "text", "text-charset", "graphql", "jsonp", "none", "multipart"],
)
async def test_posts_a_browser_could_forge_never_execute(
    probe: Probe, content_type: str, body: bytes
) -> None:
    """CSRF (graphql-cop; Strawberry CVE-2024-47082): only application/json executes."""
    answer = await probe.post(
        "kec-sumbersari", body, expect="BAD_USER_INPUT", content_type=content_type
    )
    assert "kec-sumbersari" not in answer.text
    await probe.check()


async def test_json_with_a_charset_parameter_still_runs(probe: Probe) -> None:
    answer = await probe.post(
        "kec-sumbersari", QUERY, expect=None, content_type="application/json; charset=utf-8"
    )
    assert answer.json() == {"data": {"myAccess": {"program": "kec-sumbersari"}}}
    await probe.check()


async def test_cookies_and_origins_are_no_credentials(probe: Probe) -> None:
    answer = await probe.post(
        None,
        QUERY,
        expect="UNAUTHENTICATED",
        headers={"Cookie": "session=abc", "Origin": "https://evil.example"},
    )
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert "access-control-allow-origin" not in answer.headers
    await probe.check()


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_other_methods_are_refused_and_audited(probe: Probe, method: str) -> None:
    answer = await probe.http.request(
        method,
        "/graphql",
        content=orjson.dumps(QUERY),
        headers={**probe.headers["kec-sumbersari"], "Content-Type": "application/json"},
    )
    probe.record(None, method, answer, "BAD_USER_INPUT", status=405)
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    await probe.check()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"null",
        b'"{ myAccess { program } }"',
        b"42",
        b'{"query": 42}',
        b'{"query": ["{ myAccess { program } }"]}',
        b'{"query": {"query": "{ myAccess { program } }"}}',
        b'{"query": ""}',
        b'{"query": "   "}',
        b'{"query": "{ myAccess { program } }", "variables": "{}"}',
        b'{"query": "{ myAccess { program } }", "variables": []}',
        b'{"query": "{ myAccess { program } }", "operationName": 7}',
        b'{"query": "{ myAccess { program } }", "operationName": ["a"]}',
        b"\xef\xbb\xbf" + orjson.dumps(QUERY),
        b'{"query": "{ myAccess { program } }"} trailing',
        b'{"query": "{ myAccess { program } }", "query": 1}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a": ' * 3000 + b"1" + b"}" * 3000,
    ],
)
async def test_malformed_bodies_are_bad_input(probe: Probe, body: bytes) -> None:
    await probe.post("kec-sumbersari", body, expect="BAD_USER_INPUT")
    await probe.check()


async def test_extra_keys_are_ignored_not_obeyed(probe: Probe) -> None:
    """Persisted-query and other extensions are not features: the document is what runs."""
    body = {
        **QUERY,
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
        "id": "x",
    }
    answer = await probe.post("kec-sumbersari", body, expect=None)
    assert answer.json() == {"data": {"myAccess": {"program": "kec-sumbersari"}}}
    await probe.check()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Bearer " + "a" * 20_000,
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Basic a2VjOnNlY3JldA==",
        "bearer\tx",
        "Bearer ' OR 1=1 --",
        b"Bearer \xff\xfe",
    ],
)
async def test_no_valid_token_is_401_before_the_body_is_read(
    probe: Probe, authorization: str | bytes | None
) -> None:
    """The body (here a megabyte, far past the cap) is never read without a token."""
    huge = orjson.dumps({"query": "{ " + "__typename " * 200_000 + "}"})
    assert len(huge) > MAX_BODY_BYTES
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = await probe.post(None, huge, expect="UNAUTHENTICATED", headers=headers)  # type: ignore[arg-type]
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    await probe.check()


async def test_unknown_routes_answer_in_the_one_error_shape(probe: Probe) -> None:
    for path in ("/nope", "/graphqlx", "/static/../../etc/passwd", "/static/%2e%2e/api/app.py"):
        answer = await probe.http.get(path)
        assert answer.status_code == 404, path
        body = answer.json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert body["errors"][0]["extensions"]["requestId"] == answer.headers["x-request-id"]
        assert LEAKS.search(answer.text) is None
    answer = await probe.http.post("/healthz")
    assert answer.status_code == 405
    assert answer.json()["errors"][0]["message"] == "Method Not Allowed."


async def test_quota_admission_is_exact_under_concurrency(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    """Forty requests at once against a quota of five: exactly five run (one worker)."""
    from api.app import create_app
    from tests.api.test_quotas import tight_policies
    from tests.schema.conftest import token_headers
    from tests.support import make_settings, running

    url = await make_database()
    settings = make_settings(
        url,
        tmp_path,
        policy_dir=tight_policies(tmp_path, requests_per_minute=5, rows_per_day=10**6),
    )
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            answers = await asyncio.gather(
                *(http.post("/graphql", json=QUERY, headers=headers) for _ in range(40))
            )
            quotas = gateway_state(app).quotas
            program = gateway_state(app).policies.current.programs["kec-sumbersari"]
            client_id = "in-flight-probe"
            for _ in range(4):
                quotas.admit(program, client_id=client_id)
            syncing = asyncio.create_task(quotas.sync())
            await asyncio.sleep(0)  # the sync now holds the four counts on their way
            quotas.admit(program, client_id=client_id)
            with pytest.raises(Exception, match="5 requests a minute"):
                quotas.admit(program, client_id=client_id)
            await syncing
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 5 + [429] * 35


@pytest.fixture(scope="module")
def live(security_settings: Settings) -> Iterator[LiveServer]:
    with live_server(security_settings) as server:
        yield server


def raw_http(server: LiveServer, request: bytes) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        # Refused while still sending (a huge header) is an answer too.
        with contextlib.suppress(OSError):
            connection.sendall(request)
        connection.settimeout(1)
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\x00b\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100_000 + b"\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"GET /graphql HTTP/1.1\r\nHost: x\r\n\xff\xfe: y\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_http_is_refused_by_the_server_without_internals(
    live: LiveServer, request_bytes: bytes, program_headers: dict[str, dict[str, str]]
) -> None:
    answer = await asyncio.to_thread(raw_http, live, request_bytes)
    status_line = answer.split(b"\r\n", 1)[0]
    assert not answer or status_line.split(b" ")[1][:1] == b"4", answer[:300]
    assert LEAKS.search(answer.decode("latin-1")) is None
    async with httpx.AsyncClient(base_url=live.url) as client:
        assert (await client.get("/healthz")).status_code == 200
        served = await client.post("/graphql", json=QUERY, headers=program_headers["dinsos-pkh"])
    assert served.json() == {"data": {"myAccess": {"program": "dinsos-pkh"}}}
