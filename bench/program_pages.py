"""Every program's own root pages and counts, timed as the gateway runs them.

The side-by-side benchmark measures dinsos-pkh's queries only. This one asks, for every
program the packaged policies grant ``households`` or ``persons``, what an agency's first
requests would ask: a page of 100 (three of the node's scalar fields), the same page with the
households' members, and ``totalCount``. Each statement is the engine's own, compiled for the
program (``bench.compiled``), run in the program's read transaction as ``regsosek_app`` under
row-level security, with the read pools' settings (each statement planned once, no JIT);
``--runs`` executions each, the first dropped, median and maximum reported.

It found a page of 100 of dinkes-pbi's persons taking 0.6 s at 1,000,000 households (a hashed
row-security sub-plan, now fenced: ``policies.rls``), and that ``persons { totalCount }``
takes longer than the read pools' 5 s ``statement_timeout`` there for most programs.

    DATABASE_URL=postgresql://postgres@127.0.0.1:15432/postgres \\
        .venv/bin/python -m bench.program_pages --database regsosek_bench_1m [--runs 6]

The database is upgraded first (migrations and the current policies' RLS).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from graphql import (
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_object_type,
)

from api.cli.db import upgrade_database
from bench.compiled import _engine, _RecordingReader
from bench.systems import PSEUDONYM_KEY
from db.engine import APP_ROLE, with_database, with_user
from schema.execute import Caller

RESULTS = Path(__file__).resolve().parent / "results"
ROOTS = ("households", "persons")


def _scalars(kind: GraphQLObjectType, count: int = 3) -> str:
    """The first ``count`` fields of ``kind`` that are neither objects nor lists, nor take
    arguments."""
    names = [
        name
        for name, field in kind.fields.items()
        if not field.args
        and not is_list_type(get_nullable_type(field.type))
        and not is_object_type(get_named_type(field.type))
    ]
    return " ".join(names[:count])


def documents(engine: object) -> list[tuple[str, str, str]]:
    """(program, label, document) for every program's ``households`` and ``persons``."""
    found = []
    for program, runtime in sorted(engine.runtimes.items()):  # type: ignore[attr-defined]
        query = runtime.graphql.query_type
        if query is None:
            continue
        for root in ROOTS:
            if root not in query.fields:
                continue
            connection = get_named_type(query.fields[root].type)
            assert isinstance(connection, GraphQLObjectType)
            node = get_named_type(connection.fields["nodes"].type)
            assert isinstance(node, GraphQLObjectType)
            fields = _scalars(node)
            page = f"{{ {root}(first: 100) {{ nodes {{ {fields} }} }} }}"
            found.append((program, f"{root}(first: 100)", page))
            if "members" in node.fields:
                member = get_named_type(node.fields["members"].type)
                assert isinstance(member, GraphQLObjectType)
                found.append(
                    (
                        program,
                        f"{root}(first: 100) with members",
                        f"{{ {root}(first: 100) {{ nodes {{ {fields}"
                        f" members {{ {_scalars(member)} }} }} }} }}",
                    )
                )
            if "totalCount" in connection.fields:
                found.append(
                    (program, f"{root} totalCount", f"{{ {root}(first: 1) {{ totalCount }} }}")
                )
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="regsosek_bench_1m")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--output", help="bench/results/<output>.md (default: program-pages-<db>)")
    options = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/postgres")
    url = with_database(server, options.database)
    await upgrade_database(url)
    reader = _RecordingReader()
    engine, policies = _engine(reader, bytes.fromhex(PSEUDONYM_KEY))
    app = await asyncpg.connect(
        with_user(url, user=APP_ROLE, password=None),
        server_settings={"plan_cache_mode": "force_generic_plan", "jit": "off"},
    )
    lines = [
        f"# Every program's pages and counts ({options.database})",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; `bench.program_pages --runs {options.runs}`:"
        " each statement the engine compiles for the program, run in the program's read"
        " transaction as `regsosek_app` (row-level security), planned once, no JIT; the first"
        " run dropped. The read pools' `statement_timeout` is 5,000 ms.",
        "",
        "| program | request | median ms | max ms | statements |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    try:
        for program, label, document in documents(engine):
            reader.connection.calls.clear()
            execution = await engine.execute(
                Caller("bench", policies.programs[program]),
                query=document,
                variables=None,
                operation_name=None,
            )
            if execution.error is not None:
                raise RuntimeError(f"{program} {label}: {execution.error.message}")
            reads = [call for call in reader.connection.calls if call[0] in ("fetchrow", "fetch")]
            seconds = []
            for _ in range(options.runs):
                async with app.transaction(readonly=True):
                    await app.execute("SELECT set_config('regsosek.program', $1, true)", program)
                    started = time.perf_counter()
                    for _, sql, arguments in reads:
                        await app.fetch(sql, *arguments)
                    seconds.append(time.perf_counter() - started)
            kept = seconds[1:] or seconds
            row = (
                f"| {program} | `{label}` | {statistics.median(kept) * 1e3:,.1f}"
                f" | {max(kept) * 1e3:,.1f} | {len(reads)} |"
            )
            print(row, flush=True)
            lines.append(row)
    finally:
        await app.close()
    path = RESULTS / f"{options.output or f'program-pages-{options.database}'}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
