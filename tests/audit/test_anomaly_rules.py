"""Each anomaly rule against the written October history: what trips it, what does not, and
exactly which events stand behind each anomaly."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import pytest

from audit.anomaly_rules import THRESHOLDS
from audit.reports import anomalies, wib_days
from audit.sql import anomalies as anomaly_sql
from policies import load_policies
from schema.scope_sizes import ScopeSizes, count_scope
from tests.audit.conftest import HistoryDatabase
from tests.audit.history import NOVEMBER_PERIOD
from tests.support import REPO


@pytest.fixture(scope="module")
async def found(history_db: HistoryDatabase) -> AsyncIterator[list[dict[str, Any]]]:
    connection = await asyncpg.connect(history_db.url)
    try:
        scopes = await ScopeSizes().get(connection, load_policies(REPO / "policies"))
        yield await anomalies(
            connection, wib_days(date(2026, 10, 1), date(2026, 10, 31)), scopes=scopes
        )
    finally:
        await connection.close()


def _of(found: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [item for item in found if item["rule"] == rule]


def _seqs(item: dict[str, Any]) -> list[int]:
    return [int(seq) for seq in item["sequences"]]


def test_volume_spike_is_the_day_far_above_the_clients_baseline(
    found: list[dict[str, Any]], history_db: HistoryDatabase
) -> None:
    spikes = _of(found, "VOLUME_SPIKE")
    assert [(item["subject"], item["day"]) for item in spikes] == [("dinsos-sync-01", "2026-10-20")]
    spike = spikes[0]
    assert spike["eventCount"] == 150
    assert spike["measure"] == 150
    # 95 requests in the 14 days before (10 on each of 9 workdays, 5 on 18–19 October).
    assert spike["threshold"] == pytest.approx(max(100, 5 * 95 / 14))
    assert _seqs(spike) == history_db.history.seqs["spike"][: THRESHOLDS.max_events]


def test_off_hours_flags_weekends_and_from_five_pm_wib(
    found: list[dict[str, Any]], history_db: HistoryDatabase
) -> None:
    off = _of(found, "OFF_HOURS")
    assert [(item["subject"], item["day"], item["eventCount"]) for item in off] == [
        ("dinsos-sync-01", "2026-10-18", 3),
        ("dinsos-sync-01", "2026-10-19", 1),
    ]
    assert _seqs(off[0]) == history_db.history.seqs["off_hours_sunday"]
    assert _seqs(off[1]) == history_db.history.seqs["off_hours_monday"]


def test_denial_burst_needs_ten_refusals_within_five_minutes(
    found: list[dict[str, Any]], history_db: HistoryDatabase
) -> None:
    bursts = _of(found, "DENIAL_BURST")
    assert len(bursts) == 1
    burst = bursts[0]
    assert (burst["subject"], burst["program"], burst["eventCount"]) == (
        "dp3akb-app-01",
        "dp3akb-keluarga",
        12,
    )
    assert burst["measure"] == 12
    assert _seqs(burst) == history_db.history.seqs["denial_burst"]
    assert {event["outcome"] for event in burst["events"]} == {"DENIED"}


def test_sign_in_burst_is_keyed_by_the_client_id_asserted(
    found: list[dict[str, Any]], history_db: HistoryDatabase
) -> None:
    bursts = _of(found, "SIGN_IN_BURST")
    assert [(item["subject"], item["eventCount"]) for item in bursts] == [
        ("client kec-guess-01", 10)
    ]
    assert _seqs(bursts[0]) == history_db.history.seqs["sign_in_burst"]
    assert {event["endpoint"] for event in bursts[0]["events"]} == {"token"}


async def test_scope_sweep_is_a_large_share_of_the_programs_scope_in_an_hour(
    found: list[dict[str, Any]], history_db: HistoryDatabase
) -> None:
    sweeps = _of(found, "SCOPE_SWEEP")
    assert [item["subject"] for item in sweeps] == ["dinsos-scraper-01"]
    sweep = sweeps[0]
    history = history_db.history
    assert _seqs(sweep) == history.seqs["sweep"]
    assert sweep["measure"] == pytest.approx(
        history.sweep_households / history.scope_households, abs=1e-4
    )
    assert sweep["measure"] >= THRESHOLDS.sweep_share
    connection = await asyncpg.connect(history_db.url)
    try:
        program = load_policies(REPO / "policies").programs["dinsos-pkh"]
        assert (await count_scope(connection, program))[1] == history.scope_households
    finally:
        await connection.close()


def test_nothing_else_is_an_anomaly(found: list[dict[str, Any]]) -> None:
    assert sorted(item["rule"] for item in found) == sorted(
        ["VOLUME_SPIKE", "OFF_HOURS", "OFF_HOURS", "DENIAL_BURST", "SIGN_IN_BURST", "SCOPE_SWEEP"]
    )
    assert [item["firstAt"] for item in found] == sorted(item["firstAt"] for item in found)


async def test_a_period_that_misses_the_burst_finds_no_burst(history_db: HistoryDatabase) -> None:
    connection = await asyncpg.connect(history_db.url)
    try:
        quiet = await anomalies(
            connection, wib_days(date(2026, 10, 22), date(2026, 10, 26)), scopes=[]
        )
    finally:
        await connection.close()
    assert [item["rule"] for item in quiet] == ["SIGN_IN_BURST"]


# ---- each rule on both sides of its threshold (the November story) -----------------------


@pytest.fixture(scope="module")
async def november(november_db: HistoryDatabase) -> AsyncIterator[list[dict[str, Any]]]:
    connection = await asyncpg.connect(november_db.url)
    try:
        scopes = await ScopeSizes().get(connection, load_policies(REPO / "policies"))
        yield await anomalies(connection, wib_days(*NOVEMBER_PERIOD), scopes=scopes)
    finally:
        await connection.close()


def _subjects(found: list[dict[str, Any]], rule: str) -> set[str]:
    return {item["subject"] for item in _of(found, rule)}


def test_every_anomaly_parameter_has_an_explicit_type() -> None:
    """An uncast ``$n`` takes its type from its context: ``$7 * bigint`` made the sweep's
    share a bigint, and 0.25 arrived as 0."""
    for name in ("_VOLUME", "_OFF_HOURS", "_DENIAL_BURST", "_SIGN_IN_BURST", "_SWEEP"):
        statement = getattr(anomaly_sql, name)
        uncast = re.findall(r"\$\d+(?!\d|::)", statement)
        assert not uncast, f"{name}: {uncast}"


def test_volume_spike_on_both_sides_of_its_minimum_and_factor(
    november: list[dict[str, Any]],
) -> None:
    assert _subjects(november, "VOLUME_SPIKE") == {
        "vol-min-100",
        "vol-factor-150",
        "vol-rows-10000",
        "vol-rowfactor-12000",
    }
    by_subject = {item["subject"]: item for item in _of(november, "VOLUME_SPIKE")}
    assert by_subject["vol-factor-150"]["threshold"] == pytest.approx(150)
    assert by_subject["vol-rowfactor-12000"]["threshold"] == pytest.approx(12_000)
    assert by_subject["vol-rows-10000"]["measure"] == 10_000


def test_off_hours_on_both_sides_of_seven_and_five_wib(
    november: list[dict[str, Any]], november_db: HistoryDatabase
) -> None:
    off = [item for item in _of(november, "OFF_HOURS") if item["subject"] == "office-edge"]
    seqs = november_db.history.seqs
    assert [(item["day"], _seqs(item)) for item in off] == [
        ("2026-11-17", seqs["off:early"] + seqs["off:late"]),
        ("2026-11-21", seqs["off:saturday"]),
    ]


def test_denial_burst_on_both_sides_of_ten_in_five_minutes(
    november: list[dict[str, Any]], november_db: HistoryDatabase
) -> None:
    bursts = _of(november, "DENIAL_BURST")
    assert [item["subject"] for item in bursts] == ["deny-10"]
    assert _seqs(bursts[0]) == november_db.history.seqs["deny-10"]
    assert {event["outcome"] for event in bursts[0]["events"]} == {
        "DENIED",
        "INVALID",
        "TOO_COMPLEX",
        "RATE_LIMITED",
    }


def test_sign_in_burst_on_both_sides_and_graphiql_page_loads_are_not_sign_ins(
    november: list[dict[str, Any]],
) -> None:
    assert _subjects(november, "SIGN_IN_BURST") == {"client guess-10", "address 10.9.9.9"}


def test_scope_sweep_is_a_quarter_of_a_scope_of_over_400_households(
    november: list[dict[str, Any]], november_db: HistoryDatabase
) -> None:
    history = november_db.history
    assert history.scope_households > 400
    sweeps = {item["subject"]: item for item in _of(november, "SCOPE_SWEEP")}
    assert "sweep-24" not in sweeps
    assert sweeps["sweep-26"]["measure"] == pytest.approx(
        math.ceil(0.26 * history.scope_households) / history.scope_households, abs=1e-4
    )
    assert sweeps["sweep-26"]["threshold"] == THRESHOLDS.sweep_share
    assert _seqs(sweeps["sweep-26"]) == history.seqs["sweep-26"]


async def test_scope_sweep_of_a_new_client_against_a_400_household_scope(
    november_db: HistoryDatabase,
) -> None:
    """30 rows of 400 (7.5 %) is no sweep, 120 (30 %) is; 99 rows of 200 is under the minimum
    of 100 rows, 100 is not."""
    connection = await asyncpg.connect(november_db.url)
    try:
        found = await anomalies(
            connection,
            wib_days(date(2026, 11, 19), date(2026, 11, 19)),
            scopes=[("kec-sumbersari", 400, 1_600), ("dp3akb-keluarga", 200, 800)],
        )
    finally:
        await connection.close()
    sweeps = {item["subject"]: item for item in _of(found, "SCOPE_SWEEP")}
    assert set(sweeps) == {"new-120", "min-100"}
    assert sweeps["new-120"]["measure"] == pytest.approx(0.3)
    assert sweeps["min-100"]["measure"] == pytest.approx(0.5)
