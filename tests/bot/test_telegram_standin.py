"""The local Bot API stand-in (tests/support/telegram_server.py) behaves like Telegram where the
crash harness and the delivery tests depend on it, seen through python-telegram-bot's real ``Bot``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from telegram import Bot
from telegram.error import BadRequest, Conflict, NetworkError, RetryAfter

from tests.support.telegram_server import BOT, FakeTelegram

USER = 111


def _bot(server: FakeTelegram) -> Bot:
    """A client of its own (its own connections), as a second process on the same token has."""
    return Bot(server.token, base_url=f"{server.url}/bot")


def _shown(message_id: int) -> dict[str, object]:
    return {"message_id": message_id, "date": 0, "chat": {"id": USER, "type": "private"}, "from": BOT, "text": "x"}


async def test_an_update_comes_back_until_a_higher_offset_is_asked(telegram: FakeTelegram) -> None:
    update_id = telegram.push_text("hello")
    async with _bot(telegram) as bot:
        first = await bot.get_updates(timeout=0)
        again = await bot.get_updates(timeout=0)
        assert [u.update_id for u in first] == [u.update_id for u in again] == [update_id]
        assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
        assert await bot.get_updates(timeout=0) == ()  # acknowledged: gone for good


async def test_a_second_poller_ends_the_first_with_409(telegram: FakeTelegram) -> None:
    telegram.conflicts = True
    async with _bot(telegram) as first, _bot(telegram) as second:
        older = asyncio.create_task(first.get_updates(timeout=1))
        await asyncio.sleep(0.2)
        newer = await second.get_updates(timeout=1)
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await older
    assert newer == ()
    assert telegram.conflicts_sent == 1
    assert [c["status"] for c in telegram.failures("getUpdates")] == [409]


async def test_two_pollers_share_quietly_unless_conflicts_are_on(telegram: FakeTelegram) -> None:
    async with _bot(telegram) as first, _bot(telegram) as second:
        older = asyncio.create_task(first.get_updates(timeout=1))
        await asyncio.sleep(0.2)
        await second.get_updates(timeout=1)
        assert await older == ()
    assert telegram.failures() == []


async def test_a_502_window_covers_every_method_and_ends(telegram: FakeTelegram) -> None:
    async with _bot(telegram) as bot:
        telegram.outage(None, 0.6)
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "during")
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.get_updates(timeout=0)
        await asyncio.sleep(0.7)
        sent = await bot.send_message(USER, "after")
    assert sent.text == "after"
    assert [c["method"] for c in telegram.sent] == ["failed:sendMessage", "failed:getUpdates", "sendMessage"]
    assert {c["status"] for c in telegram.failures()} == {502}


async def test_an_outage_of_chosen_methods_spares_the_others(telegram: FakeTelegram) -> None:
    async with _bot(telegram) as bot:
        telegram.outage({"sendMessage"}, 5.0, status=503)
        shown = await bot.edit_message_text("edited", chat_id=USER, message_id=7)
        with pytest.raises(NetworkError):
            await bot.send_message(USER, "refused")
    assert shown.text == "edited"  # type: ignore[union-attr]
    assert [c["status"] for c in telegram.failures("sendMessage")] == [503]


async def test_a_429_burst_carries_retry_after_then_passes(telegram: FakeTelegram) -> None:
    async with _bot(telegram) as bot:
        telegram.rate_limit_burst({"sendMessage"}, 2, retry_after=3)
        for _ in range(2):
            with pytest.raises(RetryAfter) as refused:
                await bot.send_message(USER, "too fast")
            wait = refused.value.retry_after  # an int or a timedelta, as PTB's settings have it
            assert (wait if isinstance(wait, timedelta) else timedelta(seconds=wait)) == timedelta(seconds=3)
        await bot.send_message(USER, "in time")
    assert [c["method"] for c in telegram.sent] == ["failed:sendMessage", "failed:sendMessage", "sendMessage"]
    assert [c["status"] for c in telegram.failures()] == [429, 429]


async def test_answering_a_late_press_is_400_too_old(telegram: FakeTelegram) -> None:
    telegram.callback_max_age = 15
    late = telegram.push_callback("/approve 1", message=_shown(5), age=20)
    fresh = telegram.push_callback("/approve 2", message=_shown(6))
    async with _bot(telegram) as bot:
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(f"cb{late}")
        assert await bot.answer_callback_query(f"cb{fresh}")
        with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
            await bot.answer_callback_query("cb-never-sent")
    assert [c["method"] for c in telegram.sent].count("answerCallbackQuery") == 1


async def test_editing_a_missing_message_is_400_and_a_new_message_still_goes(telegram: FakeTelegram) -> None:
    telegram.edit_missing = {5}
    async with _bot(telegram) as bot:
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("Approved", chat_id=USER, message_id=5)
        await bot.send_message(USER, "Approved", reply_parameters={"message_id": 5})  # type: ignore[arg-type]
    assert telegram.failures("editMessageText")[0]["message_id"] == 5
    assert telegram.calls("sendMessage")[0]["reply_parameters"]["message_id"] == 5


async def test_without_settings_it_answers_as_before(telegram: FakeTelegram) -> None:
    """Off by default: the tests written before these behaviours see the server they knew."""
    old = telegram.push_callback("/approve 1", message=_shown(5), age=60)
    async with _bot(telegram) as bot:
        assert await bot.answer_callback_query(f"cb{old}")
        assert await bot.answer_callback_query("cb-never-sent")
        await bot.edit_message_text("Approved", chat_id=USER, message_id=5)
        await bot.send_message(USER, "hello")
    assert telegram.failures() == []
    assert [c["method"] for c in telegram.sent] == [
        "answerCallbackQuery",
        "answerCallbackQuery",
        "editMessageText",
        "sendMessage",
    ]
