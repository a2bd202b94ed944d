"""Which URLs a webhook may be subscribed to: https, or plain http on a loopback address."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class UnsafeTarget(ValueError):
    """A URL the gateway will not push to."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(url: str) -> str:
    """``url`` if it may receive pushes; :class:`UnsafeTarget` saying why not otherwise.

    Bodies carry ids and pseudonyms of people, so they travel over TLS; plain
    http only reaches a receiver on the gateway's own machine (tests, a local
    relay). Credentials in the URL are refused (they would sit in the
    database and in logs).
    """
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeTarget("the URL must be https://host/… (or http:// on a loopback address)")
    if parts.username or parts.password:
        raise UnsafeTarget("the URL must not carry credentials")
    if parts.scheme == "http" and not _loopback(host):
        raise UnsafeTarget("plain http is allowed only on loopback addresses; use https")
    if parts.fragment:
        raise UnsafeTarget("the URL must not have a fragment")
    return url.strip()
