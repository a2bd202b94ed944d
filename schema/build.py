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
from typing import Annotated, Any, Optional

import strawberry
from graphql import GraphQLSchema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from db.catalog import ROOT_FIELDS
from policies import Program
from policies.feed import feed_entities, identity
from schema.api_types import Access, AuditEventConnection, Disclosure, StatCell, connection_types
from schema.audit_report_types import (
    AuditAnomaly,
    AuditSummary,
    ChainStatus,
    PersonDisclosures,
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


def build_strawberry_schema(program: Program, resolve: RootResolver) -> strawberry.Schema:
    """The schema ``program`` sees: its root fields, over the registry fields it may read,
    with the filter fields and orderings it may use."""
    types = build_registry_types(program)
    household, person, region = types.get("Household"), types.get("Person"), types.get("Region")
    fields: dict[str, Any] = {}
    allowed = program.root_fields
    # One HouseholdFilter serves households and householdStats: a program with household
    # rows plans both against itself, a statistics-only one against its dimensions' fields
    # (imported here: schema.stats imports schema.execute, which imports this module).
    from schema.stats import _filter_reader as statistics_filter_reader

    household_filter_type = household_filter(
        usable_filter_fields(HOUSEHOLD_FILTER_NEEDS, statistics_filter_reader(program))
    )

    if household is not None:
        connection, _ = connection_types(household, "Household")
        order = household_order(
            [name for name, ordering in HOUSEHOLD_ORDERINGS.items() if ordering.usable_by(program)]
        )
        if "households" in allowed:
            fields["households"] = _root_field(
                "households",
                returns=connection,
                arguments={
                    **_filter_argument(household_filter_type),
                    "orderBy": (Optional[order], order.ID_ASC),  # noqa: UP045
                    "first": (Optional[int], 50),  # noqa: UP045
                    "after": (Optional[str], None),  # noqa: UP045
                },
                resolve=resolve,
            )
        if "household" in allowed:
            fields["household"] = _root_field(
                "household",
                returns=Optional[household],  # noqa: UP045
                arguments={"id": (strawberry.ID, REQUIRED)},
                resolve=resolve,
            )
    if person is not None:
        connection, _ = connection_types(person, "Person")
        if "persons" in allowed:
            fields["persons"] = _root_field(
                "persons",
                returns=connection,
                arguments={
                    **_filter_argument(
                        person_filter(usable_filter_fields(PERSON_FILTER_NEEDS, program))
                    ),
                    "first": (Optional[int], 50),  # noqa: UP045
                    "after": (Optional[str], None),  # noqa: UP045
                },
                resolve=resolve,
            )
        if "person" in allowed:
            fields["person"] = _root_field(
                "person",
                returns=Optional[person],  # noqa: UP045
                arguments={"id": (strawberry.ID, REQUIRED)},
                resolve=resolve,
            )
    if "releases" in allowed:
        fields["releases"] = _root_field(
            "releases", returns=list[Release], arguments={}, resolve=resolve
        )
    entities = feed_entities(program)
    if "changes" in allowed and entities and (household is not None or person is not None):
        fields["changes"] = _root_field(
            "changes",
            returns=change_types(
                household=household,
                person=person,
                entities=entities,
                subject=all(identity(program, entity) for entity in entities),
            ),
            arguments={
                "after": (Optional[str], None),  # noqa: UP045
                "first": (Optional[int], 100),  # noqa: UP045
            },
            resolve=resolve,
        )
    if "householdStats" in allowed:
        fields["householdStats"] = _root_field(
            "householdStats",
            returns=list[StatCell],
            arguments={
                "groupBy": (list[HouseholdDimension], REQUIRED),
                **_filter_argument(household_filter_type),
            },
            resolve=resolve,
        )
    if "regions" in allowed and region is not None:
        fields["regions"] = _root_field(
            "regions",
            returns=list[region],  # type: ignore[valid-type]
            arguments={
                "level": (RegionLevel, REQUIRED),
                "parentCode": (Optional[str], None),  # noqa: UP045
            },
            resolve=resolve,
        )
    if "myAccess" in allowed:
        fields["myAccess"] = _root_field("myAccess", returns=Access, arguments={}, resolve=resolve)
    if "auditEvents" in allowed:
        fields["auditEvents"] = _root_field(
            "auditEvents",
            returns=AuditEventConnection,
            arguments={
                "filter": (Optional[AuditFilter], None),  # noqa: UP045
                "first": (Optional[int], 50),  # noqa: UP045
                "after": (Optional[str], None),  # noqa: UP045
            },
            resolve=resolve,
        )
    if "disclosures" in allowed:
        fields["disclosures"] = _root_field(
            "disclosures",
            returns=list[Disclosure],
            arguments={"householdId": (strawberry.ID, REQUIRED)},
            resolve=resolve,
        )

    period_arguments: dict[str, tuple[Any, Any]] = {
        "from_": (Annotated[DateTime, strawberry.argument(name="from")], REQUIRED),
        "to": (DateTime, REQUIRED),
    }
    if "auditSummary" in allowed:
        fields["auditSummary"] = _root_field(
            "auditSummary", returns=AuditSummary, arguments=period_arguments, resolve=resolve
        )
    if "auditAnomalies" in allowed:
        fields["auditAnomalies"] = _root_field(
            "auditAnomalies",
            returns=list[AuditAnomaly],
            arguments=period_arguments,
            resolve=resolve,
        )
    if "chainStatus" in allowed:
        fields["chainStatus"] = _root_field(
            "chainStatus", returns=ChainStatus, arguments={}, resolve=resolve
        )
    if "personDisclosures" in allowed:
        fields["personDisclosures"] = _root_field(
            "personDisclosures",
            returns=PersonDisclosures,
            arguments={"nik": (str, REQUIRED)},
            resolve=resolve,
        )

    query = type("Query", (), {**fields, "__annotations__": {}})
    query_type = strawberry.type(
        query,
        name="Query",
        description=f"Registri Regsosek untuk program {program.name} / The Regsosek registry"
        f" as program {program.name} sees it",
    )
    return strawberry.Schema(
        query=query_type,
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
