"""``regsosek audit verify [--json]``: what it prints and how it exits."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson

from tests.audit.support import ChainDatabase

REGSOSEK = str(Path(sys.executable).with_name("regsosek"))


async def regsosek(database_url: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        REGSOSEK,
        *args,
        env={**os.environ, "DATABASE_URL": database_url, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


async def test_json_output_of_an_intact_chain_and_exit_0(chain: ChainDatabase) -> None:
    code, out = await regsosek(chain.url, "audit", "verify", "--json")
    assert code == 0, out
    report = orjson.loads(out)
    assert set(report) == {
        "ok",
        "range",
        "events_valid",
        "head",
        "archived_before_seq",
        "anchor_checkpoint",
        "signed_head_seq",
        "unsigned_events",
        "checkpoints",
        "damage",
        "elapsed_seconds",
    }
    assert report["ok"] is True
    assert report["damage"] is None
    assert report["range"]["first_seq"] == 1
    assert report["range"]["last_seq"] == 40
    assert report["range"]["events"] == 40
    assert report["events_valid"] == 40
    assert report["head"]["seq"] == 40
    assert len(bytes.fromhex(report["head"]["hash"])) == 32
    assert report["checkpoints"] == {"total": 5, "valid": 5, "not_reached": 0, "problems": []}
    assert (report["signed_head_seq"], report["unsigned_events"]) == (40, 0)


async def test_json_output_names_the_first_bad_seq_and_exits_1(chain: ChainDatabase) -> None:
    await chain.tamper("UPDATE audit_events SET operation_name = 'Other' WHERE seq = 23")
    code, out = await regsosek(chain.url, "audit", "verify", "--json")
    assert code == 1, out
    report = orjson.loads(out)
    assert report["ok"] is False
    assert report["damage"]["seq"] == 23
    assert report["damage"]["kind"] == "edited"
    assert report["head"]["seq"] == 22
    assert report["events_valid"] == 22
    assert report["checkpoints"]["not_reached"] == 2


async def test_text_output_of_a_truncated_chain(chain: ChainDatabase) -> None:
    await chain.tamper("DELETE FROM audit_events WHERE seq > 35")
    code, out = await regsosek(chain.url, "audit", "verify")
    assert code == 1, out
    assert "Results found for seq 1 to 35 (35 events" in out
    assert "35/35 events valid" in out
    assert "4/5 checkpoints valid" in out
    assert "INVALID checkpoint #" in out
    assert "Last verified head: seq 35, hash " in out
    assert "first bad seq 36 (damage lies in 36–40): truncated" in out
