"""authlib's OAuth 2 authorization server, adapted to Starlette, for the client-credentials grant.

authlib ships no Starlette server integration, so this module supplies what a
framework integration supplies: a request object (``TokenRequest``) built from
the already-read form and headers, the client model (``TokenClient``), and
responses as ``(status, body, headers)``. authlib decides the protocol: client
authentication (``client_secret_basic`` and ``client_secret_post``), grant
selection, scope checks and the RFC 6749 §5.2 error bodies.

authlib's interface is synchronous; the endpoint runs it in a worker thread,
which also keeps the scrypt verification off the event loop. Clients are
looked up in rows the endpoint fetched beforehand, never from the thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientAuthentication,
    ClientMixin,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload

from api.auth.client_secrets import spend_verification_time, verify_client_secret
from api.auth.tokens import REGISTRY_SCOPE

AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")
GRANT_TYPE: Final = "client_credentials"


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """What a token carries about its client, and what the audit event records."""

    client_id: str
    program: str
    agency: str
    agreement: str
    purpose: str


class TokenClient(ClientMixin):  # type: ignore[misc]
    """A client as the token endpoint sees it.

    A client that may not sign in (unknown, disabled, or bound to a program the
    policy set no longer has) is still *verified*: the secret is hashed as for
    any other client, and then refused, so the answer and its timing are the
    same as for a wrong secret. ``refusal`` says why, for the log.
    """

    def __init__(
        self,
        *,
        client_id: str,
        secret_hash: str | None,
        profile: ClientProfile | None,
        refusal: str | None,
    ) -> None:
        self.client_id = client_id
        self.secret_hash = secret_hash
        self.profile = profile
        self.refusal = refusal
        self.secret_matched = False

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            spend_verification_time(client_secret)
            return False
        self.secret_matched = verify_client_secret(client_secret, self.secret_hash)
        return self.secret_matched and self.refusal is None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE

    def get_allowed_scope(self, scope: str | None) -> str:
        return REGISTRY_SCOPE


def unknown_client(client_id: str) -> TokenClient:
    return TokenClient(client_id=client_id, secret_hash=None, profile=None, refusal="unknown")


class TokenRequest(OAuth2Request):  # type: ignore[misc]
    """An authlib request over a Starlette request's headers and its parsed form.

    ``OAuth2Request.__init__`` is not called: its only extra is a transport
    check on the URL, which behind a TLS-terminating proxy sees plain http.
    Transport security is the deployment's (production refuses a non-https
    issuer at start-up). The attributes authlib reads are set here; a test
    compares them with the base class's.
    """

    def __init__(
        self,
        *,
        uri: str,
        headers: Mapping[str, str],
        form: dict[str, str],
        clients: Mapping[str, TokenClient],
    ) -> None:
        self.method = "POST"
        self.uri = uri
        self.headers = headers
        self._body = None
        self.payload = BasicOAuth2Payload(form)
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None
        self._form = form
        self._clients = clients
        self.looked_up: list[TokenClient] = []
        self.issued: dict[str, Any] | None = None

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}

    def lookup_client(self, client_id: str) -> TokenClient:
        client = self._clients.get(client_id) or unknown_client(client_id)
        self.looked_up.append(client)
        return client


TokenResponse = tuple[int, dict[str, Any], list[tuple[str, str]]]
Minter = Callable[[ClientProfile, str], dict[str, Any]]


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    """The authorization server: one grant (client credentials), two client auth methods."""

    def __init__(self, *, mint: Minter) -> None:
        super().__init__(scopes_supported=[REGISTRY_SCOPE])
        self._mint = mint
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", self._generate_token)

    def authenticate_client(
        self, request: TokenRequest, methods: list[str], endpoint: str = "token"
    ) -> TokenClient:
        # Per request: the clients were fetched for this request by the endpoint.
        client: TokenClient = ClientAuthentication(request.lookup_client)(
            request, methods, endpoint
        )
        return client

    def query_client(self, client_id: str) -> None:
        raise RuntimeError("clients are looked up per request, never through query_client")

    def save_token(self, token: dict[str, Any], request: TokenRequest) -> None:
        request.issued = token  # stateless JWTs: nothing to store

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: TokenRequest) -> TokenRequest:
        return request

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> TokenResponse:
        return status, body, headers

    def _generate_token(
        self,
        *,
        grant_type: str,
        client: TokenClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        assert client.profile is not None, "only a client with a profile authenticates"
        return self._mint(client.profile, scope or REGISTRY_SCOPE)

    def respond(self, request: TokenRequest) -> TokenResponse:
        """The token response (or RFC 6749 §5.2 error) for a request."""
        response: TokenResponse = self.create_token_response(request)
        return response


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)
