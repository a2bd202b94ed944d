"""SQL of the owner's breach pack (``audit.breach_pack``): each subject the client's events
named, with the registry identity an Inspektorat officer needs to reach them (a household's
No KK, head and address; a person's NIK, name and family), null when no longer in the
registry. Run as the owner; never on a request path (``tests/test_layers.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Final

import asyncpg

from audit.sql.breach import CLIENT, ID_LISTS, SUBJECTS, stream_statement

_SELECT: Final = {
    "households": "SELECT per.*, h.kk_number, h.head_name, h.address, h.desa_code"
    " FROM per LEFT JOIN households AS h ON h.id = per.id",
    "persons": "SELECT per.*, p.nik, p.name, p.household_id, h.kk_number, h.address"
    " FROM per LEFT JOIN persons AS p ON p.id = per.id"
    " LEFT JOIN households AS h ON h.id = p.household_id",
}
_WITH_IDENTITY: Final = {
    kind: SUBJECTS.format(ids=column, client=CLIENT, select=_SELECT[kind])
    for kind, column in ID_LISTS.items()
}


async def stream_subjects(
    connection: asyncpg.Connection,
    *,
    kind: str,
    client_id: str,
    start: datetime,
    end: datetime,
    batch_size: int = 20_000,
) -> AsyncIterator[list[asyncpg.Record]]:
    """``audit.sql.breach.stream_subjects`` with each subject's registry identity."""
    async for rows in stream_statement(
        connection,
        _WITH_IDENTITY[kind],
        client_id=client_id,
        start=start,
        end=end,
        batch_size=batch_size,
    ):
        yield rows
