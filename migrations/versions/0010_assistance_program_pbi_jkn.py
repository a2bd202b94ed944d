"""``PBI_JKN`` joins the ``assistance_program`` enum type (CONTRACT §11).

Dinas Kesehatan reports the PBI-JKN premiums it pays (``reportAssistance``) and Bappeda's
``assistanceOverlap`` counts families reached by PKH, PBI-JKN and BPNT. The registry's own
receipts (r501) never carry it: PBI-JKN membership is a person's insurance (r431a).
``assistance_reports.assistance_program`` is text checked by the API, so only the type
registry columns use (``households.received_programs``, ``assistance_receipts.program``)
changes.

The label is added outside the migration's transaction (PostgreSQL does not let a
transaction use an enum label it added), so later migrations may use it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE assistance_program ADD VALUE IF NOT EXISTS 'PBI_JKN'")


def downgrade() -> None:
    # PostgreSQL cannot drop an enum label; the label stays, unused by 0009's schema. A
    # registry that recorded PBI_JKN receipts keeps them: refuse rather than lose them.
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM assistance_receipts WHERE program = 'PBI_JKN')
               OR EXISTS (SELECT 1 FROM households WHERE 'PBI_JKN' = ANY (received_programs))
            THEN
                RAISE EXCEPTION 'registry rows carry PBI_JKN: remove them before downgrading';
            END IF;
        END $$
        """
    )
