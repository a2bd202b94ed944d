"""The registry's entities as the policy names them (``Household``, ``Person``, ``Assistance``).

Defined here, below the policy layer, because the release ledger records changes per entity
(``db.releases``) and must not import ``policies``; ``policies.Entity`` is this enum.
"""

from __future__ import annotations

from enum import StrEnum


class Entity(StrEnum):
    HOUSEHOLD = "Household"
    PERSON = "Person"
    ASSISTANCE = "Assistance"
