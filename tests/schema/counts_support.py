"""Asking ``householdStats`` the way a request does, and changing the registry behind the
gateway's back: shared by the tests of kept and stored counts."""

from __future__ import annotations

from typing import Any

import asyncpg

from policies import Program
from schema.execute import Caller
from schema.stats import HouseholdStatsRoot


async def ask(
    pool: asyncpg.Pool, root: HouseholdStatsRoot, args: dict[str, Any], program: Program
) -> Any:
    """``root``'s answer for ``program``, in a read transaction with the program set."""
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute("SELECT set_config('regsosek.program', $1, true)", program.name)
        return await root.value(
            caller=Caller("counts-test", program), args=args, connection=connection
        )


async def move_deciles_without_a_release(owner: asyncpg.Connection) -> None:
    """A hundred families from desil 1 to 10 behind the gateway's back (no release)."""
    moved = await owner.execute(
        "UPDATE households SET welfare_decile = 10 WHERE id IN"
        " (SELECT id FROM households WHERE welfare_decile = 1 ORDER BY id LIMIT 100)"
    )
    assert moved == "UPDATE 100"
