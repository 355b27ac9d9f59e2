"""How SoloOS is doing: service levels (``/status``) and model spend (``/usage``)."""

from __future__ import annotations

from agents import status
from agents.commands._base import Command, LocalContext, Routed, phrase
from agents.reply import Reply


async def _status(routed: Routed, ctx: LocalContext) -> Reply:
    found = await status.assemble(ctx.memory, workspace=ctx.workspace, budget=ctx.budget, targets=ctx.slo)
    return Reply(found.text, image_png=found.chart_png)


async def _usage(routed: Routed, ctx: LocalContext) -> Reply:
    summary = await ctx.memory.agent_store.spend_summary(ctx.workspace)
    lines = [f"Model spend: ${summary.today:.4f} today, ${summary.month:.4f} this month."]
    if summary.lines:
        lines.append("This month by agent and tier:")
        lines += [
            f"- {line.agent} ({line.tier}): {line.requests} requests, {line.cached} from cache, ${line.cost:.4f}"
            for line in summary.lines
        ]
    else:
        lines.append("No model requests this month; the local tier costs nothing.")
    return Reply("\n".join(lines))


COMMANDS = (
    Command(
        "usage",
        _usage,
        (
            phrase(
                130,
                r"^(?:/usage|usage|spend|how much (?:have i|did i|did you) spen[dt](?: on (?:ai|models?))?"
                r"(?: today| this month)?)$",
            ),
        ),
        name="usage",
        help="- *spend and modes*: /usage, /mode exploratory|deterministic|creative; /status (service levels)",
        help_order=80,
        menu="model spend today and this month",
        menu_order=120,
        slack=True,
    ),
    Command(
        "status",
        _status,
        (phrase(150, r"^(?:/status|status|slos?|service levels?|how reliable (?:are you|is soloos))$"),),
        name="status",
    ),
)

__all__ = ["COMMANDS"]
