"""The log format: JSON lines in production, readable lines in development, no secrets in either."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog

from api.observability.logs import configure_logging, request_log
from api.settings import Settings

TOKEN = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
PASSWORD = "s3cret-Pa55"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    configure_logging(json=False)


def _fail_with_a_secret_in_a_local() -> None:
    client_secret = PASSWORD  # noqa: F841 (a local a traceback must not show)
    raise RuntimeError("the database refused")


def _emit() -> None:
    request_log().info("request", request_id="r0", authorization=f"Bearer {TOKEN}")
    structlog.get_logger("regsosek.test").info(
        "request", request_id="r1", token=TOKEN, variables={"nik": "3509010101010001"}
    )
    logging.getLogger("regsosek.test").warning(
        "cannot reach postgresql://regsosek_app:%s@db.internal:5432/regsosek", PASSWORD
    )
    try:
        _fail_with_a_secret_in_a_local()
    except RuntimeError:
        logging.getLogger("regsosek.test").exception("unexpected failure")


def test_production_logs_are_one_json_object_a_line(output: io.StringIO) -> None:
    configure_logging(json=True, stream=output)
    _emit()
    lines = [orjson.loads(line) for line in output.getvalue().splitlines()]
    assert [line["event"].split(" ")[0] for line in lines] == [
        "request",
        "request",
        "cannot",
        "unexpected",
    ]
    assert lines[0]["logger"] == "regsosek.request"
    first = lines[1]
    assert list(first)[:4] == ["timestamp", "level", "logger", "event"]
    assert first["request_id"] == "r1"
    assert first["level"] == "info"
    assert isinstance(first["pid"], int)
    assert "RuntimeError: the database refused" in lines[3]["exception"]


@pytest.mark.parametrize("json", [True, False])
def test_no_token_password_variable_or_local_reaches_the_log(
    output: io.StringIO, json: bool
) -> None:
    configure_logging(json=json, stream=output)
    _emit()
    text = output.getvalue()
    assert "the database refused" in text
    for secret in (TOKEN, PASSWORD, "3509010101010001"):
        assert secret not in text
    assert "[redacted]" in text
    assert "regsosek_app:***@db.internal" in text


def test_settings_choose_json_in_production_and_console_in_development() -> None:
    secrets: dict[str, Any] = {
        "secret_key": "5f" * 32,
        "pseudonym_key": "a7" * 32,
        "database_url": "postgresql://x/y",
    }
    assert Settings(environment="production", issuer="https://gw.example", **secrets).json_logs
    assert not Settings(environment="development").json_logs
    assert Settings(environment="development", log_json=True).json_logs
