"""The Markdown of a result file: environment, tables with medians and ranges, targets."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.measurements import Measurement
    from bench.report import Report

ORDER = [
    "gateway",
    "gateway-b",
    "postgraphile",
    "postgraphile-view",
    "peer",
    "http-floor",
    "http-floor-rls",
    "db-floor",
    "db-floor-rls",
]


def _order(m: Any) -> tuple[int, int]:
    return (ORDER.index(m.system) if m.system in ORDER else 99, m.workers or 0)


def _x(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.2f}x" if key in row and not math.isnan(row[key]) else "n/a"


def _ranged(m: Any, name: str, digits: int = 2) -> str:
    low, high = m.range(name)
    if math.isnan(low):
        return ""
    middle = m.median(name)
    if len(m.runs) < 2:
        return f"{middle:,.{digits}f}"
    return f"{middle:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def environment(meta: dict[str, Any]) -> list[str]:
    env = meta.get("environment", {})
    host, pg = env.get("machine", {}), env.get("postgres", {})
    fsync = env.get("pg_test_fsync", {})
    node = env.get("node", {}) if isinstance(env.get("node"), dict) else {}
    method = pg.get("wal_sync_method", "")
    lines = [
        "## Environment",
        "",
        f"- machine: {host.get('cpu')}, {host.get('cores')} cores, {host.get('memory_gb')} GB,"
        f" kernel {host.get('kernel')}; Python {host.get('python')}",
        f"- PostgreSQL {pg.get('server_version')} at {meta.get('server')}: "
        + ", ".join(f"{k} {v}" for k, v in pg.items() if k != "server_version"),
        f"- pg_test_fsync (one 8 kB write, {method}): {fsync.get(method, 'n/a')} ops/s"
        f" (all: {', '.join(f'{k} {v:,.0f}' for k, v in fsync.items() if k != 'seconds')})",
        f"- gateway commit `{meta.get('commit')}`"
        + (" with uncommitted product changes" if meta.get("dirty") else "")
        + f"; PostGraphile {env.get('postgraphile')} on node {node.get('node')} (it needs"
        f" {node.get('required')}; the machine's is {node.get('machine_node')}, so the bench"
        " installs node from npm);"
        f" peer {env.get('peer')}; {env.get('tools')}",
        "- disk: "
        + ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in meta.get("disk_bytes", {}).items())
        + "; audit events held at the start (they accumulate run after run): "
        + ", ".join(f"{k} {v:,}" for k, v in meta.get("audit_events_at_start", {}).items()),
        f"- plan: {meta.get('plan')}; run order seed {meta.get('seed')}",
        "",
    ]
    return lines


def header() -> list[str]:
    return [
        "| households | query | c | system | req/s | p50 ms | p99 ms | server CPU ms"
        " | PG CPU ms | RSS MB (max / total) | KB/resp | others | repeats |",
        "| ---: | --- | ---: | --- " + "| ---: " * 9 + "|",
    ]


def rows(chosen: list[Measurement]) -> list[str]:
    lines = []
    for m in chosen:
        rss = (
            f"{m.rss_mb_max:.0f} / {m.rss_mb_total:.0f}"
            if m.rss_mb_max is not None and m.rss_mb_total is not None
            else ""
        )
        kb = m.median("bytes_per_request") / 1024
        errors = sum(run.errors for run in m.runs)
        repeats = sum(run.attempts - 1 for run in m.runs)
        noisy = sum(run.noisy for run in m.runs)
        lines.append(
            f"| {m.size:,} | {m.query} | {m.concurrency} | {m.label}"
            + (f" ({errors} errors)" if errors else "")
            + f" | {_ranged(m, 'rps', 0)} | {_ranged(m, 'p50_ms')} | {_ranged(m, 'p99_ms')}"
            f" | {m.median('server_cpu_ms'):.2f} | {m.median('pg_cpu_ms'):.2f} | {rss}"
            f" | {'' if math.isnan(kb) else f'{kb:.1f}'}"
            f" | {m.median('others_pct'):.0f} % | {repeats}"
            + (f", {noisy} still noisy" if noisy else "")
            + " |"
        )
    return lines


def ratio_lines(report: Report, size: int, workers: int) -> list[str]:
    found = report.ratios(size, workers)
    if not found:
        return []
    lines = [
        "",
        f"Ratios, gateway x{workers} against each system (medians; PostGraphile and the HTTP"
        f" systems at the same {workers} process(es)):",
        "",
        "| query | c | gateway req/s | /PostGraphile | /PostGraphile-view | /peer | /HTTP floor"
        " | /HTTP floor RLS | /DB floor | p99 vs PostGraphile | req per CPU-s vs PostGraphile |",
        "| --- | ---: " + "| ---: " * 9 + "|",
    ]
    for row in found:
        lines.append(
            f"| {row['query']} | {row['concurrency']} | {row['gateway_rps']:,.0f}"
            f" | {_x(row, 'gateway/PostGraphile')} | {_x(row, 'gateway/PostGraphile-view')}"
            f" | {_x(row, 'gateway/peer')} | {_x(row, 'gateway/HTTP-floor')}"
            f" | {_x(row, 'gateway/HTTP-floor-RLS')} | {_x(row, 'gateway/DB-floor')}"
            f" | {_x(row, 'p99 gateway/PostGraphile')} | {_x(row, 'cpu gateway/PostGraphile')} |"
        )
    return lines


def internals_table(report: Report, size: int) -> list[str]:
    chosen = [
        m
        for m in report.main
        if m.size == size
        and m.system in ("gateway", "gateway-b")
        and not math.isnan(m.internal("steps"))
    ]
    if not chosen:
        return []
    lines = [
        "",
        "The gateway's own /metrics over each run (medians of per-run means): time from arrival"
        " to the end of the response, time waiting for the audit event's commit, chain steps.",
        "",
        "| query | c | gateway | server latency ms | audit wait ms | chain step ms"
        " | events a step | steps/s | PG CPU ms/req by application_name |",
        "| --- | ---: | --- " + "| ---: " * 5 + "| --- |",
    ]
    for m in sorted(chosen, key=lambda m: (m.query, m.concurrency, m.workers or 0, m.system)):
        apps = sorted({k for run in m.runs for k in run.internals if k.startswith("pg_")})
        by_app = ", ".join(f"{k[3:-3]} {m.internal(k):.2f}" for k in apps)
        lines.append(
            f"| {m.query} | {m.concurrency} | {m.label} | {m.internal('latency_ms'):.2f}"
            f" | {m.internal('audit_wait_ms'):.2f} | {m.internal('step_ms'):.2f}"
            f" | {m.internal('batch'):.1f} | {m.internal('steps_per_s'):,.0f} | {by_app} |"
        )
    return lines


def open_loop_lines(report: Report) -> list[str]:
    if not report.open_loop:
        return []
    lines = [
        "## Latency at fixed arrival rates (open loop, k6 constant-arrival-rate)",
        "",
        "Each system at 50, 80 and 95 % of its own peak (its best closed-loop median), and the"
        " gateway also at 80 % of PostGraphile's. Latency from each request's scheduled start;"
        " a request due while all virtual users were busy is dropped and counted, not delayed.",
        "",
        "| households | query | system | rate (share of whose peak) | achieved req/s"
        " | p50 ms | p99 ms | dropped | errors | others |",
        "| ---: | --- | --- | --- " + "| ---: " * 6 + "|",
    ]
    for m in sorted(report.open_loop, key=lambda m: (m.size, m.query, _order(m), m.of, m.share)):
        dropped = max((run.dropped_pct for run in m.runs), default=0.0)
        errors = max((run.error_rate for run in m.runs), default=0.0)
        lines.append(
            f"| {m.size:,} | {m.query} | {m.label} | {m.rate:,.0f}"
            f" ({100 * m.share:.0f} % of {m.of}'s {m.peak_rps:,.0f})"
            f" | {m.median('achieved_rps'):,.0f} | {_ranged(m, 'p50_ms')} | {_ranged(m, 'p99_ms')}"
            f" | {dropped:.1f} % | {100 * errors:.2f} % | {m.median('others_pct'):.0f} % |"
        )
    return [*lines, ""]


def markdown(report: Report) -> list[str]:
    meta = report.meta
    lines = [
        f"# Side-by-side benchmark ({report.mode})",
        "",
        f"{meta.get('date')}. Medians over interleaved runs (systems in a seeded random order"
        " each round, a CHECKPOINT and a fixed warm-up before every run), with the range"
        " (min-max) in brackets. CPU is per request: the server's process tree, and the bench"
        " database's PostgreSQL backends. `others` is machine CPU used by everything else, in %"
        " of all cores; a run is repeated while it exceeds the limit (`repeats`).",
        "",
        *environment(meta),
    ]
    for size in sorted({m.size for m in report.main}, reverse=True):
        chosen = sorted(
            (m for m in report.main if m.size == size),
            key=lambda m: (m.query, m.concurrency, _order(m)),
        )
        lines += [f"## {size:,} households", "", *header(), *rows(chosen)]
        for workers in sorted({m.workers for m in chosen if m.workers}):
            lines += ratio_lines(report, size, workers)
        lines += [*internals_table(report, size), ""]
    growth = sorted(
        (m for m in report.measurements if m.phase == "growth"),
        key=lambda m: (m.query, m.concurrency, _order(m), m.size),
    )
    if growth:
        lines += [
            "## Growth: the same queries on every registry size, runs interleaved",
            "",
            *header(),
            *rows(growth),
            "",
        ]
    lines += open_loop_lines(report)
    lines += ["## Same rows", ""]
    for key, per_system in report.checks.items():
        for system, verdict in per_system.items():
            lines.append(f"- {key} {system}: {verdict}")
    lines += ["", "## Targets", ""]
    for target, measured, met in targets(report):
        mark = "met" if met else ("MISSED" if met is False else "n/a")
        lines.append(f"- {target}: {measured}: **{mark}**")
    if report.profile_text:
        lines += ["", "## Profile (py-spy)", "", *report.profile_text]
    if report.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in report.notes]]
    lines += ["", "```", *report.last_lines(), "```", ""]
    return lines


def _ratio_target(
    report: Report, *, query: str, concurrency: int, name: str, floor: float
) -> tuple[str, str, bool | None] | None:
    for row in report.ratios(report.main_size, report.primary_workers):
        if (row["query"], row["concurrency"]) == (query, concurrency) and f"gateway/{name}" in row:
            ratio = row[f"gateway/{name}"]
            return (
                f"{query} >= {floor}x {name} at c={concurrency}",
                f"{ratio:.2f}x",
                ratio >= floor,
            )
    return None


def targets(report: Report) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for the issue's targets that this run measured."""
    wanted = [
        ("Q1", 16, "PostGraphile", 1.5),
        ("Q1", 1, "PostGraphile", 1.0),
        ("Q2", 16, "PostGraphile", 1.0),
        ("Q1", 16, "HTTP-floor", 0.75),
        ("Q1", 16, "peer", 3.0),
    ]
    out = [
        found
        for query, c, name, floor in wanted
        if (found := _ratio_target(report, query=query, concurrency=c, name=name, floor=floor))
    ]
    workers = report.primary_workers
    for m in report.open_loop:
        if (m.system, m.workers, m.query, m.share) == ("gateway", workers, "Q1", 0.8) and (
            m.of != m.label
        ):
            theirs = next(
                (
                    o
                    for o in report.open_loop
                    if o.label == m.of and o.query == "Q1" and o.share == 0.8 and o.of == o.label
                ),
                None,
            )
            if theirs is not None and theirs.runs and m.runs:
                mine, other = m.median("p99_ms"), theirs.median("p99_ms")
                out.append(
                    (
                        "Q1 p99 at 80 % of PostGraphile's peak no worse than PostGraphile's",
                        f"{mine:.1f} ms vs {other:.1f} ms",
                        mine <= other,
                    )
                )
    q2 = report.find(report.main_size, "gateway", "Q2", 16, workers)
    if q2 is not None and not math.isnan(q2.internal("audit_wait_ms")):
        wait = q2.internal("audit_wait_ms")
        out.append(("Q2 audit wait <= 2 ms (c=16; mean per run)", f"{wait:.2f} ms", wait <= 2))
    sizes = sorted({m.size for m in report.measurements if m.phase == "growth"})
    if len(sizes) > 1:
        small, large = sizes[-2], sizes[-1]
        for query in ("Q1", "Q2", "Q4"):
            for concurrency in sorted({m.concurrency for m in report.measurements}):
                a = report.find(small, "gateway", query, concurrency, phase="growth")
                b = report.find(large, "gateway", query, concurrency, phase="growth")
                if a and b:
                    growth = b.median("p50_ms") / a.median("p50_ms") - 1
                    out.append(
                        (
                            f"{query} p50 at {large:,} within 25 % of {small:,} (c={concurrency})",
                            f"{b.median('p50_ms'):.2f} ms vs {a.median('p50_ms'):.2f} ms"
                            f" ({100 * growth:+.0f} %)",
                            growth <= 0.25,
                        )
                    )
    largest = max((m.size for m in report.measurements), default=0)
    for phase in ("main", "growth"):
        stats = report.find(largest, "gateway", "Q4", 1, phase=phase)
        if stats is not None:
            # The gateway answers a repeated Q4 from its counts cache. A release's count is
            # made once, off the request path, by `regsosek worker` (schema.stats_fill; the
            # gateway's own statement, as db-floor-rls runs it), and the first request in
            # each process reads it (`python -m bench.stats_bench` times that path).
            p50 = stats.median("p50_ms")
            found = f"served p50 {p50:.0f} ms, p99 {stats.median('p99_ms'):.0f} ms (counts cached)"
            cold = report.find(largest, "db-floor-rls", "Q4", 1, phase=phase)
            if cold is not None:
                found += (
                    f"; the worker's count off the request path (db-floor-rls)"
                    f" p50 {cold.median('p50_ms'):.0f} ms"
                )
            out.append(
                (f"householdStats over {largest:,} households < 300 ms (c=1)", found, p50 < 300)
            )
            break
    rss = [m.rss_mb_max for m in report.measurements if m.system == "gateway" and m.rss_mb_max]
    if rss:
        out.append(("gateway RSS < 300 MB a worker", f"max {max(rss):.0f} MB", max(rss) < 300))
    return out
