"""The anomaly rules of ``auditAnomalies`` and ``regsosek audit report``, and their thresholds.

Every threshold is here, once; ``docs/auditing.md`` explains them to auditors.
Times are WIB (UTC+7), days are WIB days. Each rule names a *subject* and the
events behind the anomaly (``sequences``, and up to ``max_events`` of them in
full; ``eventCount`` is always exact).

``VOLUME_SPIKE``
    A client whose ``/graphql`` requests on a WIB day of the period are at least
    ``volume_factor`` times its daily average over the ``baseline_days`` days
    before that day (days without requests count as zero) *and* at least
    ``volume_min_requests``; or likewise its rows disclosed (at least
    ``volume_min_rows``). A client with no request at all in those
    ``baseline_days`` days has no baseline and is not flagged (a new client is
    not an anomaly by itself). Subject: the client. Events: its ``/graphql``
    requests that day.

``OFF_HOURS``
    A client's allowed ``/graphql`` requests that disclosed rows (``rowCount >
    0``) outside office hours: Monday–Friday from ``office_start`` until
    ``office_end`` WIB (public holidays are not known to the gateway). One
    anomaly per client and WIB day; ``measure`` is the number of such requests
    (any one is enough).

``DENIAL_BURST``
    At least ``denial_burst`` refused ``/graphql`` requests (``FORBIDDEN``,
    ``BAD_USER_INPUT`` — a field the program may not read fails validation
    exactly like a field that does not exist — ``QUERY_TOO_COMPLEX``,
    ``RATE_LIMITED``) by one client within any ``burst_window``. Overlapping and
    following windows merge while the refusals keep coming (gaps up to
    ``burst_window``). ``measure``: the most refusals in one window.

``SIGN_IN_BURST``
    At least ``sign_in_burst`` failed sign-ins within any ``burst_window`` by one
    subject: the client id the caller asserted at ``/oauth/token``, else its
    address (a ``/graphql`` request without a valid token names no client).
    A failed sign-in is a token request refused for its credentials (401) or
    throttled after too many of them (429), or a ``/graphql`` request without a
    valid bearer token (401). Merged like ``DENIAL_BURST``.

``SCOPE_SWEEP``
    A client that disclosed, within one ``sweep_window``, at least
    ``sweep_share`` of its program's scope (distinct households of the
    households the program may read, or distinct persons of the persons it may
    read) and at least ``sweep_min_rows`` of them. Windows start every half
    window from the period's start, so a sweep done within half a window is
    always inside one of them. Overlapping flagged windows are one anomaly.
    ``measure``: the highest share reached in one window (0–1). Scope sizes are
    counted with the program's own row predicate (``policies.readable_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum


class Rule(StrEnum):
    VOLUME_SPIKE = "VOLUME_SPIKE"
    OFF_HOURS = "OFF_HOURS"
    DENIAL_BURST = "DENIAL_BURST"
    SIGN_IN_BURST = "SIGN_IN_BURST"
    SCOPE_SWEEP = "SCOPE_SWEEP"


@dataclass(frozen=True, slots=True)
class Thresholds:
    baseline_days: int = 14
    volume_factor: float = 5.0
    volume_min_requests: int = 100
    volume_min_rows: int = 10_000

    office_weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    """ISO weekdays (Monday = 1) with office hours."""
    office_start: time = time(7, 0)
    office_end: time = time(17, 0)

    burst_window: timedelta = timedelta(minutes=5)
    denial_burst: int = 10
    sign_in_burst: int = 10

    sweep_window: timedelta = timedelta(hours=1)
    sweep_share: float = 0.25
    sweep_min_rows: int = 100

    max_events: int = 200
    """Events listed in full per anomaly (``eventCount`` counts them all)."""


THRESHOLDS = Thresholds()
"""The thresholds in force."""
