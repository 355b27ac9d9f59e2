"""Reminder phrasings → fire times and rules, with a fixed clock; DST edges of the recurring rules."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.commands import route
from agents.reminders import ReminderError, describe_rule, next_fire, parse_reminder, trigger

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=BERLIN)  # a Wednesday afternoon


def local(plan_fire: datetime | None) -> str:
    assert plan_fire is not None
    return plan_fire.astimezone(BERLIN).strftime("%a %d %b %H:%M")


@pytest.mark.parametrize(
    ("text", "body", "when"),
    [
        ("remind me tomorrow at 9 to call Acme", "call Acme", "Thu 26 Nov 09:00"),
        ("remind me to call Acme tomorrow at 9", "call Acme", "Thu 26 Nov 09:00"),
        ("remind me in 2 hours to send the quote", "send the quote", "Wed 25 Nov 16:00"),
        ("remind me in 20 minutes: check the oven", "check the oven", "Wed 25 Nov 14:20"),
        ("remind me in an hour to stand up", "stand up", "Wed 25 Nov 15:00"),
        ("remind me in 2 days to follow up with Jane", "follow up with Jane", "Fri 27 Nov 14:00"),
        ("remind me at 5pm to call mum", "call mum", "Wed 25 Nov 17:00"),
        ("remind me at 1pm to call mum", "call mum", "Thu 26 Nov 13:00"),  # 1pm has passed today
        ("remind me on Friday at 10:00 to invoice Acme", "invoice Acme", "Fri 27 Nov 10:00"),
        ("remind me on 3 December to renew the domain", "renew the domain", "Thu 03 Dec 09:00"),
        ("remind me next Monday to chase the payment", "chase the payment", "Mon 30 Nov 09:00"),
        ("remind me 2026-12-01 09:30 to file taxes", "file taxes", "Tue 01 Dec 09:30"),
        ("remind me tonight to back up the laptop", "back up the laptop", "Wed 25 Nov 20:00"),
        ("remind me to pay rent on 1 December", "pay rent", "Tue 01 Dec 09:00"),
        ("/remind tomorrow at noon: lunch with Sam", "lunch with Sam", "Thu 26 Nov 12:00"),
        ("Remind me at 8.30pm to post the newsletter.", "post the newsletter", "Wed 25 Nov 20:30"),
    ],
)
def test_one_off_phrasings(text: str, body: str, when: str) -> None:
    plan = parse_reminder(text, now=NOW, timezone="Europe/Berlin")
    assert (plan.body, local(plan.fire_at), plan.crontab) == (body, when, None)
    assert plan.fire_at is not None and plan.fire_at.utcoffset() == timedelta(0)  # stored in UTC


@pytest.mark.parametrize(
    ("text", "body", "crontab", "described"),
    [
        ("every Monday at 8am review invoices", "review invoices", "0 8 * * mon", "every Monday at 08:00"),
        ("remind me every day at 9 to check email", "check email", "0 9 * * *", "every day at 09:00"),
        ("every weekday at 8:30 standup notes", "standup notes", "30 8 * * mon-fri", "every weekday at 08:30"),
        (
            "remind me every month on the 1st at 10 to send invoices",
            "send invoices",
            "0 10 1 * *",
            "every month on day 1 at 10:00",
        ),
        (
            "remind me every Tuesday and Thursday at 7pm to go running",
            "go running",
            "0 19 * * tue,thu",
            "every Tuesday and Thursday at 19:00",
        ),
        ("every hour drink water", "drink water", "0 * * * *", "every hour, on the hour"),
        ("every morning stretch", "stretch", "0 8 * * *", "every day at 08:00"),
    ],
)
def test_recurring_phrasings(text: str, body: str, crontab: str, described: str) -> None:
    plan = parse_reminder(text, now=NOW, timezone="Europe/Berlin")
    assert (plan.body, plan.crontab, plan.fire_at) == (body, crontab, None)
    assert describe_rule(crontab) == described


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("remind me yesterday to call Acme", "has already passed"),
        ("remind me at 25:00 to call Acme", "25:00 isn't a valid time of day"),
        ("remind me tomorrow at 9:75 to send the deck", "9:75 isn't a valid time"),
        ("remind me at 13pm to eat", "with am/pm the hour goes from 1 to 12"),
        ("remind me to call Acme", "couldn't tell when"),
        ("remind me tomorrow at 9", "What should I remind you of"),
        ("remind me", "What should I remind you of, and when?"),
        ("every Monday at 8", "What should I remind you of"),
        ("every 2 weeks water the plants", "not every 2 weeks"),
        ("remind me in 400 years to retire", "more than five years away"),
        ("remind me in 0 minutes to breathe", "not in the future"),
        ("remind me today to call the bank", "At what time today?"),
        ("every hour at 9 drink water", "leave out the time of day"),
    ],
)
def test_bad_phrasings_get_a_clear_answer(text: str, says: str) -> None:
    with pytest.raises(ReminderError, match=says):
        parse_reminder(text, now=NOW, timezone="Europe/Berlin")


def test_the_router_sends_reminders_to_the_reminder_parser_and_keeps_recall() -> None:
    assert route("remind me to call Bob tomorrow").kind == "remind"
    assert route("every Friday at 4pm write the weekly report").kind == "remind"
    assert route("every client pays within 30 days").kind == "needs_model"  # not a schedule
    assert route("remind me what you know about Acme").kind != "remind"
    assert route("/snooze 12 1h").args == {"id": "12"}
    assert route("cancel reminder 7").kind == "reminder_cancel"


def test_relative_offsets_are_exact_across_a_dst_change() -> None:
    before_change = datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)  # clocks go back at 03:00 that night
    plan = parse_reminder("remind me in 2 hours to check the backup", now=before_change, timezone="Europe/Berlin")
    assert plan.fire_at is not None and plan.fire_at - before_change == timedelta(hours=2)


def test_a_one_off_in_the_skipped_hour_moves_forward() -> None:
    eve = datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN)  # at 02:00 on the 29th clocks jump to 03:00
    plan = parse_reminder("remind me tomorrow at 2:30 to check the backup", now=eve, timezone="Europe/Berlin")
    assert local(plan.fire_at) == "Sun 29 Mar 03:30"


def fires(crontab: str, start: datetime, count: int) -> list[datetime]:
    out, moment = [], start
    for _ in range(count):
        moment = next_fire(crontab, "Europe/Berlin", moment)
        out.append(moment)
    return out


def test_a_daily_briefing_keeps_its_local_time_across_both_dst_changes() -> None:
    spring = fires("30 7 * * *", datetime(2026, 3, 27, 12, tzinfo=BERLIN), 3)
    assert [f.astimezone(UTC).strftime("%d %H:%M") for f in spring] == ["28 06:30", "29 05:30", "30 05:30"]
    autumn = fires("30 7 * * *", datetime(2026, 10, 23, 12, tzinfo=BERLIN), 3)
    assert [f.astimezone(UTC).strftime("%d %H:%M") for f in autumn] == ["24 05:30", "25 06:30", "26 06:30"]
    assert {f.astimezone(BERLIN).strftime("%H:%M") for f in spring + autumn} == {"07:30"}


def test_a_time_in_the_repeated_hour_fires_once_and_the_skipped_hour_moves_forward() -> None:
    autumn = fires("30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3)  # 02:30 happens twice on the 25th
    assert [f.astimezone(BERLIN).strftime("%d %H:%M %Z") for f in autumn] == [
        "25 02:30 CEST",
        "26 02:30 CET",
        "27 02:30 CET",
    ]
    spring = fires("30 2 * * *", datetime(2026, 3, 28, 12, tzinfo=BERLIN), 2)  # 02:30 does not exist on the 29th
    assert [f.astimezone(BERLIN).strftime("%d %H:%M") for f in spring] == ["29 03:30", "30 02:30"]


def test_the_trigger_survives_the_job_store_round_trip() -> None:
    rule = pickle.loads(pickle.dumps(trigger("30 8 * * mon,thu", "America/New_York")))
    first = rule.get_next_fire_time(None, datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert first.astimezone(ZoneInfo("America/New_York")).strftime("%a %H:%M") == "Thu 08:30"


@given(st.text(max_size=200))
def test_any_text_is_a_plan_or_a_clear_error(text: str) -> None:
    try:
        plan = parse_reminder(text, now=NOW, timezone="Europe/Berlin")
    except ReminderError as err:
        assert str(err)
        return
    assert plan.body
    assert (plan.fire_at is None) != (plan.crontab is None)
    if plan.fire_at is not None:
        assert plan.fire_at > NOW
