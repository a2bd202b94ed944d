"""Every kind of tampering a malicious DBA can do is detected and located by ``audit verify``.

Each test takes a 40-event chain written through the writer (a checkpoint
every 10 events: the ``chain`` fixture), then, as the owner with the append-only
triggers disabled, damages it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from joserfc import jws

from audit.chain import HASHED_COLUMNS, STORED_COLUMNS, chain_hash
from audit.signing import CHECKPOINT_TYPE, checkpoint_payload
from audit.verify import Report
from tests.audit.support import ChainDatabase, StaticKey, sample_event

CONTENT = [c for c in HASHED_COLUMNS if c != "seq"]
"""Every hashed column but ``seq``: what "the contents" of an event are."""


def assert_damage(report: Report, *, seq: int, kind: str) -> None:
    assert not report.ok
    assert report.damage is not None
    assert (report.damage.seq, report.damage.kind) == (seq, kind), report.damage
    assert report.head_seq == seq - 1
    assert report.events_valid == seq - 1


async def test_intact_chain_verifies(chain: ChainDatabase) -> None:
    report = await chain.verify()
    assert report.ok
    assert (report.first_seq, report.last_seq, report.stored_events) == (1, 40, 40)
    assert report.signed_seq == 40
    assert all(c.status == "valid" for c in report.checkpoints)


async def test_an_edited_field_is_found_at_its_row(chain: ChainDatabase) -> None:
    await chain.tamper("UPDATE audit_events SET client_id = 'someone-else' WHERE seq = 17")
    assert_damage(await chain.verify(), seq=17, kind="edited")


async def test_an_edited_id_list_is_found(chain: ChainDatabase) -> None:
    await chain.tamper("UPDATE audit_events SET household_ids = '{}' WHERE seq = 3")
    assert_damage(await chain.verify(), seq=3, kind="edited")


async def test_a_deleted_row_is_found(chain: ChainDatabase) -> None:
    await chain.tamper("DELETE FROM audit_events WHERE seq = 17")
    report = await chain.verify()
    assert_damage(report, seq=17, kind="deleted")


async def test_a_deleted_row_with_the_rest_renumbered_is_found(chain: ChainDatabase) -> None:
    await chain.tamper(
        "DELETE FROM audit_events WHERE seq = 17",
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 17",
        "UPDATE audit_events SET seq = seq - 1001 WHERE seq > 1000",
    )
    assert_damage(await chain.verify(), seq=17, kind="deleted")


async def test_two_rows_swapped_whole_are_found(chain: ChainDatabase) -> None:
    columns = [*CONTENT, "prev_hash", "hash"]
    await chain.tamper(swap_statement(columns, 17, 18))
    report = await chain.verify()
    assert_damage(report, seq=17, kind="reordered")
    assert report.damage is not None
    assert "seq 18" in report.damage.detail


async def test_two_rows_contents_swapped_are_found(chain: ChainDatabase) -> None:
    await chain.tamper(swap_statement(CONTENT, 17, 18))
    assert_damage(await chain.verify(), seq=17, kind="reordered")


async def test_a_forged_row_with_a_duplicate_seq_is_found(chain: ChainDatabase) -> None:
    others = ", ".join(c for c in STORED_COLUMNS if c not in ("seq", "occurred_at", "client_id"))
    await chain.tamper(
        f"INSERT INTO audit_events (seq, occurred_at, client_id, {others})"
        f" SELECT seq, occurred_at - interval '1 microsecond', 'intruder-client', {others}"
        " FROM audit_events WHERE seq = 17"
    )
    assert_damage(await chain.verify(), seq=17, kind="inserted")


async def test_a_forged_row_with_good_hashes_and_the_rest_renumbered_is_found(
    chain: ChainDatabase,
) -> None:
    rows = await chain.fetch(
        f"SELECT {', '.join(STORED_COLUMNS)} FROM audit_events WHERE seq IN (16, 17) ORDER BY seq"
    )
    forged = dict(zip(STORED_COLUMNS, rows[1], strict=True))
    forged["occurred_at"] = rows[0]["occurred_at"]
    forged["client_id"] = "intruder-client"
    forged["prev_hash"] = rows[0]["hash"]
    forged["hash"] = chain_hash(rows[0]["hash"], [forged[c] for c in HASHED_COLUMNS])
    placeholders = ", ".join(f"${index}" for index in range(1, len(STORED_COLUMNS) + 1))
    await chain.tamper(
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 17",
        "UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000",
        f"INSERT INTO audit_events ({', '.join(STORED_COLUMNS)}) VALUES ({placeholders})",
        args=[(), (), [forged[c] for c in STORED_COLUMNS]],
    )
    assert_damage(await chain.verify(), seq=17, kind="inserted")


async def test_a_forged_row_appended_without_the_chain_is_found(chain: ChainDatabase) -> None:
    others = ", ".join(c for c in STORED_COLUMNS if c not in ("seq", "prev_hash", "hash"))
    await chain.tamper(
        f"INSERT INTO audit_events (seq, prev_hash, hash, {others})"
        f" SELECT 41, sha256('x'), sha256('y'), {others} FROM audit_events WHERE seq = 40"
    )
    assert_damage(await chain.verify(), seq=41, kind="inserted")


async def test_a_truncated_tail_is_found_against_the_last_checkpoint(
    chain: ChainDatabase,
) -> None:
    await chain.tamper("DELETE FROM audit_events WHERE seq > 25")
    report = await chain.verify()
    assert_damage(report, seq=26, kind="truncated")
    assert report.damage is not None
    assert report.damage.through_seq == 40
    statuses = {c.seq: c.status for c in report.checkpoints}
    assert statuses == {
        0: "valid",
        10: "valid",
        20: "valid",
        30: "beyond_chain",
        40: "beyond_chain",
    }


async def rehash_from(chain: ChainDatabase, seq: int, **changes: Any) -> list[bytes]:
    """Apply ``changes`` to event ``seq`` and re-hash the chain from there (no key needed)."""
    rows = await chain.fetch(
        f"SELECT {', '.join(STORED_COLUMNS)} FROM audit_events WHERE seq >= $1 - 1 ORDER BY seq",
        seq,
    )
    prev_hash = rows[0]["hash"]
    statements, args, heads = [], [], []
    for row in rows[1:]:
        values = dict(zip(STORED_COLUMNS, row, strict=True))
        if values["seq"] == seq:
            values.update(changes)
        digest = chain_hash(prev_hash, [values[c] for c in HASHED_COLUMNS])
        statements.append(
            "UPDATE audit_events SET client_id = $1, prev_hash = $2, hash = $3 WHERE seq = $4"
        )
        args.append((values["client_id"], prev_hash, digest, values["seq"]))
        heads.append(digest)
        prev_hash = digest
    await chain.tamper(*statements, args=args)
    return heads


async def test_a_rehashed_chain_is_found_by_the_signed_checkpoints(chain: ChainDatabase) -> None:
    await rehash_from(chain, 17, client_id="someone-else")
    report = await chain.verify()
    assert_damage(report, seq=11, kind="forged")
    assert report.damage is not None
    assert report.damage.through_seq == 20
    assert {c.seq: c.status for c in report.checkpoints}[20] == "head_mismatch"


async def test_checkpoints_re_signed_without_the_key_are_found(chain: ChainDatabase) -> None:
    heads = await rehash_from(chain, 17, client_id="someone-else")
    intruder = StaticKey()
    rows = await chain.fetch(
        "SELECT id, seq, created_at, kid FROM audit_checkpoints WHERE seq > 10"
    )
    statements, args = [], []
    for row in rows:
        head = heads[row["seq"] - 17]
        payload = checkpoint_payload(
            seq=row["seq"], head_hash=head, event_count=row["seq"], created_at=row["created_at"]
        )
        header = {"alg": "ES256", "kid": row["kid"], "typ": CHECKPOINT_TYPE}
        signature = jws.serialize_compact(header, payload, intruder.private_key)
        statements.append(
            "UPDATE audit_checkpoints SET head_hash = $1, signature = $2 WHERE id = $3"
        )
        args.append((head, signature, row["id"]))
    await chain.tamper(*statements, args=args)
    report = await chain.verify()
    assert_damage(report, seq=11, kind="forged")
    assert {c.seq: c.status for c in report.checkpoints} == {
        0: "valid",
        10: "valid",
        20: "forged",
        30: "forged",
        40: "forged",
    }


async def test_a_checkpoint_edited_after_signing_is_found(chain: ChainDatabase) -> None:
    await chain.tamper("UPDATE audit_checkpoints SET seq = 25, event_count = 25 WHERE seq = 30")
    report = await chain.verify()
    assert_damage(report, seq=21, kind="forged")
    assert report.damage is not None
    assert "differ from the signed statement" in report.damage.detail


def swap_statement(columns: list[str], first: int, second: int) -> str:
    """One UPDATE that exchanges ``columns`` between events ``first`` and ``second``."""
    targets = ", ".join(columns)
    sources = ", ".join(f"b.{c}" for c in columns)
    return (
        f"UPDATE audit_events AS a SET ({targets}) = (SELECT {sources} FROM audit_events AS b"
        f" WHERE b.seq = CASE a.seq WHEN {first} THEN {second} ELSE {first} END)"
        f" WHERE a.seq IN ({first}, {second})"
    )


async def test_a_case_reference_added_afterwards_is_found(chain: ChainDatabase) -> None:
    """The optional columns are hashed when set: writing one into an event that had none (a
    purpose, a case reference, a seal backdated onto an old disclosure) breaks the chain."""
    await chain.tamper("UPDATE audit_events SET case_ref = 'PERKARA/1' WHERE seq = 12")
    assert_damage(await chain.verify(), seq=12, kind="edited")


async def test_a_seal_added_afterwards_is_found(chain: ChainDatabase) -> None:
    await chain.tamper("UPDATE audit_events SET sealed_until = '2030-01-01' WHERE seq = 5")
    assert_damage(await chain.verify(), seq=5, kind="edited")


async def test_events_with_purpose_case_trace_and_seal_verify_and_read_back(
    chain_db: ChainDatabase,
) -> None:
    """Written through the writer with every optional column set, the events are stored as
    given and the chain verifies; one of them edited is found."""
    writer = chain_db.writer(checkpoint_every=10, flush_ms=0)
    await writer.start()
    try:
        for index in range(6):
            await writer.record(
                sample_event(
                    index,
                    purpose_code="PERLINDUNGAN_ANAK",
                    case_ref=f"PPA/2026/{index}",
                    trace_id="0AF7651916CD43DD8448EB211C80319C",
                    sealed_until=date(2027, 1, 31),
                )
            )
    finally:
        await writer.close()
    assert (await chain_db.verify()).ok
    connection = await chain_db.owner()
    try:
        rows = await connection.fetch(
            "SELECT purpose_code, case_ref, trace_id, sealed_until FROM audit_events ORDER BY seq"
        )
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [
        (
            "PERLINDUNGAN_ANAK",
            f"PPA/2026/{i}",
            "0af7651916cd43dd8448eb211c80319c",
            date(2027, 1, 31),
        )
        for i in range(6)
    ]
    await chain_db.tamper("UPDATE audit_events SET case_ref = 'PPA/2026/9' WHERE seq = 4")
    assert_damage(await chain_db.verify(), seq=4, kind="edited")
