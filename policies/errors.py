"""What is wrong with a policy directory, with file and line for the reviewer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One defect of the policy files; ``line`` is 1-based (0 when it concerns the whole file)."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class PolicyError(Exception):
    """The policy directory cannot be loaded; ``problems`` lists every defect found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        summary = "; ".join(str(problem) for problem in self.problems[:3])
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        super().__init__(f"{len(self.problems)} policy problem(s): {summary}{more}")
