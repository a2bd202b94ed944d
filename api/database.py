"""Where the gateway's PostgreSQL is: ``DATABASE_URL``, or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from api.settings import Settings
from db.embedded import embedded_postgres
from db.engine import APP_ROLE, with_user


@contextmanager
def owner_database_url(settings: Settings) -> Iterator[str]:
    """The owner's URL: ``DATABASE_URL`` when set, else an embedded server started for the block."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_postgres(settings.data_dir) as url:
        yield url


def app_database_url(settings: Settings, owner_url: str) -> str:
    """The gateway role's login (see ``db.engine``)."""
    if settings.app_database_url:
        return settings.app_database_url
    password = settings.app_db_password.get_secret_value() if settings.app_db_password else None
    return with_user(owner_url, user=APP_ROLE, password=password)
