"""The facts behind the identifiers, and what each field shows of them in each mode.

A NIK (r403) is three blocks, each a fact about the person: the *region*
block (6 digits: provinsi, kabupaten and kecamatan codes), the *birth* block
(the birth date as DDMMYY, 40 added to the day for women) and a 4-digit
*serial* that tells apart persons of one region, birth date and sex. A No KK
(r114) is built the same way from the family's region, the card's *issue
date* (DDMMYY) and a serial.

``VIEWS`` says, for each catalogued field and each way a program can read it
(``FULL``, the name of its mask, ``PSEUDONYM``), which facts it shows and how
much of each: all of it, or a *part* (the year of a birth date, the sex, the
age today). A field missing from ``VIEWS`` shows none of these facts; a mode
missing under a field (a pseudonym) shows nothing of them. ``policies.inference``
counts from this table alone how many values a masked or pseudonymised field
can still have for a program, given everything else the program reads.

Only what a field shows about *every* row is listed: ``pregnant`` tells the
sex of pregnant women only and is left out; a given name is listed as telling
the sex (most Indonesian given names do), marked ``inferred`` because it is an
inference and not the value itself.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = "all"
"""The part that is the whole fact."""


@dataclass(frozen=True)
class Fact:
    """A hidden fact; either *opaque* (``values`` possible values, shown whole or not at
    all) or counted value by value over a domain with ``parts`` (a person's birth)."""

    name: str
    description: str
    values: int | None = None
    parts: tuple[str, ...] = (ALL,)


@dataclass(frozen=True)
class View:
    """What one field, read one way, shows of one fact."""

    fact: str
    part: str = ALL
    inferred: bool = False
    """A likely inference (a given name tells the sex), not the fact's value itself."""


BIRTH = Fact(
    "birth",
    "birth date and sex of a person (the NIK's DDMMYY block, 40 added to the day for women),"
    " counted over every day of the 100 years before a reference day",
    parts=(ALL, "date", "year", "sex", "age"),
)
RESIDENCE = Fact(
    "residence",
    "kecamatan of the family (the NIK's and the No KK's 6-digit region block);"
    " about 7,200 kecamatan in Indonesia, counted as 7,000",
    values=7_000,
)
NIK_SERIAL = Fact("nik_serial", "the NIK's 4-digit serial", values=10_000)
KK_ISSUED = Fact(
    "kk_issued",
    "issue date of the family card (the No KK's DDMMYY block): any day of a century",
    values=36_524,
)
KK_SERIAL = Fact("kk_serial", "the No KK's 4-digit serial", values=10_000)

FACTS: dict[str, Fact] = {
    fact.name: fact for fact in (BIRTH, RESIDENCE, NIK_SERIAL, KK_ISSUED, KK_SERIAL)
}

_REGION = (View(RESIDENCE.name),)

VIEWS: dict[tuple[str, str], dict[str, tuple[View, ...]]] = {
    ("Person", "nik"): {
        "FULL": (View(RESIDENCE.name), View(BIRTH.name), View(NIK_SERIAL.name)),
        "DIGITS_6_4": (View(RESIDENCE.name), View(NIK_SERIAL.name)),
    },
    ("Person", "birthDate"): {
        "FULL": (View(BIRTH.name, "date"),),
        "YEAR": (View(BIRTH.name, "year"),),
    },
    ("Person", "sex"): {"FULL": (View(BIRTH.name, "sex"),)},
    ("Person", "age"): {"FULL": (View(BIRTH.name, "age"),)},
    ("Person", "name"): {"FULL": (View(BIRTH.name, "sex", inferred=True),)},
    ("Person", "region"): {"FULL": _REGION},
    ("Household", "region"): {"FULL": _REGION},
    ("Household", "slsCode"): {"FULL": _REGION},
    ("Household", "kkNumber"): {
        "FULL": (View(RESIDENCE.name), View(KK_ISSUED.name), View(KK_SERIAL.name)),
        "DIGITS_6_4": (View(RESIDENCE.name), View(KK_SERIAL.name)),
    },
}
"""(type, field) → how it is read (FULL, a mask's name, PSEUDONYM) → what it shows."""


def views(type_name: str, field_name: str, how: str) -> tuple[View, ...]:
    """What the field shows of the facts when read ``how``; nothing when not listed."""
    return VIEWS.get((type_name, field_name), {}).get(how, ())
