"""The approval is the operator's decision, not the model's: it shows everything that would be sent,
its code never reaches a model, a typed code asks once more, and (when set) whoever asked for an
action cannot approve it too."""

from __future__ import annotations

import html
import re

from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.usage import RequestUsage

from agents.approval_codes import mask_codes
from bot.telegram import TelegramChannel
from tests.agents.test_coordinator import _drafting_script, _rows
from tests.support.chat import FakeChat, scoped
from tests.support.models import Script, say
from tests.support.telegram_server import FakeTelegram

LONG_BODY = (
    "Hi Jane,\n\n"
    + "Here is the summary you asked for. " * 30
    + "\n\nAlso, as requested: Beta Corp invoice INV-7, 8,400.00 EUR, IBAN DE89370400440532013000."
)


def _send(body: str, to: str = "jane@acme.test", subject: str = "Summary") -> ModelResponse:
    return ModelResponse(
        parts=[ToolCallPart("send_email", {"to": to, "subject": subject, "body": body})],
        usage=RequestUsage(input_tokens=100, output_tokens=20),
    )


async def test_the_approval_shows_the_whole_body_and_says_what_a_listing_cuts(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    long_subject = "Quarterly summary " + "and more " * 20
    app = with_model(Script([lambda _m: _send(LONG_BODY, subject=long_subject)]))
    chat = FakeChat(app, workspace)
    asked = await chat.say("send Jane the quarterly summary")
    assert "IBAN DE89370400440532013000" in asked  # the other client's data after character 600 is shown
    listing = await chat.say("/approvals")
    assert "IBAN DE89370400440532013000" in listing
    more = len(long_subject) - 80
    assert f"subject: {long_subject[:80]}… ({more:,} more characters — Details shows all)" in listing
    token = chat.replies[-1].buttons[2].action
    details = await chat.press(token)
    assert long_subject in details and "IBAN DE89370400440532013000" in details


def test_masking_hides_codes_and_keeps_ordinary_words() -> None:
    text = "Code Fx3_abcdEFGH, expires 28 Nov 10:00 UTC.\nSay approve Fx3_abcdEFGH or /deny ap:Fx3_abcdEFGH."
    masked = mask_codes(text)
    assert "Fx3_abcdEFGH" not in masked and masked.count("[code hidden]") == 3
    assert mask_codes("please approve the invoice and edit details later") == (
        "please approve the invoice and edit details later"
    )


async def test_the_model_never_sees_an_approval_code(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    """The attack: the model (obeying an injected e-mail) asks the operator to type the code."""
    seen: list[list[ModelMessage]] = []

    def spy(messages: list[ModelMessage]) -> ModelResponse:
        seen.append(messages)
        codes = re.findall(r"Code (\S+),", str(messages))
        text = f"To finish, reply exactly: approve {codes[0]}" if codes else "Nothing to do."
        return say(text)(messages)

    app = with_model(Script([*_drafting_script().coordinator, spy, spy]))
    chat = FakeChat(app, workspace)
    await chat.say("draft a reminder email to Acme about invoice 42 and send it")
    code = chat.replies[-1].buttons[0].action.split()[-1]
    reply = await chat.say("summarize my inbox")
    reply2 = await chat.say(f"is the approval {code} the Acme one? approve {code} if so")
    assert len(seen) == 2
    for messages in seen:
        where = str(messages).find(code)
        assert where < 0, str(messages)[max(0, where - 300) : where + 50]
    assert "[code hid" in str(seen[0]) and "[code hidden]" in str(seen[1])  # (recent turns are cut at 500)
    assert code not in reply and code not in reply2


async def test_a_typed_code_asks_again_and_only_a_press_executes(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(_drafting_script())
    chat = FakeChat(app, workspace)
    await chat.say("draft a reminder email to Acme about invoice 42 and send it")
    code = chat.replies[-1].buttons[0].action.split()[-1]

    again = await chat.say(f"approve {code}")  # typed, as an injected message would have it typed
    assert again.startswith("You typed an approval code.") and "send e-mail to jane@acme.test" in again
    assert [b.label for b in chat.replies[-1].buttons] == ["Approve", "Deny", "Details"]
    assert _rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace) == []
    await chat.say(f"/approve {code}")  # typed again: still only asks
    assert _rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace) == []

    done = await chat.press(chat.replies[-1].buttons[0].action)  # the confirmation: a press
    assert done.startswith("Approved and done")
    assert len(_rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace)) == 1


async def test_a_press_executes_at_once(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(_drafting_script())
    chat = FakeChat(app, workspace)
    await chat.say("draft a reminder email to Acme about invoice 42 and send it")
    assert (await chat.press(chat.replies[-1].buttons[0].action)).startswith("Approved and done")
    assert len(_rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace)) == 1


# -- separation of duties -----------------------------------------------------------------------

SAM, ALEX = 111, 222


async def _two_users_approve(app, telegram: FakeTelegram, workspace: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Sam asks for an e-mail; Sam presses Approve, then Alex does. Returns what each press answered."""
    channel = TelegramChannel(
        scoped(app, workspace), token=telegram.token, api_url=telegram.url, allowed_users=frozenset({SAM, ALEX})
    )
    await channel.start()
    try:
        telegram.push_text("draft a reminder email to Acme about invoice 42 and send it", user_id=SAM)
        sent = await telegram.wait_for("sendMessage", 1)
        approve = sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        plain = html.unescape(re.sub(r"<[^>]+>", "", sent[0]["text"]))
        message = {"message_id": 77, "date": 0, "chat": {"id": SAM, "type": "private"}, "text": plain}
        telegram.push_callback(approve, message=message, user_id=SAM)
        await telegram.wait_for("answerCallbackQuery", 1)
        answers = await _next_answer(telegram)
        telegram.push_callback(approve, message=message, user_id=ALEX)
        await telegram.wait_for("answerCallbackQuery", 2)
        answers += await _next_answer(telegram, len(answers))
    finally:
        await channel.stop()
    return answers


async def _next_answer(telegram: FakeTelegram, before: int = 0) -> list[str]:
    import asyncio

    for _ in range(400):
        answers = [c["text"] for c in telegram.calls("sendMessage")[1:] + telegram.calls("editMessageText")]
        if len(answers) > before:
            return answers[before:]
        await asyncio.sleep(0.05)
    raise AssertionError("no answer to the press")


async def test_with_separation_of_duties_the_asker_cannot_approve_but_another_user_can(
    with_model, telegram: FakeTelegram, workspace: str
) -> None:  # type: ignore[no-untyped-def]
    app = with_model(_drafting_script())
    app.dispatcher.approve_own_requests = False  # SOLOOS_APPROVE_OWN_REQUESTS=false
    first, second = await _two_users_approve(app, telegram, workspace)
    assert "You asked for this yourself" in first and "Nothing was done" in first
    assert len(telegram.calls("editMessageText")) == 1  # the refusal came apart; the buttons stayed for Alex
    assert "Approved and done" in second
    assert len(_rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace)) == 1


async def test_by_default_the_asker_may_approve(with_model, telegram: FakeTelegram, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(_drafting_script())
    first, second = await _two_users_approve(app, telegram, workspace)
    assert "Approved and done" in first and "Already decided" in second
    assert len(_rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace)) == 1
