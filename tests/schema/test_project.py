"""``schema.project``: a Python value projected onto a selection (householdStats' cells,
``myAccess``, the auditors' fields), with the selection's fields collected once per call."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    build_schema,
    parse,
)

import schema.project as projection
from schema.compiler.selection import collect_fields
from schema.project import project

SDL = """
type Key { regionCode: String, welfareDecile: Int, headSex: String }
type Cell { key: Key!, count: Int, suppressed: Boolean! }
type Query { cells: [Cell!]! }
"""


def _project(document: str, value: Any, variables: dict[str, Any] | None = None) -> Any:
    schema = build_schema(SDL)
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    assert root.selection_set is not None
    assert schema.query_type is not None
    return project(
        value,
        schema.query_type.fields["cells"].type,
        (root.selection_set,),
        fragments=fragments,
        variables=variables or {},
    )


CELLS: list[dict[str, Any]] = [
    {
        "key": {"regionCode": f"35097{i:02d}", "welfareDecile": i % 10 + 1, "headSex": "FEMALE"},
        "count": 10 + i,
        "suppressed": False,
    }
    for i in range(5)
] + [
    {
        "key": {"regionCode": "3509799", "welfareDecile": None, "headSex": None},
        "count": None,
        "suppressed": True,
    }
]


def test_only_the_selection_in_its_order_aliases_fragments_and_typename() -> None:
    document = """
        query { cells { n: count __typename key { ...K } suppressed } }
        fragment K on Key { welfareDecile regionCode }
    """
    projected = _project(document, CELLS)
    assert projected == [
        {
            "n": cell["count"],
            "__typename": "Cell",
            "key": {
                "welfareDecile": cell["key"]["welfareDecile"],
                "regionCode": cell["key"]["regionCode"],
            },
            "suppressed": cell["suppressed"],
        }
        for cell in CELLS
    ]
    assert [list(item) for item in projected] == [["n", "__typename", "key", "suppressed"]] * 6
    assert all(list(item["key"]) == ["welfareDecile", "regionCode"] for item in projected)


def test_directives_follow_each_call_s_variables() -> None:
    document = """
        query ($withKey: Boolean!) { cells { count key @include(if: $withKey) { headSex } } }
    """
    with_key = _project(document, CELLS[:1], {"withKey": True})
    without = _project(document, CELLS[:1], {"withKey": False})
    assert with_key == [{"count": 10, "key": {"headSex": "FEMALE"}}]
    assert without == [{"count": 10}]


def test_none_and_empty_values() -> None:
    assert _project("query { cells { count } }", None) is None
    assert _project("query { cells { count } }", []) == []
    assert _project("query { cells { key { headSex } } }", [{"key": None}]) == [{"key": None}]


def test_a_list_collects_its_fields_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs["type_name"])
        return collect_fields(**kwargs)

    monkeypatch.setattr(projection, "collect_fields", counting)
    projected = _project("query { cells { count key { regionCode } } }", CELLS)
    assert len(projected) == len(CELLS)
    assert sorted(calls) == ["Cell", "Key"]
