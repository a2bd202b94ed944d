"""What an operator meets in the first hour: stopping the embedded PostgreSQL, choosing a port,
and mistakes (a wrong DATABASE_URL, a misspelled policy) answered in one line.

Each test runs the real ``regsosek`` command in its own process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import REPO, TEST_PSEUDONYM_KEY, TEST_SECRET, _free_port

REGSOSEK = [sys.executable, "-m", "regsosek"]


@pytest.fixture(scope="module")
def migrated_pgdata() -> Iterator[Path]:
    """An embedded PostgreSQL's data directory, initialised and migrated once (``regsosek db
    upgrade``, about 5 s: initdb, then the migrations), stopped; ``own_dir`` starts from a
    copy of it (0.1 s). Starting from nothing is ``tests/db/test_embedded.py``'s subject."""
    path = Path(tempfile.mkdtemp(prefix="regsosek-first-hour-pgdata-"))
    try:
        subprocess.run(
            [*REGSOSEK, "db", "upgrade"],
            env=_environment(path / "data"),
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        assert _handles(path / "data") == []
        yield path / "data" / "pgdata"
    finally:
        _stop_left_over(path / "data")
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_dir(migrated_pgdata: Path) -> Iterator[Path]:
    """A directory of this test's own, outside pytest's numbered temporary directories (which
    other pytest sessions on a shared machine prune while an embedded server still runs there),
    with ``data/pgdata`` a copy of ``migrated_pgdata`` (``cp -a``: the files keep their owner,
    the ``pgserver`` user when the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix="regsosek-first-hour-"))
    (path / "data").mkdir()
    subprocess.run(["cp", "-a", str(migrated_pgdata), str(path / "data" / "pgdata")], check=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _environment(data_dir: Path, **extra: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REGSOSEK_") and key != "DATABASE_URL"
    }
    environment |= {
        "REGSOSEK_DATA_DIR": str(data_dir),
        "REGSOSEK_POLICY_DIR": str(REPO / "policies"),
        "REGSOSEK_SECRET_KEY": TEST_SECRET,
        "REGSOSEK_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY,
    }
    return environment | extra


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _postmaster(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


def _handles(data_dir: Path) -> list[int]:
    path = data_dir / "pgdata" / ".handle_pids.json"
    return json.loads(path.read_text()) if path.exists() else []


def _wait(condition: object, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@contextmanager
def started(
    arguments: list[str], environment: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``regsosek ARGUMENTS`` in the background; killed (SIGKILL) if a test leaves it running."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*REGSOSEK, *arguments],
            env=environment,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240
    while True:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.3)


def _stop_left_over(data_dir: Path) -> None:
    subprocess.run([*REGSOSEK, "db", "stop"], env=_environment(data_dir), cwd=REPO, check=False)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_demo_stops_its_embedded_postgresql(
    own_dir: Path, stop_signal: signal.Signals
) -> None:
    data_dir, port, log = own_dir / "data", _free_port(), own_dir / "demo.log"
    try:
        arguments = ["demo", "--households", "60", "--port", str(port)]
        with started(arguments, _environment(data_dir), log) as demo:
            _ready(port, demo, log)
            postmaster = _postmaster(data_dir)
            assert _alive(postmaster)
            demo.send_signal(stop_signal)
            assert demo.wait(timeout=60) == 0, "a stop when asked is not a failure"
        output = log.read_text(errors="replace")
        _wait(lambda: not _alive(postmaster), seconds=30, what="PostgreSQL still runs")
        assert _handles(data_dir) == []
        assert "Traceback" not in output
        assert output.index("export DINSOS_PKH_CLIENT_ID=") < output.index("serving on")
        assert str(data_dir / "demo-clients.json") in output
    finally:
        _stop_left_over(data_dir)


def test_a_killed_servers_pid_is_cleared_so_the_next_command_stops_postgresql(
    own_dir: Path,
) -> None:
    data_dir, port, log = own_dir / "data", _free_port(), own_dir / "serve.log"
    try:
        with started(["serve", "--port", str(port)], _environment(data_dir), log) as server:
            _ready(port, server, log)
            postmaster = _postmaster(data_dir)
            server.kill()  # SIGKILL: nothing of the process runs, its pid stays in the handle file
            server.wait()
        assert _alive(postmaster)
        assert _handles(data_dir) == [server.pid]
        current = subprocess.run(
            [*REGSOSEK, "db", "current"],
            env=_environment(data_dir),
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert current.returncode == 0, current.stderr
        _wait(lambda: not _alive(postmaster), seconds=30, what="PostgreSQL still runs")
        assert _handles(data_dir) == []
    finally:
        _stop_left_over(data_dir)


def test_db_stop_stops_an_orphaned_embedded_postgresql(own_dir: Path) -> None:
    data_dir, port, log = own_dir / "data", _free_port(), own_dir / "serve.log"
    try:
        with started(["serve", "--port", str(port)], _environment(data_dir), log) as server:
            _ready(port, server, log)
            postmaster = _postmaster(data_dir)
            server.kill()
            server.wait()
        assert _alive(postmaster)
        stop = subprocess.run(
            [*REGSOSEK, "db", "stop"],
            env=_environment(data_dir),
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert stop.returncode == 0, stop.stderr
        assert f"stopped the embedded PostgreSQL (pid {postmaster})" in stop.stdout
        assert not _alive(postmaster)
        again = subprocess.run(
            [*REGSOSEK, "db", "stop"],
            env=_environment(data_dir),
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert "no embedded PostgreSQL is running" in again.stdout
    finally:
        _stop_left_over(data_dir)


def test_a_busy_port_is_one_line_naming_it_and_how_to_choose_another(
    tmp_path: Path, registry_url: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = subprocess.run(
            [*REGSOSEK, "serve", "--port", str(port)],
            env=_environment(tmp_path, DATABASE_URL=registry_url),
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert answer.returncode == 1
    assert "serving on" not in answer.stdout
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert f"port {port}" in lines[0]
    assert "--port" in lines[0]
    assert "REGSOSEK_PORT" in lines[0]


def test_the_default_issuer_follows_the_port(tmp_path: Path, registry_url: str) -> None:
    port, log = _free_port(), tmp_path / "serve.log"
    environment = _environment(tmp_path, DATABASE_URL=registry_url, REGSOSEK_PORT=str(port))
    with started(["serve"], environment, log) as server:
        _ready(port, server, log)
        metadata = httpx.get(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert metadata.json()["issuer"] == f"http://127.0.0.1:{port}"
    assert metadata.json()["token_endpoint"] == f"http://127.0.0.1:{port}/oauth/token"
    assert f"serving on http://127.0.0.1:{port}" in log.read_text()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:1/regsosek", "cannot reach the database at 127.0.0.1:1"),
        (
            "postgresql://postgres@127.0.0.1:5432/regsosek_i18a_absent",
            "the database 'regsosek_i18a_absent' does not exist on 127.0.0.1:5432",
        ),
    ],
)
@pytest.mark.parametrize("command", [["db", "current"], ["client", "list"], ["serve"]])
def test_a_wrong_database_url_is_one_line(
    tmp_path: Path, url: str, expected: str, command: list[str]
) -> None:
    answer = subprocess.run(
        [*REGSOSEK, *command, *(["--port", str(_free_port())] if command == ["serve"] else [])],
        env=_environment(tmp_path, DATABASE_URL=url),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert answer.returncode == 1
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert expected in lines[0]
    assert "check DATABASE_URL" in lines[0]


def test_a_policy_problem_at_serve_is_what_policy_check_says_with_a_suggestion(
    tmp_path: Path, registry_url: str
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(
        REPO / "policies", policies, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    rules = policies / "policy.csv"
    text = rules.read_text()
    assert "Household.headName" in text
    rules.write_text(text.replace("Household.headName", "Household.headNmae", 1))
    environment = _environment(
        tmp_path, DATABASE_URL=registry_url, REGSOSEK_POLICY_DIR=str(policies)
    )
    check = subprocess.run(
        [*REGSOSEK, "policy", "check"],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    serve = subprocess.run(
        [*REGSOSEK, "serve", "--port", str(_free_port())],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert check.returncode == serve.returncode == 1
    problems = check.stdout.strip().splitlines()
    assert problems
    assert all(line in serve.stderr for line in problems)
    assert "unknown field Household.headNmae (did you mean 'headName'?)" in problems[0]
    assert "Traceback" not in serve.stderr
    assert "serving on" not in serve.stdout
