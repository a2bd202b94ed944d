"""What sealed cursors cost per request (no database: the sealing is all in Python).

Times, with ``timeit`` (best of ``--repeat`` runs of ``--number`` calls each):

* ``prepare``: what every ``households`` request pays for cursors whether it asks for
  any or not (the canonical filter, the cursor scope and its random mark), measured as
  ``HouseholdsRoot.prepare`` with and without the cursor work;
* ``seal``: one cursor, and ``seal_marked`` over the JSON of a page of 100 and of 1,000
  edges (each edge's cursor sealed, the JSON text searched once);
* ``open``: one ``after`` cursor, valid and forged (a refusal does the same work).

Times are CPU time of this process (``time.process_time``), best of the repeats.

    .venv/bin/python -m bench.cursor_bench [--number 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import time
import timeit
from collections.abc import Callable
from typing import Any

from errors import BadInput
from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from schema.compiler.filters import plan_household_filter
from schema.compiler.roots import ROOTS
from schema.sealed_cursors import CursorKeys, CursorScope

PROGRAM = "dinsos-pkh"
ARGS: dict[str, Any] = {"first": 100, "filter": {"regionCode": "3509720"}}


def best_us(call: Callable[[], object], *, number: int, repeat: int) -> float:
    """CPU microseconds per call (this process's CPU time, so other processes on a shared
    machine count less), best of ``repeat``."""
    timer = timeit.Timer(call, timer=time.process_time)
    return min(timer.repeat(number=number, repeat=repeat)) / number * 1e6


def page_json(scope: CursorScope, edges: int) -> str:
    """The text PostgreSQL returns for ``edges { cursor node { id } }``: placeholders."""
    items = [
        f'{{"cursor":"{scope.mark}{n.to_bytes(8, "big").hex()}","node":{{"id":"{n}"}}}}'
        for n in range(1, edges + 1)
    ]
    return '{"edges":[' + ",".join(items) + "]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    number, repeat = options.number, options.repeat

    program = load_policies(PACKAGED_POLICY_DIR).programs[PROGRAM]
    keys = CursorKeys(os.urandom(32)).for_program(PROGRAM)
    root = ROOTS["households"]
    scope = keys.scope(connection="households", ordering="h", criteria=lambda: b"{}")
    position = (1_234_567).to_bytes(8, "big")
    cursor = scope.seal(position)
    forged = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")

    other = CursorKeys(os.urandom(32)).for_program("dinkes-pbi")
    foreign = other.scope(connection="households", ordering="h", criteria=lambda: b"{}")
    refusals = {
        "an edited byte": forged,
        "another program's": foreign.seal(position),
        "not base64url": "%%%not-a-cursor%%%",
        "an unknown key generation": "B" + cursor[1:],
    }

    def refuse(bad: str) -> Callable[[], None]:
        def attempt() -> None:
            try:
                scope.open(bad, size=8)
            except BadInput:
                return

        return attempt

    def plan_only() -> None:
        plan_household_filter(ARGS["filter"], program)

    results: list[tuple[str, float]] = [
        (
            "households prepare, total",
            best_us(
                lambda: root.prepare(ARGS, program, cursor_keys=keys), number=number, repeat=repeat
            ),
        ),
        (
            "  of which the filter plan (no cursor work)",
            best_us(plan_only, number=number, repeat=repeat),
        ),
        ("seal one cursor", best_us(lambda: scope.seal(position), number=number, repeat=repeat)),
        (
            "open one cursor",
            best_us(lambda: scope.open(cursor, size=8), number=number, repeat=repeat),
        ),
        *[
            (f"refuse {reason}", best_us(refuse(bad), number=number, repeat=repeat))
            for reason, bad in refusals.items()
        ],
    ]
    for edges in (0, 100, 1000):
        text = page_json(scope, edges)
        runs = max(5, number // max(edges, 1))
        results.append(
            (
                f"seal_marked, page of {edges:>4} edges ({len(text) // 1024} KiB)",
                best_us(lambda text=text: scope.seal_marked(text), number=runs, repeat=repeat),
            )
        )
    plain = page_json(scope, 100).replace(scope.mark, "")
    results.append(
        (
            "seal_marked, 100 edges' JSON without cursors",
            best_us(lambda: scope.seal_marked(plain), number=number, repeat=repeat),
        )
    )
    print(f"cursor_bench: best of {repeat} x {number} calls, microseconds per call")
    for name, micros in results:
        print(f"  {name:<48} {micros:10.2f}")
    print(f"  cursor length: {len(cursor)} characters")


if __name__ == "__main__":
    main()
