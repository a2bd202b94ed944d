"""Checking a document for registration (``regsosek documents add``) and under a new policy
(``regsosek policy check``): parsed, within the program's limits, valid against its schema,
queries only; and its disclosure bound (``schema.disclosure_bound``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLSchema, OperationType

from policies import Program
from schema.build import build_strawberry_schema
from schema.disclosure_bound import Bound, disclosure_bound
from schema.documents import prepare_document
from schema.limits import limits_for


@dataclass
class CheckedDocument:
    """A document as one program's policy judges it: its problems, else each operation's bound."""

    document_hash: str
    problems: list[str] = field(default_factory=list)
    bounds: list[Bound] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def document_id(self) -> str:
        return f"sha256:{self.document_hash}"


async def _never(info: Any) -> Any:
    raise RuntimeError("a schema built for checking documents runs nothing")


def checking_schema(program: Program) -> GraphQLSchema:
    """The program's schema, to validate documents against (it resolves nothing)."""
    return build_strawberry_schema(program, _never)._schema


def text_hash(text: str) -> str:
    """The document's id digest: SHA-256 of its UTF-8 text, as ``schema.documents`` computes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def check_document(
    program: Program, text: str, *, schema: GraphQLSchema | None = None
) -> CheckedDocument:
    """Validate ``text`` for ``program`` and bound what each of its operations discloses."""
    schema = schema if schema is not None else checking_schema(program)
    parsed = prepare_document(text, schema, limits_for(program.name))
    checked = CheckedDocument(parsed.text_hash)
    if parsed.document is None:
        checked.problems = [error.message for error in parsed.errors]
        return checked
    for operation in parsed.operations.values():
        if operation.operation is not OperationType.QUERY:
            checked.problems.append("only queries may be registered")
            continue
        checked.bounds.append(disclosure_bound(program, operation, fragments=parsed.fragments))
    if not parsed.operations:
        checked.problems.append("the document holds no operation")
    return checked
