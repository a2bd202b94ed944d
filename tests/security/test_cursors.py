"""Cursors reveal nothing and work only where they were issued (CONTRACT §5).

Issue 14, finding 1: a cursor was base64 of ``p|<person id>``, so dinkes-pbi (which
reads no ``Person.id``) read gateway ids out of its cursors and dinsos-pkh looked them
up by id, linking dinkes-pbi's pseudonyms to NIKs; a hand-made ``after`` gave dinkes-pbi
the by-id lookup its policy removed. Cursors are now sealed: a cursor from anywhere else,
edited, truncated or made by hand is ``BAD_USER_INPUT`` with one message.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from schema.sealed_cursors import INVALID_CURSOR
from tests.security.conftest import Probe
from tests.security.hidden_ids import ids_in
from tests.security.shifted import Shifted, gql_ok, person_ids_in_scope


async def test_dinkes_cursors_give_dinsos_no_id_to_look_up(shifted: Shifted) -> None:
    """The linking attack of finding 1, as an attacker would run it."""
    page = (
        await gql_ok(
            shifted,
            "dinkes-pbi",
            "{ persons(first: 20) { edges { cursor node { nik } }"
            " pageInfo { startCursor endCursor } } }",
        )
    )["persons"]
    assert len(page["edges"]) == 20
    cursors = [edge["cursor"] for edge in page["edges"]]
    cursors += [page["pageInfo"]["startCursor"], page["pageInfo"]["endCursor"]]
    on_page = (await person_ids_in_scope(shifted, "dinkes-pbi"))[:20]
    niks = {
        row["nik"]
        for row in await shifted.owner.fetch(
            "SELECT nik FROM persons WHERE id = ANY($1::bigint[])", on_page
        )
    }
    candidates: set[int] = set()
    for cursor in cursors:
        candidates |= ids_in(cursor, shifted.person_ids)
    linked = set()
    for candidate in sorted(candidates):
        found = await gql_ok(
            shifted,
            "dinsos-pkh",
            "query ($id: ID!) { person(id: $id) { nik } }",
            {"id": str(candidate)},
        )
        if found["person"] is not None and found["person"]["nik"] in niks:
            linked.add(found["person"]["nik"])
    assert candidates == set()
    assert linked == set()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def _edited(cursor: str, index: int) -> str:
    raw = bytearray(_decode(cursor))
    raw[index] ^= 0x01
    return _encode(bytes(raw))


async def _cursor(probe: Probe, program: str, connection: str) -> str:
    answer = await probe.post(
        program, {"query": "{ %s { pageInfo { endCursor } } }" % connection}, expect=None
    )
    data: dict[str, Any] = next(iter(answer.json()["data"].values()))
    cursor: str = data["pageInfo"]["endCursor"]
    assert cursor
    return cursor


PERSONS = "query ($a: String) { persons(first: 2, after: $a%s) { nodes { sex } } }"
HOUSEHOLDS = "query ($a: String) { households(first: 2, after: $a%s) { nodes { id } } }"
CHANGES = "query ($a: String) { changes(first: 2, after: $a%s) { nodes { kind } } }"


async def test_a_cursor_works_only_where_it_was_issued(probe: Probe) -> None:
    women = await _cursor(probe, "dinsos-pkh", "persons(first: 2, filter: {sex: FEMALE})")
    by_decile = await _cursor(
        probe, "dinsos-pkh", "households(first: 2, orderBy: WELFARE_DECILE_ASC)"
    )
    by_id = await _cursor(probe, "dinsos-pkh", "households(first: 2)")
    stewards = await _cursor(probe, "bps-admin", "persons(first: 2)")
    # The change feed's bookmarks: positions of one sequence shared by every program.
    bookmark = await _cursor(probe, "dinsos-pkh", "changes(first: 2)")
    other_bookmark = await _cursor(probe, "kec-sumbersari", "changes(first: 2)")
    cursors = (women, by_decile, by_id, stewards, bookmark, other_bookmark)
    assert all(len(cursor) <= 64 for cursor in cursors)

    # Where they were issued, with any page size, they work.
    for program, query, cursor in [
        ("dinsos-pkh", PERSONS % ", filter: {sex: FEMALE}", women),
        ("dinsos-pkh", HOUSEHOLDS % ", orderBy: WELFARE_DECILE_ASC", by_decile),
        ("dinsos-pkh", HOUSEHOLDS % "", by_id),
        ("bps-admin", PERSONS % "", stewards),
        ("dinsos-pkh", CHANGES % "", bookmark),
        ("kec-sumbersari", CHANGES % "", other_bookmark),
    ]:
        answer = await probe.post(
            program, {"query": query, "variables": {"a": cursor}}, expect=None
        )
        assert len(next(iter(answer.json()["data"].values()))["nodes"]) == 2

    refused: list[tuple[str, str, str]] = [
        # another filter, or none
        ("dinsos-pkh", PERSONS % ", filter: {sex: MALE}", women),
        ("dinsos-pkh", PERSONS % ", filter: {sex: FEMALE, ageMin: 1}", women),
        ("dinsos-pkh", PERSONS % "", women),
        # another ordering (of the same length, and of another)
        ("dinsos-pkh", HOUSEHOLDS % ", orderBy: UPDATED_AT_ASC", by_decile),
        ("dinsos-pkh", HOUSEHOLDS % "", by_decile),
        # another root field with a position of the same length
        ("dinsos-pkh", PERSONS % "", by_id),
        # another program's cursor
        ("dinkes-pbi", PERSONS % "", stewards),
        ("dinsos-pkh", PERSONS % "", stewards),
        ("kec-sumbersari", HOUSEHOLDS % "", by_id),
        # another program's bookmark of the change feed (the same sequence of positions)
        ("kec-sumbersari", CHANGES % "", bookmark),
        ("dinsos-pkh", CHANGES % "", other_bookmark),
        ("dinkes-pbi", CHANGES % "", bookmark),
        # a bookmark elsewhere, and a registry cursor as a bookmark (positions of 8 bytes)
        ("dinsos-pkh", HOUSEHOLDS % "", bookmark),
        ("dinsos-pkh", PERSONS % "", bookmark),
        ("dinsos-pkh", CHANGES % "", by_id),
        ("dinsos-pkh", CHANGES % "", women),
        *[("dinsos-pkh", CHANGES % "", _edited(bookmark, i)) for i in (0, 1, 13, 20, -1)],
        ("dinsos-pkh", CHANGES % "", bookmark[:-1]),
        # hand-made: the feed's old readable bookmark, a bare position, zeros
        ("dinsos-pkh", CHANGES % "", _encode(b"c|0")),
        ("dinsos-pkh", CHANGES % "", _encode(b"c|1")),
        ("dinsos-pkh", CHANGES % "", _encode((1).to_bytes(8, "big"))),
        ("dinsos-pkh", CHANGES % "", _encode(bytes(len(_decode(bookmark))))),
        # edited: the generation, the nonce, the sealed position, the tag
        *[
            ("dinsos-pkh", PERSONS % ", filter: {sex: FEMALE}", _edited(women, i))
            for i in (0, 1, 13, 20, -1)
        ],
        # truncated, extended, padded
        ("dinsos-pkh", PERSONS % ", filter: {sex: FEMALE}", women[:-1]),
        ("dinsos-pkh", PERSONS % ", filter: {sex: FEMALE}", women[:-4]),
        ("dinsos-pkh", PERSONS % ", filter: {sex: FEMALE}", women + "A"),
        ("dinsos-pkh", PERSONS % ", filter: {sex: FEMALE}", women + "=="),
        # hand-made: the old readable form (dinkes-pbi's by-id lookup), zeros, garbage
        ("dinkes-pbi", PERSONS % "", _encode(b"p|1")),
        ("dinkes-pbi", PERSONS % "", _encode(b"p|1234")),
        ("dinsos-pkh", HOUSEHOLDS % "", _encode(b"h|7")),
        ("dinkes-pbi", PERSONS % "", _encode(bytes(len(_decode(stewards))))),
        ("dinkes-pbi", PERSONS % "", _encode(b"\x01" + bytes(len(_decode(stewards)) - 1))),
        ("dinkes-pbi", PERSONS % "", ""),
        ("dinkes-pbi", PERSONS % "", "%%%"),
        ("dinkes-pbi", PERSONS % "", "A" * 5000),
    ]
    for program, query, cursor in refused:
        answer = await probe.post(
            program, {"query": query, "variables": {"a": cursor}}, expect="BAD_USER_INPUT"
        )
        assert [error["message"] for error in answer.json()["errors"]] == [INVALID_CURSOR], (
            program,
            query,
        )
    await probe.check()


@pytest.mark.parametrize(
    ("program", "connection"),
    [
        ("dinsos-pkh", "households"),
        ("kec-sumbersari", "households"),
        ("dp3akb-keluarga", "households"),
        ("dinsos-pkh", "changes"),
        ("dinkes-pbi", "changes"),
    ],
)
async def test_one_position_has_one_cursor_per_answer_and_a_new_one_each_time(
    probe: Probe, program: str, connection: str
) -> None:
    query = "{ %s(first: 3) { edges { cursor } pageInfo { startCursor endCursor } } }" % connection
    pages = [
        (await probe.post(program, {"query": query}, expect=None)).json()["data"][connection]
        for _ in range(2)
    ]
    for page in pages:
        assert page["edges"][0]["cursor"] == page["pageInfo"]["startCursor"]
        assert page["edges"][-1]["cursor"] == page["pageInfo"]["endCursor"]
    first, second = ({edge["cursor"] for edge in page["edges"]} for page in pages)
    assert len(first) == 3
    assert not first & second
    await probe.check()
