"""The subject report's signature: a compact JWS with the gateway's signing key.

The report is signed with the key that signs access tokens and checkpoints (the one
``/.well-known/jwks.json`` publishes), so a citizen, or anyone they show it to, verifies
it offline with the published public keys and no secret. The protected header carries
``typ: regsosek-subject-report+jws`` and the key's ``kid``, so a report can never pass for
an access token, a checkpoint or a webhook signature, nor the reverse.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Mapping
from typing import Any, Final

import orjson
from joserfc import jws
from joserfc.jwk import JWKRegistry

from audit.signing import ALGORITHMS, SigningKeySource

REPORT_TYPE: Final = "regsosek-subject-report+jws"
_B64URL: Final = frozenset(string.ascii_letters + string.digits + "-_")


class InvalidReport(Exception):
    """The file is not a subject report signed by one of the given keys."""


def sign_report(report: Mapping[str, Any], *, keys: SigningKeySource) -> tuple[str, str]:
    """``(kid, compact JWS)`` of ``report`` as sorted-key JSON, signed with the current key."""
    key = keys.current()
    header = {"alg": key.alg, "kid": key.kid, "typ": REPORT_TYPE}
    payload = orjson.dumps(report, option=orjson.OPT_SORT_KEYS)
    return key.kid, jws.serialize_compact(header, payload, key.private_key, algorithms=[key.alg])


def verify_report(token: str, *, jwks: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(kid, report)`` when ``token`` is a subject report signed by a key of ``jwks``
    (``{"keys": [...]}``, as ``/.well-known/jwks.json`` serves it); else ``InvalidReport``."""
    text = token.removesuffix("\n")
    if not _canonical(text):
        raise InvalidReport("not a compact JWS, or not as it was signed (extra or altered bytes)")
    try:
        header = dict(jws.extract_compact(text.encode("ascii")).protected)
    except Exception as error:  # not a compact JWS at all: joserfc raises several types
        raise InvalidReport("not a compact JWS") from error
    if header.get("typ") != REPORT_TYPE:
        raise InvalidReport("not a subject report (typ)")
    kid = str(header.get("kid") or "")
    key = _published_key(jwks, kid)
    try:
        result = jws.deserialize_compact(text, key, algorithms=list(ALGORITHMS))
        report = orjson.loads(result.payload)
    except Exception as error:  # a bad signature or payload: all mean "does not verify"
        raise InvalidReport("the signature does not verify: the report was altered") from error
    if not isinstance(report, dict):
        raise InvalidReport("the payload is not a report")
    return kid, report


def _canonical(text: str) -> bool:
    """Three base64url segments, each exactly as it encodes its bytes: a changed character
    that decodes to the same bytes (the unused bits of a last character) is refused too, so
    any edited byte of the file fails."""
    segments = text.split(".")
    if len(segments) != 3:
        return False
    for segment in segments:
        if not segment.isascii() or any(c not in _B64URL for c in segment):
            return False
        try:
            decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except ValueError:
            return False
        if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() != segment:
            return False
    return True


def _published_key(jwks: Mapping[str, Any], kid: str) -> Any:
    for entry in jwks.get("keys") or ():
        if isinstance(entry, Mapping) and entry.get("kid") == kid:
            try:
                return JWKRegistry.import_key(dict(entry))
            except Exception as error:
                raise InvalidReport(f"key {kid} in the key set is not a usable key") from error
    raise InvalidReport(f"the report's key {kid or '(none)'} is not in the key set")
