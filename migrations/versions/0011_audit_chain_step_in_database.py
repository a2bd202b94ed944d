"""The audit chain step inside PostgreSQL: ``regsosek_audit_append`` hashes and inserts a batch.

One call takes the chain lock, reads the head, numbers the batch after it, keeps times from
running backwards, hashes every event onto the chain and inserts them all. Called outside an
explicit transaction it commits (``synchronous_commit = on``) before its result comes back, so
a chain step is one round trip whichever process wrote the previous one, and the lock is never
held while the database waits for the gateway.

The hash is the one ``audit.chain`` defines, ``SHA-256(prev_hash ‖ canonical(row))``: the
gateway sends each event's canonical JSON as three pieces around the two values only the
database knows (``audit.chain.canonical_pieces``), and the function splices in
``occurred_at`` (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, UTC) and ``seq``. Stored events are what the
writer stored before, so the verifier, ``chainStatus`` and the reports are unchanged.

A batch that would begin a new month after an unsigned one is refused with
``serialization_failure`` and nothing is written: the writer then takes its locked step,
which signs the last event of the old month first (checkpoints are signed in Python).

``regsosek_audit_extends_head`` (0001), which the writer's former one-round-trip step used,
stays: no code of this revision calls it, but a gateway of the previous release still running
beside the migrated database (a rolling upgrade) does. A later revision may drop it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"

SIGNATURE = (
    "bigint, timestamptz[], text[], text[], text[], text[], text[], text[], text[], text[],"
    " text[], text[], text[], text[], text[], integer[], text[], text[], text[], text[], text[],"
    " text[], date[], bytea[], bytea[], bytea[]"
)

APPEND = r"""
CREATE FUNCTION regsosek_audit_append(
    lock_key bigint,
    occurred_ats timestamptz[],
    request_ids text[],
    endpoints text[],
    client_ids text[],
    agencies text[],
    programs text[],
    agreements text[],
    purposes text[],
    remote_addrs text[],
    operation_names text[],
    document_hashes text[],
    variables_hashes text[],
    outcomes text[],
    error_codes text[],
    row_counts integer[],
    field_path_lists text[],
    household_id_lists text[],
    person_id_lists text[],
    purpose_codes text[],
    case_refs text[],
    trace_ids text[],
    sealed_untils date[],
    before_times bytea[],
    before_seqs bytea[],
    after_seqs bytea[]
)
RETURNS TABLE (
    first_seq bigint,
    head_seq bigint,
    head_hash bytea,
    head_at timestamptz,
    signed_seq bigint,
    signed_at timestamptz
)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
    events integer := coalesce(cardinality(occurred_ats), 0);
    seqs bigint[] := '{}';
    times timestamptz[] := '{}';
    prev_hashes bytea[] := '{}';
    hashes bytea[] := '{}';
    moment timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    -- A VOLATILE function's statements each take a new snapshot: after the lock was
    -- granted, these see every chain step committed before this one.
    SELECT e.seq, e.hash, e.occurred_at INTO head_seq, head_hash, head_at
    FROM public.audit_events AS e ORDER BY e.seq DESC LIMIT 1;
    SELECT c.seq, c.created_at INTO signed_seq, signed_at
    FROM public.audit_checkpoints AS c ORDER BY c.id DESC LIMIT 1;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, decode(repeat('00', 32), 'hex'));
    IF events > 0 AND head_at IS NOT NULL AND signed_seq IS DISTINCT FROM head_seq
       AND date_trunc('month', greatest(occurred_ats[1], head_at) AT TIME ZONE 'UTC')
           <> date_trunc('month', head_at AT TIME ZONE 'UTC') THEN
        RAISE EXCEPTION 'a new month of the audit chain begins after an unsigned one'
            USING ERRCODE = 'serialization_failure';
    END IF;
    first_seq := head_seq + 1;
    FOR i IN 1 .. events LOOP
        moment := occurred_ats[i];
        -- Times never go backwards along the chain, whichever process wrote the step.
        IF head_at IS NOT NULL AND moment < head_at THEN
            moment := head_at;
        END IF;
        head_seq := head_seq + 1;
        seqs[i] := head_seq;
        times[i] := moment;
        prev_hashes[i] := head_hash;
        head_hash := sha256(
            head_hash || before_times[i]
            || convert_to(
                to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8')
            || before_seqs[i] || convert_to(head_seq::text, 'UTF8') || after_seqs[i]
        );
        hashes[i] := head_hash;
        head_at := moment;
    END LOOP;
    IF events > 0 THEN
        INSERT INTO public.audit_events (
            seq, occurred_at, request_id, endpoint, client_id, agency, program, agreement,
            purpose, remote_addr, operation_name, document_hash, variables_hash, outcome,
            error_code, row_count, field_paths, household_ids, person_ids, purpose_code,
            case_ref, trace_id, sealed_until, prev_hash, hash
        )
        SELECT u.seq, u.occurred_at, u.request_id, u.endpoint, u.client_id, u.agency,
               u.program, u.agreement, u.purpose, u.remote_addr, u.operation_name,
               u.document_hash, u.variables_hash, u.outcome, u.error_code, u.row_count,
               u.field_paths::text[], u.household_ids::bigint[], u.person_ids::bigint[],
               u.purpose_code, u.case_ref, u.trace_id, u.sealed_until, u.prev_hash, u.hash
        FROM unnest(
            seqs, times, request_ids, endpoints, client_ids, agencies, programs, agreements,
            purposes, remote_addrs, operation_names, document_hashes, variables_hashes,
            outcomes, error_codes, row_counts, field_path_lists, household_id_lists,
            person_id_lists, purpose_codes, case_refs, trace_ids, sealed_untils, prev_hashes,
            hashes
        ) AS u (
            seq, occurred_at, request_id, endpoint, client_id, agency, program, agreement,
            purpose, remote_addr, operation_name, document_hash, variables_hash, outcome,
            error_code, row_count, field_paths, household_ids, person_ids, purpose_code,
            case_ref, trace_id, sealed_until, prev_hash, hash
        );
    END IF;
    RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    op.execute(APPEND)
    op.execute(f"REVOKE ALL ON FUNCTION regsosek_audit_append({SIGNATURE}) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION regsosek_audit_append({SIGNATURE}) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION regsosek_audit_append({SIGNATURE})")
