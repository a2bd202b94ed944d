"""The rows each shipped program may see (CONTRACT §6), as plain SQL written independently.

Conditions over a household ``h``; they avoid the derived household columns
(ages come from ``birth_date``, the head's sex from the head's own row).
"""

from __future__ import annotations

IN_3509 = "h.desa_code LIKE '3509%'"
HOUSEHOLD_SQL: dict[str, str | None] = {
    "bps-admin": "true",
    "dinsos-pkh": f"{IN_3509} AND h.welfare_decile <= 4",
    "dp3akb-keluarga": (
        f"{IN_3509} AND (EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id"
        " AND age(current_date, m.birth_date) < interval '18 years')"
        " OR EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id"
        " AND m.relationship_to_head = 'HEAD' AND m.sex = 'FEMALE'))"
    ),
    "dinkes-pbi": None,
    "kec-sumbersari": "h.desa_code LIKE '3509720%'",
    "bappeda-statistik": None,
    "inspektorat-audit": None,
    "dp3akb-perlindungan-anak": None,
}
"""Households each program may read as rows (None: none), per CONTRACT §6."""

PERSON_SQL: dict[str, str | None] = {
    **HOUSEHOLD_SQL,
    "dinkes-pbi": f"{IN_3509} AND h.welfare_decile <= 5",
    "dp3akb-perlindungan-anak": (
        f"{IN_3509} AND age(current_date, p.birth_date) < interval '18 years'"
    ),
}
"""Persons, by a condition on their household ``h`` (dinkes-pbi scopes persons directly) and,
for dp3akb-perlindungan-anak, on the person ``p`` (under 18)."""

ASSISTANCE_SQL: dict[str, str | None] = {
    **{name: None for name in HOUSEHOLD_SQL},
    "bps-admin": "true",
    "dinsos-pkh": HOUSEHOLD_SQL["dinsos-pkh"],
}
"""Only programs that read ``Household.assistance`` see receipts."""
