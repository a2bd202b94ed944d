"""Medians, ranges, ratios, targets; the Markdown and JSON written to ``bench/results/``.

A result file is rewritten after every cell, so an interrupted run leaves
everything measured so far, and ``--resume`` reads it back (``Report.load``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import report_tables as tables
from bench.measurements import Measurement, OpenMeasurement

RESULTS = Path(__file__).resolve().parent / "results"
RATIO_SYSTEMS = {
    # name in the ratio columns: the system compared with the gateway at the same workers
    "PostGraphile": "postgraphile",
    "PostGraphile-view": "postgraphile-view",
    "peer": "peer",
    "HTTP-floor": "http-floor",
    "HTTP-floor-RLS": "http-floor-rls",
    "DB-floor": "db-floor",
    "gateway-b": "gateway-b",
}
HEADLINE_C = 16
"""The concurrency of the printed ratio lines (the issue's targets are at c=16)."""


@dataclass
class Report:
    mode: str
    meta: dict[str, Any]
    main_size: int
    primary_workers: int
    """Fixed before the run (the largest ``--workers``): the ratio lines use it."""
    measurements: list[Measurement] = field(default_factory=list)
    open_loop: list[OpenMeasurement] = field(default_factory=list)
    checks: dict[str, dict[str, str]] = field(default_factory=dict)
    orders: dict[str, list[list[str]]] = field(default_factory=dict)
    """Per cell, the systems in the order they ran, one list per round (seeded shuffle)."""
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    profile_text: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def find(
        self,
        size: int,
        system: str,
        query: str,
        concurrency: int,
        workers: int | None = None,
        *,
        phase: str = "main",
    ) -> Measurement | None:
        for m in self.measurements:
            same = (m.size, m.system, m.query, m.concurrency, m.phase) == (
                size,
                system,
                query,
                concurrency,
                phase,
            )
            if same and m.runs and (workers is None or m.workers in (workers, None)):
                return m
        return None

    @property
    def main(self) -> list[Measurement]:
        return [m for m in self.measurements if m.phase == "main"]

    def peak(self, size: int, system: str, workers: int | None, query: str) -> float:
        """The best median req/s of one system over the concurrencies measured."""
        values = [
            m.median("rps")
            for m in self.measurements
            if (m.size, m.system, m.workers, m.query) == (size, system, workers, query) and m.runs
        ]
        return max(values, default=math.nan)

    def ratios(self, size: int, workers: int) -> list[dict[str, Any]]:
        rows = []
        seen = sorted({(m.query, m.concurrency) for m in self.main if m.size == size})
        for query, concurrency in seen:
            gateway = self.find(size, "gateway", query, concurrency, workers)
            if gateway is None:
                continue
            row: dict[str, Any] = {
                "query": query,
                "concurrency": concurrency,
                "workers": workers,
                "gateway_rps": gateway.median("rps"),
            }
            for name, system in RATIO_SYSTEMS.items():
                other = self.find(size, system, query, concurrency, workers)
                if other is None:
                    continue
                row[f"gateway/{name}"] = _ratio(gateway.median("rps"), other.median("rps"))
                row[f"p99 gateway/{name}"] = _ratio(
                    gateway.median("p99_ms"), other.median("p99_ms")
                )
                row[f"cpu gateway/{name}"] = _ratio(other.cpu_ms, gateway.cpu_ms)
                row[f"p50 {name}/gateway"] = _ratio(
                    other.median("p50_ms"), gateway.median("p50_ms")
                )
            rows.append(row)
        return rows

    def last_lines(self) -> list[str]:
        """``Q1 gateway/PostGraphile …x gateway/HTTP-floor …x`` per query (c=16, fixed workers)."""
        rows = self.ratios(self.main_size, self.primary_workers)
        available = sorted({row["concurrency"] for row in rows})
        if not available:
            return []
        top = HEADLINE_C if HEADLINE_C in available else available[-1]
        lines = []
        for row in rows:
            if row["concurrency"] != top:
                continue
            parts = [row["query"]]
            for name in ("PostGraphile", "HTTP-floor", "DB-floor", "peer"):
                key = f"gateway/{name}"
                if key in row:
                    value = row[key]
                    parts.append(f"{key} {'n/a' if math.isnan(value) else f'{value:.2f}x'}")
            if len(parts) == 1:
                parts.append(f"gateway only {row['gateway_rps']:.0f} req/s")
            parts.append(f"(c={top}, gateway x{self.primary_workers})")
            lines.append(" ".join(parts))
        return lines

    def markdown(self) -> str:
        return "\n".join(tables.markdown(self))

    def as_json(self) -> dict[str, Any]:
        sizes = sorted({m.size for m in self.measurements})
        return {
            "mode": self.mode,
            "meta": self.meta,
            "main_size": self.main_size,
            "primary_workers": self.primary_workers,
            "measurements": [m.as_json() for m in self.measurements],
            "open_loop": [m.as_json() for m in self.open_loop],
            "ratios": {
                f"{size} x{workers}": self.ratios(size, workers)
                for size in sizes
                for workers in sorted({m.workers for m in self.measurements if m.workers})
            },
            "checks": self.checks,
            "orders": self.orders,
            "targets": [
                {"target": t, "measured": v, "met": met} for t, v, met in tables.targets(self)
            ],
            "profiles": self.profiles,
            "notes": self.notes,
            "last_lines": self.last_lines(),
        }

    def write(self, stem: str) -> list[Path]:
        RESULTS.mkdir(exist_ok=True)
        md, js = RESULTS / f"{stem}.md", RESULTS / f"{stem}.json"
        md.write_text(self.markdown())
        js.write_text(json.dumps(self.as_json(), indent=1, default=str) + "\n")
        return [md, js]

    @classmethod
    def load(cls, path: Path) -> Report:
        """A result file read back, to resume the run that wrote it."""
        raw = json.loads(path.read_text())
        return cls(
            raw["mode"],
            raw["meta"],
            raw["main_size"],
            raw["primary_workers"],
            [Measurement.from_json(m) for m in raw["measurements"]],
            [OpenMeasurement.from_json(m) for m in raw.get("open_loop", [])],
            raw.get("checks", {}),
            raw.get("orders", {}),
            raw.get("profiles", {}),
            [],
            raw.get("notes", []),
        )


def _ratio(a: float, b: float) -> float:
    """a / b; NaN when b is zero or unknown (a system that answered nothing in time)."""
    return a / b if b and not math.isnan(b) else math.nan
