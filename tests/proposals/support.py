"""Helpers of the proposal and report tests: the documents an agency sends, and hashes."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.releases.support import Gateway
from tests.schema.conftest import Headers

EVIDENCE = hashlib.sha256(b"foto rumah dan berita acara verifikasi lapangan").hexdigest()

PROPOSE = """
mutation Propose($input: ProposalInput!) {
  proposeChange(input: $input) {
    id kind status values { field value } caseRef evidenceSha256 submittedAt settledIn { id }
    household { id kkNumber }
  }
}
"""

PROPOSE_PLAIN = """
mutation Propose($input: ProposalInput!) {
  proposeChange(input: $input) { id kind status values { field value } settledIn { id } }
}
"""

PROPOSALS = """
query Proposals($filter: ProposalFilter, $first: Int, $after: String) {
  proposals(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id kind status values { field value } settledIn { id } }
  }
}
"""


async def post(
    gateway: Gateway, headers: Headers, document: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """The answer's body, whatever its status (errors included)."""
    answer = await gateway.http.post(
        "/graphql", json={"query": document, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = answer.json()
    return body


def koreksi(household_id: int | str | None, **values: str) -> dict[str, Any]:
    return {
        "kind": "KOREKSI",
        "householdId": None if household_id is None else str(household_id),
        "values": [{"field": field, "value": value} for field, value in values.items()],
        "evidenceSha256": EVIDENCE,
        "caseRef": "VERVAL-2026-0042",
        "note": "ground check",
    }
