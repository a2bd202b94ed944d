"""Releases and the change feed at scale (run on demand, never by tests).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.releases_bench [--households 1000000] [--share 0.1] \\
        [--pages 200] [--keep]

1. A scratch database on DATABASE_URL's server, migrated (policies applied) and
   seeded with ``--households`` families (the seed's ENTERED changes included;
   its time is printed too).
2. A release that changes ``--share`` of the households (every n-th family:
   its desil mirrored, 11 - desil, which moves many of them in or out of
   dinsos-pkh's, dinkes-pbi's and bps-admin's scopes), and renames one member
   in a tenth of those families (a persons file), written with COPY from the
   registry itself and imported with ``regsosek import``'s own code: checks,
   writes, scope changes for every program, webhook deliveries. Target: under
   2 minutes at 1,000,000 households.
3. ``changes(first: 1000)`` pages through the gateway (the real app in
   process: authentication, limits, compiled SQL, audit), bps-admin's feed
   from its start: ``--pages`` pages, p50/p95/max. Target: p95 under 200 ms.

Prints one JSON object with the figures and the machine's load (1-minute
load average before and after, CPUs), then drops the database unless
``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.app import create_app
from api.auth.clients import create_client
from api.cli.db import upgrade_database
from api.settings import Settings
from api.state import gateway_state
from db.engine import plain_url, with_database
from db.importer import import_registry
from db.importer.layout import HOUSEHOLDS, PERSONS
from db.seed import seed_registry

POLICIES = Path(__file__).resolve().parent.parent / "policies"
FEED = (
    "query($after: String) { changes(after: $after, first: 1000) {"
    " pageInfo { hasNextPage endCursor } nodes { kind release { id } household { id } } } }"
)


async def write_release(url: str, directory: Path, *, share: float) -> dict[str, int]:
    """households.csv (every n-th family, desil mirrored) and persons.csv (a tenth of those
    families, first member renamed), straight from the registry with COPY."""
    every = max(1, round(1 / share))
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    columns = [
        "11 - welfare_decile AS welfare_decile" if name == "welfare_decile" else name
        for name in HOUSEHOLDS.names
    ]
    person_columns = [
        "CASE WHEN p.member_no = 1 THEN p.name || ' Baru' ELSE p.name END AS name"
        if name == "name"
        else ("h.kk_number" if name == "kk_number" else f"p.{name}")
        for name in PERSONS.names
    ]
    connection = await asyncpg.connect(plain_url(url))
    try:
        with (directory / "households.csv").open("wb") as out:
            await connection.copy_from_query(
                f"SELECT {', '.join(columns)} FROM households WHERE id % {every} = 0 ORDER BY id",
                output=out,
                format="csv",
                header=True,
            )
        with (directory / "persons.csv").open("wb") as out:
            await connection.copy_from_query(
                f"SELECT {', '.join(person_columns)} FROM persons p"
                f" JOIN households h ON h.id = p.household_id"
                f" WHERE h.id % {every * 10} = 0 ORDER BY h.id, p.member_no",
                output=out,
                format="csv",
                header=True,
            )
        households = await connection.fetchval(
            f"SELECT count(*) FROM households WHERE id % {every} = 0"
        )
    finally:
        await connection.close()
    return {"households_in_file": int(households)}


async def page_feed(url: str, data_dir: Path, *, pages: int) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        policy_dir=POLICIES,
        log_level="WARNING",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        connection = await asyncpg.connect(plain_url(url))
        try:
            client = await create_client(
                connection,
                program="bps-admin",
                name="bench",
                policies=gateway_state(app).policies.current,
            )
        finally:
            await connection.close()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client.client_id, client.client_secret),
            )
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            after: str | None = None
            times: list[float] = []
            rows = 0
            for _ in range(pages):
                started = time.perf_counter()
                answer = await http.post(
                    "/graphql", json={"query": FEED, "variables": {"after": after}}, headers=headers
                )
                times.append((time.perf_counter() - started) * 1000)
                page = answer.json()["data"]["changes"]
                rows += len(page["nodes"])
                after = page["pageInfo"]["endCursor"] or after
                if not page["pageInfo"]["hasNextPage"]:
                    break
    times.sort()
    return {
        "pages": len(times),
        "rows": rows,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
        "max_ms": round(times[-1], 1),
    }


async def bench(server: str, *, households: int, share: float, pages: int, keep: bool) -> None:
    name = f"regsosek_releases_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_database(server, "postgres"))
    await admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server, name)
    load_before = os.getloadavg()[0]
    result: dict[str, Any] = {"households": households, "share": share, "cpus": os.cpu_count()}
    try:
        await upgrade_database(url)
        seeded = await seed_registry(url, households=households, seed=20221015, progress=True)
        result["seed_seconds"] = round(seeded.seconds, 1)
        with tempfile.TemporaryDirectory(prefix="regsosek-release-") as folder:
            result |= await write_release(url, Path(folder) / "release", share=share)
            started = time.perf_counter()
            summary = await import_registry(url, Path(folder) / "release", release="bench")
            result["import_seconds"] = round(time.perf_counter() - started, 1)
            result["households_changed"] = summary.counts.households_changed
            result["persons_changed"] = summary.counts.persons_changed
            result["program_changes"] = summary.changes
            connection = await asyncpg.connect(plain_url(url))
            try:
                await connection.execute("ANALYZE program_changes")
                by_program = await connection.fetch(
                    "SELECT program, kind::text, count(*) FROM program_changes"
                    " WHERE release_no = (SELECT no FROM releases WHERE id = 'bench')"
                    " GROUP BY 1, 2 ORDER BY 1, 2"
                )
            finally:
                await connection.close()
            result["changes_by_program"] = {f"{r[0]} {r[1]}": r[2] for r in by_program}
            result["feed"] = await page_feed(url, Path(folder) / "data", pages=pages)
        result["load_1min_before"] = round(load_before, 2)
        result["load_1min_after"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result, indent=2))
    finally:
        if not keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            print(f"kept database {name}")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    arguments = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("set DATABASE_URL to the server to bench on")
    asyncio.run(
        bench(
            plain_url(server),
            households=arguments.households,
            share=arguments.share,
            pages=arguments.pages,
            keep=arguments.keep,
        )
    )


if __name__ == "__main__":
    main()
