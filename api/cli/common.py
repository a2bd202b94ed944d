"""What the commands share: settings, the console, and running coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from api.settings import Settings, get_settings

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)


def load_settings() -> Settings:
    """Validated settings, or exit 2 with every problem listed (never a traceback)."""
    try:
        return get_settings()
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            errors.print(f"[red]configuration error[/red] {where}: {problem['msg']}")
        raise typer.Exit(2) from None


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)
