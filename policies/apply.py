"""``regsosek policy apply`` as a release: the rows a policy change moves in or out of scope.

Applying a policy installs its row-level-security policies and, in the same
transaction and under the same lock as imports, compares every program's new
row scope with the one last applied (``policy_versions``): rows only the new
scope admits are ENTERED, rows only the old one admitted are LEFT, in a
release ``policy-<time>-<version>`` (kind ``policy``). The snapshot of the
files applied is kept for the next comparison. Applying the version already
in force records nothing (but records its scopes if a database migrated from before 0006 lacks
them). The compiled scopes (``policies.feed.program_scopes``) are kept with the files: the
importer and the seed compute their changes with them. The first policy applied to a registry
that holds rows makes every row in scope ENTERED (nothing was in scope before).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson

from db.engine import plain_url
from db.models.releases import ReleaseKind
from db.releases.deliveries import schedule_deliveries
from db.releases.ledger import (
    begin_release,
    create_events_table,
    lock_registry,
    publish_events,
)
from db.releases.scope_events import record_scope_changes
from db.releases.scopes import EntityScope, scopes_from_json, scopes_json
from policies.feed import applied_policy, program_scopes
from policies.model import PolicySet
from policies.rls import install_policies
from policies.snapshot import PolicyFiles


@dataclass(frozen=True)
class Applied:
    version: str
    release: str | None
    """The release recorded for the change; None when this version was already in force."""
    changes: int


async def applied_version(connection: asyncpg.Connection) -> str | None:
    version = await connection.fetchval(
        "SELECT version FROM policy_versions ORDER BY no DESC LIMIT 1"
    )
    return None if version is None else str(version)


async def _old_scopes(connection: asyncpg.Connection) -> list[EntityScope]:
    """The scopes in force: as recorded, or (applied before 0006) compiled from its files."""
    row = await connection.fetchrow(
        "SELECT files, scopes FROM policy_versions ORDER BY no DESC LIMIT 1"
    )
    if row is None:
        return []
    if row["scopes"] is not None:
        return scopes_from_json(row["scopes"])
    return program_scopes(await applied_policy(connection))


async def apply_and_record(url: str, *, files: PolicyFiles, policy_set: PolicySet) -> Applied:
    """Install ``policy_set`` (loaded from ``files``) and record what it changes, atomically."""
    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction():
            await lock_registry(connection)
            await install_policies(connection, policy_set)
            new = program_scopes(policy_set)
            if await applied_version(connection) == policy_set.version:
                await connection.execute(
                    "UPDATE policy_versions SET scopes = $1::jsonb"
                    " WHERE no = (SELECT max(no) FROM policy_versions) AND scopes IS NULL",
                    scopes_json(new),
                )
                return Applied(policy_set.version, None, 0)
            old = await _old_scopes(connection)
            moment = await connection.fetchval(
                "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC',"
                ' \'YYYYMMDD"T"HH24MISSUS"Z"\')'
            )
            release = await begin_release(
                connection,
                release_id=f"policy-{moment}-{policy_set.version[:8]}",
                kind=ReleaseKind.POLICY,
                policy_version=policy_set.version,
            )
            await create_events_table(connection)
            await record_scope_changes(connection, old=old, new=new)
            await publish_events(connection, release)
            await schedule_deliveries(connection, release)
            await connection.execute(
                "INSERT INTO policy_versions (version, files, release_no, scopes)"
                " VALUES ($1, $2::jsonb, $3, $4::jsonb)",
                policy_set.version,
                orjson.dumps(files).decode(),
                release.no,
                scopes_json(new),
            )
            return Applied(policy_set.version, release.id, release.changes)
    finally:
        await connection.close()
