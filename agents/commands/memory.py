"""Facts and rules: remember, keep a rule, recall, list, forget, confirm.

What the operator said is a fact; what came from outside (a lead's e-mail, a connector) is kept
unconfirmed with its origin, shown apart from the facts, until the operator confirms it."""

from __future__ import annotations

from datetime import timedelta

from agents.commands._base import Command, LocalContext, Routed, audited, day, phrase
from agents.commands.learned import forget_memory
from agents.learned import shorten, source_name
from agents.phrases import subject_of
from agents.reply import Reply
from memory import InvalidMemory, Layer, LearnedFacts, MemoryHit, MemoryItem, NotFound

RECALL_LIMIT = 5
UNCONFIRMED_HEADING = 'From outside, not confirmed by you ("confirm <id>" if it is right):'


async def _remember_fact(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await _remember(routed.text, "project", ctx))


async def _remember_rule(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await _remember(routed.text, "institutional", ctx))


async def _remember(text: str, layer: Layer, ctx: LocalContext) -> str:
    subject = subject_of(text)
    if layer == "project" and subject is None:
        item = await ctx.memory.add_note(text, workspace=ctx.workspace, source=ctx.source)
    else:
        item = await ctx.memory.remember(
            text,
            layer=layer,
            workspace=ctx.workspace,
            source=ctx.source,
            subject=subject,
        )
    if item.duplicate:
        return f"I already knew that (since {day(item.created_at, ctx.timezone)}), so I kept the original."
    await audited(ctx, "memory.write", f"remembered: {item.text[:200]}", {"kind": "memory.delete", "id": str(item.id)})
    what = "rule" if layer == "institutional" else "that"
    reply = f"Noted {what}: {item.text} [{item.short_id}]"
    if item.replaces:
        reply += f"\nThis replaces what I had before: {item.replaces[0]}"
    return reply


MAX_ORIGIN_SHOWN = 160


def _labels(memory: MemoryHit | MemoryItem) -> str:
    label = " (rule)" if memory.layer == "institutional" else ""
    if not memory.confirmed:
        label += f" ({memory.provenance[:MAX_ORIGIN_SHOWN]})"
    return label


def format_hit(hit: MemoryHit, timezone: str) -> str:
    return f"- {hit.text}{_labels(hit)} — {day(hit.occurred_at, timezone)} [{hit.short_id}]"


async def _recall(routed: Routed, ctx: LocalContext) -> Reply:
    query = routed.text
    hits = await ctx.memory.recall(query, workspace=ctx.workspace, k=RECALL_LIMIT, layers=["project", "institutional"])
    tasks = await ctx.memory.records.list_tasks(workspace=ctx.workspace, status="open")
    words = {w for w in query.lower().split() if len(w) > 2}
    related = [t for t in tasks if words & set(t.title.lower().split())]
    if not hits and not related:
        return Reply(f'I don\'t know anything about {query} yet. Tell me with "remember …".')
    lines = [f"What I know about {query}:"] + [format_hit(h, ctx.timezone) for h in hits if h.confirmed]
    unconfirmed = [h for h in hits if not h.confirmed]
    if unconfirmed:
        lines.append(UNCONFIRMED_HEADING)
        lines += [format_hit(h, ctx.timezone) for h in unconfirmed]
    if related:
        lines.append("Open tasks:")
        lines += [f"- #{t.id} {t.title}" for t in related[:5]]
    return Reply("\n".join(lines))


async def _memories(routed: Routed, ctx: LocalContext) -> Reply:
    items = await ctx.memory.list(ctx.workspace, limit=15, include_history=False)
    items = [i for i in items if i.layer != "working"]
    if not items:
        return Reply("I have no memories in this workspace yet.")
    lines = ["Latest memories:"]
    lines += [f"- {i.text}{_labels(i)} [{i.short_id}]" for i in items]
    lines += await _recently_learned(ctx)
    return Reply("\n".join(lines))


RECENTLY_LEARNED = 3
RECENT_DAYS = 7


async def _recently_learned(ctx: LocalContext) -> list[str]:
    """A short part on what was learned from conversation in the last week (``/memory learned``: all)."""
    since = ctx.memory.clock.now() - timedelta(days=RECENT_DAYS)
    facts, total = await LearnedFacts(ctx.memory).since(ctx.workspace, since, limit=RECENTLY_LEARNED)
    if not facts:
        return []
    lines = ["Recently learned (/memory learned shows each with the message it came from):"]
    lines += [f"- {shorten(f.item.text, 200)} [{f.item.short_id}] ({source_name(f.item.source)})" for f in facts]
    if total > len(facts):
        lines.append(f"…and {total - len(facts)} more this week.")
    return lines


async def _forget(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await _forget_text(routed.text, ctx))


async def _forget_text(what: str, ctx: LocalContext) -> str:
    try:
        return await forget_memory(await ctx.memory.get(what, workspace=ctx.workspace), ctx)
    except (InvalidMemory, NotFound):
        pass  # not an id: treat it as a description
    hits = await ctx.memory.recall(what, workspace=ctx.workspace, k=3, mode="text")
    if not hits:
        hits = await ctx.memory.recall(what, workspace=ctx.workspace, k=3)
        if hits:
            return 'I\'m not sure which memory you mean. Say "forget <id>" with one of these:\n' + "\n".join(
                format_hit(h, ctx.timezone) for h in hits
            )
        return f"I have nothing matching {what!r}, so there is nothing to forget."
    if len(hits) == 1:  # exactly one memory contains those words
        return await forget_memory(await ctx.memory.get(hits[0].id, workspace=ctx.workspace), ctx)
    return 'Several memories match. Say "forget <id>" with the one you mean:\n' + "\n".join(
        format_hit(h, ctx.timezone) for h in hits
    )


async def _confirm(routed: Routed, ctx: LocalContext) -> Reply:
    try:
        item = await ctx.memory.confirm(routed.text, workspace=ctx.workspace)
    except (InvalidMemory, NotFound):
        return Reply(f'I have no memory {routed.text!r} to confirm. "what do you know about …" shows the ids.')
    if item.confirmed:
        return Reply(f"That is already a fact I keep: {item.text} [{item.short_id}]")
    await audited(
        ctx,
        "memory.confirm",
        f"confirmed: {item.text[:200]} (from {item.origin[:MAX_ORIGIN_SHOWN]})",
        {"kind": "memory.unconfirm", "id": str(item.id)},
    )
    return Reply(f"Confirmed: {item.text} [{item.short_id}]\nI treat it as a fact from you now.")


COMMANDS = (
    Command(
        "remember",
        _remember_fact,
        (
            phrase(
                300,
                r"^(?:/remember(?: that)?|/note|remember(?: that)?|note(?: that)?:?|note down:?|keep in mind(?: that)?|"
                r"fyi:?|for the record:?|save(?: this)?:)\s+(?P<text>.+)$",
            ),
        ),
        name="remember",
        help='- *remember* facts: "remember that Acme pays net 30", "note: Jane prefers calls"',
        help_order=10,
        menu="remember a fact: /remember Acme pays net 30",
        menu_order=20,
        slack=True,
        example="/remember Acme pays net 30",
        needs_text=True,
        keep_sentence_end=True,
    ),
    Command(
        "rule",
        _remember_rule,
        (
            phrase(280, r"^(?:/rule|rule:|new rule:?|policy:)\s*(?P<text>.+)$"),
            phrase(290, r"^(?P<text>(?:always|never|don't ever|do not ever)\s.+)$"),
        ),
        name="rule",
        help='- keep *rules*: "always CC my accountant on invoices"',
        help_order=20,
        needs_text=True,
        keep_sentence_end=True,
    ),
    Command(
        "recall",
        _recall,
        (
            phrase(510, r"^(?:/recall|/search|recall)\s+(?P<text>.+)$"),
            phrase(  # finding free time is a calendar request, not a memory search
                520,
                r"^(?:search(?: for)?|find|look up)\s+(?!.*\b(?:free|slots?|availability|time for)\b)(?P<text>.+)$",
                "fallback",
            ),
            phrase(
                530,
                r"^(?:what|(?:tell|remind) me(?: what)?)(?: do| did)? (?:you |i )?"
                r"(?:know|have|remember|say|said|tell you|noted|note)"
                r"(?: down)? (?:about|on|regarding|of)\s+(?P<text>.+)$",
            ),
            phrase(
                540,
                r"^(?:tell me about|anything (?:about|on)|what about|who is|who's|what is|what's|what are|"
                r"when is|when's|where is|how much is|how much does|how does|do i have anything on)\s+(?P<text>.+)$",
                "fallback",
            ),
        ),
        name="recall",
        help='- *recall*: "what do you know about Acme?", "what is our hourly rate?"',
        help_order=30,
        menu="what I know: /recall Acme",
        menu_order=30,
        slack=True,
        example="/recall Acme",
        needs_text=True,
    ),
    Command(
        "forget",
        _forget,
        (phrase(270, r"^(?:/forget|forget(?: about)?(?: that)?|delete (?:the )?(?:memory|note))\s+(?P<text>.+)$"),),
        name="forget",
        help='- *forget*: "forget acme rate" (I\'ll show what matches first)',
        help_order=50,
        needs_text=True,
    ),
    Command(
        "confirm",
        _confirm,
        (phrase(265, r"^(?:/confirm|confirm)(?: memory)?\s+(?P<text>[0-9a-fA-F-]{6,36})$"),),
        name="confirm",
        help='- *confirm* what came from outside (a lead\'s e-mail…) once you know it is right: "confirm 1a2b3c4d"',
        help_order=55,
        needs_text=True,
    ),
    Command(
        "memories",
        _memories,
        (
            phrase(
                260,
                r"^(?:/memories|/memory|(?:list|show)(?: me)?(?: all)?(?: my)? (?:memories|notes)|"
                r"what have i told you)$",
            ),
        ),
        name="memories",
        help='- list *memories*: "show my memories"',
        help_order=60,
    ),
)

__all__ = ["COMMANDS", "RECALL_LIMIT", "UNCONFIRMED_HEADING", "format_hit"]
