"""One GraphQL schema per program.

Strawberry builds schemas at start-up; programs are few, so each gets its own
schema holding only the root fields and registry fields it may use, rebuilt
when the policies reload. Root fields resolve through the same compiler as the
fast path (``schema.execute``), so executing the Strawberry schema directly
and the fast path give the same answer.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import strawberry
from graphql import GraphQLSchema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from db.catalog import MUTATION_FIELDS, ROOT_FIELDS
from db.entities import Entity
from policies import Program
from policies.feed import feed_entities, identity
from schema.api_types import Access, AuditEventConnection, Disclosure, StatCell, connection_types
from schema.audit_report_types import (
    AuditAnomaly,
    AuditSummary,
    BreachPack,
    ChainStatus,
    PersonDisclosures,
    SubjectReport,
)
from schema.change_types import Release, change_types
from schema.compiler.cursors import HOUSEHOLD_ORDERINGS
from schema.compiler.filters import (
    HOUSEHOLD_FILTER_NEEDS,
    PERSON_FILTER_NEEDS,
    usable_filter_fields,
)
from schema.enums import HouseholdDimension, RegionLevel, household_order
from schema.inputs import AuditFilter, household_filter, person_filter
from schema.proposal_types import (
    AssistanceReportInput,
    AssistanceReportResult,
    ProposalFilter,
    ProposalInput,
    proposal_types,
)
from schema.registry_types import build_registry_types
from schema.scalars import SCALARS, DateTime

RootResolver = Callable[[Info], Awaitable[Any]]
REQUIRED = inspect.Parameter.empty


def _dict_resolver(source: Any, name: str) -> Any:
    """Fields of pre-built JSON objects are read by key."""
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name)


def _root_field(
    name: str, *, returns: Any, arguments: dict[str, tuple[Any, Any]], resolve: RootResolver
) -> Any:
    async def resolver(root: Any, info: Info, **_: Any) -> Any:
        return await resolve(info)

    parameters = [
        inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info),
    ]
    parameters += [
        inspect.Parameter(
            arg, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
        )
        for arg, (annotation, default) in arguments.items()
    ]
    resolver.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    resolver.__annotations__ = {
        "info": Info,
        **{arg: annotation for arg, (annotation, _) in arguments.items()},
        "return": returns,
    }
    resolver.__name__ = name
    return strawberry.field(resolver=resolver, name=name, description=ROOT_FIELDS[name])


def _filter_argument(filter_type: Any) -> dict[str, tuple[Any, Any]]:
    """``filter`` when the program has a filter type at all (it may use some field)."""
    if filter_type is None:
        return {}
    return {"filter": (Optional[filter_type], None)}  # noqa: UP045


@dataclass(frozen=True)
class ProgramTypes:
    """What one program's root fields are built from: its registry types (None when it reads
    no field of the type), its filter inputs and orderings, the entities of its change feed."""

    program: Program
    household: Any | None
    person: Any | None
    region: Any | None
    household_filter: Any | None
    person_filter: Any | None
    household_order: Any | None
    feed_entities: tuple[Entity, ...]
    proposal: tuple[Any, Any] | None = None
    """``Proposal`` and ``ProposalConnection`` (one pair per schema), for a program that
    proposes."""

    @classmethod
    def of(cls, program: Program) -> ProgramTypes:
        types = build_registry_types(program)
        household, person = types.get("Household"), types.get("Person")
        # One HouseholdFilter serves households and householdStats: a program with household
        # rows plans both against itself, a statistics-only one against its dimensions' fields
        # (imported here: schema.stats imports schema.execute, which imports this module).
        from schema.stats import _filter_reader as statistics_filter_reader

        orderings = [name for name, o in HOUSEHOLD_ORDERINGS.items() if o.usable_by(program)]
        return cls(
            program=program,
            household=household,
            person=person,
            region=types.get("Region"),
            household_filter=household_filter(
                usable_filter_fields(HOUSEHOLD_FILTER_NEEDS, statistics_filter_reader(program))
            ),
            person_filter=person_filter(usable_filter_fields(PERSON_FILTER_NEEDS, program)),
            household_order=household_order(orderings) if household is not None else None,
            feed_entities=feed_entities(program),
            proposal=proposal_types(household) if program.proposals is not None else None,
        )


Arguments = dict[str, tuple[Any, Any]]


@dataclass(frozen=True)
class RootSpec:
    """A root field: its type for a program (None: the program has no such field even when
    its policy grants the name, e.g. ``households`` without a readable Household field) and
    its arguments."""

    returns: Callable[[ProgramTypes], Any | None]
    arguments: Callable[[ProgramTypes], Arguments] = lambda _: {}


def _page(first: int) -> Arguments:
    return {
        "first": (Optional[int], first),  # noqa: UP045
        "after": (Optional[str], None),  # noqa: UP045
    }


def _connection(entity_type: Any | None, name: str) -> Any | None:
    return None if entity_type is None else connection_types(entity_type, name)[0]


def _changes(types: ProgramTypes) -> Any | None:
    entities = types.feed_entities
    if not entities or (types.household is None and types.person is None):
        return None
    return change_types(
        household=types.household,
        person=types.person,
        entities=entities,
        subject=all(identity(types.program, entity) for entity in entities),
    )


BY_ID: Arguments = {"id": (strawberry.ID, REQUIRED)}
PERIOD: Arguments = {
    "from_": (Annotated[DateTime, strawberry.argument(name="from")], REQUIRED),
    "to": (DateTime, REQUIRED),
}

ROOT_SPECS: dict[str, RootSpec] = {
    "households": RootSpec(
        returns=lambda t: _connection(t.household, "Household"),
        arguments=lambda t: {
            **_filter_argument(t.household_filter),
            "orderBy": (Optional[t.household_order], t.household_order.ID_ASC),  # type: ignore[union-attr]  # noqa: UP045
            **_page(50),
        },
    ),
    "household": RootSpec(
        returns=lambda t: None if t.household is None else Optional[t.household],  # noqa: UP045
        arguments=lambda _: BY_ID,
    ),
    "persons": RootSpec(
        returns=lambda t: _connection(t.person, "Person"),
        arguments=lambda t: {**_filter_argument(t.person_filter), **_page(50)},
    ),
    "person": RootSpec(
        returns=lambda t: None if t.person is None else Optional[t.person],  # noqa: UP045
        arguments=lambda _: BY_ID,
    ),
    "releases": RootSpec(returns=lambda _: list[Release]),
    "changes": RootSpec(
        returns=_changes,
        arguments=lambda _: {
            "after": (Optional[str], None),  # noqa: UP045
            "first": (Optional[int], 100),  # noqa: UP045
        },
    ),
    "householdStats": RootSpec(
        returns=lambda _: list[StatCell],
        arguments=lambda t: {
            "groupBy": (list[HouseholdDimension], REQUIRED),
            **_filter_argument(t.household_filter),
        },
    ),
    "regions": RootSpec(
        returns=lambda t: None if t.region is None else list[t.region],  # type: ignore[name-defined]
        arguments=lambda _: {
            "level": (RegionLevel, REQUIRED),
            "parentCode": (Optional[str], None),  # noqa: UP045
        },
    ),
    "myAccess": RootSpec(returns=lambda _: Access),
    "auditEvents": RootSpec(
        returns=lambda _: AuditEventConnection,
        arguments=lambda _: {"filter": (Optional[AuditFilter], None), **_page(50)},  # noqa: UP045
    ),
    "disclosures": RootSpec(
        returns=lambda _: list[Disclosure],
        arguments=lambda _: {"householdId": (strawberry.ID, REQUIRED)},
    ),
    "auditSummary": RootSpec(returns=lambda _: AuditSummary, arguments=lambda _: PERIOD),
    "auditAnomalies": RootSpec(returns=lambda _: list[AuditAnomaly], arguments=lambda _: PERIOD),
    "chainStatus": RootSpec(returns=lambda _: ChainStatus),
    "personDisclosures": RootSpec(
        returns=lambda _: PersonDisclosures, arguments=lambda _: {"nik": (str, REQUIRED)}
    ),
    "proposals": RootSpec(
        returns=lambda t: None if t.proposal is None else t.proposal[1],
        arguments=lambda _: {"filter": (Optional[ProposalFilter], None), **_page(50)},  # noqa: UP045
    ),
    "assistanceOverlap": RootSpec(
        returns=lambda _: list[StatCell],
        arguments=lambda t: {
            "groupBy": (list[HouseholdDimension], REQUIRED),
            **_filter_argument(t.household_filter),
        },
    ),
    "proposeChange": RootSpec(
        returns=lambda t: None if t.proposal is None else t.proposal[0],
        arguments=lambda _: {"input": (ProposalInput, REQUIRED)},
    ),
    "reportAssistance": RootSpec(
        returns=lambda _: AssistanceReportResult,
        arguments=lambda _: {"input": (list[AssistanceReportInput], REQUIRED)},
    ),
    "subjectReport": RootSpec(
        returns=lambda _: SubjectReport,
        arguments=lambda _: {
            "nik": (Optional[str], None),  # noqa: UP045
            "kkNumber": (Optional[str], None),  # noqa: UP045
        },
    ),
    "breachPack": RootSpec(
        returns=lambda _: BreachPack,
        arguments=lambda _: {"clientId": (str, REQUIRED), **PERIOD},
    ),
}
"""Every root field the gateway serves (``MUTATION_FIELDS`` on ``Mutation``), in the order
the schema lists them."""


def build_strawberry_schema(program: Program, resolve: RootResolver) -> strawberry.Schema:
    """The schema ``program`` sees: its root fields, over the registry fields it may read,
    with the filter fields and orderings it may use."""
    types = ProgramTypes.of(program)
    fields: dict[str, Any] = {}
    writes: dict[str, Any] = {}
    for name, spec in ROOT_SPECS.items():
        if name not in program.root_fields:
            continue
        returns = spec.returns(types)
        if returns is not None:
            (writes if name in MUTATION_FIELDS else fields)[name] = _root_field(
                name, returns=returns, arguments=spec.arguments(types), resolve=resolve
            )

    query = type("Query", (), {**fields, "__annotations__": {}})
    query_type = strawberry.type(
        query,
        name="Query",
        description=f"Registri Regsosek untuk program {program.name} / The Regsosek registry"
        f" as program {program.name} sees it",
    )
    mutation_type = None
    if writes:
        mutation_type = strawberry.type(
            type("Mutation", (), {**writes, "__annotations__": {}}),
            name="Mutation",
            description=f"Usulan dan laporan program {program.name}; registri tidak pernah"
            f" diubah / What program {program.name} sends back; the registry is never written",
        )
    return strawberry.Schema(
        query=query_type,
        mutation=mutation_type,
        config=StrawberryConfig(
            auto_camel_case=False,
            default_resolver=_dict_resolver,
            disable_field_suggestions=True,
            scalar_map=SCALARS,
        ),
    )


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema behind a Strawberry schema (validation and introspection)."""
    return schema._schema
