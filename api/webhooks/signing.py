"""Webhook bodies signed as a detached JWS (RFC 7515 Appendix F) with the gateway's key.

The header ``Regsosek-Signature`` holds ``<protected header>..<signature>``:
a compact JWS whose payload (the body, base64url-encoded) is left out. The
receiver puts the body it received back in the middle and verifies it with
the key of ``/.well-known/jwks.json`` named by ``kid``. The protected header
says ``typ: regsosek-webhook+jws``, so a webhook signature can never pass for
an access token (``at+jwt``) or an audit checkpoint, nor the reverse.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final

from joserfc import jws
from joserfc.jwk import JWKRegistry

from audit.signing import SigningKeySource

WEBHOOK_TYPE: Final = "regsosek-webhook+jws"
SIGNATURE_HEADER: Final = "Regsosek-Signature"
ALGORITHMS: Final = ("ES256", "RS256")


def sign_detached(body: bytes, *, keys: SigningKeySource) -> str:
    """``header..signature`` over ``body`` with the key that signs now."""
    key = keys.current()
    header = {"alg": key.alg, "kid": key.kid, "typ": WEBHOOK_TYPE}
    token = jws.serialize_compact(header, body, key.private_key, algorithms=[key.alg])
    protected, _, signature = token.split(".")
    return f"{protected}..{signature}"


class BadSignature(Exception):
    """The signature does not verify against the body and the published keys."""


def verify_detached(signature: str, body: bytes, *, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The protected header, if ``signature`` is a webhook signature of ``body`` by a key
    of ``jwks``; :class:`BadSignature` otherwise."""
    try:
        protected, empty, signed = signature.split(".")
        header = jws.extract_compact(f"{protected}.{_b64(body)}.{signed}".encode()).headers()
    except ValueError as error:
        raise BadSignature("not a detached compact JWS") from error
    except Exception as error:  # joserfc raises several types; all mean "malformed"
        raise BadSignature(str(error) or type(error).__name__) from error
    if empty or header.get("typ") != WEBHOOK_TYPE:
        raise BadSignature("not a webhook signature")
    entry = next((k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
    if entry is None:
        raise BadSignature("signed by a key the JWKS does not publish")
    try:
        key = JWKRegistry.import_key(dict(entry))
        jws.deserialize_compact(signature, key, algorithms=list(ALGORITHMS), payload=body)
    except Exception as error:
        raise BadSignature(str(error) or type(error).__name__) from error
    return dict(header)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
