"""The policy in force, and its atomic reload (the app calls ``reload()`` on SIGHUP).

A reload validates the whole directory first and swaps in the new
``PolicySet`` only if it is valid. A broken directory keeps the old policy in
force (it never opens access) and is kept in ``last_error`` for ``/readyz``.
Subscribers are called after each successful swap, with the new set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from policies.errors import PolicyError
from policies.loader import load_policies
from policies.model import PolicySet

logger = logging.getLogger(__name__)

Subscriber = Callable[[PolicySet], None]


class PolicyStore:
    """Holds the current ``PolicySet`` of one directory."""

    def __init__(self, directory: Path) -> None:
        """Load ``directory``; raises ``PolicyError`` if it is broken (nothing to keep in force)."""
        self._directory = directory
        self._lock = threading.Lock()
        self._current = load_policies(directory)
        self._subscribers: list[Subscriber] = []
        self.last_error: PolicyError | None = None

    @property
    def current(self) -> PolicySet:
        return self._current

    @property
    def directory(self) -> Path:
        return self._directory

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(new_set)`` after every successful reload; returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def reload(self) -> bool:
        """Re-read the directory; True when a new valid set is now in force.

        Returns False both when the files are broken (``last_error`` says why;
        the old set stays) and when they are unchanged (same ``version``).
        """
        with self._lock:
            try:
                loaded = load_policies(self._directory)
            except PolicyError as error:
                self.last_error = error
                logger.error("policy reload refused, old policy kept: %s", error)
                return False
            self.last_error = None
            if loaded.version == self._current.version:
                return False
            self._current = loaded
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(loaded)
            except Exception:
                logger.exception("policy subscriber failed")
        return True
