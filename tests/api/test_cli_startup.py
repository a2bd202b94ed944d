"""The command line starts fast: ``--help`` imports no database driver, policy engine or importer.

Every ``--help`` took 2.2 s when all sub-commands were imported eagerly; now a
sub-command's module is imported when it runs or shows its own help, and keeps
its heavy imports inside the functions that use them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Final

import pytest

from api.cli import COMMANDS
from tests.support import REPO

HEAVY = (
    "asyncpg",
    "sqlalchemy",
    "alembic",
    "pyarrow",
    "numpy",
    "strawberry",
    "casbin",
    "authlib",
    "cryptography",
    "pydantic_settings",  # (typer itself imports pydantic)
    "uvicorn",
    "starlette",
    "policies",
    "db.importer",
    "db.seed",
)
PROBE = """
import sys
import typer.main
from api.cli import COMMANDS, app

group = typer.main.get_command(app)
context = group.make_context("regsosek", [], resilient_parsing=True)
for name in COMMANDS:
    command = group.get_command(context, name)
    command.get_help(command.make_context(name, [], resilient_parsing=True))
group.get_help(context)
print("HEAVY:", " ".join(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m in HEAVY)))
"""


def test_no_help_imports_a_heavy_module() -> None:
    probe = f"HEAVY = {HEAVY!r}\n{PROBE}"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "Usage:" in shown.stdout
    assert shown.stdout.splitlines()[-1].split() == ["HEAVY:"]


HELPS: Final = [(), *((name,) for name in COMMANDS)]
PACKAGES: Final = ("api", "audit", "db", "policies", "schema", "errors.py", "regsosek")


@dataclass(frozen=True)
class Help:
    returncode: int
    stdout: str
    stderr: str
    cpu: float
    """CPU seconds of the child (user + system), from its own resource usage."""
    wall: float


@pytest.fixture(scope="module")
def helps(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], Help]:
    """Every ``--help`` run at once (they were 16 runs one after the other, 1 s each on a busy
    machine); each child's CPU time is its own (``os.wait4``), whatever runs beside it."""
    directory = tmp_path_factory.mktemp("helps")
    # Start-up is measured with the product's bytecode written, as after any first run: in a
    # fresh clone every child would otherwise compile the same modules at once (0.8-1.0 s of
    # CPU each on this machine, against 0.4-0.6 s warm), which is not what a user waits for.
    subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=REPO, check=True)
    started = time.monotonic()
    children = {}
    for index, words in enumerate(HELPS):
        with (
            (directory / f"{index}.out").open("wb") as out,
            (directory / f"{index}.err").open("wb") as err,
        ):
            children[words] = (
                index,
                subprocess.Popen(
                    [sys.executable, "-m", "regsosek", *words, "--help"],
                    cwd=REPO,
                    stdout=out,
                    stderr=err,
                ),
            )
    answers = {}
    for words, (index, child) in children.items():
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        answers[words] = Help(
            returncode=child.returncode,
            stdout=(directory / f"{index}.out").read_text(),
            stderr=(directory / f"{index}.err").read_text(),
            cpu=usage.ru_utime + usage.ru_stime,
            wall=time.monotonic() - started,
        )
    return answers


@pytest.mark.parametrize("words", HELPS, ids=lambda words: " ".join(words) or "regsosek")
def test_help_answers_within_a_generous_bound(
    helps: dict[tuple[str, ...], Help], words: tuple[str, ...]
) -> None:
    """Counted in CPU seconds of the child, which a busy shared machine does not inflate as it
    does wall time: 0.15-0.4 s now (0.2-0.5 s wall on an idle 2-core machine); 1.1-1.3 s when
    every sub-command was imported eagerly (2.2 s wall)."""
    answer = helps[words]
    assert answer.returncode == 0, answer.stderr
    assert "Usage: python -m regsosek" in answer.stdout
    cpu, elapsed = answer.cpu, answer.wall
    assert cpu < 0.8, f"`regsosek {' '.join(words)} --help`: {cpu:.2f} s CPU ({elapsed:.2f} s wall)"
