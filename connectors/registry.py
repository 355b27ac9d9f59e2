"""Which connectors exist, and connecting one: validate its settings, check it, then save them.

A wrong password is reported at setup ("IMAP login failed …"), never saved, and never found out at
3 a.m. Saved connectors are re-checked by ``check_all``; the result is their health status. The ``SecretStr``
fields of a connector's settings (passwords) are saved encrypted (``memory.secrets``);
``seal_plaintext`` encrypts those saved before that, and runs on every start.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, SecretStr, ValidationError

from connectors.base import Connector, Health, ReadReport
from connectors.errors import SetupError
from connectors.mcp import SECRET_FIELDS as MCP_SECRETS
from connectors.mcp import McpConfig, McpTool, is_mcp, record_name
from connectors.mcp import check as mcp_check

if TYPE_CHECKING:
    from memory import ConnectorRecord, MemoryService

KINDS = {
    "email": "connectors.email:EmailConnector",
    "calendar": "connectors.calendar:CalendarConnector",
    "bank": "connectors.bank:BankConnector",
}


def connector_class(name: str) -> type[Connector]:
    if name not in KINDS:
        raise SetupError(f"there is no {name!r} connector; choose one of {', '.join(sorted(KINDS))}")
    module, _, attribute = KINDS[name].partition(":")
    return cast("type[Connector]", getattr(importlib.import_module(module), attribute))


def build(name: str, settings: dict[str, Any], *, memory: MemoryService, workspace: str) -> Connector:
    """A connector from its settings, bound to the database and workspace its writes are recorded in, and
    reading the time from the memory service's clock."""
    kind = connector_class(name)
    try:
        config = kind.Config.model_validate(settings)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise SetupError(f"the {name} settings are not valid: {problems}") from err
    return kind(config, db=memory.db, workspace=workspace, clock=memory.clock.now)  # type: ignore[call-arg]


def secret_fields(name: str) -> frozenset[str]:
    """The settings of connector ``name`` that are secrets (declared ``SecretStr``)."""
    fields = connector_class(name).Config.model_fields
    return frozenset(field for field, info in fields.items() if _is_secret(info.annotation))


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def stored(config: BaseModel) -> dict[str, Any]:
    """Settings as handed to storage: secrets revealed, for ``memory.connectors.save`` to encrypt
    (``secret_fields``)."""
    saved = config.model_dump(mode="json")
    for field, value in config:
        if isinstance(value, SecretStr):
            saved[field] = value.get_secret_value()
    return saved


async def connect(memory: MemoryService, workspace: str, name: str, settings: dict[str, Any]) -> Health:
    """Check the settings against the real system and save them only when the check passes."""
    connector = build(name, settings, memory=memory, workspace=workspace)
    health = await connector.health()
    if not health.ok:
        raise SetupError(f"nothing was saved: {health.detail}")
    kind = connector_class(name)
    await memory.connectors.save(
        workspace,
        name,
        stored(kind.Config.model_validate(settings)),
        health_detail=health.detail,
        secret_fields=secret_fields(name),
    )
    return health


async def connect_mcp(memory: MemoryService, workspace: str, config: McpConfig, *, seconds: float = 30.0) -> Health:
    """Start the MCP server, initialize it and list its tools; save it (headers sealed) only then."""
    tools = await mcp_check(config, seconds=seconds)
    detail = _tools_detail(tools)
    await memory.connectors.save(
        workspace, record_name(config.name), config.stored(), health_detail=detail, secret_fields=MCP_SECRETS
    )
    return Health(True, detail)


def _tools_detail(tools: tuple[McpTool, ...]) -> str:
    names = ", ".join(t.name for t in tools)
    return f"{len(tools)} tool{'s' if len(tools) != 1 else ''}: {names}" if tools else "it lists no tools"


async def _check_mcp(record: ConnectorRecord) -> Health:
    if record.secret_error is not None:
        return Health(False, record.secret_error)
    try:
        return Health(True, _tools_detail(await mcp_check(McpConfig.from_stored(record.config))))
    except SetupError as err:
        return Health(False, str(err))


async def disconnect(memory: MemoryService, workspace: str, name: str) -> bool:
    """Remove a saved connector (``mcp:NAME`` for an MCP server); False when there was none."""
    return await memory.connectors.remove(workspace, name)


async def seal_plaintext(memory: MemoryService) -> int:
    """Encrypt the secrets of settings saved in plaintext (before D21 was superseded), every workspace;
    idempotent. Returns how many connectors changed."""
    fields = {name: secret_fields(name) for name in KINDS}  # MCP servers are saved sealed from the start
    return await asyncio.to_thread(memory.connectors.seal_plaintext, fields)


async def saved(memory: MemoryService, workspace: str, name: str) -> Connector:
    record = await memory.connectors.get(workspace, name)
    if record is None:
        raise SetupError(f"no {name} connector is set up in this workspace; run `soloos connect {name}`")
    return _build_saved(record, memory, workspace)


def _build_saved(record: ConnectorRecord, memory: MemoryService, workspace: str) -> Connector:
    if record.secret_error is not None:
        raise SetupError(f"{record.name}: {record.secret_error}")
    return build(record.name, record.config, memory=memory, workspace=workspace)


async def check_all(memory: MemoryService, workspace: str) -> list[tuple[str, Health]]:
    """Re-check every saved connector and record its health."""
    results = []
    for record in await memory.connectors.all(workspace):
        if is_mcp(record.name):
            health = await _check_mcp(record)
        else:
            try:
                health = await _build_saved(record, memory, workspace).health()
            except SetupError as err:
                health = Health(False, str(err))
        await memory.connectors.record_health(workspace, record.name, healthy=health.ok, detail=health.detail)
        results.append((record.name, health))
    return results


async def sync(memory: MemoryService, workspace: str, name: str) -> ReadReport:
    """Read new data from a saved connector; a failure is recorded as its health and re-raised."""
    connector = await saved(memory, workspace, name)
    try:
        report = await connector.read(memory, workspace)
    except Exception as err:
        await memory.connectors.record_health(workspace, name, healthy=False, detail=f"read failed: {err}")
        raise
    await memory.connectors.mark_read(workspace, name)
    return report
