"""Database URLs, SQLAlchemy engines and asyncpg pools.

Two identities reach PostgreSQL:

* the *owner* (``DATABASE_URL``): runs migrations, the seeder, the importer and
  the operator commands;
* the *gateway role* ``regsosek_app``: serves requests. It owns nothing, reads
  registry tables only through row-level security and may only INSERT and
  SELECT audit events. Its login is ``REGSOSEK_APP_DATABASE_URL`` or, when unset,
  ``DATABASE_URL`` with the user replaced by ``regsosek_app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

APP_ROLE = "regsosek_app"


def plain_url(url: str) -> str:
    """``url`` as libpq/asyncpg spell it (``postgresql://``), without a driver suffix."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    if scheme != "postgresql":
        raise ValueError("database URLs must start with postgresql://")
    return urlunsplit((scheme, *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """``url`` with SQLAlchemy's asyncpg driver."""
    return "postgresql+asyncpg" + plain_url(url)[len("postgresql") :]


def with_user(url: str, *, user: str, password: str | None) -> str:
    """``url`` logging in as ``user`` (and ``password``), same host and database."""
    parts = urlsplit(plain_url(url))
    host = parts.netloc.rsplit("@", 1)[-1]
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{credentials}@{host}", parts.path, parts.query, ""))


def database_name(url: str) -> str:
    return urlsplit(plain_url(url)).path.lstrip("/") or "postgres"


def with_database(url: str, database: str) -> str:
    parts = urlsplit(plain_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async SQLAlchemy engine for operator commands (not the request path)."""
    return create_async_engine(sqlalchemy_url(url), pool_pre_ping=True, **kwargs)


async def create_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    server_settings: Mapping[str, str] | None = None,
    command_timeout: float | None = None,
    reset: Any = None,
    init: Any = None,
    connect_timeout: float = 60.0,
) -> asyncpg.Pool:
    """An asyncpg pool for the request path.

    Statements run through asyncpg directly: the JSON PostgreSQL builds is
    passed through as text, with no SQLAlchemy result processing per row.
    ``min_size=0`` opens no connection up front (a replica that is down does
    not stop the gateway from starting).
    """
    settings = {"application_name": "regsosek-gateway", **(server_settings or {})}
    pool = await asyncpg.create_pool(
        plain_url(url),
        min_size=min_size,
        max_size=max_size,
        server_settings=settings,
        command_timeout=command_timeout,
        reset=reset,
        init=init,
        timeout=connect_timeout,
    )
    assert pool is not None
    return pool
