"""Medians, ratios, targets; the Markdown and JSON written to ``bench/results/``."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


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
    """Machine CPU not explained by server, backends and load generator, in % of all cores."""
    internals: dict[str, float] = field(default_factory=dict)
    """The gateway's own /metrics over the run: audit wait, chain step, batch, latency;
    and ``pg_<application_name>_ms``: PostgreSQL CPU per request by backend kind."""


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
    """``main``: the systems side by side on one size; ``growth``: one system on every size."""

    @property
    def label(self) -> str:
        return f"{self.system} x{self.workers}" if self.workers else self.system

    def median(self, name: str) -> float:
        values = [getattr(run, name) for run in self.runs]
        return statistics.median(values) if values else math.nan

    def internal(self, name: str) -> float:
        values = [run.internals[name] for run in self.runs if name in run.internals]
        return statistics.median(values) if values else math.nan

    @property
    def cpu_ms(self) -> float:
        """Server and PostgreSQL CPU per request (medians)."""
        return self.median("server_cpu_ms") + self.median("pg_cpu_ms")

    def spread(self) -> float:
        """(max - min) / median of requests/s across runs, in %."""
        values = [run.rps for run in self.runs]
        if len(values) < 2:
            return 0.0
        return 100 * (max(values) - min(values)) / statistics.median(values)

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
            "spread_pct": self.spread(),
            "rss_mb_max": self.rss_mb_max,
            "rss_mb_total": self.rss_mb_total,
            "runs": [run.__dict__ for run in self.runs],
        }


@dataclass
class Report:
    mode: str
    meta: dict[str, Any]
    main_size: int
    measurements: list[Measurement] = field(default_factory=list)
    checks: dict[str, dict[str, str]] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    profile_text: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    primary_workers: int | None = None

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
            if same and (workers is None or m.workers == workers):
                return m
        return None

    @property
    def main(self) -> list[Measurement]:
        return [m for m in self.measurements if m.phase == "main"]

    def choose_primary(self, worker_options: list[int]) -> int:
        """The gateway's worker count with the best geometric-mean req/s at the highest c."""
        top = max(m.concurrency for m in self.measurements)
        best, best_score = worker_options[0], -1.0
        for workers in worker_options:
            values = [
                m.median("rps")
                for m in self.main
                if m.system == "gateway"
                and m.workers == workers
                and m.concurrency == top
                and m.size == self.main_size
            ]
            if values:
                score = math.exp(statistics.fmean(math.log(v) for v in values))
                if score > best_score:
                    best, best_score = workers, score
        self.primary_workers = best
        return best

    def ratios(self, size: int) -> list[dict[str, Any]]:
        rows = []
        seen = sorted({(m.query, m.concurrency) for m in self.main if m.size == size})
        for query, concurrency in seen:
            gateway = self.find(size, "gateway", query, concurrency, self.primary_workers)
            if gateway is None:
                continue
            row: dict[str, Any] = {
                "query": query,
                "concurrency": concurrency,
                "gateway_rps": gateway.median("rps"),
            }
            others = {
                "gateway-b": self.find(size, "gateway-b", query, concurrency, self.primary_workers),
                "PostGraphile": self.find(size, "postgraphile", query, concurrency),
                "HTTP-floor": self.find(
                    size, "http-floor", query, concurrency, self.primary_workers
                ),
                "DB-floor": self.find(size, "db-floor", query, concurrency),
            }
            for name, other in others.items():
                if other is not None and other.runs:
                    row[f"gateway/{name}"] = gateway.median("rps") / other.median("rps")
                    row[f"p95 gateway/{name}"] = gateway.median("p95_ms") / other.median("p95_ms")
                    row[f"cpu gateway/{name}"] = other.cpu_ms / gateway.cpu_ms
                    row[f"p50 {name}/gateway"] = other.median("p50_ms") / gateway.median("p50_ms")
            rows.append(row)
        return rows

    def last_lines(self) -> list[str]:
        top = max((m.concurrency for m in self.measurements), default=0)
        lines = []
        for row in self.ratios(self.main_size):
            if row["concurrency"] != top:
                continue
            parts = [row["query"]]
            for name in ("PostGraphile", "HTTP-floor", "DB-floor"):
                key = f"gateway/{name}"
                if key in row:
                    parts.append(f"{key} {row[key]:.2f}x")
            if len(parts) == 1:
                parts.append(f"gateway only {row['gateway_rps']:.0f} req/s")
            lines.append(" ".join(parts))
        return lines

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """(target, measured, met) for the issue's targets that this run measured."""
        out: list[tuple[str, str, bool | None]] = []
        top = max((m.concurrency for m in self.measurements), default=0)
        rows = {(r["query"], r["concurrency"]): r for r in self.ratios(self.main_size)}
        for query, floor in (("Q1", 1.5), ("Q2", 1.0)):
            row = rows.get((query, top))
            if row and "gateway/PostGraphile" in row:
                ratio, p95 = row["gateway/PostGraphile"], row["p95 gateway/PostGraphile"]
                out.append(
                    (
                        f"{query} >= {floor}x PostGraphile at c={top}, p95 no worse",
                        f"{ratio:.2f}x, p95 {p95:.2f}x PostGraphile's",
                        ratio >= floor and p95 <= 1.0,
                    )
                )
        row = rows.get(("Q1", top))
        if row and "gateway/HTTP-floor" in row:
            ratio = row["gateway/HTTP-floor"]
            out.append(("Q1 >= 0.7x the HTTP floor", f"{ratio:.2f}x", ratio >= 0.7))
        sizes = sorted({m.size for m in self.measurements})
        if len(sizes) > 1:
            small, large = sizes[0], sizes[-1]
            for concurrency in sorted({m.concurrency for m in self.measurements}):
                a = self.find(small, "gateway", "Q1", concurrency, phase="growth")
                b = self.find(large, "gateway", "Q1", concurrency, phase="growth")
                if a and b and a.runs and b.runs:
                    growth = b.median("p50_ms") / a.median("p50_ms") - 1
                    out.append(
                        (
                            f"Q1 p50 at {large:,} within 15 % of {small:,} (c={concurrency})",
                            f"{b.median('p50_ms'):.2f} ms vs {a.median('p50_ms'):.2f} ms"
                            f" ({100 * growth:+.0f} %)",
                            growth <= 0.15,
                        )
                    )
        stats = self.find(max(sizes, default=0), "gateway", "Q4", 1, self.primary_workers)
        if stats and stats.runs:
            p50 = stats.median("p50_ms")
            out.append(
                (
                    f"householdStats over {max(sizes):,} households < 300 ms (c=1)",
                    f"p50 {p50:.0f} ms, p95 {stats.median('p95_ms'):.0f} ms",
                    p50 < 300,
                )
            )
        rss = [m.rss_mb_max for m in self.measurements if m.system == "gateway" and m.rss_mb_max]
        if rss:
            out.append(("gateway RSS < 300 MB a worker", f"max {max(rss):.0f} MB", max(rss) < 300))
        return out

    def internals_table(self, size: int) -> list[str]:
        chosen = [
            m
            for m in self.main
            if m.size == size and m.system == "gateway" and not math.isnan(m.internal("steps"))
        ]
        if not chosen:
            return []
        lines = [
            "The gateway's own /metrics over each run (medians): time from arrival to the end"
            " of the response, time waiting for the audit event's commit, audit chain steps.",
            "",
            "| query | c | gateway | server latency ms | audit wait ms | chain step ms"
            " | events a step | steps/s | PG CPU ms/req by application_name |",
            "| --- | ---: | --- " + "| ---: " * 6 + "| --- |",
        ]
        for m in sorted(chosen, key=lambda m: (m.query, m.concurrency, m.workers or 0)):
            apps = sorted({k for run in m.runs for k in run.internals if k.startswith("pg_")})
            by_app = ", ".join(f"{k[3:-3]} {m.internal(k):.2f}" for k in apps)
            lines.append(
                f"| {m.query} | {m.concurrency} | {m.label} | {m.internal('latency_ms'):.2f}"
                f" | {m.internal('audit_wait_ms'):.2f} | {m.internal('step_ms'):.2f}"
                f" | {m.internal('batch'):.1f} | {m.internal('steps_per_s'):,.0f} | {by_app} |"
            )
        return lines

    @staticmethod
    def header(*, size_column: bool = False) -> list[str]:
        first = "| households " if size_column else ""
        return [
            first + "| query | c | system | req/s | spread | p50 ms | p95 ms | p99 ms"
            " | server CPU ms | PG CPU ms | RSS MB (max / total) | KB/resp | others |",
            ("| ---: " if size_column else "") + "| --- | ---: | --- " + "| ---: " * 10 + "|",
        ]

    @staticmethod
    def rows(chosen: list[Measurement], *, size_column: bool = False) -> list[str]:
        lines = []
        for m in chosen:
            rss = (
                f"{m.rss_mb_max:.0f} / {m.rss_mb_total:.0f}"
                if m.rss_mb_max is not None and m.rss_mb_total is not None
                else ""
            )
            kb = m.median("bytes_per_request") / 1024
            errors = sum(run.errors for run in m.runs)
            lines.append(
                (f"| {m.size:,} " if size_column else "")
                + f"| {m.query} | {m.concurrency} | {m.label}"
                + (f" ({errors} errors)" if errors else "")
                + f" | {m.median('rps'):,.0f} | {m.spread():.0f} %"
                f" | {m.median('p50_ms'):.2f} | {m.median('p95_ms'):.2f}"
                f" | {m.median('p99_ms'):.2f} | {m.median('server_cpu_ms'):.2f}"
                f" | {m.median('pg_cpu_ms'):.2f} | {rss}"
                f" | {'' if math.isnan(kb) else f'{kb:.1f}'}"
                f" | {m.median('others_pct'):.0f} % |"
            )
        return lines

    def ratio_lines(self, size: int) -> list[str]:
        lines = ["", f"Ratios (gateway x{self.primary_workers}, medians):", ""]
        if any("gateway/gateway-b" in row for row in self.ratios(size)):
            lines += [
                "A/B: gateway-b against the gateway (medians of interleaved runs):",
                "",
                "| query | c | req/s b/a | p50 b/a | p95 b/a | CPU per request b/a |",
                "| --- | ---: | ---: | ---: | ---: | ---: |",
            ]
            for row in self.ratios(size):
                if "gateway/gateway-b" in row:
                    lines.append(
                        f"| {row['query']} | {row['concurrency']}"
                        f" | {1 / row['gateway/gateway-b']:.2f}x"
                        f" | {row['p50 gateway-b/gateway']:.2f}x"
                        f" | {1 / row['p95 gateway/gateway-b']:.2f}x"
                        f" | {row['cpu gateway/gateway-b']:.2f}x |"
                    )
            lines.append("")
        lines += [
            "| query | c | gateway req/s | /PostGraphile | /HTTP floor | /DB floor"
            " | p95 vs PostGraphile | requests per CPU-second vs PostGraphile"
            " | vs HTTP floor |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in self.ratios(size):
            lines.append(
                f"| {row['query']} | {row['concurrency']} | {row['gateway_rps']:,.0f}"
                f" | {_x(row, 'gateway/PostGraphile')} | {_x(row, 'gateway/HTTP-floor')}"
                f" | {_x(row, 'gateway/DB-floor')} | {_x(row, 'p95 gateway/PostGraphile')}"
                f" | {_x(row, 'cpu gateway/PostGraphile')}"
                f" | {_x(row, 'cpu gateway/HTTP-floor')} |"
            )
        return [*lines, "", *self.internals_table(size), ""]

    def markdown(self) -> str:
        meta = self.meta
        lines = [
            f"# Side-by-side benchmark ({self.mode})",
            "",
            f"{meta.get('date')}; commit `{meta.get('commit')}`"
            + (" with uncommitted product changes" if meta.get("dirty") else "")
            + f"; {meta.get('machine')}; PostgreSQL {meta.get('postgres')};"
            f" PostGraphile {meta.get('postgraphile')} on node {meta.get('node')};"
            f" wrk -t1, {meta.get('plan')}.",
            "",
            "Medians over the runs; `spread` is (max - min) / median of req/s across runs."
            " CPU is per request: the server's process tree, and the bench database's"
            " PostgreSQL backends (pg_stat_activity, /proc/<pid>/stat), sampled around"
            " each run. `others` is machine CPU used by everything else (other engineers'"
            " work on this shared 2-core machine), in % of both cores: the noise.",
            "",
        ]
        for size in sorted({m.size for m in self.main}, reverse=True):
            lines += [f"## {size:,} households", "", *self.header()]
            chosen = [m for m in self.main if m.size == size]
            chosen.sort(key=lambda m: (m.query, m.concurrency, _order(m)))
            lines += self.rows(chosen)
            lines += self.ratio_lines(size)
        growth = [m for m in self.measurements if m.phase == "growth"]
        if growth:
            growth.sort(key=lambda m: (m.query, m.concurrency, _order(m), -m.size))
            lines += [
                "## Growth: the same queries on every registry size, runs interleaved",
                "",
                *self.header(size_column=True),
                *self.rows(growth, size_column=True),
                "",
            ]
        lines += ["## Same rows", ""]
        for key, per_system in self.checks.items():
            for system, verdict in per_system.items():
                lines.append(f"- {key} {system}: {verdict}")
        lines += ["", "## Targets", ""]
        for target, measured, met in self.targets():
            mark = "met" if met else ("MISSED" if met is False else "n/a")
            lines.append(f"- {target}: {measured}: **{mark}**")
        if self.profile_text:
            lines += ["", "## Profile (py-spy)", "", *self.profile_text]
        if self.notes:
            lines += ["", "## Notes", "", *[f"- {note}" for note in self.notes]]
        lines += ["", "```", *self.last_lines(), "```", ""]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "meta": self.meta,
            "main_size": self.main_size,
            "primary_workers": self.primary_workers,
            "measurements": [m.as_json() for m in self.measurements],
            "ratios": {
                str(size): self.ratios(size) for size in {m.size for m in self.measurements}
            },
            "checks": self.checks,
            "targets": [{"target": t, "measured": v, "met": met} for t, v, met in self.targets()],
            "profiles": self.profiles,
            "notes": self.notes,
            "last_lines": self.last_lines(),
        }

    def write(self, output: str | None = None) -> list[Path]:
        RESULTS.mkdir(exist_ok=True)
        written = []
        for stem in [output] if output else ["latest", self.mode]:
            md, js = RESULTS / f"{stem}.md", RESULTS / f"{stem}.json"
            md.write_text(self.markdown())
            js.write_text(json.dumps(self.as_json(), indent=1, default=str) + "\n")
            written += [md, js]
        return written


ORDER = [
    "gateway",
    "gateway-b",
    "postgraphile",
    "http-floor",
    "db-floor",
    "db-floor-tx",
    "db-floor-rls",
]


def _order(m: Measurement) -> tuple[int, int]:
    return (ORDER.index(m.system) if m.system in ORDER else 99, m.workers or 0)


def _x(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.2f}x" if key in row else "n/a"
