"""Releases, the per-program change feed, applied policy snapshots, webhooks and their queue.

* ``releases``, ``change_positions`` (the one commit-ordered sequence),
  ``program_changes`` (ENTERED / UPDATED / LEFT per program, row-level
  security by ``regsosek.program`` for the gateway role), ``policy_versions``;
* ``webhook_subscriptions`` and ``webhook_deliveries``;
* pgqueuer's tables (the webhook worker's job queue, in this database: no
  broker), rendered by the installed pgqueuer itself, and the gateway role's
  grants on them (the worker runs as that role).

Households keep ``updated_at`` as the time of the release that last changed
them; ``ix_households_updated_at_id`` already orders them for pulls.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"
QUEUE_TABLES = ("pgqueuer", "pgqueuer_log", "pgqueuer_statistics", "pgqueuer_schedules")


def _run_script(sql: str) -> None:
    """Several statements at once (PostgreSQL's simple query protocol, no parameters)."""
    from sqlalchemy.util import await_only

    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(sql))


def _queue_install_sql() -> str:
    from pgqueuer.adapters.persistence.schema_ddl import render_install
    from pgqueuer.domain.settings import DBSettings

    return render_install(DBSettings(), create_schema=False)


def upgrade() -> None:
    kind = postgresql.ENUM("ENTERED", "UPDATED", "LEFT", name="change_kind")
    kind.create(op.get_bind(), checkfirst=False)
    change_kind = postgresql.ENUM(name="change_kind", create_type=False)
    op.create_table(
        "releases",
        sa.Column("no", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("files", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        *[
            sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            for name in (
                "households_added",
                "households_changed",
                "households_removed",
                "persons_added",
                "persons_changed",
                "persons_removed",
            )
        ],
        sa.Column("first_position", sa.BigInteger(), nullable=True),
        sa.Column("last_position", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'", name=op.f("ck_releases_id_format")
        ),
        sa.CheckConstraint(
            "kind IN ('seed', 'import', 'policy')", name=op.f("ck_releases_kind_known")
        ),
        sa.PrimaryKeyConstraint("no", name=op.f("pk_releases")),
        sa.UniqueConstraint("id", name=op.f("uq_releases_id")),
    )
    op.create_table(
        "change_positions",
        sa.Column("singleton", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("singleton", name=op.f("ck_change_positions_one_row")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_change_positions")),
    )
    op.execute("INSERT INTO change_positions (singleton, last) VALUES (true, 0)")
    op.create_table(
        "program_changes",
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("release_no", sa.Integer(), nullable=False),
        sa.Column("kind", change_kind, nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=True),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("nik", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "household_id IS NOT NULL OR person_id IS NOT NULL",
            name=op.f("ck_program_changes_names_a_row"),
        ),
        sa.ForeignKeyConstraint(
            ["release_no"],
            ["releases.no"],
            name=op.f("fk_program_changes_release_no_releases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program", "position", name=op.f("pk_program_changes")),
    )
    op.create_index("ix_program_changes_release_no", "program_changes", ["release_no"])
    op.create_table(
        "policy_versions",
        sa.Column("no", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column(
            "applied_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("files", postgresql.JSONB(), nullable=False),
        sa.Column("release_no", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["release_no"],
            ["releases.no"],
            name=op.f("fk_policy_versions_release_no_releases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("no", name=op.f("pk_policy_versions")),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(change_kind), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_index("ix_webhook_subscriptions_program", "webhook_subscriptions", ["program"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("release_no", sa.Integer(), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("first_position", sa.BigInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("change_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("receipt_status", sa.Integer(), nullable=True),
        sa.Column("receipt_body", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'expired', 'cancelled')",
            name=op.f("ck_webhook_deliveries_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["release_no"],
            ["releases.no"],
            name=op.f("fk_webhook_deliveries_release_no_releases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_subscription_id", "webhook_deliveries", ["subscription_id", "id"]
    )
    _run_script(_queue_install_sql())
    for statement in (
        "ALTER TABLE program_changes ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY regsosek_program_changes ON program_changes FOR SELECT TO {APP_ROLE}"
        " USING (program = (SELECT current_setting('regsosek.program', true)))",
        f"GRANT SELECT ON program_changes TO {APP_ROLE}",
        f"GRANT SELECT (no, id, kind, imported_at, first_position, last_position)"
        f" ON releases TO {APP_ROLE}",
        f"GRANT SELECT ON webhook_subscriptions TO {APP_ROLE}",
        f"GRANT SELECT, UPDATE ON webhook_deliveries TO {APP_ROLE}",
        *[
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}"
            for table in QUEUE_TABLES
        ],
        # The queue tables' id sequences (pgqueuer names them; ask PostgreSQL).
        "DO $$ DECLARE sequence_name text; BEGIN"
        f" FOR sequence_name IN SELECT pg_get_serial_sequence(t, 'id')"
        f" FROM unnest(ARRAY{list(QUEUE_TABLES)}::text[]) AS t LOOP"
        f" EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {APP_ROLE}', sequence_name);"
        " END LOOP; END $$",
    ):
        op.execute(statement)


def downgrade() -> None:
    from pgqueuer.adapters.persistence.schema_ddl import render_uninstall
    from pgqueuer.domain.settings import DBSettings

    _run_script(render_uninstall(DBSettings()))
    for table in (
        "webhook_deliveries",
        "webhook_subscriptions",
        "policy_versions",
        "program_changes",
        "change_positions",
        "releases",
    ):
        op.drop_table(table)
    op.execute("DROP TYPE change_kind")
