"""SQLAlchemy models of the gateway's database."""

from db.models.access import OAuthClient, RateCounter, SigningKey
from db.models.audit import AuditCheckpoint, AuditEvent
from db.models.base import Base
from db.models.documents import TrustedDocument
from db.models.registry import AssistanceReceipt, Household, Person, Region
from db.models.releases import (
    ChangeKind,
    ChangePositions,
    PolicyVersion,
    ProgramChange,
    Release,
    ReleaseKind,
    WebhookDelivery,
    WebhookSubscription,
)

__all__ = [
    "AssistanceReceipt",
    "AuditCheckpoint",
    "AuditEvent",
    "Base",
    "ChangeKind",
    "ChangePositions",
    "Household",
    "OAuthClient",
    "Person",
    "PolicyVersion",
    "ProgramChange",
    "RateCounter",
    "Region",
    "Release",
    "ReleaseKind",
    "SigningKey",
    "TrustedDocument",
    "WebhookDelivery",
    "WebhookSubscription",
]
