"""``docs/auditing.md``'s offline check of a subject report works as written: the citizen's
Python snippet verifies a report signed as the gateway signs one, and fails on an edited
byte."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from audit.report_signing import sign_report
from tests.support import REPO

GUIDE = (REPO / "docs" / "auditing.md").read_text()
SNIPPET = re.search(r"with Python and `joserfc`:\n\n  ```python\n(.*?)  ```", GUIDE, re.S)


@dataclass(frozen=True)
class Key:
    kid: str
    alg: str
    private_key: Any


class Keys:
    def __init__(self) -> None:
        key = ECKey.generate_key("P-256", private=True)
        self.key = Key(kid=key.thumbprint(), alg="ES256", private_key=key)

    def current(self) -> Key:
        return self.key

    def jwks(self) -> dict[str, Any]:
        public = self.key.private_key.as_dict(private=False, kid=self.key.kid, alg="ES256")
        return {"keys": [public]}


def _run_snippet(directory: Path) -> subprocess.CompletedProcess[str]:
    assert SNIPPET is not None, "docs/auditing.md's Python check changed shape"
    code = "\n".join(line.removeprefix("  ") for line in SNIPPET.group(1).splitlines())
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_citizens_python_check_verifies_a_report_and_refuses_an_edit(tmp_path: Path) -> None:
    keys = Keys()
    report = {"kind": "regsosek-subject-report", "kkNumber": "3509012803060001", "entries": []}
    _kid, token = sign_report(report, keys=keys)
    (tmp_path / "jwks.json").write_text(json.dumps(keys.jwks()))
    (tmp_path / "laporan-subjek.jws").write_text(token + "\n")
    checked = _run_snippet(tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == report

    header, payload, signature = token.split(".")
    edited = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    (tmp_path / "laporan-subjek.jws").write_text(f"{header}.{edited}.{signature}\n")
    refused = _run_snippet(tmp_path)
    assert refused.returncode != 0
    assert "Error" in refused.stderr
