"""Failed client authentications are throttled per client id and per address, across workers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from api.auth.ratelimit import FailureLimits
from api.state import gateway_state
from tests.support import Gateway, running_gateway

NEEDED_SECONDS = 10.0
"""What a test needs of its window: each sends at most 32 token requests (and starts one
second gateway), 1-2 s on a busy machine. A larger margin costs its expected wait in every
run: needed / window x needed / 2 (30 s of 60: 7.5 s; 10 s: 0.8 s)."""


async def _fresh_window(limits: FailureLimits, *, needed: float = NEEDED_SECONDS) -> None:
    """Wait for a new window if the current one ends before the test can finish inside it."""
    left = limits.window_seconds - time.time() % limits.window_seconds
    if left < needed:
        await asyncio.sleep(left + 0.1)


async def _token_request(gateway: Gateway, *, address: str, client_id: str, secret: str) -> int:
    async with gateway.http(address) as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
    return response.status_code


async def test_failures_are_limited_per_client_id(gateway: Gateway, tmp_path: Path) -> None:
    limits: FailureLimits = gateway_state(gateway.app).auth.limiter.limits
    await _fresh_window(limits)
    victim = await gateway.client()
    bystander = await gateway.client()
    for attempt in range(limits.per_client):
        status = await _token_request(
            gateway, address=f"198.51.100.{attempt + 1}", client_id=victim.client_id, secret="guess"
        )
        assert status == 401

    async with gateway.http("203.0.113.9") as http:
        limited = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(victim.client_id, victim.client_secret),
        )
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= limits.window_seconds
    assert limited.headers["cache-control"] == "no-store"
    assert "access_token" not in limited.json()
    assert (await gateway.audit_events())[-1]["outcome"] == "rate_limited"

    # Another client is not affected, and the counters are shared: a second worker agrees.
    assert (
        await _token_request(
            gateway,
            address="203.0.113.9",
            client_id=bystander.client_id,
            secret=bystander.client_secret,
        )
        == 200
    )
    async with running_gateway(gateway.url, tmp_path) as other_worker:
        assert (
            await _token_request(
                other_worker,
                address="203.0.113.10",
                client_id=victim.client_id,
                secret=victim.client_secret,
            )
            == 429
        )


async def test_failures_are_limited_per_address(gateway: Gateway) -> None:
    limits: FailureLimits = gateway_state(gateway.app).auth.limiter.limits
    await _fresh_window(limits)
    credentials = await gateway.client()
    for attempt in range(limits.per_address):
        status = await _token_request(
            gateway, address="192.0.2.7", client_id=f"rc_guess{attempt:016d}", secret="guess"
        )
        assert status == 401
    assert (
        await _token_request(
            gateway,
            address="192.0.2.7",
            client_id=credentials.client_id,
            secret=credentials.client_secret,
        )
        == 429
    )
    assert (
        await _token_request(
            gateway,
            address="192.0.2.8",
            client_id=credentials.client_id,
            secret=credentials.client_secret,
        )
        == 200
    )
