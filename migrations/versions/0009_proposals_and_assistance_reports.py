"""Proposals and assistance reports: what agencies send back, beside the registry (CONTRACT §11).

* ``proposals``: one row per proposal a program made (``proposeChange``): its kind, the
  family it is about (``household_id``, and ``kk_number``, the identity a release is
  matched by; for ``USUL`` the new family's No KK) or, for ``REACTIVATE``, the person
  (``person_id`` and ``nik``, a person's identity across releases), the values proposed
  as import-layout columns, the SHA-256 of the evidence (the file stays with the agency), case reference,
  note, and the earlier proposal it supersedes.
* ``proposal_statuses``: the status history. ``SUBMITTED`` is written with the proposal;
  ``FORWARDED`` by ``regsosek proposals export``; ``ACCEPTED`` / ``REJECTED`` by the import
  of the release that settled it (``release_id``); ``SUPERSEDED`` when the program proposes
  again for the same family. The current status is the latest row.
* ``assistance_reports``: assistance a program reports delivered (``reportAssistance``),
  naming the household (and the person, when reported by pseudonym), the assistance
  program, period and benefit. Not ``assistance_receipts``: the registry's records stay
  BPS's.

Bappeda's ``assistanceOverlap`` reads every program's reports only through
``regsosek_reported_programs()`` (SECURITY DEFINER: (household, assistance program) pairs).

All three are append-only for everyone (triggers refuse UPDATE, DELETE, TRUNCATE); a status
change is a new row. The gateway role may INSERT and SELECT them, and sees only its own
program's rows (row-level security on ``regsosek.program``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"
TABLES = ("proposals", "proposal_statuses", "assistance_reports")
KINDS = "'USUL', 'SANGGAH', 'KOREKSI', 'REACTIVATE'"
STATUSES = "'SUBMITTED', 'FORWARDED', 'ACCEPTED', 'REJECTED', 'SUPERSEDED'"

UPGRADE = [
    f"""
    CREATE TABLE proposals (
        id bigint GENERATED ALWAYS AS IDENTITY,
        program varchar(64) NOT NULL,
        client_id varchar(64) NOT NULL,
        kind varchar(16) NOT NULL,
        household_id bigint,
        person_id bigint,
        kk_number varchar(16),
        nik varchar(16),
        proposed jsonb NOT NULL,
        evidence_sha256 char(64) NOT NULL,
        case_ref varchar(200),
        note varchar(2000),
        supersedes bigint,
        submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT pk_proposals PRIMARY KEY (id),
        CONSTRAINT ck_proposals_kind_known CHECK (kind IN ({KINDS})),
        CONSTRAINT ck_proposals_kk_number_16_digits CHECK (kk_number ~ '^[0-9]{{16}}$'),
        CONSTRAINT ck_proposals_names_a_family_or_person CHECK (
            kk_number IS NOT NULL OR nik IS NOT NULL),
        CONSTRAINT ck_proposals_evidence_hex CHECK (evidence_sha256 ~ '^[0-9a-f]{{64}}$'),
        CONSTRAINT ck_proposals_values_list CHECK (jsonb_typeof(proposed) = 'array'),
        CONSTRAINT fk_proposals_supersedes FOREIGN KEY (supersedes) REFERENCES proposals (id)
    )
    """,
    "CREATE INDEX ix_proposals_program_id ON proposals (program, id)",
    "CREATE INDEX ix_proposals_kk_number ON proposals (kk_number)",
    "CREATE INDEX ix_proposals_nik ON proposals (nik)",
    "CREATE INDEX ix_proposals_household_id ON proposals (household_id)",
    f"""
    CREATE TABLE proposal_statuses (
        id bigint GENERATED ALWAYS AS IDENTITY,
        proposal_id bigint NOT NULL,
        program varchar(64) NOT NULL,
        status varchar(16) NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        release_id varchar(64),
        export_id varchar(64),
        CONSTRAINT pk_proposal_statuses PRIMARY KEY (id),
        CONSTRAINT ck_proposal_statuses_known CHECK (status IN ({STATUSES})),
        CONSTRAINT fk_proposal_statuses_proposal FOREIGN KEY (proposal_id)
            REFERENCES proposals (id)
    )
    """,
    "CREATE INDEX ix_proposal_statuses_proposal_id ON proposal_statuses (proposal_id, id)",
    """
    CREATE TABLE assistance_reports (
        id bigint GENERATED ALWAYS AS IDENTITY,
        program varchar(64) NOT NULL,
        client_id varchar(64) NOT NULL,
        household_id bigint NOT NULL,
        person_id bigint,
        assistance_program varchar(32) NOT NULL,
        year smallint NOT NULL,
        month smallint NOT NULL,
        benefit varchar(200),
        reported_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT pk_assistance_reports PRIMARY KEY (id),
        CONSTRAINT ck_assistance_reports_month CHECK (month BETWEEN 1 AND 12),
        CONSTRAINT ck_assistance_reports_year CHECK (year BETWEEN 2000 AND 2100)
    )
    """,
    "CREATE INDEX ix_assistance_reports_household_id ON assistance_reports (household_id)",
    """
    CREATE FUNCTION regsosek_refuse_record_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'proposals and reports are append-only: % refused on %',
            TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    # Bappeda's assistanceOverlap counts households reached by several programs: the
    # gateway role reads every program's reports only as (household, program) pairs, here.
    """
    CREATE FUNCTION regsosek_reported_programs()
    RETURNS TABLE (household_id bigint, assistance_program text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
        SELECT DISTINCT household_id, assistance_program::text FROM assistance_reports
    $$
    """,
    "REVOKE ALL ON FUNCTION regsosek_reported_programs() FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION regsosek_reported_programs() TO {APP_ROLE}",
    *[
        statement
        for table in TABLES
        for statement in (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION regsosek_refuse_record_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION regsosek_refuse_record_change()",
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"CREATE POLICY regsosek_{table} ON {table} FOR ALL TO {APP_ROLE}"
            " USING (program = (SELECT current_setting('regsosek.program', true)))"
            " WITH CHECK (program = (SELECT current_setting('regsosek.program', true)))",
            f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}",
        )
    ],
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION regsosek_reported_programs()")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP FUNCTION regsosek_refuse_record_change()")
