"""The command registry: help, Telegram's menu and Slack's subcommands are generated from one list,
and they agree with the router and with each other."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents.commands import Command, command, commands, help_lines, route, slack_subcommands, telegram_menu
from agents.commands.help import help_text
from agents.reply import Reply

# What the hand-kept lists said before the registry (issue 13): the generated ones must say it still.
HELP_BEFORE = """I'm SoloOS, your business assistant. Without a language model I can already:
- *remember* facts: "remember that Acme pays net 30", "note: Jane prefers calls"
- keep *rules*: "always CC my accountant on invoices"
- *recall*: "what do you know about Acme?", "what is our hourly rate?"
- *tasks*: "add task send invoice to Acme by Friday", "tasks", "done 3"
- *forget*: "forget acme rate" (I'll show what matches first)
- *confirm* what came from outside (a lead's e-mail…) once you know it is right: "confirm 1a2b3c4d"
- list *memories*: "show my memories"
- *approvals*: /approvals, approve <code>, deny <code>, edit <code> body: …, /why, /undo
- *spend and modes*: /usage, /mode exploratory|deterministic|creative; /status (service levels)
- *reminders*: "remind me tomorrow at 9 to call Acme", "every Monday at 8am review invoices", /reminders
- *briefing*: /brief now, /brief at 07:30 every day, /brief off; /timezone Europe/Paris
- *plans*: /plans, /plan 3, /plan 3 approve, /plan 3 move 7 to friday, /plan 3 assign 7 to me
  (stating an objective — "/objective Land 3 retainer clients by March" — needs a model)
- *money*: "which invoices are overdue?", "who paid this week?" (after `soloos bank import`),
  "chase INV-42" or "chase overdue invoices" (drafts payment reminders for your approval)
- *drafts*: /drafts, /draft <number> (versions and inputs), send draft <number>, discard draft <number>
- *leads*: "new lead: Jane Doe <jane@example.com> wants a website redesign", /leads (response times)
Drafting, research and planning need a model; `soloos doctor` shows how to set one up."""

TELEGRAM_MENU_BEFORE = [
    ("help", "what I can do"),
    ("remember", "remember a fact: /remember Acme pays net 30"),
    ("recall", "what I know: /recall Acme"),
    ("tasks", "open tasks"),
    ("brief", "today's briefing; /brief at 07:30 sends it daily"),
    ("reminders", "your reminders"),
    ("timezone", "your time zone: /timezone Europe/Paris"),
    ("plans", "your plans and their progress; /plan 3 shows one"),
    ("drafts", "your drafts and their versions"),
    ("leads", "new leads and how fast they got a reply"),
    ("approvals", "actions waiting for your approval"),
    ("usage", "model spend today and this month"),
    ("why", "why an action was taken: /why <number or code>"),
    ("undo", "undo the last action"),
    ("mode", "exploratory, deterministic or creative"),
]
SLACK_BEFORE = {
    "tasks", "approvals", "usage", "undo", "why", "mode", "recall", "remember", "help",
    "brief", "reminders", "remind", "snooze", "timezone", "approve", "deny", "details", "edit",
}  # fmt: skip


def _listed() -> list[Command]:
    return [c for c in commands() if c.menu or c.slack]


def test_the_generated_help_says_what_the_hand_written_one_said() -> None:
    assert help_text() == HELP_BEFORE


def test_the_generated_lists_keep_every_entry_they_had() -> None:
    assert telegram_menu() == TELEGRAM_MENU_BEFORE
    assert slack_subcommands() == SLACK_BEFORE


@pytest.mark.parametrize("listed", _listed(), ids=lambda c: c.name)
def test_every_menu_and_subcommand_entry_routes_to_its_command(listed: Command) -> None:
    typed = listed.typed
    assert typed.split()[0] == f"/{listed.name}"  # the entry is typed as its name
    assert route(typed).command is listed
    if listed.slack:  # "/soloos <name> …" arrives as "<name> …" and becomes "/<name> …"
        assert route("/" + typed.removeprefix("/")).command is listed


def test_nothing_is_listed_that_does_not_route() -> None:
    names = {name for name, _ in telegram_menu()} | slack_subcommands()
    for name in names:
        owners = [c for c in _listed() if c.name == name]
        assert len(owners) == 1, name  # one command per listed name
        assert route(owners[0].typed).kind == owners[0].kind
        assert not route(owners[0].typed).args.get("unknown_command")


def test_help_names_every_command_marked_for_help() -> None:
    text = help_text()
    marked = [c for c in commands() if c.help]
    assert marked and all(c.help in text for c in marked)
    assert help_lines() == [line for line in help_lines() if line in text]
    # every help line belongs to a command that routes
    for c in marked:
        assert any(rule.pattern for rule in c.rules), c.kind


def test_each_phrasing_has_its_own_place_in_the_order() -> None:
    orders = [rule.order for c in commands() for rule in c.rules]
    assert len(orders) == len(set(orders))


def test_an_unknown_command_gets_help_and_an_empty_message_says_so() -> None:
    assert route("/frobnicate").kind == "help" and route("/frobnicate").args == {"unknown_command": "frobnicate"}
    assert route("   ").command is command("empty")
    assert route("draw me a horse").command is command("needs_model")
    assert route("/revise 12 warmer").kind == "needs_model" and route("/revise 12 warmer").command is not command(
        "needs_model"
    )


def test_details_is_shown_as_a_new_message_and_decisions_replace_the_buttons() -> None:
    assert command("details").on_press == "post"
    assert command("approve").on_press == command("deny").on_press == "replace"
    reply = Reply("x", on_press="post")
    assert Reply.from_json(reply.to_json()) == reply


def test_slack_does_not_load_python_telegram_bot() -> None:
    code = "import sys, bot.slack; sys.exit(1 if any(m.split('.')[0] == 'telegram' for m in sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_new_command_is_one_new_module(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The recipe: a module in the package with COMMANDS; router, help, menu and Slack pick it up."""
    import agents.commands
    from agents.commands._registry import registry

    (tmp_path / "zz_weather.py").write_text(
        "from agents.commands import Command, phrase\n"
        "from agents.reply import Reply\n\n\n"
        "async def _weather(routed, ctx):\n"
        "    return Reply('sunny')\n\n\n"
        "COMMANDS = (\n"
        "    Command('weather', _weather, (phrase(425, r'^(?:/weather|weather)$'),), name='weather',\n"
        "            help='- *weather*: /weather', help_order=150, menu='the weather', menu_order=160, slack=True),\n"
        ")\n"
    )
    monkeypatch.setattr(agents.commands, "__path__", [*agents.commands.__path__, str(tmp_path)])
    registry.cache_clear()
    try:
        assert route("weather").kind == "weather" and route("/weather").kind == "weather"
        assert "- *weather*: /weather" in help_text()
        assert ("weather", "the weather") in telegram_menu() and "weather" in slack_subcommands()
        assert route("leads").kind == "leads"  # the others keep their place
    finally:
        monkeypatch.undo()
        registry.cache_clear()
        sys.modules.pop("agents.commands.zz_weather", None)
    assert route("weather").kind == "needs_model"
