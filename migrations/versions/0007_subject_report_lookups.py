"""Lookups for the subject report (CONTRACT §10): a family by its No KK, members as an
auditor may see them.

Two SECURITY DEFINER functions for the gateway role, which reads no registry rows of
its own as the auditor program (its row scope is ``none``):

* ``regsosek_subject_by_kk(kk)``: the household holding a No KK and its members' ids
  (ids only, like ``regsosek_person_ids_by_nik``);
* ``regsosek_subject_members(households)``: for the households a subject report is
  about, each member's id, household, member number (the roster's ``r401``), NIK with
  only its last four digits visible (``************1234``) and name as initials
  (``S. A.``): what an auditor needs to tell the members of one family apart, and no
  more (``audit.subjects`` says why).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"

_STATEMENTS = (
    """
    CREATE FUNCTION regsosek_subject_by_kk(wanted_kk text)
    RETURNS TABLE (household_id bigint, person_ids bigint[])
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        SELECT h.id,
               coalesce((SELECT array_agg(p.id ORDER BY p.id) FROM public.persons AS p
                         WHERE p.household_id = h.id), '{}')
        FROM public.households AS h WHERE h.kk_number = wanted_kk
    $$
    """,
    "REVOKE ALL ON FUNCTION regsosek_subject_by_kk(text) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION regsosek_subject_by_kk(text) TO {APP_ROLE}",
    r"""
    CREATE FUNCTION regsosek_subject_members(households bigint[])
    RETURNS TABLE (
        person_id bigint, household_id bigint, member_no integer, nik_masked text, initials text
    )
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        SELECT p.id, p.household_id, p.member_no::integer,
               repeat('*', greatest(length(p.nik) - 4, 0)) || right(p.nik, 4),
               regexp_replace(regexp_replace(btrim(p.name), '\s+', ' ', 'g'),
                              '(\S)\S*', '\1.', 'g')
        FROM public.persons AS p WHERE p.household_id = ANY (households)
        ORDER BY p.household_id, p.member_no, p.id
    $$
    """,
    "REVOKE ALL ON FUNCTION regsosek_subject_members(bigint[]) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION regsosek_subject_members(bigint[]) TO {APP_ROLE}",
)


def upgrade() -> None:
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS regsosek_subject_members(bigint[])")
    op.execute("DROP FUNCTION IF EXISTS regsosek_subject_by_kk(text)")
