"""The derived household columns, recomputed from members and receipts.

Row scopes must not look into other tables (see docs/architecture.md,
"Derived household columns"), so three household columns copy facts held
elsewhere:

* ``head_sex``: the sex of the member whose relationship is HEAD;
* ``youngest_birth_date``: ``max(birth_date)`` over the members;
* ``received_programs``: the distinct programs of the household's assistance
  receipts, in the enum's declaration order (empty when it has none).

The seeder computes them as it draws the rows; the importer calls
:func:`refresh_household_derived` after writing. ``updated_at`` is not
touched here: the writer that changed the members or receipts sets it.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

_REFRESH = """
WITH target AS (
    SELECT id FROM households WHERE $1::bigint[] IS NULL OR id = ANY($1::bigint[])
), members AS (
    SELECT p.household_id,
           max(p.birth_date) AS youngest_birth_date,
           (array_agg(p.sex ORDER BY p.member_no)
                FILTER (WHERE p.relationship_to_head = 'HEAD'))[1] AS head_sex
    FROM persons p JOIN target t ON t.id = p.household_id
    GROUP BY p.household_id
), programs AS (
    SELECT r.household_id, array_agg(DISTINCT r.program ORDER BY r.program) AS received
    FROM assistance_receipts r JOIN target t ON t.id = r.household_id
    GROUP BY r.household_id
)
UPDATE households h
SET head_sex = coalesce(m.head_sex, h.head_sex),
    youngest_birth_date = m.youngest_birth_date,
    received_programs = coalesce(p.received, '{}')
FROM members m LEFT JOIN programs p ON p.household_id = m.household_id
WHERE h.id = m.household_id
  AND (h.head_sex, h.youngest_birth_date, h.received_programs)
      IS DISTINCT FROM (coalesce(m.head_sex, h.head_sex), m.youngest_birth_date,
                        coalesce(p.received, '{}'))
"""


async def refresh_household_derived(
    connection: asyncpg.Connection, household_ids: Sequence[int] | None = None
) -> int:
    """Recompute the derived columns of ``household_ids`` (all households when None).

    Households without members are left alone (they have nothing to derive
    from; the importer never writes one). Returns how many rows changed.
    """
    ids = None if household_ids is None else list(household_ids)
    status = await connection.execute(_REFRESH, ids)
    return int(status.split()[-1])
