"""The layering the layout promises, checked on the source: which package may import which,
and that only ``policies/rows.py`` names the registry tables on the request path.

Read with the standard library's ``ast``: every ``import``/``from … import`` counts,
at module level, inside functions and under ``TYPE_CHECKING`` alike.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import REPO

LAYERS = ("api", "audit", "schema", "policies", "db", "errors")
"""The product's top-level packages (and the ``errors`` module) the rules speak of."""

ALLOWED: dict[str, frozenset[str]] = {
    "api": frozenset({"api", "audit", "schema", "policies", "db", "errors"}),
    "audit": frozenset({"audit", "schema", "db", "errors"}),
    "schema": frozenset({"schema", "policies", "db", "errors"}),
    "policies": frozenset({"policies", "db", "errors"}),
    "db": frozenset({"db", "errors"}),
    "errors": frozenset(),
}
"""What each may import: ``api → audit, schema, policies, db``; ``audit → schema's protocols,
db``; ``schema → policies, db``; ``policies → db``; ``db →`` none of these; all may import
``errors``, which imports none of them."""

AUDIT_MAY_USE_OF_SCHEMA = frozenset({"schema.execute", "schema.scalars"})
"""Schema's protocols, as the audit package sees them: the value-root protocol (``Caller``,
``Subject``, ``ValueRoot``) and the GraphQL ``ID`` form (``parse_id``)."""

REGISTRY_TABLES = ("households", "persons", "assistance_receipts")
REGISTRY_MODELS = frozenset({"Household", "Person", "AssistanceReceipt"})
ROWS_MODULE = "policies.rows"
TABLE_DEFINITIONS = "db.models"
"""Where the tables are defined (their ``__tablename__``): not a read of them."""
LAYOUT = "db.layout"
"""The import layout, derived from the table definitions' columns (proposals are checked
against it on the request path): it describes the tables and reads no row of them."""
SQL_NAMING = re.compile(
    r"\b(?:from|join|into|update|table)\s+(?:" + "|".join(REGISTRY_TABLES) + r")\b", re.I
)


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def layer(self) -> str:
        return self.name.split(".")[0]

    @property
    def where(self) -> str:
        return str(self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path)

    def tree(self) -> ast.Module:
        return ast.parse(self.path.read_text(encoding="utf-8"), filename=str(self.path))


def product_modules() -> dict[str, Module]:
    """Every module of the layers, by dotted name."""
    found: dict[str, Module] = {"errors": Module("errors", REPO / "errors.py")}
    for layer in LAYERS[:-1]:
        for path in sorted((REPO / layer).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = Module(".".join(parts), path)
    return found


def imported(module: Module, known: dict[str, Module]) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every project module ``module`` imports (absolute imports:
    the code base uses no relative ones)."""
    for node in ast.walk(module.tree()):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LAYERS:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in LAYERS:
                continue
            yield node.lineno, node.module
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in known:
                    yield node.lineno, submodule


def test_every_layer_imports_only_the_layers_below_it() -> None:
    modules = product_modules()
    broken = []
    for module in modules.values():
        for line, name in imported(module, modules):
            target = name.split(".")[0]
            if target not in ALLOWED[module.layer] or (
                module.layer == "audit" and target == "schema" and not _protocol(name)
            ):
                broken.append(f"{module.where}:{line} imports {name}")
    assert broken == []


def _protocol(name: str) -> bool:
    return any(name == kept or name.startswith(kept + ".") for kept in AUDIT_MAY_USE_OF_SCHEMA)


def test_the_rules_see_an_import_inside_a_function(tmp_path: Path) -> None:
    """The check itself: an import made late, inside a function, is seen like any other."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from api.app import create_app\n    import db.engine\n")
    names = [name for _, name in imported(Module("schema.probe", path), product_modules())]
    assert names == ["api.app", "db.engine"]
    assert "api" not in ALLOWED["schema"]


def request_path() -> dict[str, Module]:
    """The modules a running gateway imports: the import closure of ``api.app`` (every
    import, also those inside functions), without the table definitions (``db.models``) and the layout derived from them
    (``db.layout``).

    Not on it, so free to name the tables: the seeder and importer (``db.seed``,
    ``db.importer``, ``db.derived``), ``db.migrate`` and the migrations, the commands of
    ``api.cli`` (with what only they use: client administration, the HTML report), the
    benchmarks and the tests.
    """
    modules = product_modules()
    seen: dict[str, Module] = {}
    pending = ["api.app"]
    while pending:
        name = pending.pop()
        if name in seen or name not in modules:
            continue
        seen[name] = modules[name]
        parent = name.rpartition(".")[0]
        if parent:
            pending.append(parent)  # a package's __init__ runs first
        pending += [target for _, target in imported(modules[name], modules)]
    return {
        name: module
        for name, module in seen.items()
        if name not in (TABLE_DEFINITIONS, LAYOUT) and not name.startswith(TABLE_DEFINITIONS + ".")
    }


def namings(module: Module) -> Iterator[str]:
    """Where ``module`` names a registry table: SQL text that reads or writes it, a
    ``table("…")``/``Table("…")`` of it, or its model (``Household``, ``Person``,
    ``AssistanceReceipt``) imported or used."""
    tree = module.tree()
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    where = module.where
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and SQL_NAMING.search(node.value):
                yield f"{where}:{node.lineno} SQL names a registry table"
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else None
            if isinstance(function, ast.Name):
                called = function.id
            first = node.args[0]
            if (
                called in {"table", "Table"}
                and isinstance(first, ast.Constant)
                and first.value in REGISTRY_TABLES
            ):
                yield f"{where}:{node.lineno} builds table {first.value!r}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("db"):
            for alias in node.names:
                if alias.name in REGISTRY_MODELS:
                    yield f"{where}:{node.lineno} imports the model {alias.name}"
        elif isinstance(node, ast.Attribute) and node.attr in REGISTRY_MODELS:
            yield f"{where}:{node.lineno} uses the model {node.attr}"


def test_only_readable_rows_names_the_registry_tables_on_the_request_path() -> None:
    """On the request path (``request_path``), only ``policies/rows.py`` (``readable_rows``,
    the one function that applies a program's row predicate) may name ``households``,
    ``persons`` or ``assistance_receipts`` (``namings``); every other read goes through it."""
    path = request_path()
    assert ROWS_MODULE in path, "readable_rows is on the request path"
    assert "schema.compiler.roots" in path
    assert "audit.roots" in path
    found = [hit for name, module in path.items() if name != ROWS_MODULE for hit in namings(module)]
    assert found == []


def test_the_naming_check_sees_sql_models_and_tables(tmp_path: Path) -> None:
    """The check itself: each way of naming a table is caught, prose is not."""
    path = tmp_path / "probe.py"
    path.write_text(
        '"""Reads households FROM households, in prose."""\n'
        "from db.models import Household\n"
        "import sqlalchemy as sa\n"
        "QUERY = 'SELECT id FROM persons WHERE true'\n"
        "RECEIPTS = sa.table('assistance_receipts')\n"
        "ROOT = 'households'\n"
    )
    hits = list(namings(Module("schema.probe", path)))
    assert len(hits) == 3, hits
    assert not list(namings(Module("policies.rows", REPO / "errors.py")))
