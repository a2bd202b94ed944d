"""Audit events of operator commands that act on what agencies sent (CONTRACT §11).

A proposal's export to BPS/Kemensos and its settlement by a release are processings of the
families they name, so each is an audit event on the hash chain (endpoint ``proposals``,
one event per program, naming the program's households), and shows in each family's
ledger (``disclosures``) and in ``subjectReport``. The command writes them through the
same ``AuditWriter`` the gateway uses, as the gateway role.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.settings import Settings
    from audit.events import AuditEvent

ENDPOINT = "proposals"


def program_events(
    *,
    operation: str,
    request_id: str,
    field_paths: list[str],
    subjects: Iterable[tuple[str, int | None, int | None]],
) -> list[AuditEvent]:
    """One event per program of ``subjects`` ((program, household id, person id): a proposal
    about a person names the person, one about a family the household)."""
    from api.cli.common import load_settings
    from audit.events import AuditEvent, Outcome
    from policies.loader import load_policies

    policies = load_policies(load_settings().resolved_policy_dir())
    named: dict[str, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    for name, household_id, person_id in subjects:
        households, persons = named[name]
        if person_id is not None:
            persons.add(person_id)
        elif household_id is not None:
            households.add(household_id)
    events = []
    for name, (households, persons) in sorted(named.items()):
        program = policies.programs.get(name)
        events.append(
            AuditEvent(
                endpoint=ENDPOINT,
                outcome=Outcome.ALLOWED,
                request_id=f"{request_id}-{name}"[:64],
                program=name,
                agency=program.agency if program else None,
                agreement=program.agreement.number if program else None,
                purpose=program.purpose if program else None,
                operation_name=operation,
                field_paths=field_paths,
                household_ids=sorted(households),
                person_ids=sorted(persons),
                row_count=len(households) + len(persons),
            )
        )
    return events


async def record_events(settings: Settings, *, owner_url: str, events: list[AuditEvent]) -> None:
    """Append ``events`` to the audit chain (as the gateway role); raises when it cannot."""
    if not events:
        return
    from api.app import audit_writer
    from api.auth.keys import KeyStore
    from api.auth.service import ensure_key_as_owner
    from api.database import app_database_url
    from db.engine import create_pool

    app_url = app_database_url(settings, owner_url)
    pool = await create_pool(app_url, max_size=2)
    try:
        await ensure_key_as_owner(settings, owner_url=owner_url)
        keys = await KeyStore.open(pool=pool, master_secret=settings.master_secret())
        async with audit_writer(settings, url=app_url, keys=keys) as writer:
            for event in events:
                await writer.record(event)
    finally:
        await pool.close()
