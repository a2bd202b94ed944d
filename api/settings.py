"""The gateway's configuration, read and validated once from the environment.

Every setting is named ``REGSOSEK_*`` except the two database URLs, which keep
the names operators already use (``DATABASE_URL``, ``READ_DATABASE_URLS``),
prometheus-client's own ``PROMETHEUS_MULTIPROC_DIR``, and OpenTelemetry's standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``OTEL_SDK_DISABLED``, which switch tracing on or off. The SDK reads the other ``OTEL_*``
variables (service name, headers, sampler, batching) itself, where it reads them.
Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
"""What an external issuer may sign with: never ``none``, never a shared-secret HMAC."""


class TrustedIssuer(BaseModel):
    """An agency's own OIDC provider whose access tokens the gateway accepts."""

    issuer: str
    jwks_uri: str
    audience: str
    program_claim: str = "program"
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    token_types: tuple[str, ...] = Field(default=("at+jwt", "application/at+jwt"), min_length=1)
    """Accepted ``typ`` headers (RFC 8725 §3.11). Keycloak signs access tokens ``JWT``:
    then also pin what tells its access tokens apart, e.g. ``{"typ": "Bearer"}``."""
    required_claims: dict[str, str] = Field(default_factory=dict)
    """Claims that must be present with exactly these values."""
    programs: tuple[str, ...] | None = None
    """Programs this issuer may name; unset: any program of the policy set (not advised)."""

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unsupported = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if unsupported or not value:
            raise ValueError(f"algorithms must be among {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}")
        return value

    @field_validator("jwks_uri")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https":
            return value
        if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
            return value
        raise ValueError(
            "jwks_uri must use https (plain http is allowed only on loopback addresses)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REGSOSEK_", extra="ignore", frozen=True, populate_by_name=True
    )

    environment: Environment = Environment.DEVELOPMENT
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "REGSOSEK_DATABASE_URL")
    )
    read_database_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("READ_DATABASE_URLS", "REGSOSEK_READ_DATABASE_URLS"),
    )
    app_database_url: str | None = None
    """Login of the gateway role; if unset, DATABASE_URL with user ``regsosek_app``."""
    app_db_password: SecretStr | None = None

    data_dir: Path = Path(".regsosek")
    policy_dir: Path = Path("policies")

    issuer: str = ""
    """The tokens' ``iss`` and the metadata's base; unset: ``http://HOST:PORT`` of this server."""
    audience: str = "regsosek-gateway"
    token_ttl: int = Field(default=900, ge=60, le=86_400)
    token_leeway: int = Field(default=30, ge=0, le=120)
    signing_alg: str = "ES256"
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)

    secret_key: SecretStr | None = None
    """Master secret (32+ random bytes, hex or base64): encrypts signing keys, seals cursors."""
    pseudonym_key: SecretStr | None = None
    """Key of the per-program NIK pseudonyms; never rotate it, or every pseudonym changes."""
    cursor_key_version: int = Field(default=1, ge=1, le=255)
    """Generation of the cursor keys (derived per program from the master secret). Raise it
    by one to rotate them: cursors of the previous generation still open, older ones do not."""

    graphiql: bool | None = None
    console: bool | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1, le=64)
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose ``X-Forwarded-For``/``-Proto`` are believed (comma-separated, or ``*``
    when only the proxy can reach the gateway); the audit records the address they give."""

    statement_timeout_ms: int = Field(default=5_000, ge=100)
    pool_size: int = Field(default=10, ge=1)
    read_plan_cache_mode: Literal["force_generic_plan", "auto"] = "force_generic_plan"
    """``plan_cache_mode`` of the read pools' sessions. The gateway's statements are prepared
    once per connection; with the row-level-security policies of every program in them, a
    custom plan costs about 3 ms of planning each time (1,000,000 households), and under
    ``auto`` PostgreSQL keeps choosing one there. ``householdStats``' counts plan as ``auto``
    whatever this says (``schema.stats_count``). ``auto`` is the escape hatch."""
    statistics_processes: int = Field(default=2, ge=1, le=16)
    """Worker processes per gateway worker for ``householdStats`` disclosure control
    (``schema.protection``); started on the first new population."""

    audit_checkpoint_every: int = Field(default=1_000, ge=1)
    audit_checkpoint_seconds: float = Field(default=300.0, gt=0)
    audit_flush_ms: float = Field(default=0.5, ge=0)
    audit_index_merge_seconds: float = Field(default=1.0, ge=0)
    """How often the audit id indexes' pending lists are merged aside (0: never; inserts then
    merge them in the middle of chain steps). See migration 0002."""

    log_level: str = "INFO"
    log_json: bool | None = None
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR")
    )
    """Where workers write their metrics samples (prometheus-client's own variable);
    ``regsosek serve --workers N`` sets it to ``<data_dir>/metrics`` when unset."""

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    """OTLP/HTTP collector (``http://collector:4318``): set, requests are traced
    (``api.observability.tracing``); unset, OpenTelemetry is not even imported."""
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    """The traces endpoint itself (``…/v1/traces``), if it is not the base endpoint's."""
    otel_sdk_disabled: bool = Field(
        default=False, validation_alias=AliasChoices("OTEL_SDK_DISABLED")
    )
    """``true`` turns tracing off whatever the endpoints say (the SDK's own switch)."""

    @field_validator("read_database_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="before")
    @classmethod
    def _issuer_follows_host_and_port(cls, data: Any) -> Any:
        """An unset issuer is this server's own address (a wildcard host as loopback)."""
        if isinstance(data, dict) and not data.get("issuer"):
            host = str(data.get("host") or "127.0.0.1")
            if host in ("0.0.0.0", "::", ""):  # noqa: S104  (a name for the wildcard, not a bind)
                host = "127.0.0.1"
            if ":" in host:
                host = f"[{host}]"
            data = {**data, "issuer": f"http://{host}:{data.get('port') or 8000}"}
        return data

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            missing = [
                name
                for name, value in (
                    ("REGSOSEK_SECRET_KEY", self.secret_key),
                    ("REGSOSEK_PSEUDONYM_KEY", self.pseudonym_key),
                    ("DATABASE_URL", self.database_url),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"production needs {', '.join(missing)}")
        return self

    @property
    def graphiql_enabled(self) -> bool:
        if self.graphiql is not None:
            return self.graphiql
        return self.environment is Environment.DEVELOPMENT

    @property
    def console_enabled(self) -> bool:
        if self.console is not None:
            return self.console
        return self.graphiql_enabled

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment is Environment.PRODUCTION

    def resolved_policy_dir(self) -> Path:
        """The policy directory; a relative default falls back to the installed package's."""
        if self.policy_dir.is_absolute() or self.policy_dir.exists():
            return self.policy_dir
        import policies

        return Path(policies.__file__).parent

    def master_secret(self) -> bytes:
        """The master secret; in development one is generated once under the data directory."""
        if self.secret_key is not None:
            return _decode_secret(self.secret_key.get_secret_value(), "REGSOSEK_SECRET_KEY")
        return _development_secret(self.data_dir / "secret.key")

    def pseudonym_secret(self) -> bytes:
        if self.pseudonym_key is not None:
            return _decode_secret(self.pseudonym_key.get_secret_value(), "REGSOSEK_PSEUDONYM_KEY")
        return _development_secret(self.data_dir / "pseudonym.key")


def _decode_secret(text: str, name: str) -> bytes:
    import base64
    import binascii

    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error as error:
            raise ValueError(f"{name} must be hex or base64") from error
    if len(raw) < 32:
        raise ValueError(f"{name} must hold at least 32 bytes")
    return raw


def _development_secret(path: Path) -> bytes:
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    path.touch(mode=0o600)
    path.write_text(value.hex())
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
