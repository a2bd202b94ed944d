"""The records of processing as one self-contained HTML page (``regsosek policy ropa --html``),
for the data protection officer and the Inspektorat. Every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse;margin:0 0 2em}td,th{border:1px solid #bbb;padding:4px 8px;"
    "text-align:left;vertical-align:top}th{background:#eee;width:16em}.specific{color:#a00;"
    "font-weight:bold}"
)


def _row(label: str, value: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{value}</td></tr>"


def _list(items: list[str]) -> str:
    if not items:
        return "&mdash;"
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def render(records: dict[str, Any]) -> str:
    """The page: one table per program, specific data in red."""
    parts = [
        "<!doctype html><html lang=id><meta charset=utf-8>",
        "<title>Catatan kegiatan pemrosesan / Records of processing</title>",
        f"<style>{STYLE}</style>",
        "<h1>Catatan kegiatan pemrosesan data pribadi / Records of processing (UU PDP Pasal 31)"
        "</h1>",
        f"<p>Versi kebijakan / policy version <code>{escape(records['policyVersion'])}</code></p>",
    ]
    for program in records["programs"]:
        agreement = program["agreement"]
        purposes = [
            f"{p['code']}: {p['description']}"
            + (" (nomor perkara wajib / case reference required)" if p["caseRefRequired"] else "")
            for p in program["purposes"]
        ]
        specific = program["specificData"]
        specific_html = f"<span class=specific>{_list(specific)}</span>" if specific else "&mdash;"
        protected = [f"{item['field']} ({item['mode']})" for item in program["protectedFields"]]
        k = program["statisticsK"]
        recipient = program["recipient"]
        rows = [
            _row("pengendali / controller", escape(program["controller"])),
            _row(
                "penerima / recipient",
                f"{escape(recipient['name'])} ({escape(recipient['agency'])})",
            ),
            _row("dasar hukum / legal basis", escape(program["legalBasis"])),
            _row("tujuan / purpose", escape(program["purpose"])),
            _row("tujuan per permintaan / purposes", _list(purposes)),
            _row(
                "PKS / agreement",
                escape(
                    f"{agreement['number']}, {agreement['validFrom']} – {agreement['validUntil']}"
                ),
            ),
            _row("cakupan baris / rows", escape(program["rowScope"])),
            _row("kategori data / data categories", _list(program["dataCategories"])),
            _row("data spesifik / specific data", specific_html),
            _row("disamarkan / masked or pseudonymised", _list(protected)),
            _row("k statistik / statistics k", "&mdash;" if k is None else str(k)),
            _row("retensi catatan audit / audit retention", escape(program["auditRetention"])),
            _row("DPIA", escape(program["dpia"] or "—")),
        ]
        parts.append(f"<h2>{escape(program['program'])}</h2><table>{''.join(rows)}</table>")
    parts.append("</html>")
    return "\n".join(parts)
