"""The naive peer: the gateway's queries as a typical Python team would first write them.

Strawberry + strawberry-sqlalchemy-mapper over the same tables, SQLAlchemy's
async engine with its default pool, and the same row scope as PostGraphile:
the connection logs in as ``bench_pgl_dinsos``, so PostgreSQL's row-level
security applies the dinsos-pkh predicates (``bench.databases``). The root
resolvers are hand-written ``select()``s; the types, and ``members`` through
the mapper's DataLoader (one batched query per request for all households'
members), are generated from the models. No audit, no policy engine, no
field-level control beyond the role's column grants.

It answers the gateway's own documents (``households(filter: {regionCode}, first)``
and ``household(id)``), so the bench sends it the gateway's requests.

Runs in its own virtualenv (``bench/.work/peer``, made by ``bench.systems``),
never the product's: ``uvicorn bench.peer_app:app`` with ``BENCH_PEER_DSN``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import strawberry
from sqlalchemy import BigInteger, Enum, ForeignKey, SmallInteger, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from strawberry.asgi import GraphQL
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info
from strawberry_sqlalchemy_mapper import (
    StrawberrySQLAlchemyLoader,
    StrawberrySQLAlchemyMapper,
    strawberry_sqlalchemy_scalar_map,
)


class Sex(enum.Enum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class Base(DeclarativeBase):
    pass


class Household(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kk_number: Mapped[str] = mapped_column(String(16))
    head_name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    member_count: Mapped[int] = mapped_column(SmallInteger)
    welfare_decile: Mapped[int] = mapped_column(SmallInteger)
    kecamatan_code: Mapped[str] = mapped_column(String(7))
    members: Mapped[list[Person]] = relationship(back_populates="household")


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    nik: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    sex: Mapped[Sex] = mapped_column(Enum(Sex, name="sex", create_type=False))
    birth_date: Mapped[date]
    household: Mapped[Household] = relationship(back_populates="members")


mapper = StrawberrySQLAlchemyMapper(model_to_type_name=lambda model: f"{model.__name__}Type")


@mapper.type(Person)
class PersonType:
    __exclude__ = ("household", "household_id")


@mapper.type(Household)
class HouseholdType:
    __exclude__ = ("kecamatan_code",)
    __use_list__ = ("members",)


@strawberry.type
class HouseholdPage:
    nodes: list[HouseholdType]


@strawberry.input
class HouseholdFilter:
    region_code: str | None = None


engine = create_async_engine(
    os.environ.get("BENCH_PEER_DSN", "postgresql+asyncpg://localhost/postgres"),
    connect_args={"server_settings": {"jit": "off"}},
)
sessions = async_sessionmaker(engine, expire_on_commit=False)


@strawberry.type
class Query:
    @strawberry.field
    async def households(
        self, info: Info, first: int = 100, filter: HouseholdFilter | None = None
    ) -> HouseholdPage:
        statement = select(Household).order_by(Household.id).limit(min(first, 1000))
        if filter is not None and filter.region_code is not None:
            statement = statement.where(Household.kecamatan_code == filter.region_code)
        session: AsyncSession = info.context["session"]
        rows = (await session.scalars(statement)).all()
        return HouseholdPage(nodes=list(rows))  # type: ignore[arg-type]

    @strawberry.field
    async def household(self, info: Info, id: strawberry.ID) -> HouseholdType | None:
        session: AsyncSession = info.context["session"]
        return await session.get(Household, int(id))  # type: ignore[return-value]


mapper.finalize()
schema = strawberry.Schema(
    query=Query,
    types=list(mapper.mapped_types.values()),
    config=StrawberryConfig(scalar_map=strawberry_sqlalchemy_scalar_map),
)


class PerRequestSession(GraphQL):  # type: ignore[type-arg]
    """The request's session and the mapper's loader over it, in the context."""

    async def get_context(self, request, response):  # type: ignore[no-untyped-def]
        session: AsyncSession = request.scope["state"]["session"]

        @asynccontextmanager
        async def bind() -> AsyncIterator[AsyncSession]:
            yield session

        return {
            "session": session,
            "sqlalchemy_loader": StrawberrySQLAlchemyLoader(async_bind_factory=bind),
            "request": request,
            "response": response,
        }


graphql_app = PerRequestSession(schema, graphql_ide=None)


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    """One AsyncSession per HTTP request, closed (its connection returned) afterwards."""
    if scope["type"] != "http":
        await graphql_app(scope, receive, send)
        return
    async with sessions() as session:
        scope.setdefault("state", {})["session"] = session
        await graphql_app(scope, receive, send)
