"""SQLAlchemy models of the gateway's database."""

from db.models.access import OAuthClient, RateCounter, SigningKey
from db.models.audit import AuditCheckpoint, AuditEvent
from db.models.base import Base
from db.models.registry import AssistanceReceipt, Household, Person, Region

__all__ = [
    "AssistanceReceipt",
    "AuditCheckpoint",
    "AuditEvent",
    "Base",
    "Household",
    "OAuthClient",
    "Person",
    "RateCounter",
    "Region",
    "SigningKey",
]
