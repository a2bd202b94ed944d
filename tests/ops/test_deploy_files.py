"""The Dockerfile, docker-compose.yml, deploy/ and docs/deploy.md name only settings that
``api/settings.py`` reads and commands that the ``regsosek`` CLI has.

Neither file can be built here (no container engine); these checks keep them
true to the code as it changes.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import AliasChoices

from api.cli import app as cli_app
from api.settings import Settings
from tests.support import REPO

DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
GUIDE = REPO / "docs" / "deploy.md"
GATEWAY_SERVICES = ("gateway-1", "gateway-2", "migrate", "worker")
NOT_SETTINGS = frozenset({"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})
"""Variables of the image that are the interpreter's, not the gateway's."""


def settings_names() -> set[str]:
    """Every environment variable ``Settings`` reads."""
    names = set()
    prefix = Settings.model_config.get("env_prefix", "")
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_env() -> dict[str, str]:
    """The ENV of the image's last stage (the one that runs)."""
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            env = {}
        elif keyword == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def gateway_environment() -> dict[str, str]:
    """What a gateway container sees: the image's ENV, the env file, the service's own."""
    service = compose()["services"]["gateway-1"]
    environment = dict(dockerfile_env())
    for name in service["env_file"]:
        environment |= env_file(REPO / f"{name}.example")
    environment |= {key: str(value) for key, value in service["environment"].items()}
    return environment


def test_every_gateway_variable_is_a_setting() -> None:
    known = settings_names()
    for name in gateway_environment():
        assert name in known or name in NOT_SETTINGS, f"{name} is not read by api/settings.py"


def test_every_regsosek_name_in_the_deploy_files_is_a_setting() -> None:
    known = settings_names()
    texts = [DOCKERFILE, COMPOSE, GUIDE, *DEPLOY.rglob("*")]
    for path in texts:
        if path.is_file():
            for name in re.findall(r"\bREGSOSEK_[A-Z_]+\b", path.read_text()):
                assert name in known, f"{path.relative_to(REPO)} names {name}, not a setting"


def test_the_gateway_environment_validates_as_production_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in settings_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in gateway_environment().items():
        if name not in NOT_SETTINGS:
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.issuer.startswith("https://")
    assert settings.read_database_urls == ["postgresql://db-replica:5432/regsosek"]
    assert settings.json_logs
    assert not settings.graphiql_enabled
    assert settings.workers >= 2


def _cli() -> Any:
    """The CLI as Typer builds it (a click-style group; Typer vendors its own click)."""
    return typer.main.get_command(cli_app)


def assert_command_exists(words: list[str], *, strict: bool = True) -> None:
    """``regsosek <words>`` resolves to a command whose options parse (``strict``: and
    nothing required is missing; a guide's ``regsosek client disable`` leaves out the ID)."""
    command = _cli()
    path = ["regsosek"]
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.get_command(
            command.make_context(path[-1], [], resilient_parsing=True), rest[0]
        )
        assert sub is not None, f"`{' '.join([*path, rest[0]])}` is not a command"
        path.append(rest.pop(0))
        command = sub
    assert not hasattr(command, "commands"), f"`{' '.join(path)}` needs a subcommand"
    command.make_context(" ".join(path), rest, resilient_parsing=not strict)


def test_the_image_runs_regsosek_serve_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert keywords.count("FROM") >= 2, "multi-stage"
    entrypoint = dict(instructions)["ENTRYPOINT"]
    command = dict(instructions)["CMD"]
    assert yaml.safe_load(entrypoint) == ["regsosek"]
    assert_command_exists(yaml.safe_load(command))
    assert yaml.safe_load(command) == ["serve"]
    user = dict(instructions)["USER"]
    assert user not in ("root", "0")
    assert keywords.index("USER") > max(
        index for index, keyword in enumerate(keywords) if keyword == "FROM"
    )
    healthcheck = dict(instructions)["HEALTHCHECK"]
    assert "/readyz" in healthcheck
    secrets = {"REGSOSEK_SECRET_KEY", "REGSOSEK_PSEUDONYM_KEY", "REGSOSEK_APP_DB_PASSWORD"}
    assert not (secrets | {"DATABASE_URL"}) & set(dockerfile_env()), "no secret in the image"
    assert not any(keyword == "ARG" and "SECRET" in rest.upper() for keyword, rest in instructions)


def test_the_image_python_satisfies_the_project() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    minimum = tuple(int(part) for part in project["requires-python"].lstrip(">=").split("."))
    argument = next(
        rest for keyword, rest in dockerfile_instructions() if rest.startswith("PYTHON_VERSION=")
    )
    version = tuple(int(part) for part in argument.partition("=")[2].split("."))
    assert version >= minimum


def test_compose_commands_exist_in_the_cli() -> None:
    services = compose()["services"]
    for name in GATEWAY_SERVICES:
        command = services[name].get("command", ["serve"])
        assert_command_exists(list(command))


def test_compose_has_a_primary_a_replica_two_gateways_a_worker_and_a_proxy() -> None:
    services = compose()["services"]
    assert {"db-primary", "db-replica", "gateway-1", "gateway-2", "worker", "proxy"} <= set(
        services
    )
    assert services["worker"]["command"] == ["worker"]
    for name in ("gateway-1", "gateway-2"):
        assert "ports" not in services[name], "gateways are reached only through the proxy"
        assert services[name]["read_only"] is True
    assert "wal_level=replica" in services["db-primary"]["command"]
    replica_script = (DEPLOY / "postgres" / "replica-entrypoint.sh").read_text()
    assert "pg_basebackup" in replica_script
    assert "--write-recovery-conf" in replica_script
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "gateway-1:8000" in nginx
    assert "gateway-2:8000" in nginx
    assert re.search(r"location = /metrics \{ return 404; \}", nginx)


def test_compose_mounts_exist_and_secrets_are_not_committed() -> None:
    services = compose()["services"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.endswith("/tls"):
                assert (REPO / source).exists(), source
        for name in service.get("env_file", []):
            assert (REPO / f"{name}.example").exists(), f"{name}.example"
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert "*.env" in ignored
    assert "tls/" in ignored


def test_the_deploy_guide_names_only_real_commands() -> None:
    text = GUIDE.read_text()
    fence = re.compile(r"```[a-z]*\n(.*?)```", re.S)
    inline = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", fence.sub("", text))]
    spans = fence.findall(text) + inline
    commands = {
        match.group(1).strip()
        for span in spans
        for match in re.finditer(r"(?:^|\s|\()regsosek((?: [a-z][a-z-]*)+)", span)
    }
    assert len(commands) >= 10, commands
    for command in commands:
        assert_command_exists(command.split(), strict=False)
