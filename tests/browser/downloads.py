"""Waiting for a file the browser downloads: whole, not merely begun.

Chromium may create the file under its final name before it has written it (a ``blob:``
download), or keep a ``.crdownload`` beside it while it writes. A download counts once a
file matches, nothing is still being written in the folder, and its size is above zero and
the same on two looks in a row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from selenium.webdriver.support.ui import WebDriverWait


def downloaded(wait: WebDriverWait[Any], folder: Path, pattern: str) -> list[Path]:
    """The files of ``folder`` matching ``pattern``, once their download is complete."""
    sizes: dict[Path, int] = {}

    def complete(_: Any) -> list[Path] | Literal[False]:
        if any(folder.glob("*.crdownload")):
            return False
        found = sorted(folder.glob(pattern))
        now = {path: path.stat().st_size for path in found}
        steady = bool(found) and all(size > 0 for size in now.values()) and now == sizes
        sizes.clear()
        sizes.update(now)
        return found if steady else False

    result: list[Path] = wait.until(complete)
    return result
