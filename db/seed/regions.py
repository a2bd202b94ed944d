"""Kabupaten Jember's regions for the synthetic registry.

The provinsi, the kabupaten and the 31 kecamatan carry their real BPS codes
and names. Each kecamatan holds its real number of desa/kelurahan (248 in
all: 226 desa and the 22 kelurahan of the three town kecamatan Kaliwates,
Sumbersari and Patrang), numbered ``<kecamatan code>001`` upwards; their
names are synthetic, built from common Javanese place-name parts, so that
no list of real names has to be shipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.enums import RegionLevel

PROVINSI = ("35", "JAWA TIMUR")
KABUPATEN = ("3509", "KABUPATEN JEMBER")


@dataclass(frozen=True)
class Kecamatan:
    code: str
    name: str
    villages: int
    """Number of desa/kelurahan."""
    town: bool
    """Urban kecamatan of Jember town (kelurahan rather than desa)."""

    @property
    def ordinal(self) -> int:
        """1-based position in BPS code order; the NIK's two kecamatan digits."""
        return KECAMATAN.index(self) + 1


KECAMATAN: tuple[Kecamatan, ...] = tuple(
    Kecamatan(f"3509{suffix}", name, villages, town)
    for suffix, name, villages, town in (
        ("010", "KENCONG", 5, False),
        ("020", "GUMUK MAS", 8, False),
        ("030", "PUGER", 12, False),
        ("040", "WULUHAN", 7, False),
        ("050", "AMBULU", 7, False),
        ("060", "TEMPUREJO", 8, False),
        ("070", "SILO", 9, False),
        ("080", "MAYANG", 7, False),
        ("090", "MUMBULSARI", 7, False),
        ("100", "JENGGAWAH", 8, False),
        ("110", "AJUNG", 7, False),
        ("120", "RAMBIPUJI", 8, False),
        ("130", "BALUNG", 8, False),
        ("140", "UMBULSARI", 10, False),
        ("150", "SEMBORO", 6, False),
        ("160", "JOMBANG", 6, False),
        ("170", "SUMBER BARU", 10, False),
        ("180", "TANGGUL", 8, False),
        ("190", "BANGSALSARI", 11, False),
        ("200", "PANTI", 7, False),
        ("210", "SUKORAMBI", 5, False),
        ("220", "ARJASA", 6, False),
        ("230", "PAKUSARI", 7, False),
        ("240", "KALISAT", 12, False),
        ("250", "LEDOKOMBO", 10, False),
        ("260", "SUMBERJAMBE", 9, False),
        ("270", "SUKOWONO", 12, False),
        ("280", "JELBUK", 6, False),
        ("710", "KALIWATES", 7, True),
        ("720", "SUMBERSARI", 7, True),
        ("730", "PATRANG", 8, True),
    )
)

_PREFIXES = (
    "SUMBER", "KARANG", "WONO", "TEGAL", "SIDO", "PURWO", "SUKO", "MULYO",
    "JATI", "KEBON", "BANYU", "GUNUNG", "SARI", "TANJUNG", "REJO", "KALI",
)  # fmt: skip
_SUFFIXES = (
    "REJO", "SARI", "MULYO", "AGUNG", "ASRI", "HARJO", "JAYA", "WETAN",
    "KIDUL", "LOR", "KULON", "ANYAR", "KEMBANG", "MAKMUR", "PURO", "TENGAH",
)  # fmt: skip


@dataclass(frozen=True)
class Village:
    code: str
    name: str
    kecamatan: Kecamatan


def villages() -> list[Village]:
    """The 248 desa/kelurahan, in code order; names are synthetic and unique."""
    result: list[Village] = []
    index = 0
    for kecamatan in KECAMATAN:
        for number in range(1, kecamatan.villages + 1):
            prefix = _PREFIXES[index % len(_PREFIXES)]
            suffix = _SUFFIXES[(index // len(_PREFIXES) + 3 * index) % len(_SUFFIXES)]
            name = prefix + suffix if prefix != suffix else prefix + " BARU"
            result.append(Village(f"{kecamatan.code}{number:03d}", name, kecamatan))
            index += 1
    return result


def region_rows() -> list[tuple[str, str | None, RegionLevel, str]]:
    """``(code, parent_code, level, name)`` of every region, parents first."""
    rows: list[tuple[str, str | None, RegionLevel, str]] = [
        (PROVINSI[0], None, RegionLevel.PROVINSI, PROVINSI[1]),
        (KABUPATEN[0], PROVINSI[0], RegionLevel.KABUPATEN, KABUPATEN[1]),
    ]
    rows += [(k.code, KABUPATEN[0], RegionLevel.KECAMATAN, k.name) for k in KECAMATAN]
    rows += [(v.code, v.kecamatan.code, RegionLevel.DESA, v.name) for v in villages()]
    return rows
