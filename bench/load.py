"""Closed-loop load: wrk with a Lua POST script, pgbench ``-M prepared`` with the same SQL.

wrk runs closed-loop at a fixed number of connections (one thread); its Lua
``done`` hook prints one JSON line with the request count, errors, bytes and
the latency percentiles (microseconds). pgbench runs the SQL with every
argument bound as a parameter (``-D``, and the drawn value chosen in the client by
``draw_tree``), logs each transaction, and the percentiles are computed from that
log. Its sessions run with ``jit = off`` and ``plan_cache_mode = force_generic_plan``,
as the gateway's read sessions do. Latency under a
fixed arrival rate is ``bench.openloop``'s.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bench.compiled import CompiledQuery
from bench.databases import SEED

DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"mean":%.1f,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    errors: int
    bytes_per_request: float

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def lua_script(
    *,
    path: str,
    body_prefix: str,
    body_suffix: str,
    values: Sequence[str] | None,
    headers: dict[str, str],
) -> str:
    """A wrk script POSTing ``prefix .. value .. suffix``, value drawn at random per request."""
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    if values is None:
        lines.append(f"wrk.path = {_lua_string(path)}")
        lines.append(f"wrk.body = {_lua_string(body_prefix + body_suffix)}")
    else:
        listed = ",".join(_lua_string(v) if not v.isdigit() else f'"{v}"' for v in values)
        lines += [
            f"local values = {{{listed}}}",
            f"local prefix = {_lua_string(body_prefix)}",
            f"local suffix = {_lua_string(body_suffix)}",
            f"local path = {_lua_string(path)}",
            "math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))",
            "request = function()",
            "  local v = values[math.random(#values)]",
            "  return wrk.format(nil, path, nil, prefix .. v .. suffix)",
            "end",
        ]
    return "\n".join(lines) + "\n" + DONE


def _temporary(text: str, suffix: str) -> Path:
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as handle:
        handle.write(text)
    return Path(handle.name)


def _logged_latencies(folder: str) -> list[float]:
    """Milliseconds of each transaction in pgbench's ``-l`` logs."""
    latencies = []
    for log in Path(folder).glob("tx*"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                latencies.append(int(parts[2]) / 1000)
    return sorted(latencies)


async def wrk(url: str, script: str, *, connections: int, seconds: float) -> Result:
    path = _temporary(script, ".lua")
    try:
        process = await asyncio.create_subprocess_exec(
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(path),
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out = await _communicate(process)
    finally:
        path.unlink(missing_ok=True)
    text = out.decode(errors="replace")
    found = re.search(r"BENCHJSON (\{.*\})", text)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed: {text[-2000:]}")
    raw = json.loads(found.group(1))
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    answered = raw["requests"] > 0  # none: every request timed out, no latency to report
    return Result(
        requests=raw["requests"],
        seconds=seconds_run,
        rps=raw["requests"] / seconds_run,
        p50_ms=raw["p50"] / 1000 if answered else math.nan,
        p95_ms=raw["p95"] / 1000 if answered else math.nan,
        p99_ms=raw["p99"] / 1000 if answered else math.nan,
        mean_ms=raw["mean"] / 1000 if answered else math.nan,
        errors=errors,
        bytes_per_request=raw["bytes"] / max(1, raw["requests"]),
    )


def _pg_literal(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def draw_tree(variable: str, values: Sequence[str]) -> list[str]:
    """pgbench meta-commands setting ``variable`` to one of ``values``, uniformly at random.

    ``\\set r random(…)`` and a balanced tree of ``\\if`` on it: about log2(n)
    integer comparisons in the client per transaction, no statement, no lookup,
    and the very list the HTTP systems draw from.
    """
    for value in values:
        if not value.isdigit():
            raise ValueError(f"pgbench binds numeric draws only, not {value!r}")

    def tree(low: int, high: int) -> list[str]:
        if high - low == 1:
            return [f"\\set {variable} {values[low]}"]
        middle = (low + high) // 2
        return [
            f"\\if :draw < {middle}",
            *tree(low, middle),
            "\\else",
            *tree(middle, high),
            "\\endif",
        ]

    return [f"\\set draw random(0, {len(values) - 1})", *tree(0, len(values))]


PGBENCH_DRAWS = 1_024
"""At most this many of a list's values are drawn by pgbench (a uniform sample, fixed seed)."""
PGBENCH_SCRIPTS = 4
"""Scripts the drawn values are shared among (pgbench picks one per transaction by weight)."""


def pgbench_draws(values: Sequence[str]) -> list[list[str]]:
    """The values pgbench draws from, in ``PGBENCH_SCRIPTS`` shares.

    pgbench skips a false ``\\if`` branch command by command, so a tree costs the client
    time linear in its size: measured on the bench machine, 5.9 ms a transaction with the
    20,000 Q2 ids in one tree, 0.05 ms with 625, 0.01 ms with 157. A uniform sample of
    ``PGBENCH_DRAWS`` (every registry row is in shared_buffers, so which rows are read
    does not change their cost) in four trees of 256 keeps that near 0.02 ms, and four
    prepared statements per connection instead of 128 keep preparation out of the timed
    run. A floor may only be optimistic."""
    chosen = list(values)
    if len(chosen) > PGBENCH_DRAWS:
        chosen = random.Random(SEED).sample(chosen, PGBENCH_DRAWS)
    shares = min(PGBENCH_SCRIPTS, len(chosen))
    return [chosen[index::shares] for index in range(shares)]


def pgbench_scripts(
    query: CompiledQuery, *, values: Sequence[str] | None, program: str | None = None
) -> tuple[list[tuple[str, int]], list[str]]:
    """The compiled SQL with ``$n`` as pgbench variables, the request's value bound directly,
    as (script, weight) pairs.

    The value is drawn in the client (``draw_tree`` over ``pgbench_draws``' shares, each
    script weighted by its share, so every value is equally likely): one prepared statement
    per script and connection, as the gateway's pool has one. With ``program``, the statement runs
    as the gateway runs it: the wrapped statement that sets its own program when
    the gateway sends that, else in ``BEGIN READ ONLY`` with ``regsosek.program``
    set (connect as ``regsosek_app`` for RLS).
    """
    defines = []
    for index, value in enumerate(query.args):
        if index != query.slot:
            defines.append(f"a{index + 1}={_pg_literal(value)}")
    gated = program is not None and query.gated is not None
    if gated:
        defines.append(f"a{len(query.args) + 1}={program}")
    sql = re.sub(r"\$(\d+)", lambda m: f":a{m.group(1)}", query.gated if gated else query.sql)
    body = []
    wrapped = program is not None and not gated
    if wrapped:
        body += ["BEGIN READ ONLY;", f"SELECT set_config('regsosek.program', '{program}', true);"]
    body.append(" ".join(sql.split()) + ";")
    if wrapped:
        body.append("COMMIT;")
    if query.slot is None:
        return [("\n".join(body) + "\n", 1)], defines
    variable = f"a{query.slot + 1}"
    return [
        ("\n".join([*draw_tree(variable, share), *body]) + "\n", len(share))
        for share in pgbench_draws(values or [])
    ], defines


async def pgbench(
    dsn: str,
    scripts: list[tuple[str, int]],
    defines: list[str],
    *,
    connections: int,
    seconds: float,
    options: str = "",
) -> Result:
    """pgbench over ``scripts`` ((text, weight) pairs, ``pgbench_scripts``)."""
    paths = [(_temporary(script, ".sql"), weight) for script, weight in scripts]
    try:
        return await _pgbench(
            dsn, paths, defines, connections=connections, seconds=seconds, options=options
        )
    finally:
        for path, _ in paths:
            path.unlink(missing_ok=True)


async def _pgbench(
    dsn: str,
    paths: list[tuple[Path, int]],
    defines: list[str],
    *,
    connections: int,
    seconds: float,
    options: str,
) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        argv = [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            f"-c{connections}",
            f"-j{min(2, connections)}",
            f"-T{max(1, round(seconds))}",
            "-l",
            f"--log-prefix={folder}/tx",
            *[f"--file={path}@{weight}" for path, weight in paths],
            *[f"-D{item}" for item in defines],
            dsn,
        ]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # The gateway's read sessions: no JIT, each statement planned once (a statement's
            # own settings, e.g. householdStats' plan_cache_mode=auto, come after and win).
            env={
                **os.environ,
                "PGOPTIONS": f"-c jit=off -c plan_cache_mode=force_generic_plan {options}".strip(),
            },
        )
        out = await _communicate(process)
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"pgbench failed: {text[-2000:]}")
        latencies = _logged_latencies(folder)
    processed = re.search(r"number of transactions actually processed: (\d+)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    if not processed or not tps or not latencies:
        raise RuntimeError(f"cannot read pgbench's output: {text[-2000:]}")
    count = int(processed.group(1))
    return Result(
        requests=count,
        seconds=count / float(tps.group(1)),
        rps=float(tps.group(1)),
        p50_ms=_percentile(latencies, 50),
        p95_ms=_percentile(latencies, 95),
        p99_ms=_percentile(latencies, 99),
        mean_ms=statistics.fmean(latencies),
        errors=int(failed.group(1)) if failed else 0,
        bytes_per_request=math.nan,
    )


async def _communicate(process: asyncio.subprocess.Process) -> bytes:
    """The child's output; a cancelled run (Ctrl-C) takes its load generator with it."""
    try:
        out, _ = await process.communicate()
    except asyncio.CancelledError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    return out


def _percentile(ordered: list[float], percent: float) -> float:
    index = min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))
    return ordered[index]
