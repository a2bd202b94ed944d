"""What authentication needs to know of the policy set: which programs exist, and whose they are.

Structural types, so that ``policies.PolicySet`` (and a reloaded one) fits
without this package depending on how policies are parsed. ``PolicySource``
returns the set in force *now*: a policy reload is seen by the next request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Protocol


class AgreementView(Protocol):
    """The data-sharing agreement (PKS) a program operates under."""

    @property
    def number(self) -> str: ...

    @property
    def valid_from(self) -> date: ...

    @property
    def valid_until(self) -> date: ...

    def in_force(self, on: date) -> bool: ...


class ProgramView(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def agency(self) -> str: ...

    @property
    def agency_name(self) -> str: ...

    @property
    def purpose(self) -> str: ...

    @property
    def agreement(self) -> AgreementView: ...


class PolicySetView(Protocol):
    @property
    def programs(self) -> Mapping[str, ProgramView]: ...


PolicySource = Callable[[], PolicySetView]
"""Returns the policy set currently in force."""
