"""Configuration: a TOML file (``--config`` or ``WARDGATE_CONFIG``) overridden by ``WARDGATE_*`` variables.

    WARDGATE_AGENCY_URLS='{"health": "https://gp.example.nhs.uk"}' wardgate run
    WARDGATE_POLICY_ENGINE=opa WARDGATE_OPA_URL=http://127.0.0.1:8181 wardgate run

The default mode is production: nothing meant for development is used unless development is asked for
(``WARDGATE_MODE=development``, as ``wardgate demo`` does). Only then do the development signing key,
search key and agency credentials in :mod:`gateway.dev` fill what is not configured; in production each
must be set, and :meth:`Settings.production_problems` names what is missing.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from gateway.dev import DEV_JWKS, DEV_SEARCH_KEY, DEV_SECRETS
from gateway.errors import ConfigError, describe_problem

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _http_url(value: str) -> str:
    """An absolute http(s) URL with a host: what every agency, the directory, OPA and a JWKS are reached at."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARDGATE_", extra="forbid", toml_file=None)

    mode: Literal["development", "production"] = "production"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65_535)
    workers: int = Field(1, ge=1, le=64)
    # The operator listener: /metrics (and the probes) for the people who run the gateway, never on the
    # public port, where a practitioner could read counters their own requests moved.
    operator_host: str = "127.0.0.1"
    operator_port: int = Field(9464, ge=1, le=65535)
    # This instance's name: its audit chain is named by it (the host name, or a Kubernetes pod's name).
    instance: str = Field(default_factory=socket.gethostname, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

    connectors: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "connectors"])
    # The agency whose record every other agency's is linked to (looked up by NHS number; named once, here).
    spine: str = Field("health", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    # Record linkage: "fellegi-sunter" (probabilistic, gateway/pipeline/linkage/weights.yaml) or "rules"
    # (the conservative deterministic grader). linkage_children is how many children the area's agencies
    # hold records of: the odds a record picked at random is this child's (default: the weights file's).
    matcher: Literal["fellegi-sunter", "rules"] = "fellegi-sunter"
    linkage_children: int | None = Field(None, ge=2)
    agency_urls: dict[str, HttpUrl] = Field(default_factory=dict)  # agency -> base URL, overriding its connector's
    directory_url: HttpUrl = "http://127.0.0.1:9100"
    directory_api_key: str | None = None  # WARDGATE_DIRECTORY_API_KEY
    directory_ttl_s: float = Field(300.0, gt=0, le=86_400)
    # The directory cache (the only cache of agency data): memory per worker, or Redis shared by instances.
    cache_url: str = "memory://"  # or redis://127.0.0.1:6379/0
    cache_namespace: str = Field("wardgate:directory", pattern=r"^[A-Za-z0-9:_-]{1,64}$")

    request_deadline_ms: int = Field(3000, ge=50, le=60_000)
    upstream_client: Literal["aiohttp", "httpx"] = "aiohttp"
    upstream_pool_size: int = Field(256, ge=1, le=10_000)
    # Resilience defaults per agency; a connector's `resilience:` block overrides them for that agency.
    agency_retries: int = Field(1, ge=0, le=5)  # extra attempts for an idempotent read, within the deadline
    agency_backoff_ms: float = Field(40.0, ge=0, le=5_000)  # first backoff; full jitter, doubling
    agency_max_in_flight: int = Field(64, ge=1, le=10_000)
    breaker_threshold: int = Field(5, ge=1, le=1_000)  # consecutive failures that open an agency's circuit
    breaker_reset_s: float = Field(15.0, gt=0, le=3_600)  # open this long, then one probe (half-open)
    # A read slower than its agency's recent 95th percentile gets a second attempt; the first answer wins.
    hedge_reads: bool = False
    # Circuit-breaker state: memory per worker, or Redis shared by every worker and instance (redis://host:6379/0),
    # read back every breaker_sync_ms in the background.
    breaker_url: str = "memory://"
    breaker_sync_ms: float = Field(500.0, ge=10, le=60_000)
    # Notifications of restricted reads wait this long in each agency's outbox, then go as one batch.
    notify_batch_ms: float = Field(100.0, ge=0, le=10_000)

    policy_dir: Path = PROJECT_ROOT / "policies"
    policy_engine: Literal["embedded", "opa"] = "embedded"
    policy_watch: bool = True
    opa_url: HttpUrl = "http://127.0.0.1:8181"
    opa_timeout_ms: int = Field(250, ge=1, le=60_000)
    opa_push_policies: bool = True

    jwks_path: Path | None = None  # development: the development JWKS (gateway/dev/devkeys)
    jwks_url: HttpUrl | None = None
    issuer: str = "https://wardgate.dev/issuer"
    audience: str = "wardgate"
    algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256", "EdDSA"])
    clock_skew_s: int = Field(30, ge=0, le=600)

    # A directory (one hash chain per instance, <instance>.jsonl), a path with {instance} in it, or one file that
    # every writer shares (a path with a suffix). See gateway.pipeline.audit.AuditTrail.
    audit_path: Path = PROJECT_ROOT / "var" / "audit"
    # Search terms are audited only as HMACs under this key; set your own (production requires it).
    search_hmac_key: str | None = None
    search_rate: str = "20/minute"  # per practitioner, in the `limits` notation ("20/minute;200/day")
    child_rate: str = "120/minute"  # child look-ups per practitioner (each `child` field, aliases too)
    rate_limit_storage: str = "async+memory://"  # or async+redis://host:6379/0 to share across instances

    max_depth: int = Field(10, ge=1)
    max_aliases: int = Field(30, ge=0)
    max_tokens: int = Field(2000, ge=1)
    max_cost: int = Field(3000, ge=1)  # see gateway.graphql.limits.query_cost: lists count by their size
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    graphiql: bool = True
    # Introspection: on in development, off in production unless set.
    introspection: bool | None = None
    # Trusted documents: "off", or "require" to run only documents registered in trusted_documents_path
    # (a JSON object of "sha256:<hex>" -> document text, as GraphQL Codegen's persisted documents emit).
    trusted_documents: Literal["off", "require"] = "off"
    trusted_documents_path: Path | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    @model_validator(mode="after")
    def _development_defaults(self) -> Settings:
        """In development only, what is not configured comes from :mod:`gateway.dev`."""
        if self.mode == "development":
            if self.jwks_path is None and self.jwks_url is None:
                self.jwks_path = DEV_JWKS
            if self.search_hmac_key is None:
                self.search_hmac_key = DEV_SEARCH_KEY
            if self.directory_api_key is None:
                self.directory_api_key = DEV_SECRETS["WARDGATE_DIRECTORY_API_KEY"]
        return self

    @property
    def development(self) -> bool:
        return self.mode == "development"

    def production_problems(self) -> list[str]:
        """What stops this configuration from running in production (empty in development)."""
        if self.development:
            return []
        problems = []
        if self.jwks_path is None and self.jwks_url is None:
            problems.append("set WARDGATE_JWKS_URL (or WARDGATE_JWKS_PATH): the identity provider's signing keys")
        if self.jwks_path is not None and self.jwks_path.resolve() == DEV_JWKS.resolve():
            problems.append("WARDGATE_JWKS_PATH is the development JWKS, which production refuses")
        if not self.search_hmac_key or self.search_hmac_key == DEV_SEARCH_KEY:
            problems.append("set WARDGATE_SEARCH_HMAC_KEY: search terms are audited under your own key")
        if not self.directory_api_key or self.directory_api_key in DEV_SECRETS.values():
            problems.append("set WARDGATE_DIRECTORY_API_KEY: the council directory's credential")
        return problems

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("WARDGATE_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


ENV_PREFIX = "WARDGATE_"
CONFIG_VARIABLE = "WARDGATE_CONFIG"


def load_settings(**overrides: Any) -> Settings:
    """The settings, from the config file ``WARDGATE_CONFIG`` names, ``WARDGATE_*`` variables and ``overrides``
    (command-line options; ``None`` means not given). Any problem is one :class:`ConfigError` line naming the
    file, the key or the variable."""
    config_file = os.environ.get(CONFIG_VARIABLE)
    from_file = read_config_file(Path(config_file)) if config_file else {}
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:  # a variable holding a list or mapping that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        variable = f"{ENV_PREFIX}{field[1].upper()}" if field else "a WARDGATE_* variable"
        raise ConfigError(f"{variable}: not valid JSON (a list or mapping is written as JSON)") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            key = str(error["loc"][0]) if error["loc"] else ""
            variable = f"{ENV_PREFIX}{key.upper()}"
            if variable in os.environ and error["type"] != "extra_forbidden":
                problems.append(f"{variable}: {describe_problem(error, Settings, skip=1)}")
            elif config_file and (key in from_file or error["type"] == "extra_forbidden"):
                problems.append(f"{config_file}: {describe_problem(error, Settings)}")
            else:
                problems.append(describe_problem(error, Settings))
        raise ConfigError("; ".join(problems)) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file's table: a missing, unreadable or malformed file is a :class:`ConfigError`, never the defaults."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist ({CONFIG_VARIABLE} or --config names it)") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def unknown_variables(environ: Iterable[str], also_known: Iterable[str] = ()) -> list[str]:
    """``WARDGATE_*`` variables that set nothing (a misspelt setting is otherwise silently ignored), each with
    the closest known name: ``also_known`` adds the connectors' ``secret_env`` names."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | {CONFIG_VARIABLE, *also_known}
    out = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            out.append(f"{name}" + (f" (did you mean {close[0]}?)" if close else ""))
    return out
