"""Initial schema: the registry, OAuth clients and keys, counters, and the audit trail,
with the gateway's role, its grants, row-level security switched on, and the
append-only guards of the audit tables.

Row-level-security *policies* come from ``policies/`` and are installed by
``regsosek policy apply`` (which ``regsosek db upgrade`` runs): until then the
gateway's role sees no registry rows at all.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"

# The coded variables as they were when this revision was written (frozen on purpose).
ENUMS: dict[str, tuple[str, ...]] = {
    "sex": ("MALE", "FEMALE"),
    "region_level": ("PROVINSI", "KABUPATEN", "KECAMATAN", "DESA"),
    "tenure": ("OWN", "CONTRACT", "RENT", "RENT_FREE", "OFFICIAL", "OTHER"),
    "floor_material": (
        "MARBLE_GRANITE",
        "CERAMIC",
        "PARQUET_VINYL_CARPET",
        "TILE_TERRAZZO",
        "WOOD_BOARD",
        "CEMENT_RED_BRICK",
        "BAMBOO",
        "EARTH",
        "OTHER",
    ),
    "wall_material": (
        "MASONRY",
        "PLASTERED_BAMBOO_WIRE",
        "WOOD_BOARD_GYPSUM",
        "WOVEN_BAMBOO",
        "LOGS",
        "BAMBOO",
        "OTHER",
    ),
    "roof_material": (
        "CONCRETE",
        "CLAY_TILE",
        "ZINC",
        "ASBESTOS",
        "BAMBOO",
        "WOOD_SHINGLE",
        "STRAW_PALM_LEAVES",
        "OTHER",
    ),
    "drinking_water": (
        "BOTTLED_BRANDED",
        "REFILL",
        "PIPED",
        "BORE_WELL_PUMP",
        "PROTECTED_WELL",
        "UNPROTECTED_WELL",
        "PROTECTED_SPRING",
        "UNPROTECTED_SPRING",
        "SURFACE_WATER",
        "RAIN_WATER",
        "OTHER",
    ),
    "lighting": ("PLN_METERED", "PLN_UNMETERED", "NON_PLN", "NONE"),
    "electricity_wattage": ("VA_450", "VA_900", "VA_1300", "VA_2200", "ABOVE_2200"),
    "cooking_fuel": (
        "ELECTRICITY",
        "LPG_5_5KG_PLUS",
        "LPG_12KG",
        "LPG_3KG",
        "CITY_GAS",
        "BIOGAS",
        "KEROSENE",
        "BRIQUETTE",
        "CHARCOAL",
        "FIREWOOD",
        "OTHER",
        "DOES_NOT_COOK",
    ),
    "toilet": ("OWN", "SHARED", "COMMUNAL", "PUBLIC", "NONE"),
    "waste_disposal": (
        "SEPTIC_TANK",
        "IPAL",
        "POND_PADDY_RIVER",
        "HOLE",
        "OPEN_FIELD_BEACH",
        "OTHER",
    ),
    "assistance_program": (
        "BPNT",
        "PKH",
        "BLT_DESA",
        "ELECTRICITY_SUBSIDY",
        "PEMDA",
        "FERTILISER_SUBSIDY",
        "LPG_SUBSIDY",
    ),
    "marital_status": ("SINGLE", "MARRIED", "DIVORCED", "WIDOWED"),
    "relationship": (
        "HEAD",
        "SPOUSE",
        "CHILD",
        "CHILD_IN_LAW",
        "GRANDCHILD",
        "PARENT_OR_IN_LAW",
        "HELPER",
        "OTHER",
    ),
    "enrollment": ("NEVER", "STILL", "NO_LONGER"),
    "education_level": ("NONE", "SD", "SMP", "SMA", "DIPLOMA", "S1", "S2", "S3"),
    "industry": (
        "AGRICULTURE",
        "MINING",
        "MANUFACTURING",
        "UTILITIES",
        "CONSTRUCTION",
        "TRADE",
        "TRANSPORT",
        "ACCOMMODATION_FOOD",
        "INFORMATION_FINANCE",
        "EDUCATION",
        "HEALTH_SOCIAL",
        "PUBLIC_ADMINISTRATION",
        "OTHER_SERVICES",
    ),
    "employment_status": (
        "SELF_EMPLOYED",
        "EMPLOYER_WITH_TEMPORARY_HELP",
        "EMPLOYER_WITH_PERMANENT_STAFF",
        "EMPLOYEE",
        "CASUAL_WORKER",
        "UNPAID_FAMILY_WORKER",
    ),
    "difficulty_level": ("NONE", "SOME", "A_LOT", "CANNOT"),
    "chronic_illness": (
        "NONE",
        "HYPERTENSION",
        "RHEUMATISM",
        "ASTHMA",
        "HEART_DISEASE",
        "DIABETES",
        "TUBERCULOSIS",
        "STROKE",
        "CANCER",
        "KIDNEY_FAILURE",
        "HIV_AIDS",
        "OTHER",
    ),
}

SECURITY_SQL = [
    f"""
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            -- Roles belong to the cluster: a migration of another database may create it
            -- between the check and here (test workers on a new cluster do).
            BEGIN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO {APP_ROLE}', current_database());
    END
    $$
    """,
    f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
    f"GRANT SELECT ON regions TO {APP_ROLE}",
    f"GRANT SELECT ON households, persons, assistance_receipts TO {APP_ROLE}",
    "ALTER TABLE households ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE persons ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE assistance_receipts ENABLE ROW LEVEL SECURITY",
    f"GRANT SELECT ON oauth_clients, signing_keys TO {APP_ROLE}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON rate_counters TO {APP_ROLE}",
    f"GRANT SELECT, INSERT ON audit_events, audit_checkpoints TO {APP_ROLE}",
    f"GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO {APP_ROLE}",
    """
    CREATE FUNCTION regsosek_refuse_audit_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit records are append-only: % refused on %', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION regsosek_refuse_audit_change()
    """,
    """
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION regsosek_refuse_audit_change()
    """,
    """
    CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION regsosek_refuse_audit_change()
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION regsosek_refuse_audit_change()
    """,
    # Monthly partitions are created on demand by the gateway through this one
    # function (its role cannot create tables itself).
    """
    CREATE FUNCTION regsosek_ensure_audit_partition(at timestamptz) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        month_start timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        partition_name text := 'audit_events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('regsosek.audit.partition'));
        IF to_regclass('public.' || partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE public.%I PARTITION OF public.audit_events FOR VALUES FROM (%L) TO (%L)',
                partition_name, month_start, month_start + interval '1 month');
            EXECUTE format(
                'CREATE TRIGGER audit_partition_no_truncate BEFORE TRUNCATE ON public.%I '
                'FOR EACH STATEMENT EXECUTE FUNCTION public.regsosek_refuse_audit_change()',
                partition_name);
        END IF;
        RETURN partition_name;
    END
    $$
    """,
    "REVOKE ALL ON FUNCTION regsosek_ensure_audit_partition(timestamptz) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION regsosek_ensure_audit_partition(timestamptz) TO {APP_ROLE}",
    "SELECT regsosek_ensure_audit_partition(now())",
    "SELECT regsosek_ensure_audit_partition(now() + interval '1 month')",
    # Concatenates the id arrays of nested selections (disclosed household and person ids).
    """
    CREATE AGGREGATE regsosek_array_cat_agg(anycompatiblearray) (
        SFUNC = array_cat, STYPE = anycompatiblearray
    )
    """,
    # For auditors' `disclosures(householdId)`: the ids (and nothing else) of a
    # household's members, which the gateway's role cannot read under RLS.
    """
    CREATE FUNCTION regsosek_household_member_ids(household bigint) RETURNS bigint[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM public.persons
        WHERE household_id = household
    $$
    """,
    "REVOKE ALL ON FUNCTION regsosek_household_member_ids(bigint) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION regsosek_household_member_ids(bigint) TO {APP_ROLE}",
    # For auditors' `personDisclosures(nik)` (a data subject's access request): the
    # ids (and nothing else) of the person holding a NIK and of their household.
    """
    CREATE FUNCTION regsosek_person_ids_by_nik(wanted_nik text)
    RETURNS TABLE (person_id bigint, household_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        SELECT p.id, p.household_id FROM public.persons AS p WHERE p.nik = wanted_nik
        ORDER BY p.id
    $$
    """,
    "REVOKE ALL ON FUNCTION regsosek_person_ids_by_nik(text) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION regsosek_person_ids_by_nik(text) TO {APP_ROLE}",
    # The audit writer's one-round-trip chain step: inside the step's transaction,
    # take the chain lock, then (with a fresh snapshot: the function is VOLATILE)
    # check that the chain's head is still the one the batch was hashed onto.
    """
    CREATE FUNCTION regsosek_audit_extends_head(
        lock_key bigint, expected_seq bigint, expected_hash bytea
    ) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
    DECLARE
        head_seq bigint;
        head_hash bytea;
    BEGIN
        PERFORM pg_advisory_xact_lock(lock_key);
        SELECT seq, hash INTO head_seq, head_hash FROM public.audit_events
        ORDER BY seq DESC LIMIT 1;
        IF coalesce(head_seq, 0) = expected_seq
           AND coalesce(head_hash, decode(repeat('00', 32), 'hex')) = expected_hash THEN
            RETURN true;
        END IF;
        RAISE EXCEPTION 'the audit chain head moved' USING ERRCODE = 'serialization_failure';
    END
    $$
    """,
    "REVOKE ALL ON FUNCTION regsosek_audit_extends_head(bigint, bigint, bytea) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION regsosek_audit_extends_head(bigint, bigint, bytea) TO {APP_ROLE}",
]


def upgrade() -> None:
    for name, labels in ENUMS.items():
        postgresql.ENUM(*labels, name=name).create(op.get_bind(), checkfirst=False)
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.LargeBinary(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("program", sa.String(length=64), nullable=True),
        sa.Column("agreement", sa.Text(), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("operation_name", sa.Text(), nullable=True),
        sa.Column("document_hash", sa.String(length=64), nullable=True),
        sa.Column("variables_hash", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("field_paths", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("household_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("person_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "occurred_at", name=op.f("pk_audit_events")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index(
        "ix_audit_events_client_id_occurred_at",
        "audit_events",
        ["client_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_audit_events_household_ids",
        "audit_events",
        ["household_ids"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_audit_events_person_ids",
        "audit_events",
        ["person_ids"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_audit_events_program_occurred_at",
        "audit_events",
        ["program", "occurred_at"],
        unique=False,
    )
    op.create_index("ix_audit_events_seq", "audit_events", ["seq"], unique=False)
    # Time ranges of the auditors' reports (audit rows arrive in time order: BRIN fits).
    op.create_index(
        "ix_audit_events_occurred_at_brin",
        "audit_events",
        ["occurred_at"],
        unique=False,
        postgresql_using="brin",
    )
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "client_id ~ '^[A-Za-z0-9_.-]{8,64}$'", name=op.f("ck_oauth_clients_client_id_format")
        ),
        sa.CheckConstraint(
            "program ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name=op.f("ck_oauth_clients_program_format")
        ),
        sa.CheckConstraint(
            "enabled OR disabled_at IS NOT NULL", name=op.f("ck_oauth_clients_disabled_has_time")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oauth_clients")),
    )
    op.create_table(
        "rate_counters",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", "window_start", name=op.f("pk_rate_counters")),
    )
    op.create_index(
        "ix_rate_counters_window_start", "rate_counters", ["window_start"], unique=False
    )
    op.create_table(
        "regions",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("parent_code", sa.String(length=10), nullable=True),
        sa.Column(
            "level",
            postgresql.ENUM(
                "PROVINSI", "KABUPATEN", "KECAMATAN", "DESA", name="region_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(level = 'PROVINSI' AND length(code) = 2 AND parent_code IS NULL) OR (level = 'KABUPATEN' AND length(code) = 4) OR (level = 'KECAMATAN' AND length(code) = 7) OR (level = 'DESA' AND length(code) = 10)",
            name=op.f("ck_regions_code_length_matches_level"),
        ),
        sa.CheckConstraint("code ~ '^[0-9]+$'", name=op.f("ck_regions_code_digits")),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_regions_name_not_blank")),
        sa.CheckConstraint(
            "parent_code IS NULL OR starts_with(code, parent_code)",
            name=op.f("ck_regions_code_under_parent"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["regions.code"],
            name=op.f("fk_regions_parent_code_regions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regions")),
    )
    op.create_index("ix_regions_parent_code", "regions", ["parent_code"], unique=False)
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "activated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("alg IN ('RS256', 'ES256')", name=op.f("ck_signing_keys_alg_allowed")),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_index("ix_signing_keys_activated_at", "signing_keys", ["activated_at"], unique=False)
    op.create_table(
        "households",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kk_number", sa.String(length=16), nullable=False),
        sa.Column("desa_code", sa.String(length=10), nullable=False),
        sa.Column(
            "kecamatan_code",
            sa.String(length=7),
            sa.Computed("left(desa_code, 7)", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "kabupaten_code",
            sa.String(length=4),
            sa.Computed("left(desa_code, 4)", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "provinsi_code",
            sa.String(length=2),
            sa.Computed("left(desa_code, 2)", persisted=True),
            nullable=False,
        ),
        sa.Column("sls_code", sa.String(length=14), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("head_name", sa.Text(), nullable=False),
        sa.Column("member_count", sa.SmallInteger(), nullable=False),
        sa.Column("welfare_decile", sa.SmallInteger(), nullable=False),
        sa.Column(
            "tenure",
            postgresql.ENUM(
                "OWN",
                "CONTRACT",
                "RENT",
                "RENT_FREE",
                "OFFICIAL",
                "OTHER",
                name="tenure",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("floor_area", sa.SmallInteger(), nullable=False),
        sa.Column(
            "floor_material",
            postgresql.ENUM(
                "MARBLE_GRANITE",
                "CERAMIC",
                "PARQUET_VINYL_CARPET",
                "TILE_TERRAZZO",
                "WOOD_BOARD",
                "CEMENT_RED_BRICK",
                "BAMBOO",
                "EARTH",
                "OTHER",
                name="floor_material",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "wall_material",
            postgresql.ENUM(
                "MASONRY",
                "PLASTERED_BAMBOO_WIRE",
                "WOOD_BOARD_GYPSUM",
                "WOVEN_BAMBOO",
                "LOGS",
                "BAMBOO",
                "OTHER",
                name="wall_material",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "roof_material",
            postgresql.ENUM(
                "CONCRETE",
                "CLAY_TILE",
                "ZINC",
                "ASBESTOS",
                "BAMBOO",
                "WOOD_SHINGLE",
                "STRAW_PALM_LEAVES",
                "OTHER",
                name="roof_material",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "drinking_water",
            postgresql.ENUM(
                "BOTTLED_BRANDED",
                "REFILL",
                "PIPED",
                "BORE_WELL_PUMP",
                "PROTECTED_WELL",
                "UNPROTECTED_WELL",
                "PROTECTED_SPRING",
                "UNPROTECTED_SPRING",
                "SURFACE_WATER",
                "RAIN_WATER",
                "OTHER",
                name="drinking_water",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "lighting",
            postgresql.ENUM(
                "PLN_METERED",
                "PLN_UNMETERED",
                "NON_PLN",
                "NONE",
                name="lighting",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "electricity_wattage",
            postgresql.ENUM(
                "VA_450",
                "VA_900",
                "VA_1300",
                "VA_2200",
                "ABOVE_2200",
                name="electricity_wattage",
                create_type=False,
            ),
            nullable=True,
        ),
        sa.Column(
            "cooking_fuel",
            postgresql.ENUM(
                "ELECTRICITY",
                "LPG_5_5KG_PLUS",
                "LPG_12KG",
                "LPG_3KG",
                "CITY_GAS",
                "BIOGAS",
                "KEROSENE",
                "BRIQUETTE",
                "CHARCOAL",
                "FIREWOOD",
                "OTHER",
                "DOES_NOT_COOK",
                name="cooking_fuel",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "toilet",
            postgresql.ENUM(
                "OWN", "SHARED", "COMMUNAL", "PUBLIC", "NONE", name="toilet", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "waste_disposal",
            postgresql.ENUM(
                "SEPTIC_TANK",
                "IPAL",
                "POND_PADDY_RIVER",
                "HOLE",
                "OPEN_FIELD_BEACH",
                "OTHER",
                name="waste_disposal",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("asset_lpg_tube", sa.Boolean(), nullable=False),
        sa.Column("asset_refrigerator", sa.Boolean(), nullable=False),
        sa.Column("asset_air_conditioner", sa.Boolean(), nullable=False),
        sa.Column("asset_water_heater", sa.Boolean(), nullable=False),
        sa.Column("asset_landline", sa.Boolean(), nullable=False),
        sa.Column("asset_flat_tv", sa.Boolean(), nullable=False),
        sa.Column("asset_gold", sa.Boolean(), nullable=False),
        sa.Column("asset_computer", sa.Boolean(), nullable=False),
        sa.Column("asset_motorcycle", sa.Boolean(), nullable=False),
        sa.Column("asset_bicycle", sa.Boolean(), nullable=False),
        sa.Column("asset_car", sa.Boolean(), nullable=False),
        sa.Column("asset_boat", sa.Boolean(), nullable=False),
        sa.Column("asset_motor_boat", sa.Boolean(), nullable=False),
        sa.Column("asset_smartphone", sa.Boolean(), nullable=False),
        sa.Column("asset_other_land", sa.Boolean(), nullable=False),
        sa.Column("asset_internet", sa.Boolean(), nullable=False),
        sa.Column("asset_bank_account", sa.Boolean(), nullable=False),
        sa.Column(
            "head_sex",
            postgresql.ENUM("MALE", "FEMALE", name="sex", create_type=False),
            nullable=False,
        ),
        sa.Column("youngest_birth_date", sa.Date(), nullable=False),
        sa.Column(
            "received_programs",
            postgresql.ARRAY(
                postgresql.ENUM(
                    "BPNT",
                    "PKH",
                    "BLT_DESA",
                    "ELECTRICITY_SUBSIDY",
                    "PEMDA",
                    "FERTILISER_SUBSIDY",
                    "LPG_SUBSIDY",
                    name="assistance_program",
                    create_type=False,
                )
            ),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kk_number ~ '^[0-9]{16}$'", name=op.f("ck_households_kk_number_16_digits")
        ),
        sa.CheckConstraint(
            "sls_code ~ '^[0-9]{14}$' AND starts_with(sls_code, desa_code)",
            name=op.f("ck_households_sls_in_desa"),
        ),
        sa.CheckConstraint(
            "floor_area BETWEEN 1 AND 5000", name=op.f("ck_households_floor_area_range")
        ),
        sa.CheckConstraint(
            "length(btrim(head_name)) > 0", name=op.f("ck_households_head_name_not_blank")
        ),
        sa.CheckConstraint(
            "length(desa_code) = 10", name=op.f("ck_households_desa_code_10_digits")
        ),
        sa.CheckConstraint(
            "member_count BETWEEN 1 AND 30", name=op.f("ck_households_member_count_range")
        ),
        sa.CheckConstraint(
            "welfare_decile BETWEEN 1 AND 10", name=op.f("ck_households_welfare_decile_1_10")
        ),
        sa.ForeignKeyConstraint(
            ["desa_code"], ["regions.code"], name=op.f("fk_households_desa_code_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
        sa.UniqueConstraint("kk_number", name=op.f("uq_households_kk_number")),
    )
    op.create_index("ix_households_desa_code_id", "households", ["desa_code", "id"], unique=False)
    op.create_index(
        "ix_households_kabupaten_code_id", "households", ["kabupaten_code", "id"], unique=False
    )
    op.create_index(
        "ix_households_kecamatan_code_id", "households", ["kecamatan_code", "id"], unique=False
    )
    op.create_index(
        "ix_households_provinsi_code_id", "households", ["provinsi_code", "id"], unique=False
    )
    op.create_index(
        "ix_households_received_programs",
        "households",
        ["received_programs"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_households_stats",
        "households",
        ["desa_code", "welfare_decile", "head_sex"],
        unique=False,
        postgresql_include=[
            "kecamatan_code",
            "kabupaten_code",
            "provinsi_code",
            "youngest_birth_date",
        ],
    )
    op.create_index("ix_households_updated_at_id", "households", ["updated_at", "id"], unique=False)
    op.create_index(
        "ix_households_welfare_decile_id", "households", ["welfare_decile", "id"], unique=False
    )
    op.create_table(
        "assistance_receipts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "program",
            postgresql.ENUM(
                "BPNT",
                "PKH",
                "BLT_DESA",
                "ELECTRICITY_SUBSIDY",
                "PEMDA",
                "FERTILISER_SUBSIDY",
                "LPG_SUBSIDY",
                name="assistance_program",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("month", sa.SmallInteger(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "month BETWEEN 1 AND 12", name=op.f("ck_assistance_receipts_month_1_12")
        ),
        sa.CheckConstraint(
            "year BETWEEN 2000 AND 2100", name=op.f("ck_assistance_receipts_year_range")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_assistance_receipts_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistance_receipts")),
        sa.UniqueConstraint(
            "household_id",
            "program",
            "year",
            "month",
            name=op.f("uq_assistance_receipts_household_id_program_year_month"),
        ),
    )
    op.create_index(
        "ix_assistance_receipts_program_household_id",
        "assistance_receipts",
        ["program", "household_id"],
        unique=False,
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("member_no", sa.SmallInteger(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "sex", postgresql.ENUM("MALE", "FEMALE", name="sex", create_type=False), nullable=False
        ),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column(
            "relationship_to_head",
            postgresql.ENUM(
                "HEAD",
                "SPOUSE",
                "CHILD",
                "CHILD_IN_LAW",
                "GRANDCHILD",
                "PARENT_OR_IN_LAW",
                "HELPER",
                "OTHER",
                name="relationship",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "marital_status",
            postgresql.ENUM(
                "SINGLE", "MARRIED", "DIVORCED", "WIDOWED", name="marital_status", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("pregnant", sa.Boolean(), nullable=False),
        sa.Column("has_birth_certificate", sa.Boolean(), nullable=False),
        sa.Column("has_kia", sa.Boolean(), nullable=False),
        sa.Column("has_ktp", sa.Boolean(), nullable=False),
        sa.Column(
            "enrollment",
            postgresql.ENUM("NEVER", "STILL", "NO_LONGER", name="enrollment", create_type=False),
            nullable=False,
        ),
        sa.Column(
            "education_level",
            postgresql.ENUM(
                "NONE",
                "SD",
                "SMP",
                "SMA",
                "DIPLOMA",
                "S1",
                "S2",
                "S3",
                name="education_level",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("worked_last_week", sa.Boolean(), nullable=False),
        sa.Column("hours_per_week", sa.SmallInteger(), nullable=True),
        sa.Column(
            "industry",
            postgresql.ENUM(
                "AGRICULTURE",
                "MINING",
                "MANUFACTURING",
                "UTILITIES",
                "CONSTRUCTION",
                "TRADE",
                "TRANSPORT",
                "ACCOMMODATION_FOOD",
                "INFORMATION_FINANCE",
                "EDUCATION",
                "HEALTH_SOCIAL",
                "PUBLIC_ADMINISTRATION",
                "OTHER_SERVICES",
                name="industry",
                create_type=False,
            ),
            nullable=True,
        ),
        sa.Column(
            "employment_status",
            postgresql.ENUM(
                "SELF_EMPLOYED",
                "EMPLOYER_WITH_TEMPORARY_HELP",
                "EMPLOYER_WITH_PERMANENT_STAFF",
                "EMPLOYEE",
                "CASUAL_WORKER",
                "UNPAID_FAMILY_WORKER",
                name="employment_status",
                create_type=False,
            ),
            nullable=True,
        ),
        sa.Column(
            "difficulty_seeing",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "difficulty_hearing",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "difficulty_walking",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "difficulty_hands",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "difficulty_remembering",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "difficulty_behaviour",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "difficulty_communicating",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "difficulty_self_care",
            postgresql.ENUM(
                "NONE", "SOME", "A_LOT", "CANNOT", name="difficulty_level", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "chronic_illness",
            postgresql.ENUM(
                "NONE",
                "HYPERTENSION",
                "RHEUMATISM",
                "ASTHMA",
                "HEART_DISEASE",
                "DIABETES",
                "TUBERCULOSIS",
                "STROKE",
                "CANCER",
                "KIDNEY_FAILURE",
                "HIV_AIDS",
                "OTHER",
                name="chronic_illness",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("insurance_pbi_jkn", sa.Boolean(), nullable=False),
        sa.Column("insurance_jkn_self_paid", sa.Boolean(), nullable=False),
        sa.Column("insurance_jkn_employer", sa.Boolean(), nullable=False),
        sa.Column("insurance_other", sa.Boolean(), nullable=False),
        sa.Column("protection_prakerja", sa.Boolean(), nullable=False),
        sa.Column("protection_kur", sa.Boolean(), nullable=False),
        sa.Column("protection_umi", sa.Boolean(), nullable=False),
        sa.Column("protection_pip", sa.Boolean(), nullable=False),
        sa.Column("protection_bpjs_tk", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "NOT pregnant OR sex = 'FEMALE'", name=op.f("ck_persons_only_women_pregnant")
        ),
        sa.CheckConstraint("nik ~ '^[0-9]{16}$'", name=op.f("ck_persons_nik_16_digits")),
        sa.CheckConstraint(
            "hours_per_week IS NULL OR hours_per_week BETWEEN 0 AND 168",
            name=op.f("ck_persons_hours_range"),
        ),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_persons_name_not_blank")),
        sa.CheckConstraint("member_no BETWEEN 1 AND 30", name=op.f("ck_persons_member_no_range")),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_persons_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint(
            "household_id", "member_no", name=op.f("uq_persons_household_id_member_no")
        ),
        sa.UniqueConstraint("nik", name=op.f("uq_persons_nik")),
    )
    for statement in SECURITY_SQL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP AGGREGATE IF EXISTS regsosek_array_cat_agg(anycompatiblearray)")
    op.execute("DROP FUNCTION IF EXISTS regsosek_household_member_ids(bigint)")
    op.execute("DROP FUNCTION IF EXISTS regsosek_person_ids_by_nik(text)")
    op.execute("DROP FUNCTION IF EXISTS regsosek_audit_extends_head(bigint, bigint, bytea)")
    op.drop_table("persons")
    op.drop_index("ix_assistance_receipts_program_household_id", table_name="assistance_receipts")
    op.drop_table("assistance_receipts")
    op.drop_index("ix_households_welfare_decile_id", table_name="households")
    op.drop_index("ix_households_updated_at_id", table_name="households")
    op.drop_index("ix_households_stats", table_name="households")
    op.drop_index(
        "ix_households_received_programs", table_name="households", postgresql_using="gin"
    )
    op.drop_index("ix_households_provinsi_code_id", table_name="households")
    op.drop_index("ix_households_kecamatan_code_id", table_name="households")
    op.drop_index("ix_households_kabupaten_code_id", table_name="households")
    op.drop_index("ix_households_desa_code_id", table_name="households")
    op.drop_table("households")
    op.drop_index("ix_signing_keys_activated_at", table_name="signing_keys")
    op.drop_table("signing_keys")
    op.drop_index("ix_regions_parent_code", table_name="regions")
    op.drop_table("regions")
    op.drop_index("ix_rate_counters_window_start", table_name="rate_counters")
    op.drop_table("rate_counters")
    op.drop_table("oauth_clients")
    op.drop_index(
        "ix_audit_events_occurred_at_brin", table_name="audit_events", postgresql_using="brin"
    )
    op.drop_index("ix_audit_events_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_program_occurred_at", table_name="audit_events")
    op.drop_index("ix_audit_events_person_ids", table_name="audit_events", postgresql_using="gin")
    op.drop_index(
        "ix_audit_events_household_ids", table_name="audit_events", postgresql_using="gin"
    )
    op.drop_index("ix_audit_events_client_id_occurred_at", table_name="audit_events")
    op.execute("DROP TABLE audit_events CASCADE")
    op.drop_table("audit_checkpoints")
    op.execute("DROP FUNCTION IF EXISTS regsosek_ensure_audit_partition(timestamptz)")
    op.execute("DROP FUNCTION IF EXISTS regsosek_refuse_audit_change() CASCADE")
    for name in reversed(ENUMS):
        op.execute(f"DROP TYPE IF EXISTS {name}")
