"""The MCP server: SoloOS's tools under their plain descriptions, over stdio or streamable HTTP.

The application opens in the server's lifespan: on stdio that is after the SDK has taken the
process's stdin and stdout for the protocol (anything else printed, by a library or a child process
such as the embedded database, goes to stderr), on HTTP once for all sessions. Each tool hands its
work to ``Offering``; a refusal or a failure comes back to the client as a tool error in one
sentence, never as a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from bot.mcp._offering import MAX_RECALL, Offering, Refusal
from memory import InvalidInput

log = logging.getLogger(__name__)

SERVER_NAME = "soloos"
INSTRUCTIONS = (
    "SoloOS holds the operator's business memory and records (one-person business). Read with recall, "
    "list_tasks, find_contacts, list_invoices and briefing. Memories marked UNCONFIRMED came from outside "
    "data and are claims, not facts. remember, add_task and draft_email change nothing by themselves: each "
    "becomes a request the operator approves or rejects in their SoloOS chat."
)

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
REQUEST = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)

Opener = Callable[[], AbstractAsyncContextManager[Offering]]
SoloContext = Context[Offering]


def _offering(ctx: SoloContext) -> Offering:
    return ctx.request_context.lifespan_context


def _client(ctx: SoloContext) -> str | None:
    """The name the client gave itself when it connected (its claim: only a label)."""
    params = ctx.session.client_params
    return params.client_info.name if params is not None and params.client_info is not None else None


async def _answer(work: Awaitable[str]) -> str:
    """A refusal is the client's to fix, said as it is; any other failure is ours: one sentence, logged."""
    try:
        return await work
    except (Refusal, InvalidInput) as err:
        raise ToolError(str(err)) from err
    except Exception as err:
        log.exception("an MCP tool call failed")
        raise ToolError(f"SoloOS could not answer that ({type(err).__name__}); nothing was changed.") from err


Query = Annotated[str, Field(description="What to look for, in plain words (at most 500 characters).")]


async def recall(
    ctx: SoloContext,
    query: Query,
    k: Annotated[int, Field(description=f"How many memories to return (1 to {MAX_RECALL}).")] = 5,
) -> str:
    """Search the operator's business memory (client facts, notes, rules) and return the closest
    current memories (a fact replaced by a newer one is left out). Each line says where the memory
    came from; one marked UNCONFIRMED came from outside data (an e-mail, a lead) and the operator has
    not confirmed it."""
    return await _answer(_offering(ctx).recall(query, k))


async def list_tasks(ctx: SoloContext) -> str:
    """The operator's open tasks, with their numbers and due dates."""
    return await _answer(_offering(ctx).list_tasks())


async def find_contacts(ctx: SoloContext, query: Query) -> str:
    """Contacts whose name, e-mail address or notes contain the query, with their details."""
    return await _answer(_offering(ctx).find_contacts(query))


async def list_invoices(
    ctx: SoloContext,
    overdue_only: Annotated[bool, Field(description="Only invoices past their due date and not fully paid.")] = False,
) -> str:
    """The operator's invoices: number, client, amount, due date, status and what is still outstanding."""
    return await _answer(_offering(ctx).list_invoices(overdue_only))


async def briefing(ctx: SoloContext) -> str:
    """Today's briefing as the operator's daily briefing says it: calendar, tasks, plans, approvals
    waiting, money, recent actions and spend. Reading it changes nothing."""
    return await _answer(_offering(ctx).briefing())


async def remember(
    ctx: SoloContext,
    fact: Annotated[str, Field(description="The fact, in one or two sentences (at most 2,000 characters).")],
) -> str:
    """Ask SoloOS to remember a fact. Nothing is stored until the operator approves the request in
    their SoloOS chat; the answer says it is waiting and gives its number."""
    return await _answer(_offering(ctx).remember(fact, _client(ctx)))


async def add_task(
    ctx: SoloContext,
    title: Annotated[str, Field(description="What is to be done (at most 500 characters).")],
    due: Annotated[str | None, Field(description="Due date as YYYY-MM-DD, today or later; leave out for none.")] = None,
) -> str:
    """Ask SoloOS to add a task to the operator's list. Nothing is added until the operator approves
    the request in their SoloOS chat; the answer says it is waiting and gives its number."""
    return await _answer(_offering(ctx).add_task(title, due, _client(ctx)))


async def draft_email(
    ctx: SoloContext,
    to: Annotated[str, Field(description="The recipient's e-mail address.")],
    subject: Annotated[str, Field(description="The subject line.")],
    body: Annotated[str, Field(description="The message text (at most 20,000 characters).")],
) -> str:
    """Ask SoloOS to save an e-mail draft for the operator to review. Nothing is sent, ever: the
    draft is saved only when the operator approves the request in their SoloOS chat."""
    return await _answer(_offering(ctx).draft_email(to, subject, body, _client(ctx)))


READS = (recall, list_tasks, find_contacts, list_invoices, briefing)
REQUESTS = (remember, add_task, draft_email)


def build_server(open_offering: Opener) -> MCPServer[Offering]:
    """The server; ``open_offering`` opens the application when the server starts and closes it at the end."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Offering]) -> AsyncIterator[Offering]:
        async with open_offering() as offering:
            yield offering

    server: MCPServer[Offering] = MCPServer(
        SERVER_NAME, instructions=INSTRUCTIONS, lifespan=lifespan, log_level="WARNING"
    )
    for reader in READS:
        server.add_tool(reader, annotations=READ, structured_output=False)
    for request in REQUESTS:
        server.add_tool(request, annotations=REQUEST, structured_output=False)
    return server


__all__ = ["INSTRUCTIONS", "SERVER_NAME", "Opener", "build_server"]
