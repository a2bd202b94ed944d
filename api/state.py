"""What the running gateway holds: one frozen, typed object, built once by the app's lifespan
(``api.app``) and kept as ``app.state.gateway``; handlers read it with ``gateway_state``.

Nothing else is written to ``app.state``: the parts are started in order (the
primary pool, policies, authentication, the audit writer, the GraphQL engine
and its read pools, quotas, the pool sampler) and assembled here once all of
them run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
from starlette.applications import Starlette

if TYPE_CHECKING:
    from api.auth.keys import KeyStore
    from api.auth.service import AuthService
    from api.graphql.documents import TrustedDocuments
    from api.observability.metrics import PoolSampler
    from api.quotas import QuotaKeeper
    from api.settings import Settings
    from audit.threaded import ThreadedAuditWriter
    from audit.writer import AuditWriter
    from policies import PolicyStore
    from schema.execute import Engine


@dataclass(frozen=True, slots=True)
class GatewayState:
    settings: Settings
    primary: asyncpg.Pool
    """The gateway role's pool on the primary: readiness, authentication, quotas."""
    policies: PolicyStore
    auth: AuthService
    audit: AuditWriter | ThreadedAuditWriter
    engine: Engine
    read_pools: Mapping[str, asyncpg.Pool]
    """The pools registry reads use, by metrics name (``reads:primary``, ``reads:<replica>``)."""
    quotas: QuotaKeeper
    pool_sampler: PoolSampler
    documents: TrustedDocuments
    """The programs' registered (trusted) documents (``api.graphql.documents``)."""

    @property
    def keys(self) -> KeyStore:
        """The signing keys (tokens and audit checkpoints)."""
        return self.auth.keys


def gateway_state(app: Starlette) -> GatewayState:
    """The running gateway's state; ``RuntimeError`` before start-up has finished."""
    state = getattr(app.state, "gateway", None)
    if not isinstance(state, GatewayState):
        raise RuntimeError("the gateway has not started")
    return state
