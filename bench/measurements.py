"""What one timed run measured, and the runs of one system in one cell (median and range)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Run:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int
    bytes_per_request: float
    server_cpu_ms: float
    """CPU of the server's process tree per request."""
    pg_cpu_ms: float
    """CPU of the bench database's PostgreSQL backends per request."""
    client_cpu_ms: float
    others_pct: float
    """Machine CPU not explained by server, PostgreSQL and load generator, in % of all cores."""
    internals: dict[str, float] = field(default_factory=dict)
    """The gateway's own /metrics over the run: audit wait, chain step, batch, latency;
    and ``pg_<application_name>_ms``: PostgreSQL CPU per request by backend kind."""
    round: int = 0
    """Which interleaved round (1, 2, 3 …) the run belongs to."""
    attempts: int = 1
    """Timed attempts it took: a run is repeated while others' load exceeds the limit."""
    noisy: bool = False
    """Others' load still exceeded the limit on its last attempt."""

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Run:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


def _median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


@dataclass
class Measurement:
    size: int
    system: str
    workers: int | None
    query: str
    concurrency: int
    runs: list[Run] = field(default_factory=list)
    rss_mb_max: float | None = None
    """Largest RSS of one process of the server (a worker), after the runs."""
    rss_mb_total: float | None = None
    phase: str = "main"
    """``main``: the systems side by side on one size; ``growth``: sizes side by side."""

    @property
    def label(self) -> str:
        return f"{self.system} x{self.workers}" if self.workers else self.system

    @property
    def key(self) -> tuple[str, int, str, int | None, str, int]:
        return (self.phase, self.size, self.system, self.workers, self.query, self.concurrency)

    def median(self, name: str) -> float:
        return _median([getattr(run, name) for run in self.runs])

    def range(self, name: str) -> tuple[float, float]:
        values = [v for run in self.runs if not math.isnan(v := getattr(run, name))]
        return (min(values), max(values)) if values else (math.nan, math.nan)

    def internal(self, name: str) -> float:
        return _median([run.internals[name] for run in self.runs if name in run.internals])

    @property
    def cpu_ms(self) -> float:
        """Server and PostgreSQL CPU per request (medians)."""
        return self.median("server_cpu_ms") + self.median("pg_cpu_ms")

    def spread(self) -> float:
        """(max - min) / median of requests/s across runs, in %."""
        low, high = self.range("rps")
        median = self.median("rps")
        if len(self.runs) < 2 or median == 0:
            return 0.0  # one run, or a system that answered nothing in most runs
        return 100 * (high - low) / median

    def as_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "system": self.system,
            "workers": self.workers,
            "query": self.query,
            "concurrency": self.concurrency,
            "phase": self.phase,
            "median": {
                name: self.median(name)
                for name in ("rps", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms", "pg_cpu_ms")
            },
            "range": {name: self.range(name) for name in ("rps", "p50_ms", "p99_ms")},
            "spread_pct": self.spread(),
            "rss_mb_max": self.rss_mb_max,
            "rss_mb_total": self.rss_mb_total,
            "runs": [run.__dict__ for run in self.runs],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Measurement:
        return cls(
            raw["size"],
            raw["system"],
            raw["workers"],
            raw["query"],
            raw["concurrency"],
            [Run.from_json(run) for run in raw["runs"]],
            raw.get("rss_mb_max"),
            raw.get("rss_mb_total"),
            raw.get("phase", "main"),
        )


@dataclass
class OpenRun:
    rate: float
    achieved_rps: float
    sent: int
    dropped: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    error_rate: float
    client_cpu_ms: float
    others_pct: float
    round: int = 0
    attempts: int = 1
    noisy: bool = False

    @property
    def dropped_pct(self) -> float:
        return 100 * self.dropped / max(1, self.sent + self.dropped)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OpenRun:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


@dataclass
class OpenMeasurement:
    """One system at one fixed arrival rate: ``share`` of a peak (its own, or another's)."""

    size: int
    system: str
    workers: int | None
    query: str
    share: float
    of: str
    """Whose peak: the system's own label, or e.g. ``postgraphile x2``."""
    peak_rps: float
    runs: list[OpenRun] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.system} x{self.workers}" if self.workers else self.system

    @property
    def rate(self) -> float:
        return self.share * self.peak_rps

    @property
    def key(self) -> tuple[int, str, int | None, str, float, str]:
        return (self.size, self.system, self.workers, self.query, self.share, self.of)

    def median(self, name: str) -> float:
        return _median([float(getattr(run, name)) for run in self.runs])

    def range(self, name: str) -> tuple[float, float]:
        values = [v for run in self.runs if not math.isnan(v := float(getattr(run, name)))]
        return (min(values), max(values)) if values else (math.nan, math.nan)

    def as_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "system": self.system,
            "workers": self.workers,
            "query": self.query,
            "share": self.share,
            "of": self.of,
            "peak_rps": self.peak_rps,
            "rate": self.rate,
            "median": {n: self.median(n) for n in ("p50_ms", "p99_ms", "achieved_rps")},
            "range": {n: self.range(n) for n in ("p50_ms", "p99_ms")},
            "runs": [{**run.__dict__, "dropped_pct": run.dropped_pct} for run in self.runs],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OpenMeasurement:
        return cls(
            raw["size"],
            raw["system"],
            raw["workers"],
            raw["query"],
            raw["share"],
            raw["of"],
            raw["peak_rps"],
            [OpenRun.from_json(run) for run in raw["runs"]],
        )
