"""The subject report (UU PDP Pasal 32, CONTRACT §10): every disclosure of one person
(by NIK) or one family (by No KK), signed so the citizen can check it offline.

For a NIK: the person and their household, and every allowed event that named either
(the household's own fields leave with a family's row). For a No KK: the household and
all its members. Each entry says who received what (program, agency, client), when, why
(purpose, purpose code, case reference) and which fields in which mode
(``households.nodes.nik[MASKED]``: MASKED; no suffix: FULL).

Members are shown by their member number (``r401``, the line on the family's roster), NIK
with only its last four digits (``************1234``) and name initials (``S. A.``): what an
auditor needs to tell the members of one family apart and to match them with the citizen's
own Kartu Keluarga, and no more. The member number is what tells them apart: it is unique in
the family and says nothing about the person. The NIK's first six digits are the region of
registration, the same for most of one family, so they distinguish nobody; its middle six
are the birth date (with 40 added to the day for women), which would disclose date of birth
and sex; its last four, the serial among people of one region born on one day, are mostly
``0001``, so they too rarely tell members apart, but they let the officer match a member to
the NIK a citizen presents. Initials confirm the match without the name.

A program's policy may seal its disclosures (``sealed_until``, an investigation): the
seal is written into each event when the request is audited, inside the hash chain, so it
cannot be added afterwards. A sealed entry is withheld through its seal's day (WIB) and
shown from the next day; the report counts the withheld entries per seal date.

The report is a JSON object signed as a compact JWS (``audit.report_signing``) with the
gateway's signing key, the one ``/.well-known/jwks.json`` publishes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Final

import asyncpg

from audit.events import format_time
from audit.report_signing import sign_report
from audit.reports import check_nik
from audit.signing import SigningKeySource
from audit.sql import subjects as subject_sql
from audit.sql.subjects import SubjectIds
from errors import BadInput

REPORT_KIND: Final = "regsosek-subject-report"
REPORT_VERSION: Final = 1
_MODE: Final = re.compile(r"^(?P<path>.*?)(?:\[(?P<mode>[A-Z]+)\])?$")

__all__ = ["SubjectIds", "build_subject_report", "check_kk", "field_modes", "signed_report"]


def check_kk(kk_number: str) -> str:
    """A No KK (Nomor Kartu Keluarga, the 16-digit family card number), or BadInput."""
    text = kk_number.strip()
    if not (len(text) == 16 and text.isascii() and text.isdigit()):
        raise BadInput("A No KK is 16 digits.")
    return text


def one_subject(nik: str | None, kk_number: str | None) -> tuple[str | None, str | None]:
    """Exactly one of ``nik`` and ``kk_number``, checked; else BadInput."""
    if (nik is None) == (kk_number is None):
        raise BadInput("Give exactly one of `nik` and `kkNumber`.")
    if nik is not None:
        return check_nik(nik), None
    assert kk_number is not None
    return None, check_kk(kk_number)


def member_label(member: dict[str, Any]) -> str:
    """A member as an entry names them: ``2: ************0001 N. W.``."""
    return f"{member['memberNo']}: {member['nikMasked']} {member['initials']}"


def field_modes(paths: list[str]) -> list[dict[str, str]]:
    """``[{path, mode}]`` of an event's field paths: ``a.b[MASKED]`` is ``a.b`` MASKED, a
    path without a suffix was disclosed FULL."""
    fields = []
    for path in paths:
        match = _MODE.match(path)
        assert match is not None
        fields.append({"path": match["path"], "mode": match["mode"] or "FULL"})
    return fields


async def find_subject(
    connection: asyncpg.Connection, *, nik: str | None, kk_number: str | None
) -> SubjectIds:
    """The ids the report is about (none when the NIK or No KK is not in the registry)."""
    if nik is not None:
        return await subject_sql.subject_by_nik(connection, nik=nik)
    assert kk_number is not None
    return await subject_sql.subject_by_kk(connection, kk_number=kk_number)


async def build_subject_report(
    connection: asyncpg.Connection,
    *,
    nik: str | None = None,
    kk_number: str | None = None,
    today: date,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (unsigned): exactly one of ``nik`` and ``kk_number``;
    seals are applied against ``today`` (the WIB day of the request)."""
    nik, kk_number = one_subject(nik, kk_number)
    subject = await find_subject(connection, nik=nik, kk_number=kk_number)
    members = await subject_sql.subject_members(connection, household_ids=subject.household_ids)
    if nik is not None:  # a person's report names no other member of their family
        members = [m for m in members if int(m["personId"]) in subject.person_ids]
    labels = {m["personId"]: member_label(m) for m in members}
    found = await subject_sql.subject_entries(connection, subject=subject, today=today)
    entries = found["entries"]
    for entry in entries:
        entry["fields"] = field_modes(entry["fieldPaths"])
        entry["members"] = [labels.get(pid, pid) for pid in entry["personIds"]]
    sealed = found["sealed"]
    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "nik": nik,
        "kkNumber": kk_number,
        "found": subject.found,
        "generatedAt": format_time(now or datetime.now(UTC)),
        "asOf": today.isoformat(),
        "householdIds": [str(h) for h in subject.household_ids],
        "personIds": [str(p) for p in subject.person_ids],
        "members": members,
        "entries": entries,
        "sealedCount": sum(int(seal["count"]) for seal in sealed),
        "sealed": sealed,
    }


def signed_report(
    report: dict[str, Any], *, keys: SigningKeySource, issuer: str | None = None
) -> dict[str, Any]:
    """``report`` with ``iss`` (the gateway's issuer URL, as its access tokens name it, when
    given), ``kid`` and ``jws``: the compact JWS of the report and its ``iss``. Reports signed
    before ``iss`` was added have none, and still verify."""
    stated = report if issuer is None else {**report, "iss": issuer}
    kid, token = sign_report(stated, keys=keys)
    return {**stated, "kid": kid, "jws": token}


def report_subject(report: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The households and persons a report names: its lookup is a disclosure of them."""
    return [int(h) for h in report["householdIds"]], [int(p) for p in report["personIds"]]
