"""``load_policies(directory)``: every file checked, every problem reported, one immutable set."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Final

from db.programs import PROGRAM_NAME
from policies.errors import PolicyError, Problem
from policies.fields import resolve_fields
from policies.grants import File, Grants, read_grants
from policies.inference import undone_masks
from policies.model import FieldMode, PolicySet, Program, Purpose
from policies.programfile import ProgramFile, read_program_file
from policies.purposes import narrowed_grants
from policies.yamlnodes import Reader

PACKAGED_POLICY_DIR = Path(__file__).parent
"""The policies shipped with the package (this directory)."""
MODEL_FILE = "model.conf"
POLICY_FILE = "policy.csv"
PROGRAMS_DIR = "programs"

ROW_ROOTS = {"households": "households", "household": "households"}
PERSON_ROOTS = {"persons", "person"}
FEED_ROOTS = {"changes", "releases"}
"""The change feed: only for a program with a row scope (its changes are relative to it)."""

DECIDED_KEPT: Final = 8
_decided: dict[str, PolicySet] = {}
"""Valid sets this process has loaded, by ``version`` (the hash of every file's text).

Deciding a set asks casbin about the fields of every program and counts the birth
candidates of every mask (together ~0.1-0.2 s in a fresh process); a set is immutable
and its version names exactly the bytes it was decided from, so a directory whose files
hash to a known version is answered with that set. Every gateway started in one process
(the workers' reloads, a test session's apps) decides each policy set once."""


def load_policies(directory: Path) -> PolicySet:
    """The policies of ``directory``; raises ``PolicyError`` listing every problem found.

    Besides the files' own rules, no program may read fields that undo one of
    its masks or pseudonyms (``policies.inference``).

    Every file is read once into memory first, so the version hash and the
    policy describe exactly the same bytes even if the files change meanwhile.
    """
    problems: list[Problem] = []
    files = _read_files(directory, problems)
    version = None if problems else _version_of(files)
    if version is not None and version in _decided:
        return _decided[version]
    model, policy = files.pop(MODEL_FILE, None), files.pop(POLICY_FILE, None)
    parsed: dict[str, ProgramFile] = {}
    for name, file in files.items():
        reader = Reader(file.name)
        program_file = read_program_file(reader, file.text)
        problems.extend(reader.problems)
        if program_file is not None:
            parsed[name] = program_file
    if model is None or policy is None:
        raise PolicyError(problems)
    grants, grant_problems = read_grants(model=model, policy=policy, programs=set(files))
    problems.extend(grant_problems)
    problems.extend(_pairing_problems(files, grants))
    programs: dict[str, Program] = {}
    for name, program_file in sorted(parsed.items()):
        program, program_problems = _program(name, program_file=program_file, grants=grants)
        problems.extend(program_problems)
        if program is not None:
            programs[name] = program
    if problems:
        raise PolicyError(problems)
    version = _version([model, policy, *(files[name] for name in sorted(files))])
    decided = PolicySet(version=version, programs=MappingProxyType(programs))
    while len(_decided) >= DECIDED_KEPT:
        del _decided[next(iter(_decided))]
    _decided[version] = decided
    return decided


def _read_files(directory: Path, problems: list[Problem]) -> dict[str, File]:
    """``model.conf``, ``policy.csv`` (under those names) and the program files (by program)."""
    files: dict[str, File] = {}
    for required in (MODEL_FILE, POLICY_FILE):
        file = _read(directory, required, problems=problems)
        if file is not None:
            files[required] = file
    folder = directory / PROGRAMS_DIR
    if not folder.is_dir():
        problems.append(Problem(PROGRAMS_DIR, 0, "missing directory of program files"))
        return files
    for path in sorted(folder.iterdir()):
        relative = f"{PROGRAMS_DIR}/{path.name}"
        if path.suffix == ".yml":
            problems.append(Problem(relative, 0, "use the .yaml suffix"))
        if path.suffix != ".yaml":
            continue
        if not PROGRAM_NAME.match(path.stem):
            reason = "a program file is named <program>.yaml (lower-case letters, digits, -)"
            problems.append(Problem(relative, 0, reason))
            continue
        file = _read(directory, relative, problems=problems)
        if file is not None:
            files[path.stem] = file
    return files


def _read(directory: Path, relative: str, *, problems: list[Problem]) -> File | None:
    try:
        return File(relative, (directory / relative).read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(relative, 0, "missing"))
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(relative, 0, f"cannot read: {error}"))
    return None


def _pairing_problems(files: dict[str, File], grants: Grants) -> list[Problem]:
    """Programs named in one place but not the other, and programs without an agency."""
    problems = [
        Problem(POLICY_FILE, line, f"{program} has no file {PROGRAMS_DIR}/{program}.yaml")
        for program, line in sorted(grants.mentioned.items())
        if program not in files
    ]
    for program in sorted(files):
        if program not in grants.agencies:
            problems.append(
                Problem(
                    f"{PROGRAMS_DIR}/{program}.yaml",
                    1,
                    f"{program} has no agency: add 'g, {program}, <agency-id>' to {POLICY_FILE}",
                )
            )
    return problems


def _program(
    name: str, *, program_file: ProgramFile, grants: Grants
) -> tuple[Program | None, list[Problem]]:
    problems: list[Problem] = []
    roots = grants.root_fields.get(name, frozenset())
    granted = grants.modes.get(name, {})
    fields, issues = resolve_fields(root_fields=roots, granted=granted)
    for issue in issues:
        line = grants.lines.get((name, issue.type_name, issue.field_name), 0)
        reason = f"{name}: {issue.type_name}.{issue.field_name} is granted but {issue.reason}"
        problems.append(Problem(POLICY_FILE, line, reason))
    yaml_file = f"{PROGRAMS_DIR}/{name}.yaml"
    rows_line = program_file.lines.get("rows", 1)
    for root in sorted(roots):
        line = grants.lines.get((name, "Query", root), 0)
        if root in ROW_ROOTS and program_file.household_scope is None:
            reason = f"{name}: Query.{root} is granted but rows.households is none"
            problems.append(Problem(POLICY_FILE, line, reason))
        inherited = program_file.person_scope is None and program_file.household_scope is None
        if root in PERSON_ROOTS and inherited:
            reason = f"{name}: Query.{root} is granted but the program has no person rows"
            problems.append(Problem(POLICY_FILE, line, reason))
        if root in FEED_ROOTS and inherited:
            reason = f"{name}: Query.{root} is granted but the program has no row scope"
            problems.append(Problem(POLICY_FILE, line, reason))
        if root == "assistanceOverlap" and "householdStats" not in roots:
            reason = f"{name}: Query.assistanceOverlap is granted but Query.householdStats is not"
            problems.append(Problem(POLICY_FILE, line, reason))
        if root == "householdStats" and program_file.statistics_scope is None:
            reason = f"{name}: Query.householdStats is granted but its statistics scope is none"
            problems.append(Problem(POLICY_FILE, line, reason))
    if program_file.statistics_given and "householdStats" not in roots:
        reason = "rows.statistics is given but Query.householdStats is not granted"
        problems.append(Problem(yaml_file, rows_line, reason))
    purposes = _purposes(name, program_file=program_file, roots=roots, granted=granted)
    problems.extend(purposes[1])
    problems += _write_section_problems(name, program_file=program_file, grants=grants, roots=roots)
    if problems or name not in grants.agencies:
        return None, problems
    program = Program(
        name=name,
        agency=grants.agencies[name],
        agency_name=program_file.agency_name,
        purpose=program_file.purpose,
        legal_basis=program_file.legal_basis,
        agreement=program_file.agreement,
        k_min=program_file.k_min,
        quota=program_file.quota,
        concurrent_statistics=program_file.concurrent_statistics,
        sealed_until=program_file.sealed_until,
        root_fields=roots,
        household_scope=program_file.household_scope,
        person_scope=program_file.person_scope,
        statistics_scope=(program_file.statistics_scope if "householdStats" in roots else None),
        fields=fields,
        purposes=purposes[0],
        documents_required=program_file.documents_required,
        dpia=program_file.dpia,
        controller=program_file.controller,
        proposals=program_file.proposals,
        reports=program_file.reports,
    )
    for undone in undone_masks(program):
        target = undone.field
        line = grants.lines.get((name, target.type_name, target.field_name), 0)
        problems.append(Problem(POLICY_FILE, line, undone.reason(name)))
    return (None if problems else program), problems


def _purposes(
    name: str,
    *,
    program_file: ProgramFile,
    roots: frozenset[str],
    granted: Mapping[tuple[str, str], FieldMode],
) -> tuple[tuple[Purpose, ...], list[Problem]]:
    """The program's purposes, each narrowing's fields resolved like the program's own."""
    problems: list[Problem] = []
    purposes: list[Purpose] = []
    yaml_file = f"{PROGRAMS_DIR}/{name}.yaml"
    everything: dict[tuple[str, str], object] = {("Query", root): None for root in roots}
    everything.update(granted)
    for entry in program_file.purposes:
        if entry.fields is None:
            purpose = Purpose(entry.code, entry.description, entry.case_ref_required)
            purposes.append(replace(purpose, households=entry.households))
            continue
        kept, unknown = narrowed_grants(everything, entry.fields)
        for reference in unknown:
            reason = f"purpose {entry.code} narrows to {reference}, which {name} is not granted"
            problems.append(Problem(yaml_file, entry.line, reason))
        named_roots = frozenset(field for type_name, field in kept if type_name == "Query")
        narrowed_roots = (named_roots | {"myAccess"}) if named_roots else roots
        narrowed = {key: granted[key] for key in kept if key[0] != "Query"}
        fields, issues = resolve_fields(root_fields=narrowed_roots, granted=narrowed)
        for issue in issues:
            reason = (
                f"purpose {entry.code}: {issue.type_name}.{issue.field_name} is kept"
                f" but {issue.reason}"
            )
            problems.append(Problem(yaml_file, entry.line, reason))
        purposes.append(
            Purpose(
                entry.code,
                entry.description,
                entry.case_ref_required,
                fields=fields,
                root_fields=narrowed_roots,
                households=entry.households,
            )
        )
    return tuple(purposes), problems


WRITE_SECTIONS: Final = {"proposeChange": "proposals", "reportAssistance": "reports"}
"""Each write root and the section of the program file that says what it may write:
``proposals:`` (what it may propose, about rows in its scope) and ``reports:`` (the
assistance it reports: its own). The grant and the section go together."""


def _write_section_problems(
    name: str, *, program_file: ProgramFile, grants: Grants, roots: frozenset[str]
) -> list[Problem]:
    """A write root granted without its section, or a section given without its grant."""
    problems = []
    for root, section in WRITE_SECTIONS.items():
        granted = root in roots
        given = getattr(program_file, section) is not None
        if granted and not given:
            line = grants.lines.get((name, "Query", root), 0)
            reason = f"{name}: Mutation.{root} is granted but its file has no {section}:"
            problems.append(Problem(POLICY_FILE, line, reason))
        elif given and not granted:
            line = program_file.lines.get(section, 1)
            reason = f"{section}: is given but Mutation.{root} is not granted"
            problems.append(Problem(f"{PROGRAMS_DIR}/{name}.yaml", line, reason))
    return problems


def _version_of(files: dict[str, File]) -> str | None:
    """The version the files would have as a set (None without the casbin files)."""
    model, policy = files.get(MODEL_FILE), files.get(POLICY_FILE)
    if model is None or policy is None:
        return None
    programs = sorted(name for name in files if name not in (MODEL_FILE, POLICY_FILE))
    return _version([model, policy, *(files[name] for name in programs)])


def _version(files: list[File]) -> str:
    """SHA-256 over the names and texts of every policy file, in a fixed order."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.text.encode() + b"\0")
    return digest.hexdigest()
