"""How PostgreSQL learns which program a transaction serves.

Every read of registry rows sets ``regsosek.program`` (``PROGRAM_SETTING``) for
its own transaction (``SET LOCAL``); the row-level-security policies
(``policies.rls``) key on it, so a statement that forgot the application's row
predicate still sees only the program's rows. Program names are spliced into
SQL as literals there, so they must match ``PROGRAM_NAME`` (what
``oauth_clients.program`` allows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

import asyncpg

PROGRAM_SETTING: Final = "regsosek.program"
PROGRAM_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
"""Program names: as ``oauth_clients.program`` allows, and safe as SQL literals."""


async def count_as_program(
    connection: asyncpg.Connection, *, program: str, sql: str, arguments: Sequence[Any]
) -> int:
    """Run a count of the rows ``program`` may read (``sql`` applies its predicate), with
    ``regsosek.program`` set to it for the statement, so row-level security agrees.

    The transaction's own ``regsosek.program`` is restored afterwards.
    """
    read = f"SELECT current_setting('{PROGRAM_SETTING}', true)"
    write = f"SELECT set_config('{PROGRAM_SETTING}', $1, true)"
    previous = await connection.fetchval(read)
    await connection.execute(write, program)
    try:
        count = await connection.fetchval(sql, *arguments)
    finally:
        await connection.execute(write, previous or "")
    return int(count or 0)
