"""Declarative base with a naming convention, so migrations name constraints predictably."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase

from db.enums import pg_type_name

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def pg_enum(enum: type[StrEnum]) -> postgresql.ENUM:
    """A native PostgreSQL enum whose labels are the Python (and GraphQL) names."""
    return postgresql.ENUM(
        enum,
        name=pg_type_name(enum),
        values_callable=lambda members: [member.value for member in members],
        create_type=False,
    )
