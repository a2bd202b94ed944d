"""Where the gateway's PostgreSQL is: ``DATABASE_URL``, or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from api.settings import Settings
from db.embedded import embedded_postgres
from db.engine import APP_ROLE, plain_url, with_user


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


def read_database_urls(settings: Settings, app_url: str) -> dict[str, str]:
    """The read replicas' logins by name (``host:port``, never credentials).

    A ``READ_DATABASE_URLS`` entry without a user logs in as the gateway role,
    with the same user and password as the primary; one that names a user is
    used as given (it must be the gateway role: a login that bypasses
    row-level security is refused, see ``db.reader.refuse_bypassing_role``).
    """
    login = urlsplit(plain_url(app_url))
    urls: dict[str, str] = {}
    for url in settings.read_database_urls:
        parts = urlsplit(plain_url(url))
        if not parts.username and login.username:
            password = unquote(login.password) if login.password else None
            url = with_user(url, user=unquote(login.username), password=password)
        name = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        while name in urls:
            name += "+"
        urls[name] = url
    return urls
