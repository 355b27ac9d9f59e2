"""The conversational benchmark's data holds together: ids, dates, evidence, categories, paraphrase."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from itertools import pairwise

import pytest

from bench.dialogues import CATEGORIES, Dialogue, import_lines, load, summary

DIALOGUES = load()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _shingles(text: str, n: int = 6) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _by_name() -> list[tuple[str, Dialogue]]:
    return [(d.name, d) for d in DIALOGUES]


@pytest.fixture(params=[d for _, d in _by_name()], ids=[name for name, _ in _by_name()])
def dialogue(request: pytest.FixtureRequest) -> Dialogue:
    d: Dialogue = request.param
    return d


def test_the_dialogues_load() -> None:
    assert DIALOGUES
    assert len({d.name for d in DIALOGUES}) == len(DIALOGUES)


def test_turn_ids_are_unique_and_name_their_session(dialogue: Dialogue) -> None:
    ids = [t.id for t in dialogue.turns()]
    assert len(ids) == len(set(ids))
    prefixes = {i.split(":")[0] for i in ids}
    assert len(prefixes) == 1, prefixes
    (prefix,) = prefixes
    for session in dialogue.sessions:
        for position, turn in enumerate(session.turns, 1):
            assert turn.id == f"{prefix}:S{session.number}:{position}"


def test_turn_ids_do_not_clash_across_dialogues() -> None:
    ids = [t.id for d in DIALOGUES for t in d.turns()]
    assert len(ids) == len(set(ids))


def test_every_speaker_is_one_of_the_dialogues_speakers(dialogue: Dialogue) -> None:
    assert len(dialogue.speakers) == 2
    assert {t.speaker for t in dialogue.turns()} == set(dialogue.speakers)
    assert all(t.text.strip() for t in dialogue.turns())


def test_sessions_are_dated_in_order_and_sized_like_conversations(dialogue: Dialogue) -> None:
    assert [s.number for s in dialogue.sessions] == list(range(1, len(dialogue.sessions) + 1))
    dates = [s.date for s in dialogue.sessions]
    assert all(isinstance(d, datetime) and d.utcoffset() is not None for d in dates)
    assert all(later > earlier for earlier, later in pairwise(dates))
    for session in dialogue.sessions:
        assert 15 <= len(session.turns) <= 35, (session.number, len(session.turns))
    assert (dates[-1] - dates[0]).days >= 90  # several months


def test_every_question_has_evidence_that_exists(dialogue: Dialogue) -> None:
    turn_ids = {t.id for t in dialogue.turns()}
    question_ids = [q.id for q in dialogue.questions]
    assert len(question_ids) == len(set(question_ids))
    for q in dialogue.questions:
        assert q.evidence, q.id
        assert len(set(q.evidence)) == len(q.evidence), q.id
        assert set(q.evidence) <= turn_ids, (q.id, set(q.evidence) - turn_ids)
        assert q.question.strip() and q.answer.strip(), q.id
        assert q.category in CATEGORIES


def test_multi_hop_questions_need_more_than_one_turn(dialogue: Dialogue) -> None:
    for q in dialogue.questions:
        if q.category == "multi-hop":
            assert len(q.evidence) >= 2, q.id


def test_the_set_is_big_enough_and_spread_over_the_categories() -> None:
    sessions = sum(len(d.sessions) for d in DIALOGUES)
    turns = sum(len(d.turns()) for d in DIALOGUES)
    questions = [q for d in DIALOGUES for q in d.questions]
    assert len(DIALOGUES) >= 3
    assert sessions >= 15
    assert turns >= 360
    assert len(questions) >= 160
    share = {c: n / len(questions) for c, n in Counter(q.category for q in questions).items()}
    assert share.get("single-hop", 0) >= 0.35, share
    assert share.get("multi-hop", 0) >= 0.15, share
    assert share.get("temporal", 0) >= 0.15, share
    assert share.get("open-ended", 0) >= 0.10, share


def test_single_hop_questions_paraphrase_their_evidence(dialogue: Dialogue) -> None:
    turns = {t.id: t.text for t in dialogue.turns()}
    single = [q for q in dialogue.questions if q.category == "single-hop"]
    copied = [q.id for q in single if any(_shingles(q.question) & _shingles(turns[e]) for e in q.evidence)]
    assert len(copied) < 0.3 * len(single), copied


def test_import_lines_are_one_per_turn_with_speaker_and_metadata(dialogue: Dialogue) -> None:
    lines = import_lines(dialogue)
    turns = dialogue.turns()
    assert len(lines) == len(turns)
    dated = {t.id: s for s in dialogue.sessions for t in s.turns}
    for line, turn in zip(lines, turns, strict=True):
        assert line["text"] == f"{turn.speaker}: {turn.text}"
        assert line["layer"] == "project"
        assert datetime.fromisoformat(line["occurred_at"]) == dated[turn.id].date
        assert line["metadata"] == {"turn": turn.id, "session": dated[turn.id].number, "speaker": turn.speaker}


def test_the_summary_names_every_dialogue() -> None:
    text = summary(DIALOGUES)
    for d in DIALOGUES:
        assert d.name in text
