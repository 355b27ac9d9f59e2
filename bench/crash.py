"""Crash test: real serving processes ``kill -9``-ed at random moments with messages, side effects
and approvals in flight; counts lost messages, duplicate side effects and stuck approvals.

    .venv/bin/python -m bench.crash [--runs 50] [--seed 8]

The harness runs a local Telegram Bot API server (tests/support/telegram_server.py) and holds one
embedded PostgreSQL under a temporary SOLOOS_HOME. A child process (tests/support/telegram_proc.py:
``soloos run`` serving Telegram with a scripted model) long-polls it. Each run pushes a mix of
updates — plain messages, "send …" messages (the coordinator calls ``send_email``, which waits for
approval) and Approve presses on the buttons of earlier replies — over a random 0.05–2 s, then
``kill -9``s the child, pushes one more message while it is down, starts a new child and lets it
work off the backlog. The new child is the next run's victim. Like Telegram, the server redelivers
every update until a getUpdates call acknowledges it with a higher offset.

Checked at the end, against the server's record and the database:
- lost: a pushed update that never got an answer (sendMessage for a message, editMessageText for
  a button press), with where it was lost (never handled, handled but killed mid-turn, or answered
  in the database but never sent);
- duplicate side effects: more than one outbox row for one "send" message, more than one execution
  of one approval, more than one approval for one message;
- stuck approvals: approved but never executed, or still pending although the press was answered.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from aiohttp import web

from memory._postgres import embedded_target, release_embedded, start_embedded
from tests.support.processes import env_for
from tests.support.telegram_server import BOT, FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
USER = 111
TOKEN = re.compile(r"k\d{4}z")


class RecordingTelegram(FakeTelegram):
    """The local Bot API server, also noting the message id it gave each sendMessage, so that a
    button press can carry the message that showed the buttons (as Telegram's does)."""

    async def _handle(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        if request.match_info["method"] == "sendMessage" and response.status == 200 and response.text:
            # nothing awaited since super() recorded the call, so it is still the last one
            self.sent[-1]["message_id"] = json.loads(response.text)["result"]["message_id"]
        return response


@dataclass
class Pushed:
    update_id: int
    kind: str  # "plain", "send" or "approve"
    ref: str  # the message's token, or the approval id a press decides
    run: int
    message_id: int | None = None  # a press: the message with the buttons, edited to show the outcome


class Harness:
    def __init__(self, home: Path, server: RecordingTelegram, seed: int) -> None:
        self.home = home
        self.server = server
        self.rng = random.Random(seed)
        self.pushed: list[Pushed] = []
        self.pressed: set[str] = set()
        self.child: asyncio.subprocess.Process | None = None
        self.starts: list[float] = []
        self.kills = 0
        self._tokens = 0
        self.env = env_for(
            home,
            SOLOOS_TELEGRAM_TOKEN=server.token,
            SOLOOS_TELEGRAM_API_URL=server.url,
            SOLOOS_TELEGRAM_ALLOWED_USERS=str(USER),
        )

    # -- the child ---------------------------------------------------------------------------

    async def start_child(self) -> None:
        began = time.perf_counter()
        with (self.home / "children.log").open("ab") as log:
            self.child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.telegram_proc",
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=ROOT,
            )
        assert self.child.stdout is not None
        line = await asyncio.wait_for(self.child.stdout.readline(), timeout=180)
        if line.strip() != b"ready":
            raise RuntimeError(f"the child did not start (see {self.home / 'children.log'})")
        self.starts.append(time.perf_counter() - began)

    async def kill_child(self) -> None:
        assert self.child is not None
        self.child.kill()  # SIGKILL: no cleanup of any kind
        await self.child.wait()
        self.kills += 1

    async def stop_child(self) -> None:
        if self.child is not None and self.child.returncode is None:
            self.child.terminate()
            await asyncio.wait_for(self.child.wait(), timeout=60)

    # -- what the operator does ----------------------------------------------------------------

    def _token(self) -> str:
        self._tokens += 1
        return f"k{self._tokens:04d}z"

    def push_plain(self, run: int) -> None:
        token = self._token()
        update = self.server.push_text(f"how is project {token}", user_id=USER)
        self.pushed.append(Pushed(update, "plain", token, run))

    def push_send(self, run: int) -> None:
        token = self._token()
        update = self.server.push_text(f"send {token} a short note", user_id=USER)
        self.pushed.append(Pushed(update, "send", token, run))

    def buttons(self) -> list[tuple[str, dict[str, Any]]]:
        """Approve buttons shown so far and not pressed yet: (callback data, the message)."""
        found = []
        for call in self.server.calls("sendMessage"):
            rows = (call.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in (b for row in rows for b in row):
                data = str(button.get("callback_data", ""))
                if data.startswith("/approve ") and data.split()[1] not in self.pressed:
                    message = {
                        "message_id": call["message_id"],
                        "date": int(time.time()),
                        "chat": {"id": USER, "type": "private"},
                        "from": BOT,
                        "text": call["text"],
                    }
                    found.append((data, message))
        return found

    def press(self, data: str, message: dict[str, Any], run: int) -> None:
        approval = data.split()[1]
        self.pressed.add(approval)
        update = self.server.push_callback(data, message=message, user_id=USER)
        self.pushed.append(Pushed(update, "approve", approval, run, message["message_id"]))

    # -- what came back ------------------------------------------------------------------------

    def answers(self) -> collections.Counter[tuple[str, str]]:
        """How many answers each pushed update got, by (kind of answer, reference)."""
        count: collections.Counter[tuple[str, str]] = collections.Counter()
        for call in self.server.calls("sendMessage"):
            token = TOKEN.search(str(call.get("text", "")))
            if token:
                count["text", token.group()] += 1
        for call in self.server.calls("editMessageText"):
            count["edit", str(call["message_id"])] += 1
        return count

    def answered(self, pushed: Pushed, answers: collections.Counter[tuple[str, str]]) -> int:
        if pushed.kind == "approve":
            return answers["edit", str(pushed.message_id)]
        return answers["text", pushed.ref]

    async def drain(self, idle: float, cap: float = 90.0) -> None:
        """Wait for the backlog to be worked off: the newest update answered (the chat is handled in
        order, so what was redelivered before it is done too; a restarted child is slow on its first
        turn while the embedder loads), then every update answered or ``idle`` s without a new answer."""
        deadline = time.monotonic() + cap
        newest = self.pushed[-1]
        while self.answered(newest, self.answers()) == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            answers = self.answers()
            if all(self.answered(p, answers) for p in self.pushed):
                return
            total = sum(answers.values())
            if total != last:
                last, quiet_since = total, time.monotonic()
            elif time.monotonic() - quiet_since > idle:
                return
            await asyncio.sleep(0.05)

    # -- one run -------------------------------------------------------------------------------

    async def run(self, number: int, idle: float) -> float:
        delay = self.rng.uniform(0.05, 2.0)
        plan: list[tuple[float, str, Any]] = [(0.0, "plain", None), (self.rng.uniform(0, delay), "send", None)]
        plan += [(self.rng.uniform(0, delay), "plain", None), (self.rng.uniform(0, delay), "send", None)]
        plan += [(self.rng.uniform(0, delay / 2), "approve", b) for b in self.buttons()]
        began = time.monotonic()
        for offset, kind, button in sorted(plan, key=lambda step: step[0]):
            await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
            if kind == "plain":
                self.push_plain(number)
            elif kind == "send":
                self.push_send(number)
            else:
                data, message = button
                self.press(data, message, run=number)
        await asyncio.sleep(max(0.0, began + delay - time.monotonic()))
        await self.kill_child()
        self.push_plain(number)  # sent while the bot is down: waits at Telegram
        await self.start_child()
        await self.drain(idle)
        return delay


def check(conninfo: str, harness: Harness) -> dict[str, Any]:
    """The figures, from the server's record and the database."""
    answers = harness.answers()
    bot_id = harness.server.token.split(":", 1)[0]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        handled = {
            str(k): r
            for k, r in conn.execute(
                "SELECT idempotency_key, reply FROM handled_intents WHERE idempotency_key LIKE 'telegram:%'"
            ).fetchall()
        }
        approvals = conn.execute("SELECT id, intent_key, status, args->>'to' FROM approvals").fetchall()
        outbox = conn.execute(
            "SELECT recipient, count(*) FROM outbox GROUP BY recipient HAVING count(*) > 1"
        ).fetchall()
        executions = conn.execute(
            """SELECT approval_id, count(*) FROM audit_events WHERE name = 'action.executed'
               AND approval_id IS NOT NULL GROUP BY approval_id HAVING count(*) > 1"""
        ).fetchall()
        effects = conn.execute("SELECT count(*) FROM side_effects").fetchone()
        queued = conn.execute("SELECT count(*) FROM outbox").fetchone()

    lost: list[str] = []
    extra_replies: list[str] = []
    for p in harness.pushed:
        got = harness.answered(p, answers)
        if got > 1:
            extra_replies.append(f"{p.kind} {p.ref} (run {p.run}) answered {got} times")
        if got:
            continue
        reply = handled.get(f"telegram:{bot_id}:{p.update_id}", "absent")
        if reply == "absent":
            where = "never handled: acknowledged to Telegram, then killed before the dispatcher claimed it"
        elif reply is None:
            where = "claimed, killed mid-turn; every redelivery is answered as a duplicate and dropped"
        else:
            where = "handled and stored, killed before sending; the redelivery is a duplicate and not sent"
        lost.append(f"{p.kind} {p.ref} (run {p.run}, update {p.update_id}): {where}")

    per_intent = collections.Counter(intent for _, intent, _, _ in approvals)
    duplicates = [f"outbox: {n} rows to {to}" for to, n in outbox]
    duplicates += [f"approval {a} executed {n} times" for a, n in executions]
    duplicates += [f"{n} approvals for intent {k}" for k, n in per_intent.items() if n > 1]

    status = {a: s for a, _, s, _ in approvals}
    answered_presses = {p.ref for p in harness.pushed if p.kind == "approve" and harness.answered(p, answers)}
    stuck = [f"approval {a}: approved, never executed" for a, s in status.items() if s == "approved"]
    stuck += [f"approval {a}: press answered, still pending" for a in answered_presses if status.get(a) == "pending"]
    pressed = {p.ref for p in harness.pushed if p.kind == "approve"}
    unheard = [a for a in pressed - answered_presses if status.get(a) == "pending"]  # counted as lost presses
    return {
        "lost": lost,
        "duplicates": duplicates,
        "stuck": stuck,
        "extra_replies": extra_replies,
        "statuses": collections.Counter(status.values()),
        "unheard": unheard,
        "side_effects": effects[0] if effects else 0,
        "outbox": queued[0] if queued else 0,
    }


async def main(runs: int, seed: int, idle: float, keep: bool) -> None:
    home = Path(tempfile.mkdtemp(prefix="soloos-crash-"))
    server = RecordingTelegram()
    await server.start()
    postgres = await asyncio.to_thread(start_embedded, home)  # the harness's handle keeps it up between children
    harness = Harness(home, server, seed)
    began = time.perf_counter()
    delays: list[float] = []
    try:
        conninfo = (await asyncio.to_thread(embedded_target, postgres)).conninfo
        await harness.start_child()
        harness.push_plain(0)  # warm-up: a long-serving process has loaded everything before it is killed
        await harness.drain(idle)
        for number in range(1, runs + 1):
            delays.append(await harness.run(number, idle))
            if number % 10 == 0 or number == runs:
                answers = harness.answers()
                waiting = sum(1 for p in harness.pushed if harness.answered(p, answers) == 0)
                print(f"  run {number}: {len(harness.pushed)} updates pushed, {waiting} unanswered so far", flush=True)
        for data, message in harness.buttons():  # the last runs' approvals: pressed once the dust settles
            harness.press(data, message, run=runs + 1)
        await harness.drain(idle)
        await harness.stop_child()
        found = await asyncio.to_thread(check, conninfo, harness)
    finally:
        await harness.stop_child()
        await asyncio.to_thread(release_embedded, postgres)
        await server.stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    elapsed = time.perf_counter() - began

    kinds = collections.Counter(p.kind for p in harness.pushed)
    replies = len(server.calls("sendMessage")) + len(server.calls("editMessageText"))
    print(
        f"runs: {runs} (kill -9 after {min(delays):.2f}–{max(delays):.2f} s), updates pushed: {len(harness.pushed)} "
        f"({kinds['plain']} plain, {kinds['send']} send, {kinds['approve']} approve presses), replies: {replies}"
    )
    print(
        f"lost: {len(found['lost'])}  duplicate side effects: {len(found['duplicates'])}  "
        f"stuck approvals: {len(found['stuck'])}  (targets 0/0/0); updates answered more than once: "
        f"{len(found['extra_replies'])}"
    )
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(found["statuses"].items()))
    print(
        f"approvals: {statuses} ({len(found['unheard'])} of the pending were pressed, but the press was lost); "
        f"side effects: {found['side_effects']}, outbox rows: {found['outbox']}"
    )
    print(
        f"duration: {elapsed:.0f} s, child start-up mean {sum(harness.starts) / len(harness.starts):.1f} s, "
        f"{os.cpu_count()} cores"
    )
    for label in ("lost", "duplicates", "stuck", "extra_replies"):
        for line in found[label][:20]:
            print(f"  {label}: {line}")
        if len(found[label]) > 20:
            print(f"  {label}: … and {len(found[label]) - 20} more")
    if keep:
        print(f"home kept at {home}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--idle", type=float, default=1.5, help="seconds without a new answer before a run ends")
    parser.add_argument("--keep", action="store_true", help="keep the temporary SOLOOS_HOME for inspection")
    args = parser.parse_args()
    print(
        f"conditions: {os.cpu_count()} cores, embedded PostgreSQL shared with the children, local embedder, "
        "scripted model, long polling against a local Bot API server, one operator chat"
    )
    asyncio.run(main(args.runs, args.seed, args.idle, args.keep))
