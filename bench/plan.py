"""What a bench run will do, from its mode and options, and how long that will take.

Modes (``python -m bench.run --quick | --full | --growth``):

* ``quick``: 100,000 households, Q1 and Q2, c=16, gateway / PostGraphile / HTTP
  floor at 1 and 2 workers, 3 interleaved rounds of 5 s after a 2 s warm-up.
* ``full`` (``make bench``): 100,000 and 1,000,000 households, Q1-Q4,
  c = 1, 16, 64, every system, 3 rounds of 10 s after a 3 s warm-up; then Q1 and
  Q2 open-loop at 50/80/95 % of each system's peak on the largest size; py-spy.
* ``growth`` (``make bench-growth``): 1,000,000 beside 10,000,000 households
  (seeded by the bench, disk checked first), Q1, Q2 and householdStats, c = 1
  and 16, the gateway, PostGraphile and the RLS DB floor, sizes interleaved.

Every option narrows or changes one mode: ``--systems``, ``--queries``,
``--sizes``, ``--concurrency``, ``--workers``, ``--runs``, ``--duration``,
``--warmup``, ``--open-loop``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

ALL_SYSTEMS = (
    "gateway",
    "postgraphile",
    "postgraphile-view",
    "peer",
    "http-floor",
    "http-floor-rls",
    "db-floor",
    "db-floor-rls",
)
PER_WORKERS = frozenset(ALL_SYSTEMS) - {"db-floor", "db-floor-rls"}
"""Systems started once per worker count; pgbench floors run once per size."""
OPEN_LOOP_SYSTEMS = (
    "gateway",
    "gateway-b",
    "postgraphile",
    "postgraphile-view",
    "peer",
    "http-floor",
)
OPEN_LOOP_SHARES = (0.5, 0.8, 0.95)
PROFILED = ("Q1", "Q2", "Q4")
"""The queries py-spy profiles the gateway under (Q4: its served householdStats)."""
RUN_OVERHEAD_S = 2.5
"""CHECKPOINT, starting the load generator, sampling: seconds per timed run beyond its own."""
GROUP_START_S = 45.0
"""Starting the servers of one group, token, same-rows checks."""
SEED_S_PER_MILLION = 120.0


@dataclass
class Plan:
    mode: str
    sizes: list[int]
    queries: list[str]
    concurrency: list[int]
    runs: int
    duration: float
    warmup: float
    workers: list[int]
    systems: list[str]
    open_loop: list[str]
    """Queries measured open-loop, on the largest size."""
    profile: bool
    fresh: bool
    seed: int = 20_261_207
    noise_pct: float = 5.0
    """A run is repeated while others' load exceeds this share of the machine."""
    noise_retries: int = 2
    compare_tree: Path | None = None
    compare_env: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    resume: bool = False
    server: str | None = None
    """An external PostgreSQL server's URL; None: the bench's own cluster."""
    port: int = 15432

    @property
    def compares(self) -> bool:
        return self.compare_tree is not None or bool(self.compare_env)

    @property
    def growth(self) -> bool:
        return self.mode == "growth"

    @property
    def stem(self) -> str:
        return self.output or self.mode

    def describe(self) -> str:
        return (
            f"sizes {self.sizes}, {','.join(self.queries)}, c in {self.concurrency}, workers"
            f" {self.workers}, systems {','.join(self.systems)}; {self.runs} rounds x"
            f" {self.duration:.0f} s after a {self.warmup:.0f} s warm-up each; open loop"
            f" {','.join(self.open_loop) or 'none'}; noise limit {self.noise_pct:.0f} %"
        )

    def contenders(self, query: str, *, first_group: bool) -> list[str]:
        chosen = []
        for system in self.systems:
            if system not in PER_WORKERS and not first_group and not self.growth:
                continue
            if query == "Q4" and system not in ("gateway", "db-floor", "db-floor-rls"):
                continue
            chosen.append(system)
        if self.compares:
            chosen.append("gateway-b")
        return chosen

    def estimate_seconds(self, *, missing: dict[int, bool]) -> float:
        """Wall time before noise repeats; ``missing``: sizes whose database must be seeded."""
        per_run = self.warmup + self.duration + RUN_OVERHEAD_S
        total = sum(SEED_S_PER_MILLION * size / 1e6 for size, gone in missing.items() if gone)
        groups = 1 if self.growth else len(self.workers)
        sizes = 1 if self.growth else len(self.sizes)
        total += GROUP_START_S * groups * sizes
        for size_index in range(sizes):
            for index in range(groups):
                for query in self.queries:
                    systems = len(self.contenders(query, first_group=index == 0))
                    if self.growth:
                        systems *= len(self.sizes)
                    total += systems * len(self.concurrency) * self.runs * per_run
                    if query in self.open_loop and not self.growth and size_index == 0:
                        open_systems = [s for s in self.systems if s in OPEN_LOOP_SYSTEMS]
                        rates = len(open_systems) * len(OPEN_LOOP_SHARES) + 1
                        total += rates * self.runs * per_run
        if self.profile:
            total += 30 * len([q for q in self.queries if q in PROFILED])
        return total


MODES = {
    "quick": dict(
        sizes=[100_000],
        queries=["Q1", "Q2"],
        concurrency=[16],
        runs=3,
        duration=5.0,
        warmup=2.0,
        workers=[1, 2],
        systems=["gateway", "postgraphile", "http-floor"],
        open_loop=[],
        profile=False,
    ),
    "full": dict(
        sizes=[1_000_000, 100_000],
        queries=["Q1", "Q2", "Q3", "Q4"],
        concurrency=[1, 16, 64],
        runs=3,
        duration=10.0,
        warmup=3.0,
        workers=[1, 2],
        systems=list(ALL_SYSTEMS),
        open_loop=["Q1", "Q2"],
        profile=True,
    ),
    "growth": dict(
        sizes=[1_000_000, 10_000_000],
        queries=["Q1", "Q2", "Q4"],
        concurrency=[1, 16],
        runs=3,
        duration=10.0,
        warmup=5.0,
        workers=[2],
        systems=["gateway", "postgraphile", "db-floor-rls"],
        open_loop=[],
        profile=False,
    ),
}


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def make_plan(args: argparse.Namespace) -> Plan:
    mode = "full" if args.full else "growth" if args.growth else "quick"
    plan = Plan(mode, fresh=args.fresh, **MODES[mode])  # type: ignore[arg-type]
    if args.systems:
        unknown = set(_list(args.systems)) - set(ALL_SYSTEMS)
        if unknown:
            raise SystemExit(f"unknown systems {sorted(unknown)}; known: {', '.join(ALL_SYSTEMS)}")
        plan.systems = [s for s in ALL_SYSTEMS if s in _list(args.systems)]
    if "gateway" not in plan.systems:
        plan.systems.insert(0, "gateway")
    if args.queries:
        plan.queries = _list(args.queries)
        plan.open_loop = [q for q in plan.open_loop if q in plan.queries]
    if args.sizes:
        plan.sizes = [int(s.replace("_", "")) for s in _list(args.sizes)]
    if args.concurrency:
        plan.concurrency = [int(c) for c in _list(args.concurrency)]
    if args.workers:
        plan.workers = [int(w) for w in _list(args.workers)]
    if args.open_loop is not None:
        plan.open_loop = [q for q in _list(args.open_loop) if q in plan.queries]
    for name in ("runs", "duration", "warmup", "seed", "port"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    if args.profile is not None:
        plan.profile = args.profile
    if args.compare_tree:
        plan.compare_tree = Path(args.compare_tree).resolve()
    for item in args.compare_env or []:
        key, _, value = item.partition("=")
        plan.compare_env[key] = value
    plan.output, plan.resume, plan.server = args.output, args.resume, args.server
    return plan


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=description)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="100,000 households, Q1 and Q2, c=16")
    mode.add_argument("--full", action="store_true", help="the whole protocol (make bench)")
    mode.add_argument("--growth", action="store_true", help="1,000,000 beside 10,000,000")
    p.add_argument("--systems", help=f"subset of {','.join(ALL_SYSTEMS)} (gateway always)")
    p.add_argument("--queries", help="e.g. Q1,Q2")
    p.add_argument("--sizes", help="households, e.g. 100000,1000000")
    p.add_argument("--concurrency", help="e.g. 1,16,64")
    p.add_argument("--workers", help="gateway workers = PostGraphile processes, e.g. 1,2")
    p.add_argument("--open-loop", help="queries measured at fixed arrival rates, e.g. Q1,Q2")
    p.add_argument("--runs", type=int, help="interleaved rounds per cell (at least 3 to report)")
    p.add_argument("--duration", type=float, help="seconds per timed run")
    p.add_argument("--warmup", type=float, help="seconds of warm-up before every timed run")
    p.add_argument("--seed", type=int, help="seed of the run order (recorded)")
    p.add_argument("--fresh", action="store_true", help="rebuild the bench databases")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="start the cluster, install the peers, seed the plan's sizes, then stop (no timing:"
        " the machine need not be quiet)",
    )
    p.add_argument("--resume", action="store_true", help="skip cells the result file holds")
    p.add_argument("--server", help="an external PostgreSQL URL instead of the bench's cluster")
    p.add_argument("--port", type=int, help="port of the bench's own cluster (15432)")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--output", help="write bench/results/<output>.{md,json} (default: the mode)")
    p.add_argument(
        "--compare-tree",
        help="also time 'gateway-b' importing api/schema/policies/db from this copy of the tree",
    )
    p.add_argument(
        "--compare-env", action="append", metavar="KEY=VALUE", help="environment of gateway-b"
    )
    p.add_argument("--estimate", action="store_true", help="print the plan and its time, stop")
    return p
