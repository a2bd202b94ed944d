"""One gateway worker's audit writer, as a separate process (for ``test_processes``).

    python chain_writer.py APP_URL COUNT CONCURRENCY

Reads the private JWK (one line) from stdin, starts its writer and prints ``ready``,
then waits for the line ``go`` so that every process starts at once (however long
each took to start), records COUNT events with CONCURRENCY recorders, and prints their
seqs as JSON.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from audit.signing import KeySourceSigner
from audit.sql.chain import connector
from audit.writer import AuditWriter
from tests.audit.support import StaticKey, write_events


async def main(app_url: str, count: int, concurrency: int) -> list[int]:
    key = StaticKey(orjson.loads(sys.stdin.readline()))
    writer = AuditWriter(
        connect=connector(app_url),
        signer=KeySourceSigner(key),
        checkpoint_every=100,
        flush_ms=0.5,
    )
    await writer.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    go = await asyncio.to_thread(sys.stdin.readline)
    assert go.strip() == "go", go
    try:
        return await write_events(writer, count, concurrency=concurrency)
    finally:
        await writer.close()


if __name__ == "__main__":
    url, count, concurrency = sys.argv[1:4]
    seqs = asyncio.run(main(url, int(count), int(concurrency)))
    sys.stdout.write(orjson.dumps(seqs).decode())
