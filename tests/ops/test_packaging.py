"""Reproducible installs and a lean serving image.

`make`, CI and the Dockerfile install from pip-compile lock files with hashes; the serving
image's lock leaves out the demo's embedded PostgreSQL and seeder (pgserver, numpy) and the
Parquet reader (pyarrow), and the serving code path imports none of them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from tests.ops.test_deploy_files import dockerfile_instructions
from tests.support import REPO

LEFT_OUT = {"pgserver", "pyarrow"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=\[;! ]", text, maxsplit=1)[0]).lower()


def locked(name: str) -> dict[str, str]:
    """Name → version of a lock file, each requirement checked to be pinned with hashes."""
    lines = (REPO / "requirements" / name).read_text().splitlines()
    versions = {}
    for index, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):
            match = REQUIREMENT.match(line)
            assert match, f"{name}: {line!r} is not pinned (name==version)"
            assert lines[index + 1].strip().startswith("--hash=sha256:"), f"{name}: {line}"
            versions[_name(match.group(1))] = match.group(2)
    return versions


def test_the_lock_files_pin_everything_with_hashes_and_agree() -> None:
    dev, serve = locked("dev.txt"), locked("serve.txt")
    assert set(dev) >= LEFT_OUT
    assert not LEFT_OUT & set(serve), "the serving lock installs a demo/import package"
    for name, version in serve.items():
        assert dev.get(name) == version, f"{name}: {version} in serve.txt, {dev.get(name)} in dev"


def test_the_lock_files_hold_every_dependency_of_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {_name(requirement) for requirement in project["dependencies"]}
    extras = {
        extra: {_name(requirement) for requirement in requirements}
        for extra, requirements in project["optional-dependencies"].items()
    }
    assert not base & LEFT_OUT
    assert extras["demo"] == {"pgserver"}
    assert extras["import"] == {"pyarrow"}
    assert base <= set(locked("serve.txt"))
    assert base | set().union(*extras.values()) <= set(locked("dev.txt"))


def test_make_ci_and_the_image_install_from_the_locks() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes -r requirements/dev.txt" in makefile
    assert "make check" in (REPO / ".ci" / "run").read_text()
    assert "pytest -q -W error" in makefile.split("check:", 1)[1]
    runs = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    assert "--require-hashes -r requirements/serve.txt" in runs
    assert "--no-deps" in runs
    assert "requirements/serve.txt" in (REPO / ".dockerignore").read_text()


def build_context_allows(path: str) -> bool:
    """Whether ``.dockerignore`` (``*`` then ``!path`` exceptions, as ours is written) lets
    ``path`` into the image's build context."""
    allowed = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "*":
            allowed = False
        elif line.startswith("!") and line[1:].rstrip("/") == path.rstrip("/"):
            allowed = True
    return allowed


def test_the_build_context_holds_what_the_image_copies_and_installs() -> None:
    """A COPY of a path the build context leaves out fails the build (``audit/`` and
    ``errors.py`` once did): every source the build stage copies is let in, and so is every
    package and module the project installs."""
    copied = [
        rest.split()[0]
        for keyword, rest in dockerfile_instructions()
        if keyword == "COPY" and not rest.startswith("--from")
    ]
    for source in copied:
        assert build_context_allows(source), f".dockerignore leaves out {source}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [name.rstrip("*") for name in project["packages"]["find"]["include"]]
    for name in packages:
        assert any(source.rstrip("/") == name for source in copied), f"not copied: {name}"
        assert build_context_allows(name), f".dockerignore leaves out {name}/"
    for module in project["py-modules"]:
        assert f"{module}.py" in copied, f"not copied: {module}.py"


def test_every_base_image_is_pinned_by_digest() -> None:
    instructions = dockerfile_instructions()
    arguments = dict(
        rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest
    )
    bases = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert len(bases) >= 2
    for base in bases:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], base)
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", resolved), resolved


def test_serving_imports_no_demo_or_import_package() -> None:
    probe = (
        "import sys, api.app, api.cli.serve, api.cli.checks;"
        "from api.app import create_app;"
        f"print(sorted(m for m in {sorted(LEFT_OUT)!r} if m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "[]"
