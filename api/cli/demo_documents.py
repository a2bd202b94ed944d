"""The demo's trusted documents: one registered operation per shipped program (CONTRACT §9).

``regsosek demo`` registers each for its program (``regsosek documents add`` does the same
for a file), so an integrator can try ``{"documentId": "sha256:…"}`` at once; ``regsosek
documents list`` shows their ids and ``regsosek policy explain P --documents`` what each can
disclose.
"""

from __future__ import annotations

from typing import Final

DEMO_DOCUMENTS: Final = {
    "bps-admin": """query DesaHouseholds($desa: String!, $after: String) {
  households(first: 100, after: $after, filter: {regionCode: $desa}) {
    pageInfo { hasNextPage endCursor }
    nodes { id kkNumber headName welfareDecile updatedAt }
  }
}
""",
    "dinsos-pkh": """query PkhCandidates($after: String) {
  households(first: 100, after: $after, filter: {welfareDecileMax: 4}) {
    pageInfo { hasNextPage endCursor }
    nodes { id kkNumber headName address welfareDecile
            members { nik name age relationshipToHead pregnant education { enrolled } } }
  }
}
""",
    "dp3akb-keluarga": """query Families($after: String) {
  households(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id headName address members { name sex birthDate age documents { kia } } }
  }
}
""",
    "dinkes-pbi": """query PbiCandidates($after: String) {
  persons(first: 200, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { nik sex age chronicIllness healthInsurance { pbiJkn } region { code } }
  }
}
""",
    "kec-sumbersari": """query Residents($after: String) {
  households(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id headName address memberCount members { name sex age } }
  }
}
""",
    "bappeda-statistik": """query DecilePerKecamatan {
  householdStats(groupBy: [KECAMATAN, WELFARE_DECILE]) {
    key { regionCode welfareDecile } count suppressed
  }
}
""",
    "inspektorat-audit": """query RecentEvents($after: String) {
  auditEvents(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { sequence occurredAt clientId program purposeCode caseRef outcome fieldPaths }
  }
}
""",
    "dp3akb-perlindungan-anak": """query ChildInDesa($desa: String!) {
  persons(first: 20, filter: {regionCode: $desa}) {
    nodes { id name sex birthDate age documents { birthCertificate kia } region { name } }
  }
}
""",
}
"""By program: the operation the demo registers for it."""
