"""Authentication: OAuth 2 clients, the token endpoint, signing keys, the bearer-token validator.

* ``api.auth.service``: start-up (``start_auth``), routes (``auth_routes``), ``AuthService``;
* ``api.auth.validator``: ``Authenticator.authenticate(request) -> Principal``;
* ``api.auth.keys``: ``KeyStore``, ``ensure_signing_key``, ``rotate_signing_key``;
* ``api.auth.token_endpoint`` and ``api.auth.server``: ``POST /oauth/token`` on authlib;
* ``api.auth.external``: tokens of trusted agency OIDC providers;
* ``api.auth.clients``: what ``regsosek client …`` does.

The GraphQL route calls ``await gateway_state(request.app).auth.authenticate(request)``.
"""

from api.auth.principal import Principal

__all__ = ["Principal"]
