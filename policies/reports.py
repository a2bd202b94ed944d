"""What a program may report delivered (``reports:`` in its YAML file): assistance programs.

A program reports the assistance it delivers itself, and nothing else (CONTRACT §11):
Dinas Sosial its PKH and BPNT, Dinas Kesehatan its PBI-JKN::

    reports:
      assistance: [PKH, BPNT]         # values of AssistanceProgram

``Mutation.reportAssistance`` and a ``reports:`` section go together (``policies.loader``);
a row naming another assistance program is refused with its index and reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.enums import AssistanceProgram
from policies.yamlnodes import Node, Reader


@dataclass(frozen=True)
class ReportGrant:
    assistance: frozenset[AssistanceProgram]
    """The assistance programs the program may report delivered."""


def read_reports(reader: Reader, node: Node) -> ReportGrant | None:
    """The ``reports:`` section, or None after recording its problems in ``reader``."""
    entries = reader.mapping(node, "reports")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"assistance"}, what="reports")
    if "assistance" not in entries:
        reader.problem(node, "reports needs assistance")
        return None
    items = reader.sequence(entries["assistance"][1], "reports.assistance")
    if items is None:
        return None
    before = len(reader.problems)
    programs: set[AssistanceProgram] = set()
    for item in items:
        text = reader.string(item, "an assistance program")
        if text is not None and text not in AssistanceProgram.__members__:
            expected = ", ".join(AssistanceProgram)
            reason = f"unknown assistance program {text!r} (expected one of {expected})"
            reader.problem(item, reason)
        elif text is not None:
            programs.add(AssistanceProgram(text))
    if not items:
        reader.problem(entries["assistance"][1], "reports.assistance names no program")
    if len(reader.problems) > before:
        return None
    return ReportGrant(frozenset(programs))
