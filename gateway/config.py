"""Configuration: a TOML file (``--config`` or ``WARDGATE_CONFIG``) overridden by ``WARDGATE_*`` variables.

    WARDGATE_AGENCY_URLS='{"health": "https://gp.example.nhs.uk"}' wardgate run
    WARDGATE_POLICY_ENGINE=opa WARDGATE_OPA_URL=http://127.0.0.1:8181 wardgate run

Agency credentials live in the connector files, each with an environment variable that overrides it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_KEYS = Path(__file__).resolve().parent / "dev" / "devkeys"
DEV_SEARCH_KEY = "wardgate-dev-search-hmac-key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARDGATE_", extra="forbid", toml_file=None)

    mode: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1, le=64)

    connectors: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "connectors"])
    agency_urls: dict[str, str] = Field(default_factory=dict)
    directory_url: str = "http://127.0.0.1:9100"
    directory_api_key: str = "dev-directory-key"
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
    # Notifications of restricted reads wait this long in each agency's outbox, then go as one batch.
    notify_batch_ms: float = Field(100.0, ge=0, le=10_000)

    policy_dir: Path = PROJECT_ROOT / "policies"
    policy_engine: Literal["embedded", "opa"] = "embedded"
    policy_watch: bool = True
    opa_url: str = "http://127.0.0.1:8181"
    opa_timeout_ms: int = 250
    opa_push_policies: bool = True

    jwks_path: Path | None = DEV_KEYS / "dev-jwks.json"
    jwks_url: str | None = None
    issuer: str = "https://wardgate.dev/issuer"
    audience: str = "wardgate"
    algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256", "EdDSA"])
    clock_skew_s: int = 30

    audit_path: Path = PROJECT_ROOT / "var" / "audit.jsonl"
    # Search terms are audited only as HMACs under this key; set your own (production requires it).
    search_hmac_key: str = DEV_SEARCH_KEY
    search_rate: str = "20/minute"  # per practitioner, in the `limits` notation ("20/minute;200/day")
    rate_limit_storage: str = "async+memory://"  # or async+redis://host:6379 to share across instances

    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        import os

        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("WARDGATE_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
