"""A conversational recall benchmark: long multi-session dialogues written in natural English.

Each dialogue (``bench/data/dialogue_<name>.json``) is a months-long chat between two people, split
into dated sessions of turns (ids ``"D1:S3:12"``: dialogue 1, session 3, turn 12), and questions
labelled with every turn that answers them. Categories follow the public benchmark of long
multi-session conversation it stands beside: ``single-hop`` (one turn answers), ``multi-hop`` (two
or more turns, often from different sessions), ``temporal`` (answerable only with the session
dates) and ``open-ended`` (an inference from several turns). Questions paraphrase their evidence;
other turns on similar topics are the distractors.

``load()`` reads them all; ``import_lines(d)`` gives the lines ``MemoryService.import_jsonl``
reads, one per turn, so a recall hit names its turn in ``metadata["turn"]``.

``python -m bench.dialogues`` prints a summary of each dialogue.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = [
    "CATEGORIES",
    "DATA",
    "Category",
    "DQuestion",
    "DTurn",
    "Dialogue",
    "Session",
    "import_lines",
    "load",
    "summary",
]

Category = Literal["single-hop", "multi-hop", "temporal", "open-ended"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
DATA = Path(__file__).parent / "data"

# The session dates are fixed days in 2025: the data is history, and nothing compares them with the clock.


@dataclass(frozen=True)
class DTurn:
    id: str  # "D1:S3:12"
    speaker: str
    text: str


@dataclass(frozen=True)
class Session:
    number: int
    date: datetime  # aware
    turns: list[DTurn]


@dataclass(frozen=True)
class DQuestion:
    id: str
    question: str
    category: Category
    evidence: tuple[str, ...]  # turn ids
    answer: str


@dataclass(frozen=True)
class Dialogue:
    name: str
    speakers: tuple[str, ...]
    sessions: list[Session]
    questions: list[DQuestion]

    def turns(self) -> list[DTurn]:
        """Every turn, in conversation order."""
        return [turn for session in self.sessions for turn in session.turns]


def _category(value: str) -> Category:
    for category in CATEGORIES:
        if value == category:
            return category
    raise ValueError(f"unknown question category {value!r}")


def _dialogue(raw: dict[str, Any]) -> Dialogue:
    sessions = []
    for s in raw["sessions"]:
        date = datetime.fromisoformat(s["date"])
        if date.tzinfo is None:
            raise ValueError(f"{raw['name']}: session {s['number']} has a date without a time zone")
        turns = [DTurn(id=t["id"], speaker=t["speaker"], text=t["text"]) for t in s["turns"]]
        sessions.append(Session(number=int(s["number"]), date=date, turns=turns))
    questions = [
        DQuestion(
            id=q["id"],
            question=q["question"],
            category=_category(q["category"]),
            evidence=tuple(q["evidence"]),
            answer=q["answer"],
        )
        for q in raw["questions"]
    ]
    return Dialogue(name=raw["name"], speakers=tuple(raw["speakers"]), sessions=sessions, questions=questions)


TUNED_ON = "freelance"  # the dialogue recall was tuned on; the others were written afterwards


def load(folder: Path = DATA) -> list[Dialogue]:
    """Every dialogue in ``folder``, ordered by file name."""
    return [_dialogue(json.loads(path.read_text(encoding="utf-8"))) for path in sorted(folder.glob("dialogue_*.json"))]


def import_lines(d: Dialogue) -> list[dict[str, Any]]:
    """One ``import_jsonl`` line per turn, in conversation order, dated by its session."""
    return [
        {
            "text": f"{turn.speaker}: {turn.text}",
            "occurred_at": session.date.isoformat(),
            "layer": "project",
            "metadata": {"turn": turn.id, "session": session.number, "speaker": turn.speaker},
        }
        for session in d.sessions
        for turn in session.turns
    ]


def summary(dialogues: list[Dialogue]) -> str:
    """A few lines per dialogue: sessions, turns, questions by category, date range."""
    lines = []
    for d in dialogues:
        counts = Counter(q.category for q in d.questions)
        by_category = ", ".join(f"{c} {counts[c]}" for c in CATEGORIES)
        first, last = d.sessions[0].date.date(), d.sessions[-1].date.date()
        lines.append(
            f"{d.name} ({' & '.join(d.speakers)}): {len(d.sessions)} sessions, {len(d.turns())} turns, "
            f"{len(d.questions)} questions ({by_category}), {first} to {last}"
        )
    total_turns = sum(len(d.turns()) for d in dialogues)
    total_questions = sum(len(d.questions) for d in dialogues)
    total_sessions = sum(len(d.sessions) for d in dialogues)
    lines.append(f"total: {total_sessions} sessions, {total_turns} turns, {total_questions} questions")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(load()))
