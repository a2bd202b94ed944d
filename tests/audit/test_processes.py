"""Writers in several processes (as with ``regsosek serve --workers N``) extend one chain."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson

from tests.audit.support import ChainDatabase

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 3
EVENTS_PER_PROCESS = 150
CONCURRENCY = 8


async def run_writer(chain_db: ChainDatabase, *, start_at: float) -> list[int]:
    private_jwk = orjson.dumps(chain_db.key.private_key.as_dict(private=True))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("chain_writer.py")),
        chain_db.app_url,
        str(EVENTS_PER_PROCESS),
        str(CONCURRENCY),
        str(start_at),
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(private_jwk)
    assert process.returncode == 0, err.decode()
    seqs: list[int] = orjson.loads(out)
    return seqs


async def test_writers_in_several_processes_leave_one_gapless_unforked_chain(
    chain_db: ChainDatabase,
) -> None:
    start_at = time.time() + 2.0
    results = await asyncio.gather(
        *(run_writer(chain_db, start_at=start_at) for _ in range(PROCESSES))
    )
    total = PROCESSES * EVENTS_PER_PROCESS
    every = sorted(seq for seqs in results for seq in seqs)
    assert every == list(range(1, total + 1)), "each seq handed out exactly once"
    interleaved = sum(seqs[-1] - seqs[0] + 1 > len(seqs) for seqs in results)
    assert interleaved >= 2, "the processes' chain steps should interleave"

    report = await chain_db.verify()
    assert report.ok, report.damage
    assert (report.stored_events, report.events_valid, report.head_seq) == (total, total, total)
    assert report.signed_seq == total
    rows = await chain_db.fetch(
        "SELECT seq, count(*) FROM audit_events GROUP BY seq HAVING count(*) > 1"
    )
    assert rows == []
    forks = await chain_db.fetch(
        "SELECT prev_hash FROM audit_events GROUP BY prev_hash HAVING count(*) > 1"
    )
    assert forks == [], "no two events extend the same predecessor"
