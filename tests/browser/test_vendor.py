"""The vendored front-end files are exactly what ``scripts/refresh-vendor.sh`` fetched."""

from __future__ import annotations

import hashlib

from tests.support import REPO

VENDOR = REPO / "api" / "static" / "vendor"


def test_every_vendored_file_matches_its_checksum() -> None:
    listed = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    present = {
        path.relative_to(VENDOR).as_posix()
        for path in VENDOR.rglob("*")
        if path.is_file() and path.name not in ("SHA256SUMS", "README.md")
    }
    assert present == set(listed), "a vendored file is missing from SHA256SUMS, or extra"
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
