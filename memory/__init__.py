"""Layered memory and canonical records over PostgreSQL + pgvector.

Usage::

    async with open_memory(settings, clock=clock) as memory:
        await memory.remember("Acme pays net 30", layer="project", workspace="acme-co")
        hits = await memory.recall("how fast does Acme pay?", workspace="acme-co")

``settings`` is anything with the ``MemoryConfig`` attributes (memory never imports the bot);
``clock`` is the process's one ``Clock``. Import from this package only; the modules are private:

memories and recall  ``_memory_service`` (``MemoryService``: remember, hybrid recall, import/export,
                     and the record stores below as attributes), ``_memory_types``, ``_embedder``
records              ``_records`` (tasks, contacts, calendar events), ``memory.records``
conversations        ``_conversations`` (claims of intents, transcript), ``_liveness`` (worker locks)
schedules            ``_schedules`` (reminders, briefings, notices and the delivery log)
plans                ``_plans`` (objectives, plan tasks, revisions)
drafts, leads        ``_drafts``, ``_intakes``
finance              ``_finance`` (invoices, transactions, quarantine), ``_reconciliation``
mail                 ``_mail`` (messages, documents, read cursors)
learning queue       ``_learning_queue`` (operator messages waiting for the background learner)
channel inbox        ``_channel_inbox``; what channels owe the operator: ``_outbox`` (``memory.replies``)
connector configs    ``_connector_configs`` (secrets sealed by ``secrets``)
agents' storage      ``_agent_store`` = ``_spend`` (ledger, model cache) + ``_preferences`` (modes, zones)
service levels       ``_service_levels``
the database         ``_postgres`` (embedded or external server, pool), ``_migrations``
public helpers       ``errors`` (the error tree), ``clock`` (``Clock``), ``config`` (``MemoryConfig``),
                     ``secrets`` (the key of connector secrets, ``SecretBox``)
imports              ``_import_lines`` (a JSONL line read defensively)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from memory._agent_store import MODES, AgentStore, CapReached, SpendLine, SpendSummary
from memory._connector_configs import ConnectorConfigs, ConnectorRecord
from memory._conversations import Turn
from memory._drafts import DRAFT_KINDS, Draft, DraftAuthor, DraftKind, Drafts
from memory._embedder import Embedder, prepare_mem0_environment
from memory._finance import (
    Finance,
    ImportSummary,
    Invoice,
    InvoiceStatus,
    NewTransaction,
    Payment,
    QuarantineEntry,
    RejectedRow,
    StatementItem,
)
from memory._intakes import Intake, Intakes
from memory._learning_queue import Learnable, LearningQueue, QueuedLearning
from memory._mail import (
    Attachment,
    Document,
    MailCursor,
    MailItem,
    Message,
    Messages,
    NewMessage,
    RejectedMessage,
    StoredMail,
)
from memory._memory_service import MemoryService
from memory._memory_types import (
    LAYERS,
    OPERATOR_ORIGIN,
    ImportProblem,
    ImportReport,
    Layer,
    MemoryHit,
    MemoryItem,
)
from memory._outbox import InboxRef, OutboxRow, Outgoing, ReplyOutbox
from memory._plans import (
    OWNERS,
    Change,
    Edit,
    NewProject,
    NewTask,
    Objective,
    Owner,
    Plan,
    PlanProject,
    Plans,
    PlanTask,
    Revision,
)
from memory._postgres import Database, open_database
from memory._records import MAX_TITLE_CHARS, Contact, Event, EventChanges, NewEvent, Task, is_plain_name
from memory._schedules import NOTIFY_CHANNEL, Delivery, Schedule, ScheduleKind, Schedules
from memory._service_levels import Ratio, Reliability, ReliabilityStore
from memory.clock import Clock
from memory.config import EmbedderConfig, MemoryConfig
from memory.effects import claim_effect, settle_effect
from memory.errors import (
    DatabaseMisconfigured,
    DatabaseUnavailable,
    EmbedderUnavailable,
    InvalidInput,
    InvalidMemory,
    InvalidRecord,
    NotFound,
    StoreError,
    Superseded,
)
from memory.secrets import SecretBox, SecretKeyError, SecretKeyMismatch, secret_box


@contextlib.asynccontextmanager
async def open_memory(config: MemoryConfig, *, clock: Clock | None = None) -> AsyncIterator[MemoryService]:
    """Open the database (embedded or ``config.database_url``), apply migrations, and yield the service.

    ``config`` is the composition root's settings (anything with the ``MemoryConfig`` attributes);
    ``clock`` is the one clock of the process (a fresh wall clock if not given).
    """
    prepare_mem0_environment(config.home)
    embedder = Embedder(config)  # starts loading the model while the database starts
    url = config.database_url.get_secret_value() if config.database_url else None
    stack = contextlib.ExitStack()
    try:
        db: Database = await asyncio.to_thread(
            stack.enter_context,
            open_database(database_url=url, home=config.home, timeout=config.db_connect_timeout),
        )
        service = MemoryService(
            db,
            embedder,
            working_ttl=timedelta(hours=config.working_memory_hours),
            clock=clock or Clock(),
            secrets=secret_box(config.home, config.secret_key),
        )
        await asyncio.to_thread(service.conversations.start_liveness)
        stack.callback(service.conversations.stop_liveness)
        yield service
    finally:
        embedder.close()
        await asyncio.to_thread(stack.close)


__all__ = [
    "DRAFT_KINDS",
    "LAYERS",
    "MAX_TITLE_CHARS",
    "MODES",
    "NOTIFY_CHANNEL",
    "OPERATOR_ORIGIN",
    "OWNERS",
    "AgentStore",
    "Attachment",
    "CapReached",
    "Change",
    "Clock",
    "ConnectorConfigs",
    "ConnectorRecord",
    "Contact",
    "Database",
    "DatabaseMisconfigured",
    "DatabaseUnavailable",
    "Delivery",
    "Document",
    "Draft",
    "DraftAuthor",
    "DraftKind",
    "Drafts",
    "Edit",
    "EmbedderConfig",
    "EmbedderUnavailable",
    "Event",
    "EventChanges",
    "Finance",
    "ImportProblem",
    "ImportReport",
    "ImportSummary",
    "InboxRef",
    "Intake",
    "Intakes",
    "InvalidInput",
    "InvalidMemory",
    "InvalidRecord",
    "Invoice",
    "InvoiceStatus",
    "Layer",
    "Learnable",
    "LearningQueue",
    "MailCursor",
    "MailItem",
    "MemoryConfig",
    "MemoryHit",
    "MemoryItem",
    "MemoryService",
    "Message",
    "Messages",
    "NewEvent",
    "NewMessage",
    "NewProject",
    "NewTask",
    "NewTransaction",
    "NotFound",
    "Objective",
    "OutboxRow",
    "Outgoing",
    "Owner",
    "Payment",
    "Plan",
    "PlanProject",
    "PlanTask",
    "Plans",
    "QuarantineEntry",
    "QueuedLearning",
    "Ratio",
    "RejectedMessage",
    "RejectedRow",
    "Reliability",
    "ReliabilityStore",
    "ReplyOutbox",
    "Revision",
    "Schedule",
    "ScheduleKind",
    "Schedules",
    "SecretBox",
    "SecretKeyError",
    "SecretKeyMismatch",
    "SpendLine",
    "SpendSummary",
    "StatementItem",
    "StoreError",
    "StoredMail",
    "Superseded",
    "Task",
    "Turn",
    "claim_effect",
    "is_plain_name",
    "open_memory",
    "prepare_mem0_environment",
    "secret_box",
    "settle_effect",
]
