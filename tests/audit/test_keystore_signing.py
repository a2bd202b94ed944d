"""Checkpoints signed with the gateway's own signing keys (``api.auth.keys.KeyStore``),
verifiable with nothing but the public keys in ``signing_keys``, across a key rotation."""

from __future__ import annotations

import orjson
from joserfc import jws
from joserfc.jwk import JWKRegistry

from api.auth.keys import KeyStore, ensure_signing_key, rotate_signing_key
from audit.signing import CHECKPOINT_TYPE, KeySourceSigner, verify_signature
from db.engine import create_pool
from tests.audit.support import ChainDatabase, write_events
from tests.support import TEST_SECRET

MASTER_SECRET = bytes.fromhex(TEST_SECRET)


async def test_checkpoints_are_signed_with_the_current_key_and_verify_after_rotation(
    chain_db: ChainDatabase,
) -> None:
    owner = await chain_db.owner()
    pool = await create_pool(chain_db.app_url, max_size=2)
    try:
        first_kid = await ensure_signing_key(owner, master_secret=MASTER_SECRET, alg="ES256")
        keys = await KeyStore.open(pool=pool, master_secret=MASTER_SECRET)
        writer = chain_db.writer(signer=KeySourceSigner(keys), checkpoint_every=5)
        await writer.start()
        try:
            await write_events(writer, 10)
            second_kid = await rotate_signing_key(
                owner, master_secret=MASTER_SECRET, alg="RS256", token_ttl=900, leeway=30
            )
            await keys.refresh()
            await write_events(writer, 10, start=10)
        finally:
            await writer.close()
        rows = await owner.fetch(
            "SELECT c.seq, c.kid, c.signature, k.public_jwk::text AS jwk"
            " FROM audit_checkpoints AS c JOIN signing_keys AS k USING (kid) ORDER BY c.id"
        )
    finally:
        await pool.close()
        await owner.close()
    assert [(row["seq"], row["kid"]) for row in rows] == [
        (0, first_kid),
        (5, first_kid),
        (10, first_kid),
        (15, second_kid),
        (20, second_kid),
    ]
    for row in rows:
        public_jwk = orjson.loads(row["jwk"])
        assert "d" not in public_jwk, "only the public half is needed"
        payload = orjson.loads(
            verify_signature(row["signature"], kid=row["kid"], public_jwk=public_jwk)
        )
        assert payload["seq"] == row["seq"]
        header = jws.extract_compact(row["signature"].encode()).protected
        assert header["typ"] == CHECKPOINT_TYPE
        assert header["alg"] == public_jwk["alg"]
        jws.deserialize_compact(row["signature"], JWKRegistry.import_key(public_jwk))
    report = await chain_db.verify()
    assert report.ok, report.damage
    assert [c.status for c in report.checkpoints] == ["valid"] * 5


async def test_a_checkpoint_whose_key_is_gone_does_not_verify(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer()
    await writer.start()
    await writer.close()
    owner = await chain_db.owner()
    try:
        await owner.execute(
            "UPDATE signing_keys SET kid = 'renamed' WHERE kid = $1", chain_db.key.kid
        )
    finally:
        await owner.close()
    report = await chain_db.verify()
    assert report.damage is not None
    assert report.damage.kind == "forged"
    assert "no public key recorded" in report.damage.detail
