"""NIK and No KK numbers: valid in form and unique across a whole seeding run.

A NIK (r403) is 6 region digits, the birth date as DDMMYY with 40 added to
the day for women, and a 4-digit serial that tells apart people of the same
region, birth date and sex. The synthetic region digits are ``35`` ``09`` and
the kecamatan's two-digit ordinal (01-31). A No KK (r114) is built the same
way from the card's issue date. Serials count up per (region, date) across
chunks, which is what keeps the numbers unique; chunks must therefore be
numbered in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from db.seed.sampling import Ints, group_rank

KECAMATAN_COUNT = 31
DATE_KEYS = 100 * 12 * 31 * 2
"""DDMMYY (with the +40 day for women, hence ``* 2``): every value a 6-digit date part can take."""
MAX_SERIAL = 9_999


def _date_parts(dates: np.ndarray) -> tuple[Ints, Ints, Ints]:
    days = dates.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    years = days.astype("datetime64[Y]")
    day = (days - months).astype(np.int64) + 1
    month = (months - years).astype(np.int64) + 1
    year = years.astype(np.int64) + 1970
    return day, month, year % 100


@dataclass
class Serials:
    """Next free serial for every (kecamatan, date part) key."""

    counts: Ints = field(
        default_factory=lambda: np.zeros(KECAMATAN_COUNT * DATE_KEYS, dtype=np.int64)
    )

    def assign(self, keys: Ints) -> Ints:
        rank, distinct, counts = group_rank(keys)
        serial = self.counts[keys] + rank + 1
        self.counts[distinct] += counts
        if len(serial) and int(serial.max()) > MAX_SERIAL:
            raise OverflowError("more than 9,999 people share a NIK date part in one kecamatan")
        return serial


@dataclass
class Identities:
    """Issues NIKs and No KKs; one instance per seeding run."""

    nik_serials: Serials = field(default_factory=Serials)
    kk_serials: Serials = field(default_factory=Serials)

    def niks(self, *, kecamatan_ordinal: Ints, birth_date: np.ndarray, female: np.ndarray) -> Ints:
        """16-digit NIKs as integers (every one has the leading ``35``, so exactly 16 digits)."""
        return self._numbers(
            self.nik_serials,
            kecamatan=kecamatan_ordinal,
            dates=birth_date,
            female=female.astype(np.int64),
        )

    def kk_numbers(self, *, kecamatan_ordinal: Ints, issued: np.ndarray) -> Ints:
        return self._numbers(
            self.kk_serials,
            kecamatan=kecamatan_ordinal,
            dates=issued,
            female=np.zeros(len(issued), dtype=np.int64),
        )

    @staticmethod
    def _numbers(serials: Serials, *, kecamatan: Ints, dates: np.ndarray, female: Ints) -> Ints:
        day, month, year = _date_parts(dates)
        day = day + 40 * female
        date_key = ((year * 12 + month - 1) * 31 + (day % 40) - 1) * 2 + female
        serial = serials.assign((kecamatan - 1) * DATE_KEYS + date_key)
        date_part = day * 10_000 + month * 100 + year
        region = 350_900 + kecamatan
        return (region * 1_000_000 + date_part) * 10_000 + serial
