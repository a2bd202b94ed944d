"""``statistics_counts``: a program's ``householdStats`` counts, counted once for every process.

A program's whole statistics population, counted at the finest grain (desa × decile × sex of
the head, and × assistance program), is the same for every gateway process and instance until
the registry records a release or the day changes (ages). At 10,000,000 households one count
takes a second of PostgreSQL CPU; kept only in each process's memory, every process paid it
once per release and day, on a request's clock. Here it is kept once, keyed by

* ``program``: the program it was counted for (row-level security below: a program's
  transaction reads and writes its own counts only);
* ``statement``: SHA-256 of the counting statement and its arguments (the statement is
  compiled from the program's policy, so a policy change, or a purpose that narrows the
  scope, is another key);
* ``version``: ``schema.stats_count.registry_version`` (the releases recorded and the day),
  as text.

``rows`` holds the counts as JSON (``[[desa, decile, sex, program, n], ...]``): exact
counts before disclosure control. They are no more than the registry they are counted from
already holds, and only the gateway role reads them.

``protected`` holds what disclosure control publishes for those counts (every table, which
cells are suppressed: ``schema.stats_store.encode_protected``), once some process has
computed it; ``protected_for`` says for which population and which suppression code
(SHA-256 of both), so a process reads it only when it would have computed exactly the same.
Protection is a deterministic function of the counts, ``k`` and the dimensions, so every
process answers a population with the same suppressed cells whichever computed them.

``regsosek worker`` fills the table off the request path (``schema.stats_fill``); a
gateway process that counts or protects a population itself stores it too. Rows of other
versions older than a day are deleted as new ones are stored.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"

UPGRADE = [
    """
    CREATE TABLE statistics_counts (
        program varchar(64) NOT NULL,
        statement char(64) NOT NULL,
        version text NOT NULL,
        rows jsonb NOT NULL,
        counted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        protected jsonb,
        protected_for char(64),
        CONSTRAINT pk_statistics_counts PRIMARY KEY (program, statement, version),
        CONSTRAINT ck_statistics_counts_statement_hex CHECK (statement ~ '^[0-9a-f]{64}$'),
        CONSTRAINT ck_statistics_counts_rows_list CHECK (jsonb_typeof(rows) = 'array'),
        CONSTRAINT ck_statistics_counts_protected_for CHECK (
            (protected IS NULL) = (protected_for IS NULL)
            AND (protected_for IS NULL OR protected_for ~ '^[0-9a-f]{64}$'))
    )
    """,
    "CREATE INDEX ix_statistics_counts_counted_at ON statistics_counts (counted_at)",
    "ALTER TABLE statistics_counts ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY regsosek_statistics_counts ON statistics_counts FOR ALL TO {APP_ROLE}"
    " USING (program = (SELECT current_setting('regsosek.program', true)))"
    " WITH CHECK (program = (SELECT current_setting('regsosek.program', true)))",
    f"GRANT SELECT, INSERT, DELETE ON statistics_counts TO {APP_ROLE}",
    f"GRANT UPDATE (protected, protected_for) ON statistics_counts TO {APP_ROLE}",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE statistics_counts")
