"""The breach pack's notice drafts in Bahasa Indonesia (UU PDP Pasal 46).

* To the data subjects (Pasal 46 ayat (1) huruf a): ``pemberitahuan-subjek.csv``, one row
  per subject (a family by its No KK, a person by NIK), and ``pemberitahuan-subjek.txt``,
  the letter with ``{column}`` fields for a mail merge; ``pemberitahuan-subjek-contoh.txt``
  is the first row merged. At 100,000 subjects this stays two small files and a CSV.
* To the authority (huruf b), with the contents of ayat (2): which personal data left,
  when and how, and what was done (``pemberitahuan-lembaga.txt``).

What the trail cannot know (what happened at the client, who to contact) is left as
``[DIISI PETUGAS: …]`` for the officer to fill in.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TextIO

from audit.breach_fields import Disclosed, Owner, resolve
from db.catalog import attribute
from db.wib import WIB

if TYPE_CHECKING:
    from audit.breach import PackFacts

MODE_WORDS: Final = {
    "FULL": "",
    "MASKED": " (disamarkan sebagian)",
    "PSEUDONYM": " (dalam bentuk pseudonim)",
}
SUBJECT_COLUMNS: Final = (
    "jenis_subjek",
    "rujukan",
    "nama",
    "alamat",
    "no_kk",
    "nik",
    "id_keluarga",
    "id_orang",
    "data_terungkap",
    "pertama_wib",
    "terakhir_wib",
    "jumlah_kejadian",
    "penerima",
    "instansi",
    "program",
    "nomor_pks",
)
SUBJECT_TEMPLATE: Final = """\
PEMBERITAHUAN KEGAGALAN PELINDUNGAN DATA PRIBADI
(Pasal 46 ayat (1) huruf a Undang-Undang Nomor 27 Tahun 2022
tentang Pelindungan Data Pribadi)

Nomor rujukan: {rujukan}

Kepada Yth. {nama}
{alamat}
No KK: {no_kk}   NIK: {nik}

Dengan hormat,

Sebagai Pengendali Data Pribadi Registrasi Sosial Ekonomi (Regsosek), kami
memberitahukan bahwa data pribadi {sebutan} yang kami bagikan kepada {instansi}
untuk program {program} (perjanjian {nomor_pks}), melalui sistem "{penerima}",
telah terungkap kepada pihak yang tidak berhak.

1. Data pribadi yang terungkap:
{data_terungkap_daftar}

2. Kapan dan bagaimana data terungkap:
   Data tersebut dikirim ke sistem "{penerima}" sebanyak {jumlah_kejadian} kali
   antara {pertama_wib} dan {terakhir_wib} WIB melalui layanan pertukaran data
   Regsosek. [DIISI PETUGAS: bagaimana data di sistem tersebut terungkap.]

3. Upaya penanganan dan pemulihan:
   [DIISI PETUGAS: misalnya, akses sistem tersebut ke data Regsosek telah dihentikan
   pada tanggal ...; langkah yang dapat Bapak/Ibu lakukan ...]

Untuk keterangan lebih lanjut, Bapak/Ibu dapat menghubungi
[DIISI PETUGAS: nama unit, telepon, alamat surel], dengan menyebut nomor rujukan di atas.

Hormat kami,

[DIISI PETUGAS: nama dan jabatan]
"""


def wib(moment: datetime | None) -> str:
    """``moment`` as a WIB wall-clock time, ``2026-11-16 08:00:00`` (empty for none)."""
    return "" if moment is None else moment.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S")


def describe(item: Disclosed) -> str:
    """A field in words a data subject reads: ``Nomor Induk Kependudukan (disamarkan …)``."""
    field = resolve(item.path)
    found = None if field is None else attribute(field.type_name, field.field_name)
    name = item.path if found is None else found.indonesian
    return name + MODE_WORDS.get(item.mode, "")


def describe_all(items: Sequence[Disclosed]) -> str:
    return "; ".join(dict.fromkeys(describe(item) for item in items))


def render_subject_notice(row: dict[str, str]) -> str:
    """One subject's letter: ``SUBJECT_TEMPLATE`` merged with a row of the CSV."""
    values = dict(row)
    values["sebutan"] = "keluarga Bapak/Ibu" if row["jenis_subjek"] == "KELUARGA" else "Bapak/Ibu"
    values["data_terungkap_daftar"] = "\n".join(
        f"   - {part}" for part in row["data_terungkap"].split("; ") if part
    )
    values = {key: value or "-" for key, value in values.items()}
    return SUBJECT_TEMPLATE.format_map(values)


class SubjectNotices:
    """Writes ``pemberitahuan-subjek.csv`` row by row while the subjects stream past."""

    def __init__(self, directory: Path, facts: PackFacts) -> None:
        self._directory = directory
        self._facts = facts
        self._handle: TextIO | None = None
        self._first: dict[str, str] | None = None
        client = facts.client or {}
        first = facts.events[0] if facts.events else {}
        self._common = {
            "penerima": f"{client.get('name') or facts.client_id} ({facts.client_id})",
            "instansi": str(first.get("agency") or ""),
            "program": str(first.get("program") or client.get("program") or ""),
            "nomor_pks": str(first.get("agreement") or ""),
        }
        self._stamp = facts.start.strftime("%Y%m%d")

    def __enter__(self) -> SubjectNotices:
        self._handle = (self._directory / "pemberitahuan-subjek.csv").open(
            "w", newline="", encoding="utf-8"
        )
        self._writer = csv.DictWriter(self._handle, fieldnames=SUBJECT_COLUMNS)
        self._writer.writeheader()
        return self

    def add(self, item: dict[str, Any]) -> None:
        row, owner = item["row"], item["owner"]
        household = owner is Owner.HOUSEHOLD
        values = {
            "jenis_subjek": "KELUARGA" if household else "ORANG",
            "rujukan": f"PDP-{self._facts.client_id}-{self._stamp}-"
            f"{'K' if household else 'P'}{row['id']}",
            "nama": row["head_name"] if household else row["name"],
            "alamat": row["address"],
            "no_kk": row["kk_number"],
            "nik": "" if household else row["nik"],
            "id_keluarga": row["id"] if household else row["household_id"],
            "id_orang": "" if household else row["id"],
            "data_terungkap": describe_all(item["fields"]),
            "pertama_wib": wib(row["first_at"]),
            "terakhir_wib": wib(row["last_at"]),
            "jumlah_kejadian": row["events"],
            **self._common,
        }
        text = {key: "" if value is None else str(value) for key, value in values.items()}
        self._writer.writerow(text)
        if self._first is None:
            self._first = text

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._handle is not None
        self._handle.close()
        (self._directory / "pemberitahuan-subjek.txt").write_text(
            SUBJECT_TEMPLATE, encoding="utf-8"
        )
        if self._first is not None and kind is None:
            (self._directory / "pemberitahuan-subjek-contoh.txt").write_text(
                render_subject_notice(self._first), encoding="utf-8"
            )


def _fields_lines(facts: PackFacts) -> list[str]:
    lines = []
    for label, tally in (("keluarga", facts.households), ("orang", facts.persons)):
        for (path, mode), count in sorted(tally.fields.items()):
            words = describe(Disclosed(path, mode, Owner.HOUSEHOLD))
            lines.append(f"   - {words} [{path}, {mode}]: {count:,} {label}")
    return lines or ["   - (tidak ada data subjek yang tercatat keluar)"]


def write_authority_notice(directory: Path, facts: PackFacts) -> None:
    """``pemberitahuan-lembaga.txt``: the letter to the authority, Pasal 46 ayat (2) a–c."""
    check = facts.check
    client = facts.client or {}
    events = facts.events
    first = wib(events[0]["occurred_at"]) if events else "-"
    last = wib(events[-1]["occurred_at"]) if events else "-"
    programs = sorted({str(e["program"]) for e in events}) or [str(client.get("program", "-"))]
    agencies = sorted({str(e["agency"]) for e in events if e["agency"]}) or ["-"]
    agreements = sorted({str(e["agreement"]) for e in events if e["agreement"]}) or ["-"]
    operations = sorted({str(e["operation_name"]) for e in events if e["operation_name"]})
    purposes = ", ".join(f"{code} ({n:,} kali)" for code, n in facts.purposes.most_common())
    cases = ", ".join(sorted(facts.case_refs)) or "tidak tercatat"
    anchor = (
        f"berpangkal pada checkpoint bertanda tangan #{check.anchor_checkpoint}"
        if check.anchor_checkpoint
        else "dari awal rantai"
    )
    if client.get("enabled") is False:
        status = f"dinonaktifkan pada {wib(client.get('disabled_at')) or '-'} WIB"
    elif client:
        status = (
            "MASIH AKTIF pada saat paket ini dibuat: nonaktifkan dengan"
            f" `regsosek client disable {facts.client_id}`"
        )
    else:
        status = "tidak terdaftar lagi"
    text = f"""\
PEMBERITAHUAN KEGAGALAN PELINDUNGAN DATA PRIBADI
(Pasal 46 ayat (1) huruf b dan ayat (2) Undang-Undang Nomor 27 Tahun 2022
tentang Pelindungan Data Pribadi)

Kepada Yth. [DIISI PETUGAS: lembaga penyelenggara pelindungan data pribadi]
Dari: Pengendali Data Pribadi Registrasi Sosial Ekonomi (Regsosek)
      [DIISI PETUGAS: unit, alamat, kontak]
Tanggal: {wib(facts.generated_at)} WIB

Pihak penerima data yang mengalami kegagalan pelindungan:
   sistem "{client.get("name") or facts.client_id}" (client id {facts.client_id}),
   instansi {", ".join(agencies)}, program {", ".join(programs)},
   perjanjian {", ".join(agreements)}.

a. Data pribadi yang terungkap
   {facts.households.count:,} keluarga (No KK) dan {facts.persons.count:,} orang (NIK)
   menerima pengiriman data ke sistem tersebut dalam periode yang diperiksa
   ({facts.households.not_in_registry:,} keluarga dan {facts.persons.not_in_registry:,} orang
   tidak lagi ada di registri). Jenis data dan jumlah subjeknya:
{chr(10).join(_fields_lines(facts))}
   Rincian per subjek: households.csv dan persons.csv.

b. Kapan dan bagaimana data pribadi terungkap
   Data dikirim melalui layanan pertukaran data Regsosek (GraphQL, dengan token
   akses OAuth 2 milik sistem tersebut) dalam {len(events):,} permintaan antara
   {first} dan {last} WIB (periode yang diperiksa: {wib(facts.start)} s.d.
   {wib(facts.end)} WIB). Operasi: {", ".join(operations) or "-"}.
   Tujuan yang dinyatakan: {purposes or "tidak tercatat"}. Nomor perkara: {cases}.
   Rincian per permintaan: events.csv. [DIISI PETUGAS: bagaimana data di sistem
   penerima terungkap, dan kapan hal itu diketahui.]

c. Upaya penanganan dan pemulihan
   - Jejak audit berantai hash untuk periode ini telah diverifikasi utuh: kejadian
     nomor {check.first_seq or "-"} s.d. {check.last_seq or "-"}, diperiksa berurutan dari
     nomor {check.anchor_seq + 1} s.d. {check.through_seq} ({anchor}).
   - Akses sistem penerima: {status}.
   - Pembuatan paket ini tercatat sebagai kejadian audit nomor {facts.audit_seq}.
   - Pemberitahuan kepada {facts.households.count + facts.persons.count:,} subjek data
     disiapkan (pemberitahuan-subjek.csv dan pemberitahuan-subjek.txt).
   - [DIISI PETUGAS: langkah lain yang telah dan akan diambil.]

Hormat kami,

[DIISI PETUGAS: nama dan jabatan]
"""
    (directory / "pemberitahuan-lembaga.txt").write_text(text, encoding="utf-8")
