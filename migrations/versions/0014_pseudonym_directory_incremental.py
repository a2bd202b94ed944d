"""``pseudonyms`` kept up to date release by release instead of rebuilt.

Migration 0013's directory was rebuilt whole after every release: 25 s at 1,000,000
households, 6 minutes at 10,000,000, during which a token new in the release could still
time out, and each rebuild left the whole previous directory as dead rows (the table
doubled until autovacuum). A release changes few families, and a family's place in a
program's scope depends only on its own rows (the invariant the change feed already rests
on, ``db.releases.import_changes``), so only the families a release changed need their
entries again (``schema.pseudonym_directory``):

* ``pseudonyms.household_id``: the person's family, indexed per program, so a changed
  family's entries can be found and replaced;
* ``pseudonym_directories``: what an update needs to know it may extend the directory
  rather than rebuild it: the last release it covers (``release_no``, with the count and time
  of the releases up to it, ``releases_up_to`` and ``as_of``) and the SHA-256 of the
  statement that lists the program's persons (``scope_hash``: another scope, another
  directory), and how many updates it has had since it was last built whole (``updates``:
  the worker rebuilds it whole, off a release's clock, after a number of them, which clears
  the few entries an update cannot tell are stale).

Rows of a directory built before this migration have no family and no ``release_no``: the
next build replaces them whole.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    "ALTER TABLE pseudonyms ADD COLUMN household_id bigint",
    "CREATE INDEX ix_pseudonyms_program_household ON pseudonyms (program, household_id)",
    "ALTER TABLE pseudonym_directories ADD COLUMN release_no integer,"
    " ADD COLUMN releases_up_to bigint, ADD COLUMN as_of timestamptz,"
    " ADD COLUMN scope_hash char(64), ADD COLUMN updates integer NOT NULL DEFAULT 0",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "ALTER TABLE pseudonym_directories DROP COLUMN updates, DROP COLUMN scope_hash, DROP COLUMN as_of,"
        " DROP COLUMN releases_up_to, DROP COLUMN release_no"
    )
    op.execute("DROP INDEX ix_pseudonyms_program_household")
    op.execute("ALTER TABLE pseudonyms DROP COLUMN household_id")
