"""The local router: turns a chat message into a known intent without any model.

It recognises the everyday requests in natural phrasing ("remember that…", "what do you know
about…", "add a task…", "done 3", "forget…"), slash commands, and says when a message needs a
model. It is deterministic and cheap, so it also decides which tier a message needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal[
    "help",
    "greet",
    "remember",
    "rule",
    "recall",
    "task_add",
    "task_list",
    "task_done",
    "forget",
    "memories",
    "needs_model",
    "empty",
    "approvals",
    "approve",
    "deny",
    "details",
    "edit",
    "why",
    "undo",
    "usage",
    "mode",
    "brief",
    "remind",
    "reminders",
    "reminder_cancel",
    "reminder_snooze",
    "timezone",
    "chase",
    "status",
    "drafts",
    "draft_show",
    "draft_send",
    "draft_discard",
    "lead",
    "leads",
    "plans",
    "plan",
    "objective",
]


@dataclass(frozen=True)
class Routed:
    kind: Kind
    text: str = ""  # the payload (what to remember, the query, the task title…)
    args: dict[str, str] = field(default_factory=dict)


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


_POLITE = _p(r"^(?:(?:hey|ok|okay|so|please|pls|can you|could you|would you|soloos)[,!]?\s+)+")
_TRAILING = _p(r"[\s?!.]+$")

_TOKEN = r"(?:ap:)?(?P<token>[A-Za-z0-9_-]{6,40})"

# Order matters: the first match wins.
_RULES: list[tuple[Kind, re.Pattern[str]]] = [
    (
        "approvals",
        _p(
            r"^(?:/approvals|approvals|pending approvals|what needs my (?:approval|ok|decision)|"
            r"(?:show|list)(?: me)?(?: the)?(?: pending)? approvals)$"
        ),
    ),
    ("approve", _p(rf"^(?:/approve|approve|yes,? approve)\s+{_TOKEN}$")),
    ("deny", _p(rf"^(?:/deny|deny|reject|/reject)\s+{_TOKEN}$")),
    ("details", _p(rf"^(?:/details|details)\s+{_TOKEN}$")),
    ("edit", _p(rf"^(?:/edit|edit|change)\s+{_TOKEN}\s+(?P<field>[a-z_]+)\s*[:=]\s*(?P<text>.+)$")),
    ("why", _p(r"^(?:/why|why)(?:\s+(?:did you do\s+)?#?(?P<ref>[A-Za-z0-9_:-]{1,40}))?$")),
    ("undo", _p(r"^(?:/undo|undo(?: that| it| the last (?:action|change))?)$")),
    (
        "brief",
        _p(
            r"^(?:/brief|brief(?: me)?|briefing|(?:daily|morning) briefing|what's (?:on )?(?:for )?today)"
            r"(?:\s+(?P<when>.+))?$"
        ),
    ),
    (
        "reminders",
        _p(r"^(?:/reminders|reminders|(?:show|list)(?: me)?(?: all)?(?: my)? reminders|what are my reminders)$"),
    ),
    ("reminder_cancel", _p(r"^(?:/cancel_reminder|(?:cancel|stop|delete|remove) reminder)\s+#?(?P<id>\d{1,12})$")),
    (
        "reminder_snooze",
        _p(r"^(?:/snooze|snooze)(?: reminder)?\s+#?(?P<id>\d{1,12})(?:\s+(?:for\s+|until\s+)?(?P<text>.+))?$"),
    ),
    (
        "timezone",
        _p(
            r"^(?:/timezone|/tz|time ?zone|my time ?zone is|set (?:my )?time ?zone(?: to)?)"
            r"(?:\s+(?P<text>[\w/+ -]{1,60}))?$"
        ),
    ),
    (
        "usage",
        _p(
            r"^(?:/usage|usage|spend|how much (?:have i|did i|did you) spen[dt](?: on (?:ai|models?))?"
            r"(?: today| this month)?)$"
        ),
    ),
    ("mode", _p(r"^(?:/mode|mode)(?:\s+(?P<mode>[a-z]+))?$")),
    ("status", _p(r"^(?:/status|status|slos?|service levels?|how reliable (?:are you|is soloos))$")),
    ("chase", _p(r"^(?:/chase|chase(?: up)?|send (?:a )?payment reminders?(?: to| for| about)?)\s+(?P<text>.+)$")),
    (
        "plans",
        _p(r"^(?:/plans|plans|objectives|goals|(?:show|list)(?: me)?(?: my)? (?:plans|objectives|goals)|my plans)$"),
    ),
    ("plan", _p(r"^(?:/plan|plan)\s+#?(?P<id>\d{1,12})(?:\s+(?P<text>.+))?$")),
    (
        "objective",
        _p(
            r"^(?:/objective|/goal|/plan|objective:?|goal:|new (?:objective|goal):?|my (?:objective|goal) is(?: to)?|"
            r"(?:make|draw up|create|build) (?:me )?a plan (?:to|for))\s+(?P<text>.+)$"
        ),
    ),
    ("help", _p(r"^(?:/?help|/start|\?|what can you do|how does this work|commands)$")),
    ("greet", _p(r"^(?:hi|hello|hey|good (?:morning|afternoon|evening)|yo)$")),
    (
        "task_list",
        _p(
            r"^(?:/tasks|tasks|todos?|to-?do list|(?:show|list)(?: me)?(?: all)?(?: my| the)?"
            r" (?:open )?(?:tasks|todos?)|what(?:'s| is| are)?(?: on)? my (?:tasks|todos?|to-?do list|list)"
            r"|what do i (?:have|need) to do(?: today)?)$"
        ),
    ),
    (
        "task_done",
        _p(r"^(?:/done|done|finished|complete|completed|mark)\s+(?:task\s+)?#?(?P<id>\d+)(?:\s+(?:as\s+)?done)?$"),
    ),
    ("task_done", _p(r"^(?:i )?(?:finished|completed|did|done with)\s+(?:task\s+)?#?(?P<id>\d+)$")),
    (
        "task_add",
        _p(r"^(?:/task|/todo|todo:?|task:|add (?:a )?(?:task|todo)(?: to)?:?|new task:?)\s+(?P<text>.+)$"),
    ),
    (
        "memories",
        _p(r"^(?:/memories|(?:list|show)(?: me)?(?: all)?(?: my)? (?:memories|notes)|what have i told you)$"),
    ),
    (
        "forget",
        _p(r"^(?:/forget|forget(?: about)?(?: that)?|delete (?:the )?(?:memory|note))\s+(?P<text>.+)$"),
    ),
    ("rule", _p(r"^(?:/rule|rule:|new rule:?|policy:)\s*(?P<text>.+)$")),
    ("rule", _p(r"^(?P<text>(?:always|never|don't ever|do not ever)\s.+)$")),
    (
        "remember",
        _p(
            r"^(?:/remember(?: that)?|/note|remember(?: that)?|note(?: that)?:?|note down:?|keep in mind(?: that)?|"
            r"fyi:?|for the record:?|save(?: this)?:)\s+(?P<text>.+)$"
        ),
    ),
    ("recall", _p(r"^(?:/recall|/search|recall|search(?: for)?|find|look up)\s+(?P<text>.+)$")),
    (
        "recall",
        _p(
            r"^(?:what|tell me|remind me)(?: do| did)? (?:you |i )?(?:know|have|remember|say|said|tell you|noted|note)"
            r"(?: down)? (?:about|on|regarding|of)\s+(?P<text>.+)$"
        ),
    ),
    (
        "recall",
        _p(
            r"^(?:tell me about|anything (?:about|on)|what about|who is|who's|what is|what's|what are|"
            r"when is|when's|where is|how much is|how much does|how does|do i have anything on)\s+(?P<text>.+)$"
        ),
    ),
    (
        "remind",
        _p(
            r"^(?P<text>(?:/remind(?:@\w+)?|remind me|set (?:a )?reminder|reminder:)"
            r"(?!\s+(?:what|who|how)\b)(?:\s.*)?)$"
        ),
    ),
    (
        "remind",
        _p(
            r"^(?P<text>(?:every|each)\s+(?:day|morning|evening|night|weekday|working day|business day|weekend|hour|"
            r"month|other|second|\d+\w*|(?:mon|tues|wednes|thurs|fri|satur|sun)days?)\b.*)$"
        ),
    ),
    # Drafts and leads (issue #7). Revising needs a model: "/revise 12 warmer" goes to it as needs_model.
    ("drafts", _p(r"^(?:/drafts|drafts|(?:show|list)(?: me)?(?: all)?(?: my| the)? drafts)$")),
    ("draft_show", _p(r"^(?:/draft|draft|show draft)\s+#?(?P<id>\d{1,12})$")),
    ("draft_send", _p(r"^(?:/send_draft|send draft)\s+#?(?P<id>\d{1,12})(?:\s+to\s+(?P<to>\S+@\S+))?$")),
    ("draft_discard", _p(r"^(?:/discard|/discard_draft|discard(?: draft)?|delete draft)\s+#?(?P<id>\d{1,12})$")),
    ("needs_model", _p(r"^(?:/revise|revise(?: draft)?)\s+#?(?P<draft>\d{1,12})\b.*$")),
    ("lead", _p(r"^(?:/lead|new lead:?|lead:)\s+(?P<text>.+)$")),
    ("leads", _p(r"^(?:/leads|leads|(?:show|list)(?: me)?(?: all)?(?: my| the)?(?: new)? leads)$")),
]

_SUBJECT = _p(r"^(?P<subject>[\w'’ .&-]{2,60}?)\s+(?:is|are|was|were|=|will be|has become|changed to)\s+\S")
_SUBJECT_STOP = {"it", "this", "that", "there", "he", "she", "they", "we", "i", "you", "what", "who"}


def route(text: str) -> Routed:
    """Classify one message. Never raises; unknown requests become ``needs_model``."""
    stripped = text.strip()
    if not stripped:
        return Routed("empty")
    normalized = _TRAILING.sub("", _POLITE.sub("", stripped))
    # Slash commands from chat clients may carry a bot suffix: /recall@SoloOSBot acme
    normalized = re.sub(r"^(/\w+)@\w+", r"\1", normalized)
    for kind, pattern in _RULES:
        match = pattern.match(normalized)
        if match:
            groups = match.groupdict()
            payload = (groups.get("text") or "").strip()
            args = {k: v for k, v in groups.items() if k != "text" and v}
            if kind in ("remember", "rule", "task_add", "recall", "forget") and not payload:
                continue
            if kind in ("remember", "rule", "edit"):
                payload = _keep_sentence_end(stripped, payload)
            return Routed(kind, payload, args)
    bare_command = re.match(r"^/(\w+)", normalized)
    if bare_command:
        return Routed("help", args={"unknown_command": bare_command.group(1)})
    return Routed("needs_model", stripped)


def _keep_sentence_end(original: str, payload: str) -> str:
    """The trailing-punctuation strip is for matching; keep a remembered fact as written."""
    tail = original.rstrip()
    if tail.endswith((".", "!", "?")) and tail.endswith(payload + tail[-1]):
        return payload + tail[-1]
    return payload


def subject_of(fact: str) -> str | None:
    """The thing a fact is about, when it has the shape "<subject> is <value>".

    "Acme's day rate is 900 EUR" → "acme's day rate"; a later fact with the same subject
    supersedes the earlier one in recall.
    """
    match = _SUBJECT.match(fact.strip())
    if not match:
        return None
    subject = " ".join(match.group("subject").lower().replace("’", "'").split())
    if subject in _SUBJECT_STOP or len(subject.split()) > 6:
        return None
    return subject
