"""``model.conf`` + ``policy.csv``: casbin decides program → agency, root fields and field modes.

Rules of ``policy.csv`` (``#`` starts a comment)::

    g, <program>, <agency-id>                      binds a program to its agency
    p, <program>, Query.<rootField>, FULL          grants a root field
    p, <program>, <Type>.<field>, FULL|MASKED|PSEUDONYM
    p, <program>, <Type>.*, FULL                   every field of a type

Each line is validated against the data dictionary (``db.catalog``) with its
line number; the valid rules are loaded into a casbin enforcer, which then
decides every (program, type, field, mode) of the catalogue once. The
answers are kept as plain dicts: the request path never calls casbin.

Fewer questions under the shipped matcher. Under ``KEY_MATCH_MODEL``'s matcher
(``r.sub == p.sub && keyMatch(r.obj, p.obj) && r.act == p.act``, effect "some
allow") casbin can only allow a question that one of the program's p rules
names by ``keyMatch``; the others are denied without asking. Every grant is
still casbin's answer; a model with any other matcher or effect is asked every
question. ``tests/policies/test_policy_fast_load.py`` checks that both ways
decide the same.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache

import casbin
from casbin.model import Model
from casbin.util import key_match

from db.catalog import CATALOG, MUTATION_FIELDS, ROOT_FIELDS, Attribute
from db.programs import PROGRAM_NAME
from policies.errors import Problem
from policies.model import FieldMode

AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
GRANTABLE = (FieldMode.FULL, FieldMode.MASKED, FieldMode.PSEUDONYM)
KEY_MATCH_MODEL = """
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && keyMatch(r.obj, p.obj) && r.act == p.act
"""
"""The model under which only questions some p rule names by ``keyMatch`` can be allowed."""


@dataclass(frozen=True)
class File:
    """A policy file as read once: its name relative to the policy directory, and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class Rule:
    line: int
    kind: str
    values: tuple[str, ...]


@dataclass
class Grants:
    """What ``policy.csv`` grants, decided by casbin; explicit grants only (no implicit fields)."""

    agencies: dict[str, str] = field(default_factory=dict)
    root_fields: dict[str, frozenset[str]] = field(default_factory=dict)
    modes: dict[str, dict[tuple[str, str], FieldMode]] = field(default_factory=dict)
    lines: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(program, type, field) → line of the first rule that grants it (``Query`` for roots)."""
    mentioned: dict[str, int] = field(default_factory=dict)
    """Program → first line naming it."""


def read_grants(*, model: File, policy: File, programs: set[str]) -> tuple[Grants, list[Problem]]:
    """Validate the casbin files and decide every grant for ``programs`` and those the CSV names."""
    problems: list[Problem] = []
    rules = _parse_rules(policy, problems)
    grants = Grants()
    for rule in rules:
        grants.mentioned.setdefault(rule.values[0], rule.line)
    try:
        _enforcer(model.text, [])
    except Exception as error:  # casbin raises plain exceptions for a broken model
        problems.append(Problem(model.name, 1, f"not a valid casbin model: {error!r}"))
        return grants, problems
    ask_all = _sections(model.text) != _sections(KEY_MATCH_MODEL)
    for program in sorted(programs | set(grants.mentioned)):
        own = [rule for rule in rules if rule.values[0] == program]
        enforcer = _enforcer(model.text, own)
        ask = Questions(rules=None if ask_all else tuple(own))
        _decide(
            enforcer,
            program,
            ask=ask,
            rules=rules,
            grants=grants,
            problems=problems,
            file=policy.name,
        )
    return grants, problems


@dataclass(frozen=True)
class Questions:
    """Which (object, mode) questions casbin is asked: all (``rules`` None), or those one
    of ``rules`` (the program's own, under ``KEY_MATCH_MODEL``) names by ``keyMatch``."""

    rules: tuple[Rule, ...] | None

    def worth_asking(self, obj: str, mode: FieldMode) -> bool:
        if self.rules is None:
            return True
        return any(
            rule.kind == "p" and rule.values[2] == mode.value and key_match(obj, rule.values[1])
            for rule in self.rules
        )


@lru_cache(maxsize=8)
def _sections(model_text: str) -> dict[tuple[str, str], str]:
    """The model's definitions as casbin reads them (comments and layout left out)."""
    casbin_model = Model()
    casbin_model.load_model_from_text(model_text)
    return {
        (section, key): assertion.value
        for section, assertions in casbin_model.items()
        for key, assertion in assertions.items()
    }


def _enforcer(model_text: str, rules: list[Rule]) -> casbin.Enforcer:
    """A casbin enforcer over ``rules`` (one program's: casbin scans every rule per question)."""
    casbin_model = Model()
    casbin_model.load_model_from_text(model_text)
    enforcer = casbin.Enforcer(casbin_model)
    policy_rules = [list(rule.values) for rule in rules if rule.kind == "p"]
    group_rules = [list(rule.values) for rule in rules if rule.kind == "g"]
    if policy_rules:
        enforcer.add_policies(policy_rules)
    if group_rules:
        enforcer.add_grouping_policies(group_rules)
    enforcer.enforce("", "", "")
    return enforcer


def _decide(
    enforcer: casbin.Enforcer,
    program: str,
    *,
    ask: Questions,
    rules: list[Rule],
    grants: Grants,
    problems: list[Problem],
    file: str,
) -> None:
    agencies = sorted(enforcer.get_roles_for_user(program))
    if len(agencies) == 1:
        grants.agencies[program] = agencies[0]
    elif len(agencies) > 1:
        lines = [rule.line for rule in rules if rule.kind == "g" and rule.values[0] == program]
        problems.append(
            Problem(file, lines[-1], f"{program} is bound to several agencies: {agencies}")
        )
    grants.root_fields[program] = frozenset(
        root
        for root in ROOT_FIELDS
        if ask.worth_asking(_root_object(root), FieldMode.FULL)
        and enforcer.enforce(program, _root_object(root), "FULL")
    )
    for root in grants.root_fields[program]:
        grants.lines[(program, "Query", root)] = _lines(
            rules, program=program, obj=_root_object(root)
        )[0]
    modes: dict[tuple[str, str], FieldMode] = {}
    for type_name, entity in CATALOG.items():
        for field_name in entity.attributes:
            obj = f"{type_name}.{field_name}"
            allowed = [
                mode
                for mode in GRANTABLE
                if ask.worth_asking(obj, mode) and enforcer.enforce(program, obj, mode.value)
            ]
            if not allowed:
                continue
            lines = _lines(rules, program=program, obj=obj)
            grants.lines[(program, type_name, field_name)] = lines[0]
            if len(allowed) > 1:
                shown = " and ".join(mode.value for mode in allowed)
                where = ", ".join(str(line) for line in lines)
                problems.append(
                    Problem(
                        file,
                        lines[-1],
                        f"{program}: {obj} is granted both {shown} (lines {where})",
                    )
                )
                continue
            modes[(type_name, field_name)] = allowed[0]
    grants.modes[program] = modes


def _lines(rules: list[Rule], *, program: str, obj: str) -> list[int]:
    found = [
        rule.line
        for rule in rules
        if rule.kind == "p" and rule.values[0] == program and key_match(obj, rule.values[1])
    ]
    return found or [0]


def _parse_rules(policy: File, problems: list[Problem]) -> list[Rule]:
    """The valid rules of ``policy.csv``; every invalid line becomes a problem."""
    file = policy.name
    rules: list[Rule] = []
    for number, line in enumerate(policy.text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        values = tuple(value.strip() for value in next(csv.reader([stripped])))
        reason = _invalid(values)
        if reason:
            problems.append(Problem(file, number, reason))
        else:
            rules.append(Rule(number, values[0], values[1:]))
    return rules


def _invalid(values: tuple[str, ...]) -> str | None:
    """Why a rule is not valid, or None."""
    kind, rest = values[0], values[1:]
    if kind == "g":
        if len(rest) != 2:
            return "a g rule is: g, <program>, <agency-id>"
        if not PROGRAM_NAME.match(rest[0]):
            return f"invalid program name {rest[0]!r} (lower-case letters, digits, -)"
        if not AGENCY_ID.match(rest[1]):
            return f"invalid agency id {rest[1]!r} (lower-case letters, digits, -)"
        return None
    if kind != "p":
        return f"unknown rule type {kind!r} (expected p or g)"
    if len(rest) != 3:
        return "a p rule is: p, <program>, <Type>.<field>, FULL|MASKED|PSEUDONYM"
    program, obj, mode_text = rest
    if not PROGRAM_NAME.match(program):
        return f"invalid program name {program!r} (lower-case letters, digits, -)"
    if mode_text == FieldMode.DENIED.value:
        return "DENIED is the default: remove the rule instead"
    if mode_text not in {mode.value for mode in GRANTABLE}:
        return f"unknown mode {mode_text!r} (expected FULL, MASKED or PSEUDONYM)"
    mode = FieldMode(mode_text)
    type_name, dot, field_name = obj.partition(".")
    if not dot or not field_name:
        return f"{obj!r} is not <Type>.<field>"
    if type_name in ("Query", "Mutation"):
        if field_name == "*":
            return f"grant root fields one by one, not {type_name}.*"
        if field_name not in ROOT_FIELDS or obj != _root_object(field_name):
            return f"unknown root field {obj}"
        return None if mode is FieldMode.FULL else "root fields are granted FULL only"
    entity = CATALOG.get(type_name)
    if entity is None:
        return f"unknown type {type_name!r}"
    if field_name == "*":
        attributes = list(entity.attributes.values())
    elif field_name in entity.attributes:
        attributes = [entity.attributes[field_name]]
    else:
        return f"unknown field {obj}"
    refused = [attribute.name for attribute in attributes if not _mode_allowed(attribute, mode)]
    if refused:
        return f"{type_name}.{{{', '.join(refused)}}} cannot be {mode.value} (see db/catalog.py)"
    return None


def _root_object(root: str) -> str:
    """How ``policy.csv`` names a root field: ``Mutation.<field>`` for a write, else
    ``Query.<field>``."""
    return f"Mutation.{root}" if root in MUTATION_FIELDS else f"Query.{root}"


def _mode_allowed(attribute: Attribute, mode: FieldMode) -> bool:
    """Whether the catalogue allows ``mode`` for the attribute."""
    if mode is FieldMode.MASKED:
        return attribute.mask is not None
    if mode is FieldMode.PSEUDONYM:
        return attribute.pseudonymisable
    return True
