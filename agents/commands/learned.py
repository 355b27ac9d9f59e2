"""Reviewing what SoloOS learned: the Keep / Forget buttons of a learned fact (``mem:keep:<id>``,
``mem:forget:<id>``, from the briefing or a "Noted" notice; ``keep <id>`` typed) and ``/memory learned``.

Every answer is plain: a second press, a fact already gone, an id of another workspace all get a
sentence, never an error. A press delivered twice is handled once (the dispatcher's claim)."""

from __future__ import annotations

from agents.commands._base import Command, LocalContext, Routed, audited, day, phrase
from agents.learned import replaced_note, said_note, shorten, source_name
from agents.reply import Reply
from memory import InvalidMemory, LearnedFacts, MemoryItem, NotFound

LIST_LIMIT = 15
_ID = r"(?P<id>[0-9a-fA-F]{6,32})"

NOTHING_LEARNED = (
    "I haven't learned anything from our conversations yet. What you tell me in passing shows here, "
    "with the message it came from."
)


def _gone(short: str, said: str | None) -> str:
    if said:  # the audit outcome: "forgot: <text> [<id>]"
        return f"Already forgotten: {said.removeprefix('forgot: ').removesuffix(f' [{short}]')}"
    return f"I have no fact {short} (it may have been forgotten already), so there is nothing to do."


async def _keep(routed: Routed, ctx: LocalContext) -> Reply:
    short = routed.args["id"].lower()
    store = LearnedFacts(ctx.memory)
    try:
        item, before = await store.keep(short, workspace=ctx.workspace)
    except (NotFound, InvalidMemory):
        forgotten = await store.audited_text(ctx.workspace, "memory.forget", short)
        if forgotten:
            return Reply(f"{_gone(short, forgotten)} — there is nothing to keep.")
        return Reply(f"I have no fact {short} (it may have been forgotten), so there is nothing to keep.")
    if before:
        return Reply(f"Already kept: {item.text} [{item.short_id}]")
    await audited(
        ctx, "memory.keep", f"kept: {item.text[:200]} [{item.short_id}]", {"kind": "memory.unkeep", "id": str(item.id)}
    )
    return Reply(f"Kept: {item.text} [{item.short_id}]")


async def _forget(routed: Routed, ctx: LocalContext) -> Reply:
    short = routed.args["id"].lower()
    try:
        item = await ctx.memory.get(short, workspace=ctx.workspace)
    except (NotFound, InvalidMemory):
        return Reply(_gone(short, await LearnedFacts(ctx.memory).audited_text(ctx.workspace, "memory.forget", short)))
    return Reply(await forget_memory(item, ctx))


async def forget_memory(item: MemoryItem, ctx: LocalContext) -> str:
    """Forget one memory, pressed or typed: audited, with /undo bringing it back, and the fact that
    holds again on its subject named."""
    store = LearnedFacts(ctx.memory)
    if not await store.forget(item.id, workspace=ctx.workspace):  # a press handled at the same moment
        return f"Already forgotten: {item.text}"
    await audited(
        ctx,
        "memory.forget",
        f"forgot: {item.text[:200]} [{item.short_id}]",
        {"kind": "memory.restore", "id": str(item.id)},
    )
    reply = f"Forgot: {item.text} (/undo brings it back)"
    holds = await store.current_on(ctx.workspace, item.subject) if item.subject else None
    if holds is not None:
        reply += f"\nWhat I had before holds again: {holds.text} [{holds.short_id}]"
    return reply


async def _learned(routed: Routed, ctx: LocalContext) -> Reply:
    facts, total = await LearnedFacts(ctx.memory).since(ctx.workspace, None, limit=LIST_LIMIT)
    if not facts:
        return Reply(NOTHING_LEARNED)
    lines = ["What I learned recently, newest first:"]
    for fact in facts:
        item = fact.item
        lines.append(
            f"- {shorten(item.text, 200)} [{item.short_id}] — {day(item.created_at, ctx.timezone)}, "
            f"{source_name(item.source)}{replaced_note(fact)}"
        )
        if fact.said:
            lines.append(f"  {said_note(fact)}")
    if total > len(facts):
        lines.append(f"…and {total - len(facts)} older.")
    lines.append('"keep <id>" settles one; "forget <id>" removes it.')
    return Reply("\n".join(lines))


COMMANDS = (
    Command(
        "memory_keep",
        _keep,
        (phrase(256, rf"^(?:mem:keep:|/keep\s+|keep\s+){_ID}$"),),
        on_press="post",  # the briefing keeps its other buttons; the answer comes as a new message
    ),
    Command(
        "memory_forget_learned",
        _forget,
        (phrase(257, rf"^mem:forget:{_ID}$"),),
        on_press="post",
    ),
    Command(
        "memory_learned",
        _learned,
        (
            phrase(
                258,
                r"^(?:(?:/memory|/memories|memory|memories)\s+learned|"
                r"what (?:have|did) you (?:learn|learned|pick up|picked up)(?: from me)?(?: recently| lately)?)$",
            ),
        ),
        name="memory",
    ),
)

__all__ = ["COMMANDS", "NOTHING_LEARNED", "forget_memory"]
