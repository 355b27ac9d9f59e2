"""Crash harness: real serving processes (``soloos run`` with a scripted model) under named faults,
each printing its own line of figures: lost replies, lost effects, duplicate effects, presses left
pending, stuck claims, and what else the fault shows (409s, replies out of order, late reminders).

    .venv/bin/python -m bench.crash [--fault NAME]... [--seed 8] [--quick] [--keep] [--runs 20]

Every fault runs in a world of its own (bench/crash_world.py): a temporary SOLOOS_HOME with its own
embedded PostgreSQL, a local Bot API stand-in with Telegram's behaviour where it matters
(tests/support/telegram_server.py: an update comes back until a later getUpdates asks for a higher
offset; a second poller ends the first with 409; answering a press older than 15 s is 400 "query is
too old"), and children (tests/support/telegram_proc.py) serving it. Three operators push mixed work:
"remember that …", "add task …", "send <token> a short note" (the coordinator calls send_email, which
waits for approval behind Approve buttons), questions for the model, and Approve presses.

The faults:
- kill: ``kill -9`` of the child every 5–15 s across 60 steps of work (and a message from each
  operator just before each kill), a new child started at once;
- api-5xx: 20 s of 502 on every Bot API method under load, then 10 s of 502 on sendMessage and
  editMessageText only;
- api-429: bursts of 429 (retry_after 2 s) on sendMessage and editMessageText every 4 s under load;
- late-press: three Approve buttons pressed while the bot is down, 20 s before it is back (Telegram
  refuses to answer a press older than 15 s); the edit of one pressed message fails with "message
  to edit not found", so its outcome must come as a new message;
- db-restart: the embedded Postgres restarted under load — ``pg_ctl restart -m fast``, ``-m
  immediate``, and ``kill -9`` of the postmaster (brought back by the child's supervisor if it has
  one, else by the harness) — with a reminder "in 15 seconds" set right after each; how late each fires;
- replicas: two children on the same token and home;
- kill-fast (only when named): the harness's first form — ``--runs`` short runs, each a burst of
  work over 0.05–2 s, then ``kill -9``, a message while the bot is down, and a new child;
- slack: Slack (HTTP mode, signed requests; what cannot be delivered is retried as Slack does)
  alongside Telegram, with ``kill -9`` every 8–15 s.

Counted at the end, from the stand-ins' records and the database:
- lost: a pushed update with no answer — a message: a sendMessage naming its token; a press: an
  edit of the pressed message, or a new message replying to it (``reply_parameters``);
- lost effects: approvals approved but never executed;
- duplicate effects: more than one e-mail queued to one recipient (each "send" names its own), one
  approval executed twice, two approvals for one message;
- presses left pending: pressed approvals still pending;
- stuck claims: handled_intents rows with no reply, channel_inbox rows not done, and channel_outbox
  rows not sent (when that table exists).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from bench.crash_world import USERS, Figures, World

Fault = Callable[[World, "Knobs"], Awaitable[list[str]]]


class Knobs:
    """How much of each fault: the full harness (about 10 minutes on 2 cores) or ``--quick``."""

    def __init__(self, quick: bool, idle: float, runs: int = 20) -> None:
        self.quick = quick
        self.idle = idle
        self.runs = runs
        self.cap = 90.0 if quick else 150.0

    def pick(self, full: float, quick: float) -> float:
        return quick if self.quick else full


async def _warm(world: World, knobs: Knobs) -> None:
    """A long-serving process has loaded everything (the embedder) before a fault hits it."""
    world.push("remember", USERS[0])
    await world.drain(knobs.idle, knobs.cap)


async def _killing(world: World, work: asyncio.Task[None], every: tuple[float, float]) -> None:
    """``kill -9`` the child at random moments until the work is pushed, a new one started at once;
    at least once (a short run may push everything before the first moment comes). Just before
    each kill every operator sends a message, so several turns, in several chats, are cut off."""
    while True:
        await asyncio.wait({work}, timeout=world.rng.uniform(*every))
        if work.done() and world.kills > 0:
            return
        for user in USERS:
            world.push(world.rng.choice(("remember", "task", "send", "plain")), user)
        await asyncio.sleep(world.rng.uniform(0.05, 0.8))
        await world.kill_child(world.children[0])
        await world.start_child()


async def kill(world: World, knobs: Knobs) -> list[str]:
    await world.start_child()
    await _warm(world, knobs)
    steps = int(knobs.pick(60, 15))
    work = asyncio.create_task(world.load(steps, seconds=steps * 1.0))
    await _killing(world, work, (5.0, 15.0))
    await world.drain(knobs.idle, knobs.cap)
    for button in world.buttons():  # the last approvals, pressed once the dust settles
        world.press(*button)
    await world.drain(knobs.idle, knobs.cap)
    mean = sum(world.starts) / len(world.starts)
    return [
        f"{world.kills} kills, {steps} steps from {len(USERS)} users and {len(USERS)} messages before each kill, "
        f"child start-up mean {mean:.1f} s"
    ]


async def kill_fast(world: World, knobs: Knobs) -> list[str]:
    """The harness's first form (not in the default set): many short runs, each a burst of work
    over 0.05–2 s, then ``kill -9``, a message while the bot is down, and a new child."""
    await world.start_child()
    await _warm(world, knobs)
    runs = int(knobs.pick(knobs.runs, 4))
    for _ in range(runs):
        burst = world.rng.uniform(0.05, 2.0)
        await world.load(4, seconds=burst)
        await world.kill_child(world.children[0])
        world.push("plain", world.rng.choice(USERS))  # waits at Telegram while the bot is down
        await world.start_child()
        await world.drain(knobs.idle / 4, knobs.cap)
    for button in world.buttons():
        world.press(*button)
    await world.drain(knobs.idle, knobs.cap)
    return [f"{runs} runs, each killed 0.05–2 s into a burst of work"]


async def api_5xx(world: World, knobs: Knobs) -> list[str]:
    await world.start_child()
    await _warm(world, knobs)
    every, sends = knobs.pick(20, 6), knobs.pick(10, 3)
    seconds = every + sends + 10
    work = asyncio.create_task(world.load(int(seconds), seconds=seconds))
    await asyncio.sleep(3)
    world.telegram.outage(None, every)
    await asyncio.sleep(every + 2)
    world.telegram.outage({"sendMessage", "editMessageText"}, sends)
    await work
    await world.drain(knobs.idle, knobs.cap)
    return [f"502 on every method for {every:.0f} s, then on sendMessage/editMessageText for {sends:.0f} s"]


async def api_429(world: World, knobs: Knobs) -> list[str]:
    await world.start_child()
    await _warm(world, knobs)
    seconds = knobs.pick(30, 8)
    work = asyncio.create_task(world.load(int(seconds), seconds=seconds))
    bursts = 0
    while not work.done():
        world.telegram.rate_limit_burst({"sendMessage", "editMessageText"}, 3, retry_after=2)
        bursts += 1
        await asyncio.wait({work}, timeout=4)
    await world.drain(knobs.idle, knobs.cap)
    return [f"{bursts} bursts of 3 × 429 (retry_after 2 s)"]


async def late_press(world: World, knobs: Knobs) -> list[str]:
    child = await world.start_child()
    await _warm(world, knobs)
    for user in USERS:
        world.push("send", user)
    await world.drain(knobs.idle, knobs.cap)
    shown = world.buttons()
    await world.stop_child(child)
    if shown:
        world.telegram.edit_missing = {shown[0][1]["message_id"]}
    pressed = time.monotonic()
    for button in shown:
        world.press(*button)
    await asyncio.sleep(knobs.pick(20, 16))  # either way older than 15 s when the bot is back
    await world.start_child()
    back = time.monotonic() - pressed
    await world.drain(knobs.idle, knobs.cap)
    too_old = len(world.telegram.failures("answerCallbackQuery", 400))
    return [
        f"{len(shown)} presses made while the bot was down, {back:.0f} s before it was back; "
        f"{too_old} answers to them refused 'query is too old'; the edit of one pressed message fails"
    ]


async def _restart(world: World, how: str) -> str:
    if how == "kill -9 postmaster":
        return f"brought back by {await world.kill_postmaster(wait_for_supervisor=5.0)}"
    await world.pg_ctl("-m", how.split()[-1], "restart")
    return "pg_ctl"


async def db_restart(world: World, knobs: Knobs) -> list[str]:
    await world.start_child()
    await _warm(world, knobs)
    gap = knobs.pick(10, 4)
    seconds = 3 * gap + 5
    work = asyncio.create_task(world.load(int(seconds), seconds=seconds))
    baseline = world.push("remind", USERS[0], seconds=int(knobs.pick(5, 3))).ref  # due before the first restart
    set_after = [("nothing (the baseline: due before the first restart)", baseline)]
    notes = []
    for number, how in enumerate(("restart -m fast", "restart -m immediate", "kill -9 postmaster")):
        await asyncio.sleep(gap)
        began = time.monotonic()
        who = await _restart(world, how)
        notes.append(f"{how}: back in {time.monotonic() - began:.1f} s ({who})")
        await asyncio.sleep(1)
        set_after.append((how, world.push("remind", USERS[number], seconds=int(knobs.pick(15, 8))).ref))
    await work
    await world.drain(knobs.idle, knobs.cap)
    grace = knobs.pick(40, 15)  # past the last one's due time; waited for together
    fired_at = await asyncio.gather(*(world.reminder_fired(token, wait=grace + 15) for _, token in set_after))
    for (how, token), fired in zip(set_after, fired_at, strict=True):
        due = await asyncio.to_thread(world.due, token)
        if due is None:
            late = "never set"
        elif fired is None:
            late = f"not fired {time.time() - due:.0f} s after it was due"
        else:
            late = f"{fired - due:+.1f} s"
        notes.append(f"reminder set after {how}: {late}")
        world.late.append(late)
    world.late[0] = f"({world.late[0]})"  # the baseline in brackets
    return notes


async def replicas(world: World, knobs: Knobs) -> list[str]:
    await world.start_child()
    await world.start_child()
    await _warm(world, knobs)
    steps = int(knobs.pick(30, 8))
    await world.load(steps, seconds=steps * 1.0)
    await world.drain(knobs.idle, knobs.cap)
    return [f"two children on one token and home, {steps} steps"]


async def slack(world: World, knobs: Knobs) -> list[str]:
    await world.start_child()
    await _warm(world, knobs)
    steps = int(knobs.pick(40, 10))
    work = asyncio.create_task(world.load(steps, seconds=steps * 1.0, slack_share=0.5))
    await _killing(world, work, (8.0, 15.0))
    await world.drain(knobs.idle, knobs.cap)
    slack_steps = sum(1 for p in world.pushed if p.channel == "slack")
    return [f"{world.kills} kills, {slack_steps} of {len(world.pushed)} steps on Slack"]


FAULTS: dict[str, Fault] = {
    "kill": kill,
    "kill-fast": kill_fast,
    "api-5xx": api_5xx,
    "api-429": api_429,
    "late-press": late_press,
    "db-restart": db_restart,
    "replicas": replicas,
    "slack": slack,
}
OPT_IN = {"kill-fast"}  # not in the default set


def line(name: str, f: Figures) -> str:
    late = ", ".join(f.late) or "-"
    return (
        f"{name}: lost {len(f.lost)}, lost effects {len(f.unexecuted)}, duplicate effects {len(f.duplicates)}, "
        f"presses left pending {len(f.pending)}, stuck claims {len(f.stuck)}, answered twice {f.twice}, "
        f"'still working' {f.still_working}, "
        f"out of order {f.out_of_order}, 409s {f.conflicts}, refused calls {f.failed_calls}, late reminder {late}"
    )


async def run_fault(name: str, seed: int, knobs: Knobs, keep: bool) -> Figures:
    world = World(name, seed, slack=name == "slack")
    began = time.perf_counter()
    try:
        await world.open()
        notes = await FAULTS[name](world, knobs)
        for child in list(world.children):
            await world.stop_child(child)
        figures = await asyncio.to_thread(world.check)
    finally:
        await world.close(keep)
    figures.notes = [*notes, f"{time.perf_counter() - began:.0f} s"]
    print(line(name, figures), flush=True)
    print(f"  ({'; '.join(figures.notes)}; {figures.pushed} updates pushed)")
    for label in ("lost", "unexecuted", "duplicates", "pending", "stuck"):
        items: list[str] = getattr(figures, label)
        for item in items[:8]:
            print(f"  {label}: {item}")
        if len(items) > 8:
            print(f"  {label}: … and {len(items) - 8} more")
    if keep:
        print(f"  home kept at {world.home}")
    return figures


async def main(names: list[str], seed: int, knobs: Knobs, keep: bool) -> None:
    results: dict[str, Figures] = {}
    began = time.perf_counter()
    for name in names:
        results[name] = await run_fault(name, seed, knobs, keep)
    print(f"\nsummary (seed {seed}{', quick' if knobs.quick else ''}, {time.perf_counter() - began:.0f} s):")
    header = ("fault", "pushed", "lost", "lost eff.", "dup eff.", "pending", "stuck", "twice", "working", "order")
    header += ("409s",)
    print("  " + " | ".join(f"{h:>10}" for h in header) + " | late reminder")
    for name, f in results.items():
        row = (name, f.pushed, len(f.lost), len(f.unexecuted), len(f.duplicates), len(f.pending), len(f.stuck))
        row += (f.twice, f.still_working, f.out_of_order, f.conflicts)
        print("  " + " | ".join(f"{v:>10}" for v in row) + f" | {', '.join(f.late) or '-'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fault", action="append", choices=sorted(FAULTS), help="repeatable; default: all but kill-fast"
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="every fault, shorter: a smoke run")
    parser.add_argument("--idle", type=float, help="seconds without activity before a drain ends (8; quick: 4)")
    parser.add_argument("--runs", type=int, default=20, help="kill-fast: how many kills")
    parser.add_argument("--keep", action="store_true", help="keep each fault's SOLOOS_HOME for inspection")
    args = parser.parse_args()
    chosen = args.fault or [name for name in FAULTS if name not in OPT_IN]
    print(
        f"conditions: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; per fault a fresh home with "
        f"its own embedded PostgreSQL, local embedder, scripted model, a local Bot API stand-in (offsets, 409 "
        f"for a second poller, 'too old' after 15 s), {len(USERS)} Telegram users; faults: {', '.join(chosen)}"
    )
    knobs = Knobs(args.quick, args.idle or (4.0 if args.quick else 8.0), args.runs)
    asyncio.run(main(chosen, args.seed, knobs, args.keep))
