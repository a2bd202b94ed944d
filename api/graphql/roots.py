"""The value-root registry: every root field computed in Python rather than compiled to SQL.

``myAccess`` (``schema.access``), ``householdStats`` (``schema.stats``) and the
auditors' fields (``audit.roots``); the compiled roots (``households``,
``persons`` …) are ``schema.compiler.roots``. Which program may use which root
is the policy's decision, made when its schema is built.
"""

from __future__ import annotations

import asyncpg

from api.graphql.audit_events import AuditEventsRoot
from audit.reports import ScopeCounter, ScopeSize
from audit.roots import audit_roots
from audit.signing import SigningKeySource
from policies import PolicyStore
from schema.access import AccessRoot
from schema.assistance_reports import ReportAssistanceRoot
from schema.execute import ValueRoot
from schema.overlap import AssistanceOverlapRoot
from schema.proposals import ProposalsRoot, ProposeChangeRoot
from schema.scope_sizes import ScopeSizes
from schema.sealed_cursors import CursorKeys
from schema.stats import HouseholdStatsRoot


def scope_counter(policies: PolicyStore) -> ScopeCounter:
    """The scope sizes of the policy in force, counted at most every ten minutes."""
    sizes = ScopeSizes()

    async def count(connection: asyncpg.Connection) -> list[ScopeSize]:
        return await sizes.get(connection, policies.current)

    return count


def value_roots(
    *,
    policies: PolicyStore,
    pool: asyncpg.Pool,
    keys: CursorKeys,
    statistics: HouseholdStatsRoot | None = None,
    overlap: AssistanceOverlapRoot | None = None,
    signing: SigningKeySource | None = None,
    issuer: str | None = None,
) -> dict[str, ValueRoot]:
    """Every value root by field name; ``pool`` (a read pool of the gateway role on the
    primary) serves ``chainStatus``' full walks; ``keys`` seal ``auditEvents``' cursors;
    ``signing`` (the gateway's signing keys) signs ``subjectReport``, naming ``issuer``."""
    return {
        "myAccess": AccessRoot(),
        "householdStats": statistics or HouseholdStatsRoot(),
        "auditEvents": AuditEventsRoot(keys),
        "proposals": ProposalsRoot(keys),
        "assistanceOverlap": overlap or AssistanceOverlapRoot(),
        **audit_roots(scopes=scope_counter(policies), pool=pool, keys=signing, issuer=issuer),
    }


def mutation_roots(*, pseudonym_key: bytes) -> dict[str, ValueRoot]:
    """Every root of ``Mutation`` by field name: what agencies send back (CONTRACT §11);
    ``pseudonym_key`` resolves a PSEUDONYM program's own pseudonyms."""
    return {
        "proposeChange": ProposeChangeRoot(pseudonym_key),
        "reportAssistance": ReportAssistanceRoot(pseudonym_key),
    }
