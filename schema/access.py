"""``myAccess``: what the caller's program may do, from the policy itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from policies import Program
from schema.execute import Caller
from schema.registry_types import readable_fields


class AccessRoot:
    """``myAccess``: the caller's program, from the policy in force (a value root)."""

    needs_database = False

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        value = access_value(caller.program, client_id=caller.client_id)
        value["purposeCode"] = caller.purpose.code if caller.purpose is not None else None
        value["caseRef"] = caller.case_ref
        return value


def access_value(program: Program, *, client_id: str) -> dict[str, Any]:
    """The ``Access`` object of a program, keyed by field name."""
    fields = [
        {"type": type_name, "field": name, "mode": mode.value}
        for type_name, granted in readable_fields(program).items()
        for name, mode in granted.items()
    ]
    return {
        "client": client_id,
        "agency": program.agency,
        "agencyName": program.agency_name,
        "program": program.name,
        "purpose": program.purpose,
        "legalBasis": program.legal_basis,
        "agreement": {
            "number": program.agreement.number,
            "validFrom": program.agreement.valid_from.isoformat(),
            "validUntil": program.agreement.valid_until.isoformat(),
        },
        "rowScope": program.describe_scope(),
        "fields": fields,
        "purposes": [
            {
                "code": purpose.code,
                "description": purpose.description,
                "caseRefRequired": purpose.case_ref_required,
                "narrowsFields": purpose.fields is not None,
            }
            for purpose in program.purposes
        ],
        "purposeCode": program.purposes[0].code if program.purposes else None,
        "caseRef": None,
    }
