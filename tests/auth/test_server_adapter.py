"""The authlib adapter sets every attribute authlib's own request sets (it skips only the URL check)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Request
from starlette.datastructures import Headers

from api.auth.server import TokenRequest


def test_token_request_has_the_attributes_of_an_authlib_request() -> None:
    reference = OAuth2Request("POST", "https://gateway.example/oauth/token", headers={})
    adapted = TokenRequest(
        uri="http://gateway.internal/oauth/token",
        headers=Headers({"authorization": "Basic eDp5"}),
        form={"grant_type": "client_credentials"},
        clients={},
    )
    assert set(vars(reference)) <= set(vars(adapted))
    assert adapted.payload.grant_type == "client_credentials"
    assert adapted.headers.get("Authorization") == "Basic eDp5"
