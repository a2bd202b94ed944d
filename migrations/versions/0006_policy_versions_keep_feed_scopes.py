"""The applied policy's feed scopes are kept with its version.

``policy_versions.scopes`` (jsonb, nullable): every program's row scope as SQL and the columns
whose change it reads (``db.releases.scopes.scopes_json``), compiled by ``policies.feed`` when
the policy is applied. The importer and the seed compute their program changes from it, so the
database layer never loads a policy. Rows applied before this revision keep null until the
policy is applied again (``regsosek db upgrade`` does; an import refuses until then, rather
than record a release without its program changes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE policy_versions ADD COLUMN scopes jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE policy_versions DROP COLUMN scopes")
