"""Patched copies of the product tree, to A/B a proposed change without touching the real one.

    .venv/bin/python -m bench.experiments session-program bench/.work/exp/session-program
    .venv/bin/python -m bench.run --quick --workers 1 --runs 3 \\
        --compare-tree bench/.work/exp/session-program --output ab-session-program

Each experiment copies ``api/``, ``schema/``, ``policies/``, ``db/`` and
``migrations/`` as they are now (uncommitted work included, so A and B differ
only by the patch) and applies a small textual patch. These are measurements
of an idea's worth, not the implementation the product should take: each
docstring says what the real change would be.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "schema", "policies", "db", "migrations")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"{path}: the code this experiment patches has changed: {old[:60]!r}")
    path.write_text(text.replace(old, new, 1))


def session_program(tree: Path) -> None:
    """Reads without ``BEGIN READ ONLY; SET LOCAL`` and ``COMMIT``: two round trips fewer.

    The connection keeps ``regsosek.program`` (and ``default_transaction_read_only``)
    as *session* settings, set again only when the next request is another
    program's; a single-statement read then runs in its own implicit
    transaction. The real change: one pool per program whose connections are
    opened with ``server_settings={"regsosek.program": …,
    "default_transaction_read_only": "on"}`` (a connection can then never
    serve another program), keeping the explicit transaction only for
    operations with several statements.
    """
    reader = tree / "db" / "reader.py"
    opening = "BEGIN READ ONLY; SET LOCAL regsosek.program = '{program}'"
    session = "SET regsosek.program = '{program}'; SET default_transaction_read_only = on"
    _replace(
        reader,
        f'    await connection.execute(f"{opening}")',
        "    pid = connection.get_server_pid()\n"
        "    if _SESSION_PROGRAM.get(pid) != program:\n"
        f'        await connection.execute(f"{session}")\n'
        "        _SESSION_PROGRAM[pid] = program",
    )
    _replace(reader, 'await connection.execute("COMMIT")', "pass  # autocommit")
    _replace(
        reader,
        "\nasync def _open(",
        "\n_SESSION_PROGRAM: dict[int, str] = {}\n\n\nasync def _open(",
    )


def audit_async_commit(tree: Path) -> None:
    """Upper bound only (it breaks the contract): the audit commit does not wait for the WAL
    flush, so the difference is what the fsync in every request's path costs here."""
    _replace(
        tree / "api" / "audit" / "writer.py",
        '"synchronous_commit": "on"',
        '"synchronous_commit": "off"',
    )


def gc_freeze(tree: Path) -> None:
    """``gc.freeze()`` once the app has started: the schemas, policies and caches built at
    start-up (a large object graph) leave the collector's generations, so full collections
    under load no longer walk them. The real change is the same two lines in
    ``api/app.py``'s lifespan (and again after a policy reload)."""
    app = tree / "api" / "app.py"
    _replace(
        app,
        "            yield\n\n    routes = [",
        "            gc.collect()\n            gc.freeze()\n            yield\n\n    routes = [",
    )
    _replace(
        app,
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nimport gc\n",
    )


def combined(tree: Path) -> None:
    """``gc-freeze`` (run with ``--compare-env REGSOSEK_LOG_LEVEL=WARNING`` for the second
    cheap change). ``session-program`` is left out: a tree whose fast path sends statements
    that set their own program (``CompiledStatement.gated``) already saves those round trips."""
    gc_freeze(tree)


EXPERIMENTS: dict[str, Callable[[Path], None]] = {
    "combined": combined,
    "gc-freeze": gc_freeze,
    "session-program": session_program,
    "audit-async-commit": audit_async_commit,
}


def build(name: str, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    EXPERIMENTS[name](target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments")
    parser.add_argument("name", choices=sorted(EXPERIMENTS))
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    print(build(args.name, args.target.resolve()))


if __name__ == "__main__":
    main()
