"""Naming a person the way a program reads them, and finding them among its rows.

A program that reads ``Person.nik`` in full names a person by NIK; one that reads it as
PSEUDONYM (dinkes-pbi) by its own pseudonym, which the gateway resolves by recomputing
the program's keyed HMAC (``policies.masks.pseudonymised``) over the persons the program
may read (``policies.rows.readable_rows``), in PostgreSQL: another program's pseudonym,
or a person outside the scope, resolves to no one. With ``directory`` the HMAC is
recomputed only for the candidates the program's pseudonym directory names by the
tokens' first 8 bytes (``schema.pseudonym_directory``), not for every person in scope.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text, bindparam, column, select, table
from sqlalchemy.dialects.postgresql import ARRAY

from policies import Entity, FieldMode, Program, readable_rows
from policies.masks import program_key, pseudonymised
from schema.compiler.statement import CompiledStatement, compile_statement


def by_pseudonym(program: Program) -> bool:
    """Whether the program names persons by its pseudonym (it reads ``Person.nik`` so)."""
    return program.mode("Person", "nik") is FieldMode.PSEUDONYM


def names_persons(program: Program) -> bool:
    """Whether the program can name a person at all (by NIK or by its pseudonym)."""
    return program.mode("Person", "nik") in (FieldMode.FULL, FieldMode.PSEUDONYM)


PSEUDONYMS = table(
    "pseudonyms",
    column("program", String),
    column("prefix", BigInteger),
    column("person_id", BigInteger),
)
"""Each program's pseudonym directory (migration 0013)."""


def persons_named(
    program: Program, pseudonym_key: bytes, *, directory: bool = False
) -> CompiledStatement:
    """``(token, id, household_id, nik)`` of the persons the program may read whose name, as
    the program writes it (NIK or pseudonym), is among ``q_tokens``; with ``directory``, only
    among the persons the program's pseudonym directory lists under ``q_prefixes``
    (``q_program``: the program)."""
    rows = readable_rows(Entity.PERSON, program=program, name="named")
    nik = rows.table.c.nik
    token = (
        pseudonymised(nik, key=program_key(pseudonym_key, program.name))
        if by_pseudonym(program)
        else nik
    )
    wanted = bindparam("q_tokens", type_=ARRAY(Text))
    conditions = [token == wanted.any_(), rows.predicate]
    if directory:
        candidates = select(PSEUDONYMS.c.person_id).where(
            PSEUDONYMS.c.program == bindparam("q_program", type_=String),
            PSEUDONYMS.c.prefix == bindparam("q_prefixes", type_=ARRAY(BigInteger)).any_(),
        )
        conditions.append(rows.table.c.id.in_(candidates))
    statement = select(
        token.label("token"), rows.table.c.id, rows.table.c.household_id, nik.label("nik")
    ).where(*conditions)
    return compile_statement(statement, frozenset())
