"""Patched copies of the product tree, to A/B a proposed change without touching the real one.

    .venv/bin/python -m bench.experiments audit-async-commit bench/.work/exp/async-commit
    .venv/bin/python -m bench.run --quick --workers 1 --systems gateway \\
        --compare-tree bench/.work/exp/async-commit --output ab-async-commit

Each experiment copies ``api/``, ``audit/``, ``schema/``, ``policies/``, ``db/``,
``migrations/`` and ``errors.py`` as they are now (uncommitted work included, so A
and B differ only by the patch) and applies a small textual patch. These are measurements
of an idea's worth, not the implementation the product should take: each
docstring says what the real change would be.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "audit", "schema", "policies", "db", "migrations")
MODULES = ("errors.py",)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"{path}: the code this experiment patches has changed: {old[:60]!r}")
    path.write_text(text.replace(old, new, 1))


def audit_async_commit(tree: Path) -> None:
    """Upper bound only (it breaks the contract): the audit commit does not wait for the WAL
    flush, so the difference is what the fsync in every request's path costs here."""
    _replace(
        tree / "audit" / "sql" / "chain.py",
        '"synchronous_commit": "on"',
        '"synchronous_commit": "off"',
    )


EXPERIMENTS: dict[str, Callable[[Path], None]] = {
    "audit-async-commit": audit_async_commit,
}
"""Experiments whose idea the product took (``gc-freeze``: ``api.app.freeze_long_lived_objects``)
or made moot (``session-program``: compiled statements set their own program in their one
round trip, ``CompiledStatement.gated``) are gone; git history keeps them."""


def build(name: str, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for package in PACKAGES:
        if not (ROOT / package).is_dir():
            continue
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for module in MODULES:
        shutil.copy2(ROOT / module, target / module)
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
