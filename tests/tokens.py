"""Forged and foreign tokens for the authentication tests: compact JWS signed however a test
wants (wrong keys, wrong algorithms, HMAC key confusion), the claims of a valid access
token, and a JWKS server on loopback (an agency's OIDC provider, or an attacker's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc.jws import JWSRegistry

from tests.support import AUDIENCE, ISSUER


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())


def sign(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A compact JWS signed with ``key`` under ``header["alg"]``, whatever else the header says."""
    data = signing_input(header, claims)
    algorithm = JWSRegistry.algorithms[header["alg"]]
    return data + "." + b64url(algorithm.sign(data.encode("ascii"), key))


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with ``secret`` (for key-confusion forgeries)."""
    data = signing_input(header, claims)
    return data + "." + b64url(hmac.new(secret, data.encode(), hashlib.sha256).digest())


def access_claims(client: str, /, **changes: Any) -> dict[str, Any]:
    """The claims of a valid gateway access token; ``changes`` set (or, with None, drop) claims."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": client,
        "client_id": client,
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "scope": "registry.read",
        "program": "dinsos-pkh",
        "agency": "dinsos-jember",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


# -- A JWKS server on loopback (an agency's OIDC provider, or an attacker's) ---------------------


class JwksServer:
    """Serves ``document`` as JSON at every path of ``http://127.0.0.1:<port>``; counts requests."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()
