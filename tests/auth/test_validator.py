"""The bearer validator refuses every forged or stale token with 401 ``invalid_token``.

Each forgery starts from a token the validator accepts (``test_the_forging_baseline_is_accepted``)
and changes one thing, so each test fails if the check it names is removed.
Tokens are really signed: with the gateway's own key (taken from its key store,
as a thief of that key would have it) when the point is a header or claim
check, with an attacker's key when the point is key selection.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from api.auth.jose_checks import MAX_TOKEN_BYTES
from api.state import gateway_state
from audit.signing import KeySourceSigner, checkpoint_payload
from db.engine import database_name
from tests.support import ISSUER, Gateway, create_database, drop_database, running_gateway
from tests.tokens import JwksServer, access_claims, b64url, sign, signing_input

UNAUTHENTICATED = 'Bearer error="invalid_token"'


@pytest.fixture(scope="module", params=["ES256", "RS256"])
async def gw(
    request: pytest.FixtureRequest,
    server_url: str,
    migrated_template_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Gateway]:
    url = await create_database(server_url, template=database_name(migrated_template_url))
    try:
        async with running_gateway(
            url, tmp_path_factory.mktemp("data"), signing_alg=request.param
        ) as started:
            yield started
    finally:
        await drop_database(url)


@pytest.fixture(scope="module")
async def client_id(gw: Gateway) -> str:
    return (await gw.client("dinsos-pkh")).client_id


def real_header(gw: Gateway, **changes: Any) -> dict[str, Any]:
    key = gateway_state(gw.app).keys.current()
    header: dict[str, Any] = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
    for name, value in changes.items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    return header


def real_key(gw: Gateway) -> Any:
    return gateway_state(gw.app).keys.current().private_key


def forge(gw: Gateway, client_id: str, *, header: Any = (), claims: Any = ()) -> str:
    """A token signed with the gateway's real key; ``header``/``claims`` change (None drops)."""
    return sign(
        real_header(gw, **dict(header)), access_claims(client_id, **dict(claims)), real_key(gw)
    )


def attacker_key(alg: str) -> ECKey | RSAKey:
    return ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)


async def assert_refused(gw: Gateway, token: str) -> None:
    response = await gw.whoami(token)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == UNAUTHENTICATED
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def assert_accepted(gw: Gateway, token: str) -> None:
    response = await gw.whoami(token)
    assert response.status_code == 200, response.text


async def test_the_forging_baseline_is_accepted(gw: Gateway, client_id: str) -> None:
    await assert_accepted(gw, forge(gw, client_id))
    await assert_accepted(gw, await gw.token(await gw.client()))


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", b64url(b"anything")])
async def test_alg_none_is_refused(
    gw: Gateway, client_id: str, spelling: str, signature: str
) -> None:
    data = signing_input(real_header(gw, alg=spelling), access_claims(client_id))
    await assert_refused(gw, data + "." + signature)


@pytest.mark.parametrize("secret_form", ["pem", "jwk-json", "der"])
async def test_hs256_signed_with_the_public_key_is_refused(
    gw: Gateway, client_id: str, secret_form: str
) -> None:
    public = real_key(gw)
    forms: dict[str, Callable[[], bytes]] = {
        "pem": lambda: public.as_pem(private=False),
        "jwk-json": lambda: json.dumps(public.as_dict(private=False)).encode(),
        "der": lambda: public.as_der(private=False),
    }
    secret = forms[secret_form]()
    data = signing_input(real_header(gw, alg="HS256"), access_claims(client_id))
    mac = hmac.new(secret, data.encode(), hashlib.sha256).digest()
    await assert_refused(gw, data + "." + b64url(mac))


async def test_a_token_signed_for_another_algorithm_of_the_same_kid_is_refused(
    gw: Gateway, client_id: str
) -> None:
    other = "RS256" if real_header(gw)["alg"] == "ES256" else "ES256"
    token = sign(real_header(gw, alg=other), access_claims(client_id), attacker_key(other))
    await assert_refused(gw, token)


async def test_unknown_kid_is_refused(gw: Gateway, client_id: str) -> None:
    await assert_refused(gw, forge(gw, client_id, header={"kid": "no-such-key"}))
    alg = real_header(gw)["alg"]
    mine = attacker_key(alg)
    token = sign(real_header(gw, kid=mine.thumbprint()), access_claims(client_id), mine)
    await assert_refused(gw, token)


async def test_a_known_kid_with_an_attackers_signature_is_refused(
    gw: Gateway, client_id: str
) -> None:
    alg = real_header(gw)["alg"]
    await assert_refused(gw, sign(real_header(gw), access_claims(client_id), attacker_key(alg)))


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../etc/passwd",
        "/dev/null",
        "..\\..\\windows\\win.ini",
        "file:///etc/passwd",
        "' OR '1'='1",
        "x' UNION SELECT kid, alg FROM signing_keys --",
        "'; DROP TABLE signing_keys; --",
        "%00",
    ],
)
async def test_kid_injection_strings_are_only_unknown_kids(
    gw: Gateway, client_id: str, kid: str
) -> None:
    await assert_refused(gw, forge(gw, client_id, header={"kid": kid}))
    assert await gw.owner.fetchval("SELECT count(*) FROM signing_keys") == 1
    await assert_accepted(gw, forge(gw, client_id))


async def test_an_embedded_jwk_is_never_trusted(gw: Gateway, client_id: str) -> None:
    alg = real_header(gw)["alg"]
    mine = attacker_key(alg)
    embedded = dict(mine.as_dict(private=False))
    token = sign(
        real_header(gw, kid=mine.thumbprint(), jwk=embedded), access_claims(client_id), mine
    )
    await assert_refused(gw, token)
    # Even with the real key's signature, a token carrying a jwk header is refused.
    real_public = dict(real_key(gw).as_dict(private=False))
    await assert_refused(gw, forge(gw, client_id, header={"jwk": real_public}))


@pytest.mark.parametrize("parameter", ["jku", "x5u"])
async def test_a_key_url_in_the_header_is_never_fetched(
    gw: Gateway, client_id: str, parameter: str
) -> None:
    alg = real_header(gw)["alg"]
    mine = attacker_key(alg)
    document = {"keys": [dict(mine.as_dict(private=False, kid=mine.thumbprint(), alg=alg))]}
    with JwksServer(document) as elsewhere:
        header = real_header(gw, kid=mine.thumbprint(), **{parameter: elsewhere.url + "/keys"})
        await assert_refused(gw, sign(header, access_claims(client_id), mine))
        pointed = {parameter: elsewhere.url + "/keys"}
        await assert_refused(gw, forge(gw, client_id, header=pointed))
        assert elsewhere.hits == []


async def test_an_x5c_chain_is_never_trusted(gw: Gateway, client_id: str) -> None:
    await assert_refused(gw, forge(gw, client_id, header={"x5c": [b64url(b"not a cert")]}))


async def test_unknown_critical_header_parameters_are_refused(gw: Gateway, client_id: str) -> None:
    header = {"crit": ["urn:example:must-understand"], "urn:example:must-understand": True}
    await assert_refused(gw, forge(gw, client_id, header=header))


async def test_expired_token_is_refused(gw: Gateway, client_id: str) -> None:
    leeway = gw.settings.token_leeway
    now = int(time.time())
    await assert_refused(gw, forge(gw, client_id, claims={"exp": now - leeway - 5}))
    await assert_accepted(gw, forge(gw, client_id, claims={"exp": now - leeway // 2}))


async def test_not_yet_valid_token_is_refused(gw: Gateway, client_id: str) -> None:
    later = int(time.time()) + gw.settings.token_leeway + 30
    await assert_refused(gw, forge(gw, client_id, claims={"nbf": later}))


async def test_token_issued_in_the_future_is_refused(gw: Gateway, client_id: str) -> None:
    later = int(time.time()) + gw.settings.token_leeway + 30
    await assert_refused(gw, forge(gw, client_id, claims={"iat": later}))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat", "jti", "sub", "client_id", "iss", "aud"])
async def test_a_missing_required_claim_is_refused(gw: Gateway, client_id: str, claim: str) -> None:
    await assert_refused(gw, forge(gw, client_id, claims={claim: None}))


@pytest.mark.parametrize(
    "issuer", [ISSUER + "/", "http://testserver.evil", "HTTP://TESTSERVER", [ISSUER], 1]
)
async def test_wrong_issuer_is_refused(gw: Gateway, client_id: str, issuer: Any) -> None:
    await assert_refused(gw, forge(gw, client_id, claims={"iss": issuer}))


@pytest.mark.parametrize("audience", ["regsosek-gateway-test", ["another-api"], ""])
async def test_wrong_audience_is_refused(gw: Gateway, client_id: str, audience: Any) -> None:
    await assert_refused(gw, forge(gw, client_id, claims={"aud": audience}))


async def test_an_audience_list_naming_the_gateway_is_accepted(gw: Gateway, client_id: str) -> None:
    audience = ["another-api", gw.settings.audience]
    await assert_accepted(gw, forge(gw, client_id, claims={"aud": audience}))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", "audit-checkpoint", None])
async def test_a_token_not_typed_at_jwt_is_refused(
    gw: Gateway, client_id: str, typ: str | None
) -> None:
    await assert_refused(gw, forge(gw, client_id, header={"typ": typ}))


async def test_application_at_jwt_is_accepted(gw: Gateway, client_id: str) -> None:
    await assert_accepted(gw, forge(gw, client_id, header={"typ": "application/at+jwt"}))


async def test_an_audit_checkpoint_signature_is_not_an_access_token(gw: Gateway) -> None:
    payload = checkpoint_payload(
        seq=1, head_hash=bytes(32), event_count=1, created_at=datetime.now(UTC)
    )
    signature = KeySourceSigner(gateway_state(gw.app).keys).sign(payload)
    await assert_refused(gw, signature.jws)


async def test_sub_must_be_the_client_id(gw: Gateway, client_id: str) -> None:
    await assert_refused(gw, forge(gw, client_id, claims={"sub": "someone-else"}))


async def test_oversize_token_is_refused(gw: Gateway, client_id: str) -> None:
    token = forge(gw, client_id, claims={"padding": "x" * MAX_TOKEN_BYTES})
    assert len(token) > MAX_TOKEN_BYTES
    await assert_refused(gw, token)
    await assert_accepted(gw, forge(gw, client_id, claims={"padding": "x" * 1000}))


@pytest.mark.parametrize("program", ["bps-admin", "inspektorat-audit", None])
async def test_a_program_claim_other_than_the_registrys_is_refused(
    gw: Gateway, client_id: str, program: str | None
) -> None:
    token = forge(gw, client_id, claims={"program": program, "agency": "bps-jember"})
    await assert_refused(gw, token)


async def test_program_and_agency_come_from_the_registry(gw: Gateway, client_id: str) -> None:
    response = await gw.whoami(forge(gw, client_id, claims={"agency": "bps-jember"}))
    assert response.status_code == 200
    assert (response.json()["program"], response.json()["agency"]) == (
        "dinsos-pkh",
        "dinsos-jember",
    )


async def test_a_token_of_an_unregistered_client_is_refused(gw: Gateway) -> None:
    await assert_refused(gw, forge(gw, "rc_ffffffffffffffffffffffff"))


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc.def.ghi", "bearer-x abc"],
)
async def test_requests_without_a_bearer_token_are_refused(
    gw: Gateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with gw.http() as http:
        response = await http.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == UNAUTHENTICATED


async def test_two_authorization_headers_are_refused(gw: Gateway, client_id: str) -> None:
    token = forge(gw, client_id)
    async with gw.http() as http:
        response = await http.get(
            "/whoami",
            headers=httpx.Headers([("Authorization", f"Bearer {token}")] * 2),
        )
    assert response.status_code == 401


async def test_refusal_comes_before_the_body_is_read(gw: Gateway, client_id: str) -> None:
    consumed: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        consumed.append(b"read")
        yield b'{"query": "{ households { totalCount } }"}'

    token = forge(gw, client_id, header={"typ": "JWT"})
    async with gw.http() as http:
        response = await http.post(
            "/whoami", headers={"Authorization": f"Bearer {token}"}, content=body()
        )
    assert response.status_code == 401
    assert consumed == []
