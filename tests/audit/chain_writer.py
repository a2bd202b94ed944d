"""One gateway worker's audit writer, as a separate process (for ``test_processes``).

    python chain_writer.py APP_URL COUNT CONCURRENCY START_AT < private-jwk.json

Waits until the wall-clock time START_AT so that every process starts at once,
records COUNT events with CONCURRENCY recorders, and prints their seqs as JSON.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from audit.signing import KeySourceSigner
from audit.sql.chain import connector
from audit.writer import AuditWriter
from tests.audit.support import StaticKey, write_events


async def main(app_url: str, count: int, concurrency: int, start_at: float) -> list[int]:
    key = StaticKey(orjson.loads(sys.stdin.read()))
    writer = AuditWriter(
        connect=connector(app_url),
        signer=KeySourceSigner(key),
        checkpoint_every=100,
        flush_ms=0.5,
    )
    await writer.start()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    try:
        return await write_events(writer, count, concurrency=concurrency)
    finally:
        await writer.close()


if __name__ == "__main__":
    url, count, concurrency, start_at = sys.argv[1:5]
    seqs = asyncio.run(main(url, int(count), int(concurrency), float(start_at)))
    sys.stdout.write(orjson.dumps(seqs).decode())
