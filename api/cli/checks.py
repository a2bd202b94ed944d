"""Operator mistakes as one line each, never a traceback.

* a database that cannot be reached, does not exist, or refuses the login:
  host, port, database, the reason, and "check DATABASE_URL";
* a policy directory with problems: ``file:line: reason`` for each, exactly as
  ``regsosek policy check`` prints them, with "did you mean" when a program,
  type or field name is a near miss of a real one.
"""

from __future__ import annotations

import difflib
import errno
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer

from api.cli.common import errors

if TYPE_CHECKING:
    from api.settings import Settings


def _fail(message: str, *, code: int = 1) -> typer.Exit:
    errors.print(message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def where(url: str) -> tuple[str, str, str]:
    """(host, port, database) of a database URL, for messages (never its password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if host == "localhost" and "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    return host, str(parts.port or 5432), parts.path.lstrip("/") or "postgres"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps (SQLAlchemy's ``orig``, ``__cause__``, ``__context__``)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending += [
            orig if isinstance(orig, BaseException) else None,
            current.__cause__,
            current.__context__,
        ]


def database_problem(error: BaseException, url: str) -> str | None:
    """The one-line explanation of a database failure an operator can fix, or None."""
    import asyncpg

    host, port, database = where(url)
    at = f"{host}:{port}"
    for cause in _causes(error):
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return (
                f"the database {database!r} does not exist on {at}: create it"
                f" (createdb {database}) or check DATABASE_URL"
            )
        if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError):
            return f"the database at {at} refused the login: {cause}; check DATABASE_URL"
        if isinstance(cause, asyncpg.UndefinedTableError):
            return "the database is not migrated: run `regsosek db upgrade` first"
        if isinstance(cause, socket.gaierror):
            return f"cannot reach the database at {at}: unknown host {host!r}; check DATABASE_URL"
        if isinstance(cause, ConnectionRefusedError | TimeoutError) or (
            isinstance(cause, OSError) and cause.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH)
        ):
            reason = (
                "timed out"
                if isinstance(cause, TimeoutError)
                else (cause.strerror or "connection refused").lower()
            )
            return f"cannot reach the database at {at}: {reason}; check DATABASE_URL"
        if isinstance(cause, asyncpg.CannotConnectNowError | asyncpg.PostgresConnectionError):
            return f"cannot reach the database at {at}: {cause}; check DATABASE_URL"
    return None


@contextmanager
def owner_database(settings: Settings) -> Iterator[str]:
    """The owner's URL (``api.database.owner_database_url``), its failures as one line, exit 1."""
    from api.database import owner_database_url
    from db.embedded import EmbeddedUnavailable

    url = settings.database_url or "postgresql://embedded/regsosek"
    try:
        with owner_database_url(settings) as url:
            yield url
    except (typer.Exit, SystemExit, KeyboardInterrupt):
        raise
    except EmbeddedUnavailable as error:
        raise _fail(str(error)) from None
    except Exception as error:
        message = database_problem(error, url)
        if message is None:
            raise
        raise _fail(message) from None


NEAR_MISS = (
    (re.compile(r"unknown field (?P<type>\w+)\.(?P<name>\w+)"), "field"),
    (re.compile(r"unknown root field Query\.(?P<name>\w+)"), "root"),
    (re.compile(r"unknown type '(?P<name>\w+)'"), "type"),
    (re.compile(r"^(?P<name>[a-z0-9-]+) has no file programs/"), "program"),
)


def _candidates(kind: str, match: re.Match[str], directory: Path) -> list[str]:
    from db.catalog import CATALOG, ROOT_FIELDS

    if kind == "field":
        entity = CATALOG.get(match.group("type"))
        return list(entity.attributes) if entity is not None else []
    if kind == "root":
        return list(ROOT_FIELDS)
    if kind == "type":
        return list(CATALOG)
    return [path.stem for path in (directory / "programs").glob("*.yaml")]


def with_suggestion(reason: str, directory: Path) -> str:
    """``reason``, plus "did you mean X?" when it names a near miss of a real name."""
    for pattern, kind in NEAR_MISS:
        match = pattern.search(reason)
        if match is None:
            continue
        close = difflib.get_close_matches(
            match.group("name"), _candidates(kind, match, directory), n=1, cutoff=0.6
        )
        if close:
            return f"{reason} (did you mean {close[0]!r}?)"
    return reason


def policy_problem_lines(error: Exception, directory: Path) -> list[str]:
    """``file:line: reason`` for every problem of a ``PolicyError``."""
    return [
        f"{directory / problem.file}:{problem.line}: {with_suggestion(problem.reason, directory)}"
        for problem in getattr(error, "problems", [])
    ]


def check_policies_or_exit(settings: Settings) -> None:
    """Load the policy directory; on problems print them as ``policy check`` does and exit 1."""
    from policies import PolicyError, load_policies

    directory = settings.resolved_policy_dir()
    try:
        load_policies(directory)
    except PolicyError as error:
        for line in policy_problem_lines(error, directory):
            typer.echo(line, err=True)
        raise _fail(f"{len(error.problems)} problem(s) in {directory}: nothing served") from None
