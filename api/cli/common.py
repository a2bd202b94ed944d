"""What the commands share: settings, the console, and running coroutines.

Kept light to import (no pydantic until settings are read): see ``api.cli``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from api.settings import Settings

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)


def load_settings() -> Settings:
    """Validated settings, or exit 2 with every problem listed (never a traceback)."""
    from pydantic import ValidationError

    from api.settings import get_settings

    try:
        return get_settings()
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            errors.print(f"[red]configuration error[/red] {where}: {problem['msg']}")
        raise typer.Exit(2) from None


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def print_json(value: Any) -> None:
    """One JSON document on stdout (``--json``): what scripts read instead of a table."""
    import json

    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


def print_table(table: Any) -> None:
    """A rich table: fitted to a terminal, never cut to 80 columns in a pipe or a log file."""
    console.print(table, width=None if console.is_terminal else 10_000)
