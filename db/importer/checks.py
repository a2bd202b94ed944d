"""Checks across rows, files and the registry, before anything is written.

The import's semantics, which these checks guard:

* a family is identified by its No KK (``kk_number``). A family in the
  households file replaces the registry's family with that No KK, or is
  added;
* a family's members are replaced as a set by the persons file's rows with
  its No KK; a family in the households file without rows in the persons
  file keeps the members it has (a new family must bring its members);
* when an assistance file is part of the import, the receipts of every
  family it or the households file names are replaced as a set by its rows;
* after the import each family has ``member_count`` members, exactly one
  HEAD, distinct member numbers ``1..member_count``, and every NIK belongs
  to one person only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import asyncpg

from db.importer.parse import Record
from db.importer.problems import Problem
from db.importer.source import Source


@dataclass(frozen=True)
class ExistingFamily:
    id: int
    member_count: int


@dataclass
class Batch:
    """What an import holds, grouped by family; the input of the checks and the writer."""

    households: list[Record] = field(default_factory=list)
    persons: dict[str, list[Record]] = field(default_factory=dict)
    receipts: dict[str, list[Record]] | None = None
    """None when the import has no assistance file (receipts are left alone)."""
    existing: dict[str, ExistingFamily] = field(default_factory=dict)
    named: set[str] = field(default_factory=set)
    """Every No KK a households row names, valid row or not (so members are not orphaned twice)."""
    incomplete: set[str] = field(default_factory=set)
    """No KKs with a bad persons row: their family-level checks would only repeat that problem."""

    def families(self) -> set[str]:
        """Every No KK the import touches."""
        kks = {record.text("kk_number") for record in self.households}
        kks |= set(self.persons)
        kks |= set(self.receipts or {})
        return kks


def by_family(records: Iterable[Record]) -> dict[str, list[Record]]:
    grouped: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        grouped[record.text("kk_number")].append(record)
    return dict(grouped)


def _duplicates(
    records: Iterable[Record], key: Callable[[Record], object]
) -> list[tuple[Record, int]]:
    """Each record whose key an earlier record already had, with that earlier line."""
    first: dict[object, int] = {}
    found = []
    for record in records:
        value = key(record)
        if value in first:
            found.append((record, first[value]))
        else:
            first[value] = record.line
    return found


def check_rows(batch: Batch, sources: dict[str, Source]) -> list[Problem]:
    """Problems across the rows of the files (no database needed)."""
    problems: list[Problem] = []
    households = sources.get("households")
    persons = sources.get("persons")
    assistance = sources.get("assistance")
    if households:
        for record, earlier in _duplicates(batch.households, lambda r: r["kk_number"]):
            problems.append(
                households.problem(record.line, "kk_number", reason=f"same No KK as line {earlier}")
            )
    if persons:
        every_person = [record for group in batch.persons.values() for record in group]
        for record, earlier in _duplicates(every_person, lambda r: r["nik"]):
            problems.append(
                persons.problem(record.line, "nik", reason=f"same NIK as line {earlier}")
            )
        for kk, group in batch.persons.items():
            if kk not in batch.incomplete:
                problems += _family_problems(persons, group)
    if assistance and batch.receipts is not None:
        every_receipt = [record for group in batch.receipts.values() for record in group]
        key = lambda r: (r["kk_number"], r["program"], r["year"], r["month"])  # noqa: E731
        for record, earlier in _duplicates(every_receipt, key):
            problems.append(
                assistance.problem(
                    record.line, "month", reason=f"the same receipt is already on line {earlier}"
                )
            )
    return problems


def _family_problems(persons: Source, group: list[Record]) -> list[Problem]:
    problems = []
    for record, earlier in _duplicates(group, lambda r: r["member_no"]):
        problems.append(
            persons.problem(
                record.line, "member_no", reason=f"same member number as line {earlier}"
            )
        )
    heads = [record for record in group if record["relationship_to_head"] == "HEAD"]
    if not heads:
        problems.append(
            persons.problem(group[0].line, "relationship_to_head", reason="the family has no HEAD")
        )
    for extra in heads[1:]:
        problems.append(
            persons.problem(
                extra.line,
                "relationship_to_head",
                reason=f"a second HEAD in the family (the first is on line {heads[0].line})",
            )
        )
    return problems


async def check_registry(
    connection: asyncpg.Connection, batch: Batch, *, sources: dict[str, Source]
) -> list[Problem]:
    """Problems that need the registry: unknown desa and families, member counts, taken NIKs.

    Fills ``batch.existing`` with the families the registry already holds.
    """
    kks = sorted(batch.families() | batch.named)
    rows = await connection.fetch(
        "SELECT kk_number, id, member_count FROM households WHERE kk_number = ANY($1::text[])",
        kks,
    )
    batch.existing = {
        row["kk_number"]: ExistingFamily(row["id"], row["member_count"]) for row in rows
    }
    problems = await _unknown_desa(connection, batch, sources=sources)
    problems += _member_counts(batch, sources)
    problems += _orphans(batch, sources)
    problems += await _taken_niks(connection, batch, sources=sources)
    return problems


async def _unknown_desa(
    connection: asyncpg.Connection, batch: Batch, *, sources: dict[str, Source]
) -> list[Problem]:
    codes = sorted({record.text("desa_code") for record in batch.households})
    known = {
        row["code"]
        for row in await connection.fetch(
            "SELECT code FROM regions WHERE level = 'DESA' AND code = ANY($1::text[])", codes
        )
    }
    return [
        sources["households"].problem(
            record.line,
            "desa_code",
            reason="no desa/kelurahan with this code in the registry (load it with import-regions)",
        )
        for record in batch.households
        if record.text("desa_code") not in known
    ]


def _member_counts(batch: Batch, sources: dict[str, Source]) -> list[Problem]:
    problems = []
    in_file = {record.text("kk_number"): record for record in batch.households}
    for kk, household in in_file.items():
        if kk in batch.incomplete:
            continue
        members = batch.persons.get(kk)
        declared = household["member_count"]
        if members is not None:
            if len(members) != declared:
                reason = f"is {declared} but the persons file lists {len(members)} member(s)"
                problems.append(
                    sources["households"].problem(household.line, "member_count", reason=reason)
                )
        elif kk in batch.existing:
            kept = batch.existing[kk].member_count
            if kept != declared:
                reason = (
                    f"is {declared} but the family keeps its {kept} registered member(s)"
                    " (no rows in the persons file)"
                )
                problems.append(
                    sources["households"].problem(household.line, "member_count", reason=reason)
                )
        else:
            problems.append(
                sources["households"].problem(
                    household.line,
                    "kk_number",
                    reason="a new family needs its members in the persons file",
                )
            )
    for kk, members in batch.persons.items():
        if kk in in_file or kk in batch.named or kk in batch.incomplete or kk not in batch.existing:
            continue
        registered = batch.existing[kk].member_count
        if len(members) != registered:
            reason = (
                f"the registry's family has member_count {registered}"
                f" but this file lists {len(members)} member(s)"
            )
            problems.append(sources["persons"].problem(members[0].line, "kk_number", reason=reason))
    for kk, members in batch.persons.items():
        if kk in batch.incomplete:
            continue
        for record in members:
            number = record["member_no"]
            assert isinstance(number, int)
            if number > len(members):
                reason = f"{number} is beyond the family's {len(members)} member(s)"
                problems.append(sources["persons"].problem(record.line, "member_no", reason=reason))
    return problems


def _orphans(batch: Batch, sources: dict[str, Source]) -> list[Problem]:
    """Rows whose family is neither in the households file nor in the registry."""
    known = batch.named | set(batch.existing)
    reason = "no family with this No KK in the households file or the registry"
    problems = []
    for table, groups in (("persons", batch.persons), ("assistance", batch.receipts or {})):
        for kk, records in groups.items():
            if kk not in known:
                problems += [
                    sources[table].problem(r.line, "kk_number", reason=reason) for r in records
                ]
    return problems


async def _taken_niks(
    connection: asyncpg.Connection, batch: Batch, *, sources: dict[str, Source]
) -> list[Problem]:
    """NIKs that belong to a member of a family whose members this import does not replace."""
    by_nik = {record.text("nik"): record for group in batch.persons.values() for record in group}
    rows = await connection.fetch(
        "SELECT p.nik, h.kk_number FROM persons p JOIN households h ON h.id = p.household_id"
        " WHERE p.nik = ANY($1::text[])",
        sorted(by_nik),
    )
    return [
        sources["persons"].problem(
            by_nik[row["nik"]].line,
            "nik",
            reason=f"already belongs to a member of family {row['kk_number']} in the registry",
        )
        for row in rows
        if row["kk_number"] not in batch.persons
    ]
