"""How a message reads: a question, a statement of fact, a request, or a bare phrase.

The router asks this before it lets a loose phrasing ("find …", "what is …", finance words inside a
sentence) answer locally: "which invoices are overdue?" is a question the local tier answers, while
"Acme just told me they will pay invoice 42 late" is a fact to take in and "find two free hours next
week" a job to do, and both belong to the model when there is one.

The checks, in order (the first that applies decides):

1. it opens with a question word or an auxiliary ("what", "which", "is", "did", "any"…): a question;
2. it opens with an order: "show", "list", "tell me", "check"… ask to be told (a question); "find",
   "draft", "plan", "schedule"… ask for work (a request);
3. it reports what someone said or did ("told me", "said", "agreed", "promised", "just"): a statement;
4. it ends with a question mark: a question;
5. it speaks in the first person ("I sent…", "we agreed…"), about the future ("… will pay late"),
   says what someone did ("Acme paid invoice 42 late"), or has the shape "<subject> is <value>"
   ("Jane's new rate is 900"): a statement;
6. anything else ("overdue invoices", "Acme"): a phrase.
"""

from __future__ import annotations

import re
from typing import Literal

from agents.phrases import subject_of

Reading = Literal["question", "statement", "request", "phrase"]
READINGS: tuple[Reading, ...] = ("question", "statement", "request", "phrase")


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


_POLITE = _p(r"^(?:(?:hey|ok|okay|so|please|pls|plz|can you|could you|would you|will you|soloos)[,!]?\s+)+")
_TRAILING = _p(r"[\s?!.]+$")

_QUESTION_START = _p(
    r"^(?:what|what's|whats|which|who|who's|whom|whose|when|when's|where|where's|why|how|how's|"
    r"is|isn't|are|aren't|am|was|wasn't|were|do|don't|does|doesn't|did|didn't|have|haven't|has|hasn't|"
    r"had|can|could|will|would|should|shall|may|might|any|anything|anyone|anybody)\b"
)
_ASKS_TO_BE_TOLD = _p(
    r"^(?:show|list|tell|give|check|display|see|view|let me (?:see|know)|get me|pull up|look up|search|recall|"
    r"i(?:'d| would)? (?:like|want|need) to (?:know|see|check|find out|hear)|i wonder)\b"
)
_ASKS_FOR_WORK = _p(
    r"^(?:find|draft|write|compose|plan|prepare|organi[sz]e|schedule|reschedule|book|arrange|block|reserve|"
    r"send|e-?mail|mail|reply|respond|answer|follow up|chase|call|ring|phone|pay|make|create|"
    r"build|put together|set up|sort out|work out|figure out|research|summari[sz]e|compare|analy[sz]e|"
    r"calculate|estimate|propose|suggest|help|move|cancel|update|change|fix|translate|clear|free up|"
    r"i(?:'d| would)? (?:like|want|need)|we (?:need|want))\b"
)
_REPORTS = _p(
    r"\b(?:told (?:me|us)|tells? (?:me|us)|said|says|agreed|agrees|promised|promises|confirmed|confirms|"
    r"mentioned|announced|informed (?:me|us)|let (?:me|us) know|just)\b"
)
_STATES = _p(
    r"^(?:i|we|i'm|im|we're|i've|we've|i'll|we'll|i'd|we'd)\b"
    r"|\b(?:will|won't|wont|'ll|is going to|are going to|gonna)\b"
    # someone did something: "Acme paid invoice 42 late", "Globex hasn't signed yet"
    r"|^(?!.*\b(?:who|which|what)\b)\S+(?:\s+\S+){0,3}?\s+(?:already\s+|finally\s+|still\s+)?"
    r"(?:paid|pays|sent|sends|signed|moved|delayed|postponed|cancell?ed|accepted|declined|rejected|"
    r"wants|asked|called|emailed|replied|wrote|owes|hasn't|has not|haven't|have not|didn't|did not)\b"
)


def normalized(text: str) -> str:
    """The message without polite openings or closing punctuation: what phrasings are matched on."""
    return _TRAILING.sub("", _POLITE.sub("", text.strip()))


def reading(text: str) -> Reading:
    """Whether ``text`` asks, states, orders work, or only names something (see the module notes)."""
    asked = text.strip()
    plain = normalized(asked)
    if _QUESTION_START.match(plain) or _ASKS_TO_BE_TOLD.match(plain):
        return "question"
    if _ASKS_FOR_WORK.match(plain):
        return "request"
    if _REPORTS.search(plain):
        return "statement"
    if asked.endswith("?"):
        return "question"
    if _STATES.search(plain) or subject_of(plain):
        return "statement"
    return "phrase"


__all__ = ["READINGS", "Reading", "normalized", "reading"]
