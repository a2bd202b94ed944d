"""What the importers report about bad input: one :class:`Problem` per bad value or row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """A bad value: the file, the line (CSV) or row (Parquet), the column, and why."""

    file: str
    line: int
    column: str
    reason: str
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.file} {self.unit} {self.line}, column {self.column}: {self.reason}"


class Unreadable(Exception):
    """An input that cannot be read at all (missing, not CSV/Parquet, wrong encoding…)."""


class ImportRejected(Exception):
    """Validation found bad rows; nothing was written."""

    def __init__(self, problems: Sequence[Problem], *, notes: Sequence[str] = ()) -> None:
        self.problems = sorted(problems)
        self.notes = tuple(notes)
        """How files were read (a ';' separator), to show before the problems."""
        rows = {(problem.file, problem.line) for problem in self.problems}
        super().__init__(
            f"{len(self.problems)} problem(s) in {len(rows)} row(s); nothing was written"
        )
