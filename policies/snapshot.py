"""A policy directory as data: the files ``load_policies`` reads, kept and loaded back.

``regsosek policy apply`` stores the snapshot of what it installs
(``policy_versions``), so that the next apply can tell which rows the change
moves in or out of each program's scope, with the old policy's own
predicates, and so that imports compute scope changes with the policy in
force in the database (the one row-level security enforces), not with
whatever files happen to lie in a directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from policies.loader import MODEL_FILE, POLICY_FILE, PROGRAMS_DIR, load_policies
from policies.model import PolicySet

PolicyFiles = dict[str, str]
"""Relative path → text: ``model.conf``, ``policy.csv``, ``programs/<program>.yaml``."""


def read_policy_files(directory: Path) -> PolicyFiles:
    """The files of ``directory`` that make up a policy set (unreadable ones are left out:
    loading the snapshot then reports them, as ``load_policies`` would)."""
    files: PolicyFiles = {}
    for relative in (MODEL_FILE, POLICY_FILE):
        path = directory / relative
        if path.is_file():
            files[relative] = path.read_text(encoding="utf-8")
    folder = directory / PROGRAMS_DIR
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            files[f"{PROGRAMS_DIR}/{path.name}"] = path.read_text(encoding="utf-8")
    return files


def load_policy_files(files: Mapping[str, str]) -> PolicySet:
    """The policy set the snapshot describes (``PolicyError`` if it is broken)."""
    with tempfile.TemporaryDirectory(prefix="regsosek-policies-") as temporary:
        root = Path(temporary)
        (root / PROGRAMS_DIR).mkdir()
        for relative, text in files.items():
            path = (root / relative).resolve()
            if root.resolve() not in path.parents:
                raise ValueError(f"policy snapshot names a file outside it: {relative!r}")
            path.write_text(text, encoding="utf-8")
        return load_policies(root)


def snapshot(directory: Path) -> tuple[PolicyFiles, PolicySet]:
    """The directory's files and the policy set loaded from exactly those bytes."""
    files = read_policy_files(directory)
    return files, load_policy_files(files)
