"""The one settings object. Read from the environment (``SOLOOS_`` prefix) and ``.env``.

Nothing reads the environment anywhere else; the composition root builds ``Settings`` once and
passes it down.
"""

from __future__ import annotations

import getpass
from datetime import time
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return platformdirs.user_data_path("soloos")


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        return "operator"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOLOOS_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Data directory (embedded Postgres, caches)")
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SOLOOS_DATABASE_URL", "DATABASE_URL"),
        description="External Postgres with pgvector; unset means the embedded server under home",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts connector passwords (Fernet; several comma-separated, the first "
        "encrypting, during a rotation); unset: the OS keyring, else SOLOOS_HOME/secret.key",
    )
    workspace: str = Field(default="default", description="Workspace (business) the console works in")
    operator: str = Field(default_factory=_default_operator, description="Operator name on the console")
    signature: str | None = Field(
        default=None, description="How drafts are signed, e.g. 'Sam Rivera' (default: operator)"
    )
    timezone: str = Field(default="UTC", description="Operator's IANA time zone, e.g. Europe/Berlin")

    embedder: Literal["local", "openai"] = Field(default="local", description="Embedding provider")
    embedder_model: str | None = Field(
        default=None, description="Embedding model; default: bundled all-MiniLM-L6-v2 (local)"
    )
    embedder_base_url: str | None = Field(default=None, description="OpenAI-compatible embeddings URL")
    embedder_api_key: SecretStr | None = Field(default=None, description="Key for the embeddings API")
    embedder_bfloat16: bool = Field(
        default=True, description="Embed imports in bfloat16 when the CPU does it natively (local embedder)"
    )

    model_fast: str | None = Field(default=None, description="pydantic-ai model string for the fast tier")
    model_strong: str | None = Field(default=None, description="pydantic-ai model string for the strong tier")
    model_max_tokens: int = Field(default=1_024, ge=16, description="Output tokens one model request may produce")
    model_timeout_seconds: float = Field(default=60, gt=0, description="How long one model request may take")
    model_retries: int = Field(
        default=1, ge=0, le=5, description="Retries of a failed model request (in all: not per tier or per client)"
    )
    turn_seconds: float = Field(
        default=180, gt=0, description="Wall time one chat turn may take, all requests included"
    )
    model_fast_context: int | None = Field(
        default=None, ge=512, description="Context window of the fast model in tokens; known for catalogue models"
    )
    model_strong_context: int | None = Field(
        default=None, ge=512, description="Context window of the strong model in tokens; known for catalogue models"
    )

    policy_file: Path | None = Field(default=None, description="Policy template (YAML); default: built-in")
    approval_ttl_hours: float = Field(default=48, gt=0, description="Pending approvals expire after this")
    approve_own_requests: bool = Field(
        default=True,
        description="With several allowlisted users: may someone approve an action they asked for themselves",
    )
    send_grace_seconds: int = Field(default=120, ge=0, description="Window in which a send can be undone")
    misfire_grace_minutes: int = Field(
        default=60, ge=1, description="A reminder or briefing late by more than this is reported as missed, not sent"
    )
    slo_briefings_on_time: float = Field(default=0.99, ge=0, le=1, description="Target share of briefings on time")
    slo_reminders_delivered: float = Field(default=0.99, ge=0, le=1, description="Target share of reminders delivered")
    slo_approvals_clean: float = Field(
        default=0.99, ge=0, le=1, description="Target share of approvals resolved or expired cleanly"
    )
    slo_budget_overshoot_days: int = Field(default=0, ge=0, description="Days over the daily budget allowed")
    tracing: Literal["off", "console", "otlp"] = Field(
        default="off", description="OpenTelemetry traces of agent runs: off, console, or otlp (OTEL_* variables)"
    )
    tracing_content: bool = Field(default=False, description="Include prompts and replies in traces")
    log_format: Literal["text", "json"] = Field(default="text", description="Log lines as text or JSON")
    metrics_host: str = Field(default="127.0.0.1", description="Interface `soloos run --metrics-port` listens on")
    mcp_http_port: int = Field(
        default=8765, ge=1, le=65535, description="Port `soloos mcp --http` listens on (127.0.0.1 only)"
    )
    sync_minutes: float = Field(default=5, gt=0, description="How often connected systems are read (new mail, events)")
    mcp_call_seconds: float = Field(default=30, gt=0, description="How long one MCP tool call may take")
    mcp_start_seconds: float = Field(default=30, gt=0, description="How long an MCP server may take to start")
    mcp_result_chars: int = Field(
        default=8_000, ge=200, description="Characters of an MCP tool's output the model reads; the rest is cut, said"
    )
    plan_poll_seconds: float = Field(
        default=10, gt=0, description="How often approved plans are checked for ready steps"
    )
    plan_retry_seconds: float = Field(
        default=60, gt=0, description="Wait before a failed plan step's first retry (then 4x longer each time)"
    )
    learning: bool = Field(
        default=True,
        description="With a model configured, learn facts from what the operator says (in the background)",
    )
    learning_poll_seconds: float = Field(default=3, gt=0, description="How often queued messages are learned from")
    learning_retry_seconds: float = Field(
        default=30, gt=0, description="Wait before a failed extraction's first retry (then twice as long each time)"
    )
    learning_max_attempts: int = Field(default=4, ge=1, description="Extraction attempts before a message is skipped")
    learning_cap_wait_minutes: float = Field(
        default=60, gt=0, description="When the spend cap stops learning, how long queued messages wait"
    )
    consolidate_at: str = Field(
        default="03:30",
        description="Local time (HH:MM) working memory is consolidated into project memory each night; off: never",
    )
    consolidate_keep_turns: int = Field(
        default=200, ge=20, description="Conversation turns kept per conversation after consolidation"
    )
    scheduler_standby_seconds: float = Field(
        default=5.0, gt=0, description="How often a standby process checks whether the scheduler needs a new leader"
    )

    budget_daily_usd: float = Field(default=2.0, ge=0, description="Hard cap on model spend per day")
    budget_monthly_usd: float = Field(default=30.0, ge=0, description="Hard cap on model spend per month")
    price_input_per_mtok: float | None = Field(
        default=None,
        ge=0,
        description="USD per 1M input tokens of a model the price catalogue does not know (catalogue models keep "
        "their list price); unset is not free: with a spend cap, an unknown model is refused until it is set "
        "(0 for a free model; a model served from 127.0.0.1/localhost/::1 counts as free when unset)",
    )
    price_output_per_mtok: float | None = Field(
        default=None,
        ge=0,
        description="USD per 1M output tokens of a model the price catalogue does not know (as above)",
    )
    turn_request_limit: int = Field(default=8, ge=1, description="Model requests allowed per turn")
    turn_token_limit: int = Field(default=20_000, ge=100, description="Tokens allowed per turn")
    context_token_budget: int = Field(default=1_500, ge=100, description="Memory context per turn (tokens)")

    telegram_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather")
    telegram_api_url: str = Field(default="https://api.telegram.org", description="Bot API server")
    telegram_allowed_users: str = Field(default="", description="Comma-separated Telegram user ids served")
    telegram_webhook_url: str | None = Field(default=None, description="Public HTTPS URL: webhook mode, not polling")
    telegram_webhook_secret: SecretStr | None = Field(default=None, description="secret_token Telegram must send")
    telegram_webhook_host: str = Field(default="127.0.0.1", description="Interface the webhook listens on")
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535, description="Port the webhook listens on")
    telegram_interim_seconds: float = Field(
        default=8.0, gt=0, description="A turn this long with a specialist at work shows its progress in one message"
    )

    slack_bot_token: SecretStr | None = Field(default=None, description="Slack bot token (xoxb-…)")
    slack_app_token: SecretStr | None = Field(default=None, description="Slack app token (xapp-…) for Socket Mode")
    slack_signing_secret: SecretStr | None = Field(default=None, description="Slack signing secret (HTTP mode)")
    slack_api_url: str = Field(default="https://slack.com", description="Slack Web API server")
    slack_allowed_users: str = Field(default="", description="Comma-separated Slack user ids (U…) or T…:U…")
    slack_http_host: str = Field(default="127.0.0.1", description="Interface for Slack's requests (behind a proxy)")
    slack_http_port: int = Field(default=3000, ge=1, le=65535, description="Port for Slack's requests (HTTP mode)")
    slack_interim_seconds: float = Field(
        default=4.0, gt=0, description="A turn this long gets a 'Working on it…' message until its reply is out"
    )

    max_message_chars: int = Field(default=16_000, ge=100, description="Longest chat message accepted")
    working_memory_hours: int = Field(default=72, ge=1, description="How long working memory lives")
    db_connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for Postgres")

    @field_validator("workspace")
    @classmethod
    def _workspace_slug(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 64:
            raise ValueError("workspace must be 1-64 characters")
        return value

    @field_validator("consolidate_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("off", "never", ""):
            return "off"
        try:
            time.fromisoformat(value)
        except ValueError as err:
            raise ValueError(f"{value!r} is not a time of day; use HH:MM (e.g. 03:30) or off") from err
        return value

    @property
    def consolidate_time(self) -> time | None:
        """When consolidation runs each night (local time), None when it is off."""
        return None if self.consolidate_at == "off" else time.fromisoformat(self.consolidate_at)

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Berlin") from err
        return value

    @property
    def telegram_allowlist(self) -> frozenset[int]:
        return frozenset(int(part) for part in self.telegram_allowed_users.replace(" ", "").split(",") if part)

    @property
    def slack_allowlist(self) -> frozenset[str]:
        return frozenset(part for part in self.slack_allowed_users.replace(" ", "").split(",") if part)

    @field_validator(
        "telegram_token",
        "database_url",
        "embedder_api_key",
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_allowed_users")
    @classmethod
    def _user_ids(cls, value: str) -> str:
        for part in value.replace(" ", "").split(","):
            if part and not part.lstrip("-").isdigit():
                raise ValueError(f"{part!r} is not a Telegram user id (a number)")
        return value

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.database_url is None
