"""``auditEvents``: the auditors' keyset pages of the trail, at the edge.

Its cursors are sealed like every connection's (bound to the program, the field and the
filter: ``schema.sealed_cursors``), which is the GraphQL edge's mechanism, not the audit
domain's; the page itself is ``audit.lookups.audit_events``. Granted to ``inspektorat-audit``
only, like the other auditors' roots (``audit.roots``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import asyncpg
import orjson

from audit.lookups import audit_events, make_filter
from audit.roots import sequence_as_text
from schema.compiler.cursors import Ordering
from schema.execute import Caller
from schema.scalars import parse_id
from schema.sealed_cursors import CursorKeys, canonical_criteria

BY_SEQUENCE = Ordering("seq", ("seq",), ("int",), ())
"""The one ordering of ``auditEvents``: by sequence number (cursors sealed like every cursor,
bound to the program, the field and the filter)."""


class AuditEventsRoot:
    needs_database = True

    def __init__(self, cursor_keys: CursorKeys) -> None:
        self.cursor_keys = cursor_keys

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        given = args.get("filter") or {}
        household = given.get("householdId")
        household_id = parse_id(household) if household is not None else None
        event_filter = make_filter(
            client_id=given.get("clientId"),
            program=given.get("program"),
            agency=given.get("agency"),
            outcome=given.get("outcome"),
            occurred_from=given.get("from_") or given.get("from"),
            occurred_to=given.get("to"),
            household_id=-1 if household is not None and household_id is None else household_id,
        )
        first = args.get("first")
        cursors = self.cursor_keys.for_program(caller.program.name).scope(
            connection="auditEvents",
            ordering=BY_SEQUENCE.tag,
            criteria=lambda: canonical_criteria(asdict(event_filter)),
        )
        after = args.get("after")
        after_seq = (
            None
            if after is None
            else BY_SEQUENCE.key(cursors.open(after, size=BY_SEQUENCE.size))[0]
        )
        text = await audit_events(
            connection,
            event_filter=event_filter,
            first=50 if first is None else first,
            after_seq=after_seq,
            cursor_mark=cursors.mark,
        )
        page = orjson.loads(cursors.seal_marked(text))
        page["nodes"] = [sequence_as_text(node) for node in page["nodes"]]
        for edge in page.get("edges") or []:
            sequence_as_text(edge["node"])
        page["pageInfo"].setdefault("hasPreviousPage", args.get("after") is not None)
        page["pageInfo"].setdefault(
            "startCursor", page["edges"][0]["cursor"] if page.get("edges") else None
        )
        return page
