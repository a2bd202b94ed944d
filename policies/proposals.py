"""What a program may propose (``proposals:`` in its YAML file): kinds and import-layout columns.

Agencies propose, BPS decides (CONTRACT §11). A program's file says which kinds of
proposal it may make and which columns of the import layout (``db.layout``) it may
propose values for, by column name, with ``*`` patterns (``asset_*``)::

    proposals:
      kinds: [KOREKSI, SANGGAH]       # USUL, SANGGAH, KOREKSI, REACTIVATE
      fields: [tenure, floor_area, "asset_*"]
      region: "3509720"               # optional: where a new family (USUL) may be proposed

Household columns are proposed for a household in the program's row scope (or, for
``USUL``, a new family in ``region``); person columns (``REACTIVATE``) for a person in it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from enum import StrEnum

from db.layout import HOUSEHOLDS, PERSONS
from policies.yamlnodes import Node, Reader


class ProposalKind(StrEnum):
    """``USUL``: a new family (the desa's musyawarah); ``SANGGAH``: an objection to a
    recipient; ``KOREKSI``: corrected values (a field re-survey, ground check);
    ``REACTIVATE``: a member dropped from PBI-JKN to be reinstated."""

    USUL = "USUL"
    SANGGAH = "SANGGAH"
    KOREKSI = "KOREKSI"
    REACTIVATE = "REACTIVATE"


HOUSEHOLD_COLUMNS = tuple(name for name in HOUSEHOLDS.names if name != "kk_number")
PERSON_COLUMNS = tuple(name for name in PERSONS.names if name not in ("kk_number", "nik"))
PROPOSABLE = HOUSEHOLD_COLUMNS + PERSON_COLUMNS
"""Columns a proposal may name (identity columns are not proposed: they identify)."""


@dataclass(frozen=True)
class ProposalGrant:
    kinds: frozenset[ProposalKind]
    fields: frozenset[str]
    """Import-layout columns, patterns expanded."""
    region: str | None = None
    """The BPS region code a new family (``USUL``) must lie in."""


def read_proposals(reader: Reader, node: Node) -> ProposalGrant | None:
    """The ``proposals:`` section, or None after recording its problems in ``reader``."""
    entries = reader.mapping(node, "proposals")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"kinds", "fields", "region"}, what="proposals")
    before = len(reader.problems)
    kinds: set[ProposalKind] = set()
    fields: set[str] = set()
    for key in ("kinds", "fields"):
        if key not in entries:
            reader.problem(node, f"proposals needs {key}")
    for item in _items(reader, entries, "kinds"):
        text = reader.string(item, "a proposal kind")
        if text is not None and text not in ProposalKind.__members__:
            expected = ", ".join(ProposalKind)
            reader.problem(item, f"unknown proposal kind {text!r} (expected one of {expected})")
        elif text is not None:
            kinds.add(ProposalKind(text))
    for item in _items(reader, entries, "fields"):
        text = reader.string(item, "an import-layout column")
        if text is None:
            continue
        matched = fnmatch.filter(PROPOSABLE, text)
        if not matched:
            reader.problem(item, f"{text!r} names no proposable column of the import layout")
        fields.update(matched)
    region = None
    if "region" in entries:
        region = reader.string(entries["region"][1], "proposals.region")
        if region is not None and not (region.isdigit() and len(region) in (2, 4, 7, 10)):
            reason = "proposals.region must be a BPS code (2, 4, 7 or 10 digits)"
            reader.problem(entries["region"][1], reason)
    if ProposalKind.USUL in kinds and "region" not in entries:
        reader.problem(node, "proposals.region is required to propose new families (USUL)")
    if len(reader.problems) > before:
        return None
    return ProposalGrant(frozenset(kinds), frozenset(fields), region)


def _items(reader: Reader, entries: dict[str, tuple[Node, Node]], key: str) -> list[Node]:
    if key not in entries:
        return []
    return reader.sequence(entries[key][1], f"proposals.{key}") or []
