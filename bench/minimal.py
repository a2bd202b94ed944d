"""Minimal SQL: the least a single statement can do to return each query's answer.

The floors (``http-floor``, ``db-floor``) run these as the owner, without RLS:
the dinsos-pkh row scope is written into the ``WHERE`` clause once (rendered
from the same policy as the gateway's and PostGraphile's), members are
reached only through a visible household (so their own predicate, which
names the same household, adds nothing), no cursor, no audit columns, no
ordering of members (the same-rows check compares members sorted by id).
``http-floor``'s answers are checked against the gateway's compiled statement
like every other system's. Q4's floor is the gateway's statistics statement
itself (it is already one grouped count).
"""

from __future__ import annotations

from typing import Any

from bench.compiled import CompiledQuery
from bench.databases import dinsos_program
from db.entities import Entity
from policies.rls import render_predicate, table_predicates

PERSON = (
    "json_build_object('id', p.id::text, 'nik', p.nik, 'name', p.name, 'sex', p.sex,"
    " 'birthDate', p.birth_date)"
)
HOUSEHOLD = (
    "json_build_object('id', h.id::text, 'kkNumber', h.kk_number, 'headName', h.head_name,"
    " 'address', h.address, 'memberCount', h.member_count, 'welfareDecile', h.welfare_decile,"
    f" 'members', (SELECT coalesce(json_agg({PERSON}), '[]'::json) FROM persons AS p"
    " WHERE p.household_id = h.id))"
)
COLUMNS = "id, kk_number, head_name, address, member_count, welfare_decile"


def household_scope() -> str:
    """dinsos-pkh's household predicate, over ``households`` (no alias)."""
    table, predicate = table_predicates(dinsos_program())[Entity.HOUSEHOLD]
    return render_predicate(predicate, table)


def _page(where: str, limit: int) -> str:
    return (
        f"SELECT json_build_object('nodes', coalesce(json_agg({HOUSEHOLD} ORDER BY h.id),"
        f" '[]'::json))::text FROM (SELECT {COLUMNS} FROM households WHERE {where}"
        f" ORDER BY id LIMIT {limit}) AS h"
    )


def minimal_queries(compiled: dict[str, CompiledQuery]) -> dict[str, CompiledQuery]:
    """Each compiled query's minimal counterpart (same name, same variable)."""
    scope = household_scope()
    statements: dict[str, tuple[str, list[Any], int | None, str | None]] = {
        "Q1": (_page(f"kecamatan_code = $1 AND {scope}", 100), ["3509999"], 0, "text"),
        "Q2": (
            f"SELECT {HOUSEHOLD}::text FROM (SELECT {COLUMNS} FROM households"
            f" WHERE id = $1 AND {scope}) AS h",
            [0],
            0,
            "int",
        ),
        "Q3": (_page(scope, 1000), [], None, None),
    }
    out: dict[str, CompiledQuery] = {}
    for name, query in compiled.items():
        if name in statements:
            sql, args, slot, kind = statements[name]
            out[name] = CompiledQuery(name, sql, args, slot, kind)
        else:
            out[name] = query
    return out
