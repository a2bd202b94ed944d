"""Access policies as code: which rows and fields each program may read, and how.

``load_policies(directory)`` reads the casbin model and policy and one YAML file
per program into an immutable ``PolicySet``. ``readable_rows`` is the one
function every read of registry rows passes through; ``field_expression``
turns a field's mode into the SQL to select; ``policies.rls`` installs the same
row predicates as PostgreSQL row-level-security policies.
"""

from db.entities import Entity
from policies.conditions import PersonScope, Scope
from policies.errors import PolicyError, Problem
from policies.loader import load_policies
from policies.masks import field_expression, pseudonym
from policies.model import Agreement, FieldMode, PolicySet, Program, Purpose, Quota
from policies.purposes import choose_purpose
from policies.rows import (
    Readable,
    home_of_visible_person,
    readable_rows,
    scope_rows,
    statistics_rows,
)
from policies.store import PolicyStore

__all__ = [
    "Agreement",
    "Entity",
    "FieldMode",
    "PersonScope",
    "PolicyError",
    "PolicySet",
    "PolicyStore",
    "Problem",
    "Program",
    "Purpose",
    "Quota",
    "Readable",
    "Scope",
    "choose_purpose",
    "field_expression",
    "home_of_visible_person",
    "load_policies",
    "pseudonym",
    "readable_rows",
    "scope_rows",
    "statistics_rows",
]
