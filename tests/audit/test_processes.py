"""Writers in several processes (as with ``regsosek serve --workers N``) extend one chain."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from tests.audit.support import ChainDatabase

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 3
EVENTS_PER_PROCESS = 150
CONCURRENCY = 8


async def start_writer(chain_db: ChainDatabase) -> asyncio.subprocess.Process:
    """A writer process, started and ready (its writer connected), waiting for ``go``."""
    private_jwk = orjson.dumps(chain_db.key.private_key.as_dict(private=True))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("chain_writer.py")),
        chain_db.app_url,
        str(EVENTS_PER_PROCESS),
        str(CONCURRENCY),
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(private_jwk + b"\n")
    await process.stdin.drain()
    ready = await asyncio.wait_for(process.stdout.readline(), 120)
    if ready != b"ready\n":
        _, err = await process.communicate()
        raise AssertionError(err.decode())
    return process


async def finish_writer(process: asyncio.subprocess.Process) -> list[int]:
    out, err = await process.communicate(b"go\n")
    assert process.returncode == 0, err.decode()
    seqs: list[int] = orjson.loads(out)
    return seqs


async def test_writers_in_several_processes_leave_one_gapless_unforked_chain(
    chain_db: ChainDatabase,
) -> None:
    # Every process starts (imports, connects) before any writes: then all write at once.
    processes = await asyncio.gather(*(start_writer(chain_db) for _ in range(PROCESSES)))
    results = await asyncio.gather(*(finish_writer(process) for process in processes))
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
