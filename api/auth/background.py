"""Periodic refreshes that run beside the server (key set, client registry, counter clean-up)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def start_periodic(
    action: Callable[[], Awaitable[None]], *, every: float, name: str, first: float | None = None
) -> asyncio.Task[None]:
    """Run ``action`` every ``every`` seconds (the first time after ``first`` seconds, default
    ``every``) until the task is cancelled; failures are logged."""

    async def loop() -> None:
        delay = every if first is None else first
        while True:
            await asyncio.sleep(delay)
            delay = every
            try:
                await action()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("periodic %s failed", name, exc_info=True)

    return asyncio.create_task(loop(), name=name)


async def stop_periodic(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
