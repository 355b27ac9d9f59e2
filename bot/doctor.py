"""``soloos doctor``: what is configured, what works, what is missing and how to fix it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import ModelRequest
from pydantic_ai.models import Model, ModelRequestParameters
from rich.console import Console
from rich.table import Table

from agents.failures import MODEL_FAILURES, short_failure
from agents.learning import learning_window_problem
from agents.models import LimitedModel, ModelLimits, Prices, build_model, pricing
from bot.app import model_limits, model_tiers, quiet_libraries
from bot.app import prices as app_prices
from bot.settings import Settings
from memory import MemoryService, StoreError, open_memory

_PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY",
    "openai-chat": "OPENAI_API_KEY",
    "openai-responses": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "ollama": "OLLAMA_BASE_URL",
}


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | off
    detail: str
    fix: str = ""


def _model_check(name: str, value: str | None, variable: str) -> Check:
    """What the setting says, before any request: missing, or missing its key."""
    if not value:
        return Check(
            name,
            "off",
            "not set: requests that need a model get a clear refusal",
            f"set {variable}, e.g. openai-chat:gpt-4o-mini or ollama:llama3.1",
        )
    provider = value.split(":", 1)[0]
    key = _PROVIDER_KEYS.get(provider)
    if key and not os.environ.get(key):
        return Check(name, "fail", f"{value}: {key} is not set", f"export {key}=…")
    return Check(name, "ok", f"{value}; the local tier still answers what needs no model, for free")


async def model_checks(settings: Settings) -> list[Check]:
    """Each configured model asked for one output token, with the configured timeout (so "ok" means a
    server answered), and how its requests are priced against the spend caps."""
    limits = model_limits(settings)
    prices = app_prices(settings)
    checks: list[Check] = []
    for name, value, variable in (
        ("fast model", settings.model_fast, "SOLOOS_MODEL_FAST"),
        ("strong model", settings.model_strong, "SOLOOS_MODEL_STRONG"),
    ):
        configured = _model_check(name, value, variable)
        if configured.status != "ok" or value is None:
            checks.append(configured)
            continue
        try:
            model = build_model(value, limits)
        except Exception as err:  # the provider SDKs raise various errors for bad names and settings
            checks.append(Check(name, "fail", f"{value}: {err}", f"check {variable}"))
            continue
        checks.append(await _ask(name, value, model, limits))
        checks.append(_price_check(name, value, model, prices, settings))
    return checks


def learning_checks(settings: Settings) -> list[Check]:
    """Whether facts can be learned from what the operator says (a model whose window holds mem0's
    extraction request)."""
    if not (settings.model_fast or settings.model_strong):
        return []
    if not settings.learning:
        return [Check("learning", "off", "SOLOOS_LEARNING=false")]
    try:
        problem = learning_window_problem(model_tiers(settings))
    except Exception:  # a model that cannot be built is already reported by model_checks
        return []
    if problem is not None:
        fix = "use a fast model with a bigger window (or set SOLOOS_MODEL_FAST_CONTEXT if it has one)"
        return [Check("learning", "warn", f"{problem}: nothing is learned from conversation", fix)]
    return [Check("learning", "ok", "facts you state are learned in the background (SOLOOS_LEARNING)")]


async def _ask(name: str, value: str, model: Model, limits: ModelLimits) -> Check:
    started = time.perf_counter()
    try:
        await LimitedModel(model, limits).request(
            [ModelRequest.user_text_prompt("Reply with the word ok.")], {"max_tokens": 1}, ModelRequestParameters()
        )
    except MODEL_FAILURES as err:
        return Check(name, "fail", f"{value}: {short_failure(err)}", _fix(err))
    except UnexpectedModelBehavior:
        pass  # one token is not a complete answer, but the server answered
    where = f" at {model.base_url}" if model.base_url else ""
    return Check(name, "ok", f"{value}{where} answered in {time.perf_counter() - started:.1f}s")


def _fix(err: BaseException) -> str:
    reason = short_failure(err)
    if "cannot connect" in reason:
        return "start the model server, or check OPENAI_BASE_URL / OLLAMA_BASE_URL"
    if "401" in reason or "403" in reason:
        return "check the API key"
    if "no answer within" in reason or "timed out" in reason:
        return "raise SOLOOS_MODEL_TIMEOUT_SECONDS for a slow local model"
    if "404" in reason:
        return "check the model name (the server does not serve it)"
    return "see the server's log"


def _price_check(name: str, value: str, model: Model, prices: Prices, settings: Settings) -> Check:
    label = f"{name} price"
    how = pricing(model, prices)
    if how == "list":
        return Check(label, "ok", f"{value}: its list price (SOLOOS_PRICE_* is for unknown models only)")
    if how == "configured":
        return Check(
            label,
            "ok",
            f"{value}: ${prices.input_per_mtok or 0} in / ${prices.output_per_mtok or 0} out per 1M tokens "
            "(SOLOOS_PRICE_INPUT_PER_MTOK / _OUTPUT_PER_MTOK)",
        )
    if how == "local":
        return Check(
            label,
            "ok",
            f"{value} is served from this machine: counted as free ($0) against the spend caps",
            "set SOLOOS_PRICE_INPUT_PER_MTOK / _OUTPUT_PER_MTOK if it is not free",
        )
    return Check(
        label,
        "warn",
        f"the price of {value} is unknown, so your ${settings.budget_daily_usd:.2f} daily cap cannot be enforced: "
        "model requests are refused until a price is set",
        "set SOLOOS_PRICE_INPUT_PER_MTOK and SOLOOS_PRICE_OUTPUT_PER_MTOK (USD per 1M tokens; 0 for a free model)",
    )


async def run_doctor(settings: Settings, console: Console) -> bool:
    quiet_libraries()
    checks: list[Check] = [
        Check(
            "settings",
            "ok",
            f"home {settings.home}, workspace {settings.workspace!r}, tz {settings.timezone}",
        ),
    ]
    started = time.perf_counter()
    try:
        async with open_memory(settings) as memory:
            db = memory.db
            opened = time.perf_counter() - started
            with db.connection() as conn:
                version = conn.execute("SHOW server_version").fetchone()
                vector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
                migration = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
            checks.append(
                Check(
                    "database",
                    "ok",
                    f"{db.target.description}: PostgreSQL {version[0] if version else '?'}, pgvector "
                    f"{vector[0] if vector else '?'}, schema v{migration[0] if migration else 0} ({opened:.1f}s)",
                )
            )
            count = await memory.count(settings.workspace)
            checks.append(Check("memory", "ok", f"{count} memories in workspace {settings.workspace!r}"))
            checks += await _schedule_and_connector_checks(memory, settings.workspace)
            started = time.perf_counter()
            try:
                await memory.recall("doctor check", workspace=settings.workspace, k=1)
                checks.append(
                    Check(
                        "embedder",
                        "ok",
                        f"{memory.embedder.description}, ready in {time.perf_counter() - started:.1f}s, "
                        f"imports in {memory.embedder.bulk_precision}",
                    )
                )
            except StoreError as error:
                checks.append(
                    Check(
                        "embedder",
                        "fail",
                        str(error),
                        "reinstall with ./bootstrap.sh, or set SOLOOS_EMBEDDER=openai",
                    )
                )
    except StoreError as error:
        fix = (
            "check DATABASE_URL, or unset it to use the embedded server"
            if settings.database_url
            else f"check {settings.home / 'pgdata' / 'log'}; or set SOLOOS_HOME to a writable directory"
        )
        checks.append(Check("database", "fail", str(error), fix))
    checks += await model_checks(settings)
    checks += learning_checks(settings)
    if settings.telegram_token and settings.telegram_allowlist:
        checks.append(
            Check(
                "telegram", "ok", f"configured for {len(settings.telegram_allowlist)} user(s); `soloos run` serves it"
            )
        )
    elif settings.telegram_token:
        checks.append(
            Check(
                "telegram",
                "fail",
                "token set but no allowed users: everyone would be refused",
                "set SOLOOS_TELEGRAM_ALLOWED_USERS to your numeric user id",
            )
        )
    else:
        checks.append(
            Check(
                "telegram",
                "off",
                "not configured",
                "set SOLOOS_TELEGRAM_TOKEN and SOLOOS_TELEGRAM_ALLOWED_USERS, then `soloos run`",
            )
        )
    if (
        settings.slack_bot_token
        and settings.slack_allowlist
        and (settings.slack_app_token or settings.slack_signing_secret)
    ):
        mode = "Socket Mode" if settings.slack_app_token else f"HTTP on :{settings.slack_http_port}"
        checks.append(Check("slack", "ok", f"{mode}, {len(settings.slack_allowlist)} user(s); `soloos run`"))
    elif settings.slack_bot_token:
        checks.append(
            Check(
                "slack",
                "fail",
                "bot token set, but no allowed users or no app token/signing secret",
                "set SOLOOS_SLACK_ALLOWED_USERS and SOLOOS_SLACK_APP_TOKEN (or the signing secret)",
            )
        )
    else:
        checks.append(Check("slack", "off", "not configured", "see README: create the app from slack-manifest.yaml"))

    table = Table(title="SoloOS doctor", show_lines=False)
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "off": "[yellow]off[/]"}
    for check in checks:
        table.add_row(check.name, marks[check.status], check.detail, check.fix)
    console.print(table)
    return all(c.status != "fail" for c in checks)


async def _schedule_and_connector_checks(memory: MemoryService, workspace: str) -> list[Check]:
    """Reminders and briefing (and anything not delivered), then each connector's last health."""
    import asyncio

    active = await memory.schedules.active(workspace=workspace)
    misses = await asyncio.to_thread(memory.schedules.unreported_sync, workspace)
    briefing = "a daily briefing" if any(s.kind == "briefing" for s in active) else "no daily briefing"
    schedules = Check(
        "schedules",
        "warn" if misses else "ok",
        f"{sum(s.kind == 'reminder' for s in active)} reminders, {briefing}; "
        f"{len(misses)} missed or undelivered not yet reported",
        "they are shown at your next message" if misses else "",
    )
    checks = [schedules]
    for record in await memory.connectors.all(workspace):
        status = "ok" if record.healthy else "fail" if record.healthy is False else "warn"
        fix = "docs/runbooks/connector-auth-failure.md" if record.healthy is False else ""
        checks.append(Check(f"{record.name} connector", status, record.health_detail or "not checked yet", fix))
    return checks
