"""Objectives and plans with scripted models: planning, approval, dependency order, checkpoints,
escalation, replanning diffs, progress — on the real database, through the chat dispatcher."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart

from agents import Budget, ModelTiers, Prices
from agents.briefing import assemble
from agents.executor import PlanExecutor
from agents.planner import split_deadline
from tests.support.chat import FakeChat
from tests.support.plan_models import USAGE, PlanScript, fail, has_tool_result, objective, retainer_plan, task

TZ = "Europe/Berlin"


@pytest.fixture(autouse=True)
def _no_stray_notices(app, workspace: str):  # type: ignore[no-untyped-def]
    """Plan reports are notices to the test conversation; once a test has read them, they must not
    fire into a later test that leads the scheduler for that channel."""
    yield
    with app.memory.db.connection() as conn:
        conn.execute(
            "UPDATE schedules SET status = 'cancelled' WHERE workspace LIKE %s AND kind = 'notice'", (workspace + "%",)
        )


def _today() -> date:
    return datetime.now(UTC).date()


def _day(n: int) -> str:
    return (_today() + timedelta(days=n)).isoformat()


def _retainer_script(**behaviours) -> PlanScript:  # type: ignore[no-untyped-def]
    return retainer_plan(**{word: steps if isinstance(steps, list) else [steps] for word, steps in behaviours.items()})


def _executor(app, script: PlanScript, *, batch: int = 4) -> PlanExecutor:  # type: ignore[no-untyped-def]
    return PlanExecutor(
        app.memory,
        app.gate,
        script.tiers(),
        Budget(Decimal(5), Decimal(50)),
        Prices(Decimal(0), Decimal(0)),
        app.settings.context_token_budget,
        retry_base=timedelta(0),
        batch=batch,
    )


def _rows(app, sql: str, *args):  # type: ignore[no-untyped-def]
    with app.memory.db.connection() as conn:
        return conn.execute(sql, args).fetchall()


async def _approved_plan(app, workspace: str, script: PlanScript) -> tuple[FakeChat, int]:  # type: ignore[no-untyped-def]
    chat = FakeChat(app, workspace)
    reply = await chat.say(f"/objective {objective()}")
    assert "Plan #" in reply, reply
    plan_id = int(reply.split("Plan #", 1)[1].split(":", 1)[0])
    assert "approved" in await chat.say(f"/plan {plan_id} approve")
    return chat, plan_id


async def test_an_objective_becomes_a_draft_plan_that_waits_for_approval(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research="A list of 20 agencies.")
    app = with_model(script)
    chat = FakeChat(app, workspace)

    reply = await chat.say(f"/objective {objective()}")

    assert "Land 3 new retainer clients" in reply and "Build the prospect list" in reply and "Outreach" in reply
    assert "Success measure: 3 signed retainers" in reply
    (plan,) = await app.memory.plans.all(workspace)
    assert [(b.label, b.action) for b in chat.replies[-1].buttons] == [
        ("Approve plan", f"/plan {plan.objective.id} approve"),
        ("Cancel", f"/plan {plan.objective.id} cancel"),
    ]
    assert plan.objective.status == "draft"
    deadline = split_deadline(objective(), today=_today())[1]
    assert plan.objective.deadline == deadline and deadline is not None and deadline.day >= 28  # the month's end
    by_key = {t.key: t for t in plan.tasks}
    assert by_key["rank"].depends_on == (by_key["prospects"].id,)
    assert by_key["pitch"].depends_on == (by_key["rank"].id,)  # across projects
    assert by_key["calls"].owner == "operator" and by_key["pitch"].mode == "creative"
    assert script.calls["strategist"] == 1 and script.calls["tactician"] == 2

    # nothing runs before the operator approves
    assert await _executor(app, script).run_until_idle(workspace, timezone=TZ, report=False) == 0
    assert script.calls["Research"] == 0


async def test_invalid_tactics_are_sent_back_to_the_model_before_anything_is_saved(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    looped = {"tasks": [task("a", "Do A", "research", after=("b",)), task("b", "Do B", "research", after=("a",))]}
    unknown = {"tasks": [task("a", "Do A", "research", after=("nowhere",))]}
    good = {"tasks": [task("a", "Do A", "research", due=_day(3)), task("b", "Do B", "operator", after=("a",))]}
    script = PlanScript(
        strategy={"success_measure": "done", "projects": [{"title": "Only project"}]}, tactics=[looped, unknown, good]
    )
    app = with_model(script)

    reply = await FakeChat(app, workspace).say("/objective get the Q1 books ready for the accountant")

    assert script.calls["tactician"] == 3, reply
    (plan,) = await app.memory.plans.all(workspace)
    assert [t.key for t in plan.tasks] == ["a", "b"]
    assert plan.objective.deadline is None


async def test_agent_tasks_run_in_dependency_order_report_and_operator_steps_close_the_plan(
    with_model, workspace: str
) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(
        Research=["Agencies: Northwind, Globex, Initech."],
        Rank=["1. Globex 2. Initech 3. Northwind"],
        Draft=["Subject: Retainer\n\nHi, …"],
    )
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    executor = _executor(app, script)

    assert await executor.run_until_idle(workspace, timezone=TZ) == 3

    # each ran once, in order, with its upstream result as input
    assert (script.calls["Research"], script.calls["Rank"], script.calls["Draft"]) == (1, 1, 1)
    assert "Northwind, Globex" in script.prompts["Rank"][0]
    assert "1. Globex" in script.prompts["Draft"][0]
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    assert [t.status for t in plan.tasks] == ["done", "done", "done", "pending"]
    notices = [
        r[0] for r in _rows(app, "SELECT body FROM schedules WHERE workspace = %s AND kind = 'notice'", workspace)
    ]
    assert any("✓ Research 20 agencies" in n and "Northwind" in n for n in notices)

    # the operator's step is in their list; finishing it finishes the step and the objective
    tasks = await chat.say("tasks")
    assert "Call the top five prospects (plan #" in tasks
    operator_task = next(t for t in plan.tasks if t.owner == "operator").task_id
    await chat.say(f"done {operator_task}")
    await executor.tick(workspace, timezone=TZ)
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    assert plan.objective.status == "done"
    shown = await chat.say(f"/plan {plan_id}")
    assert "Status: done." in shown and "Progress: 4/4 done" in shown
    assert "No open plans" in await chat.say("/plans")


def _search_then_answer(messages: list[ModelMessage]) -> ModelResponse:
    """Calls search_memory first; answers once the tool's result is in the history."""
    if has_tool_result(messages, "search_memory"):
        return ModelResponse(parts=[TextPart("Ranked from memory.")], usage=USAGE)
    return ModelResponse(parts=[ToolCallPart("search_memory", {"query": "retainer clients"})], usage=USAGE)


async def test_a_failed_task_retries_from_its_checkpoint_without_rerunning_upstream(
    with_model, workspace: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    failed: list[str] = []

    def search_then_fail_once(messages: list[ModelMessage]) -> ModelResponse:
        if not has_tool_result(messages, "search_memory"):
            return ModelResponse(parts=[ToolCallPart("search_memory", {"query": "retainer pricing"})], usage=USAGE)
        if not failed:
            failed.append("once")
            raise fail("connection reset")
        return ModelResponse(parts=[TextPart("1. Globex")], usage=USAGE)

    script = _retainer_script(
        Research=["Agencies: Northwind, Globex."], Rank=[search_then_fail_once], Draft=["Subject: Hi\n\nBody"]
    )
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    searches: list[str] = []
    real_recall = app.memory.recall

    async def counting_recall(query: str, **kwargs):  # type: ignore[no-untyped-def]
        if query == "retainer pricing":  # the tool's search, not the context assembly
            searches.append(query)
        return await real_recall(query, **kwargs)

    monkeypatch.setattr(app.memory, "recall", counting_recall)

    await _executor(app, script).run_until_idle(workspace, timezone=TZ)

    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    rank = next(t for t in plan.tasks if t.key == "rank")
    assert rank.status == "done" and rank.attempts == 2 and rank.result == "1. Globex"
    assert script.calls["Research"] == 1  # upstream ran once, whatever happened downstream
    assert searches == ["retainer pricing"]  # the retry resumed after the tool call instead of searching again
    notices = " ".join(r[0] for r in _rows(app, "SELECT body FROM schedules WHERE workspace = %s", workspace))
    assert "failed, attempt 1 of 3" in notices and "retry from where it stopped" in notices


async def test_a_task_out_of_retries_escalates_to_the_operator_with_the_error(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research=["Agencies."], Rank=[fail("rate limited by provider")])
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)

    await _executor(app, script).run_until_idle(workspace, timezone=TZ)

    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    rank = next(t for t in plan.tasks if t.key == "rank")
    assert rank.status == "escalated" and rank.attempts == 3 and "rate limited" in (rank.error or "")
    assert script.calls["Rank"] == 3
    assert script.calls["Draft"] == 0  # what depends on it waits
    todo = _rows(app, "SELECT title, status FROM tasks WHERE id = %s", rank.task_id)
    assert todo == [(f"Rank the prospects by fit (plan #{plan_id}; the finance agent could not do it)", "open")]
    history = await chat.say(f"/plan {plan_id} changes")
    assert (
        "handed “Rank the prospects by fit” to you because it failed 3 times: "
        "the model failed: rate limited by provider" in history
    )
    notices = " ".join(r[0] for r in _rows(app, "SELECT body FROM schedules WHERE workspace = %s", workspace))
    assert f"It is now your task #{rank.task_id}" in notices

    # the operator does it themselves: the plan goes on
    await chat.say(f"done {rank.task_id}")
    script.behaviours["Draft"] = ["Subject: Hi\n\nBody"]
    await _executor(app, script).run_until_idle(workspace, timezone=TZ)
    assert script.calls["Draft"] == 1


async def test_retry_gives_an_escalated_task_back_to_its_agent(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research=[fail(), fail(), fail(), "Agencies after all."])
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    executor = _executor(app, script)
    await executor.run_until_idle(workspace, timezone=TZ)
    research = (await app.memory.plans.get(plan_id, workspace=workspace)).tasks[0]
    assert research.status == "escalated"

    reply = await chat.say(f"/plan {plan_id} retry {research.id}")
    assert "fresh retry budget" in reply
    await executor.run_until_idle(workspace, timezone=TZ)

    research = (await app.memory.plans.get(plan_id, workspace=workspace)).tasks[0]
    assert research.status == "done" and research.result == "Agencies after all."
    assert research.task_id is None  # the operator's to-do for it was withdrawn
    assert _rows(app, "SELECT status FROM tasks WHERE workspace = %s AND title LIKE 'Research%%'", workspace) == [
        ("cancelled",)
    ]


async def test_a_slipped_step_moves_with_its_dependents_and_the_diff_says_why(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script()
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    prospects = plan.tasks[0]
    # the research step was due three days ago
    with app.memory.db.connection() as conn:
        conn.execute("UPDATE plan_tasks SET due_on = %s WHERE id = %s", (_today() - timedelta(days=3), prospects.id))
    no_model = ModelTiers(None, None)  # only the bookkeeping runs
    executor = PlanExecutor(
        app.memory, app.gate, no_model, Budget(Decimal(1), Decimal(1)), Prices(Decimal(0), Decimal(0)), 500
    )

    diffs = await executor.replan_slips(workspace, _today())

    moved = await app.memory.plans.get(plan_id, workspace=workspace)
    by_key = {t.key: t for t in moved.tasks}
    assert by_key["prospects"].due_on == _today() + timedelta(days=2)
    assert by_key["rank"].due_on is not None and by_key["rank"].due_on > by_key["prospects"].due_on
    assert by_key["pitch"].due_on is not None and by_key["pitch"].due_on >= by_key["rank"].due_on
    text = diffs[plan_id]
    assert "moved “Research 20 agencies that fit”" in text and "is not done" in text
    assert "because it comes after “Research 20 agencies that fit”, which moved" in text
    # the operator's mirrored task moved too
    (due_at,) = _rows(app, "SELECT due_at FROM tasks WHERE id = %s", by_key["calls"].task_id)[0]
    assert due_at.date() == by_key["calls"].due_on
    # a second pass the same day changes nothing
    assert await executor.replan_slips(workspace, _today()) == {}


async def test_changing_the_objective_replans_and_shows_the_diff(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research=["Agencies."])
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    await _executor(app, script, batch=1).tick(workspace, timezone=TZ)  # one step: the research
    # the tactician's answer to the re-plan: keep rank (later), drop the pitch, add a webinar
    script.tactics.append(
        {
            "tasks": [
                {
                    **task("rank", "Rank the prospects by fit", "finance", after=("prospects",), due=_day(20)),
                    "instructions": "Rank for five clients now, not three.",
                },
                task("webinar", "Plan a webinar for prospects", "scheduling", after=("rank",), due=_day(25)),
                task("calls", "Call the top five prospects", "operator", after=("webinar",), due=_day(28)),
            ]
        }
    )

    new_goal = objective("Land 5 retainer clients", days=130)
    reply = await chat.say(f"/plan {plan_id} goal {new_goal}")

    assert f"Plan #{plan_id} changed" in reply
    assert "changed the objective from “Land 3 new retainer clients” to “Land 5 retainer clients”" in reply
    assert "added “Plan a webinar for prospects”" in reply
    assert "removed “Draft the outreach pitch”" in reply
    assert "moved “Rank the prospects by fit”" in reply
    assert "“Call the top five prospects” now waits for webinar instead of pitch" in reply
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    assert plan.objective.outcome == "Land 5 retainer clients" and plan.objective.deadline is not None
    assert plan.objective.deadline == split_deadline(new_goal, today=_today())[1]
    assert next(t for t in plan.tasks if t.key == "prospects").status == "done"  # done work stays
    rank = next(t for t in plan.tasks if t.key == "rank")
    assert rank.instructions == "Rank for five clients now, not three."  # the agent is told the new aim


async def test_operator_edits_in_chat(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script()
    app = with_model(script)
    chat = FakeChat(app, workspace)
    reply = await chat.say(f"/objective {objective()}")
    plan_id = int(reply.split("Plan #", 1)[1].split(":", 1)[0])
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    pitch = next(t for t in plan.tasks if t.key == "pitch")

    assert "gave “Draft the outreach pitch” to you instead of the drafting agent" in await chat.say(
        f"/plan {plan_id} assign {pitch.id} to me"
    )
    moved = await chat.say(f"/plan {plan_id} move pitch to {_day(30)}")
    assert "moved “Draft the outreach pitch”" in moved and "because you moved it" in moved
    early = await chat.say(f"/plan {plan_id} move pitch to {_day(1)}")
    assert "Note: it waits for “Rank the prospects by fit”" in early and "can't start sooner" in early
    added = await chat.say(f"/plan {plan_id} add research: compare three CRMs")
    assert "added “compare three CRMs” (research" in added
    assert "removed" in await chat.say(f"/plan {plan_id} drop rank")
    assert "no step 'nosuch'" in await chat.say(f"/plan {plan_id} move nosuch to friday")
    assert "in the past" in await chat.say(f"/plan {plan_id} move pitch to 2020-01-01")
    assert "can go to: me" in await chat.say(f"/plan {plan_id} assign pitch to the intern")
    assert "don't know that plan command" in await chat.say(f"/plan {plan_id} frobnicate")
    assert "There is no plan #999999" in await chat.say("/plan 999999")
    cancelled = await chat.say(f"/plan {plan_id} cancel")
    assert "cancelled" in cancelled
    assert "is cancelled" in await chat.say(f"/plan {plan_id} move pitch to {_day(3)}")

    # another workspace cannot see or touch it
    assert "no plan" in await FakeChat(app, workspace + "-other").say(f"/plan {plan_id} approve")


async def test_two_workers_never_run_the_same_task_twice(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    slow_calls: list[str] = []

    def slow(messages: list[ModelMessage]) -> ModelResponse:
        slow_calls.append("x")
        return ModelResponse(parts=[TextPart("Agencies.")], usage=USAGE)

    script = _retainer_script(Research=[slow])
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    first, second = _executor(app, script), _executor(app, script)

    await asyncio.gather(
        first.run_until_idle(workspace, timezone=TZ, report=False),
        second.run_until_idle(workspace, timezone=TZ, report=False),
    )

    assert len(slow_calls) == 1
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    assert [(t.status, t.attempts) for t in plan.tasks if t.owner != "operator"] == [("done", 1)] * 3


async def test_without_a_model_objectives_say_what_is_needed_and_plans_still_read(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    chat = FakeChat(app, workspace)

    reply = await chat.say(f"/objective {objective()}")

    assert "needs a language model" in reply and "SOLOOS_MODEL" in reply and "nothing was saved" in reply
    assert chat.replies[-1].ok is False
    assert await app.memory.plans.all(workspace) == []
    assert "No open plans" in await chat.say("/plans")


async def test_the_briefing_shows_plan_progress(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research=["Agencies."])
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    await _executor(app, script, batch=1).tick(workspace, timezone=TZ)  # the research step

    briefing = await assemble(
        app.memory, app.gate, workspace=workspace, timezone=TZ, budget=Budget(Decimal(1), Decimal(1)), chart=False
    )

    assert "Plans: 1 open." in briefing.text
    assert f"#{plan_id} Land 3 new retainer clients (by " in briefing.text
    assert "1/4 done" in briefing.text and "~0.8 h saved" in briefing.text
    assert "next for you" not in briefing.text  # the operator's call waits for the ranking and the pitch
    await _executor(app, script).run_until_idle(workspace, timezone=TZ)
    briefing = await assemble(
        app.memory, app.gate, workspace=workspace, timezone=TZ, budget=Budget(Decimal(1), Decimal(1)), chart=False
    )
    call = next(t for t in (await app.memory.plans.get(plan_id, workspace=workspace)).tasks if t.owner == "operator")
    assert f"  - next for you: task #{call.task_id} Call the top five prospects" in briefing.text


async def test_a_drafting_step_leaves_a_versioned_draft_that_a_rerun_reuses(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research=["Agencies."], Rank=["Globex first."], Draft=["Subject: Retainer\n\nHi Globex"])
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    executor = _executor(app, script)
    await executor.run_until_idle(workspace, timezone=TZ)

    pitch = next(t for t in (await app.memory.plans.get(plan_id, workspace=workspace)).tasks if t.key == "pitch")
    (draft,) = await app.memory.drafts.latest(workspace)
    assert (draft.kind, draft.title, draft.subject, draft.body) == (
        "email",
        "Draft the outreach pitch",
        "Retainer",
        "Hi Globex",
    )
    assert draft.created_by == "plan" and "Globex first." in draft.inputs["instructions"]
    assert pitch.result is not None and pitch.result.startswith(f"Draft #{draft.id} v1")
    assert "Draft the outreach pitch" in await chat.say("/drafts")

    # the step runs again (say its worker died after writing the draft): the same inputs find the draft
    with app.memory.db.connection() as conn:
        conn.execute("UPDATE plan_tasks SET status = 'pending', checkpoint = NULL WHERE id = %s", (pitch.id,))
    await executor.run_until_idle(workspace, timezone=TZ)
    assert script.calls["Draft"] == 1
    assert len(await app.memory.drafts.latest(workspace)) == 1


async def test_progress_per_objective_is_a_metric(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from bot.metrics import serve_metrics
    from tests.bot.test_metrics import scrape

    script = _retainer_script(Research=["Agencies."])
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    await _executor(app, script, batch=1).tick(workspace, timezone=TZ)  # the research step
    with app.memory.db.connection() as conn:  # the operator's call is late
        conn.execute(
            "UPDATE plan_tasks SET due_on = %s WHERE objective_id = %s AND owner = 'operator'",
            (_today() - timedelta(days=1), plan_id),
        )

    metrics = await asyncio.to_thread(scrape, serve_metrics(app.memory, workspace, host="127.0.0.1", port=0))

    steps = {labels["status"]: value for labels, value in metrics["soloos_plan_steps"]}
    assert steps == {"done": 1.0, "pending": 3.0}
    assert metrics["soloos_plan_steps_overdue"] == [({"objective": str(plan_id)}, 1.0)]
    assert metrics["soloos_plan_minutes_saved_estimate"] == [({"objective": str(plan_id)}, 45.0)]


async def test_each_step_runs_in_its_mode(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research=["Agencies."], Rank=["Ranked."], Draft=["Subject: A\n\nB"])
    app = with_model(script)
    await _approved_plan(app, workspace, script)

    await _executor(app, script).run_until_idle(workspace, timezone=TZ)

    for word, mode, temperature in (
        ("Research", "exploratory", 0.3),
        ("Rank", "deterministic", 0.0),
        ("Draft", "creative", 0.9),
    ):
        info = script.seen[word]
        assert f"Mode: {mode}." in (info.instructions or ""), word
        assert (info.model_settings or {}).get("temperature") == temperature, word
    assert "two or three clearly labelled variants" in (script.seen["Draft"].instructions or "")


async def test_a_step_dropped_or_reassigned_while_it_runs_is_not_brought_back(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    """The operator drops one step and takes another while agents are working on them: what the
    agents then report (a result or a failure) must not revive the step."""
    script = _retainer_script()
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    plans = app.memory.plans
    worker = app.memory.conversations.worker
    (research,) = await plans.claim(workspace=workspace, limit=1, lease=timedelta(minutes=5), worker=worker)
    assert research.key == "prospects" and research.status == "running"

    assert "removed" in await chat.say(f"/plan {plan_id} drop {research.id}")
    assert await plans.finish(research, result="late result") is None
    assert await plans.fail(research, error="late failure", retry_in=timedelta(0)) is None
    assert (await plans.get(plan_id, workspace=workspace)).task(research.id).status == "cancelled"
    assert await plans.claim(workspace=workspace, limit=5, lease=timedelta(minutes=5), worker=worker) != []

    rank = next(t for t in (await plans.get(plan_id, workspace=workspace)).tasks if t.key == "rank")
    assert rank.status == "running"
    await chat.say(f"/plan {plan_id} assign {rank.id} to me")
    assert await plans.fail(rank, error="late failure", retry_in=timedelta(0)) is None
    rank = (await plans.get(plan_id, workspace=workspace)).task(rank.id)
    assert (rank.owner, rank.status, rank.checkpoint) == ("operator", "pending", None)
    await chat.say(f"done {rank.task_id}")  # the operator does it: the step follows
    await _executor(app, script).tick(workspace, timezone=TZ, report=False)
    assert (await plans.get(plan_id, workspace=workspace)).task(rank.id).status == "done"


async def test_edits_that_would_make_steps_wait_in_a_circle_are_refused(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from memory import Edit, InvalidRecord

    script = _retainer_script()
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    prospects = next(t for t in plan.tasks if t.key == "prospects")

    with pytest.raises(InvalidRecord, match="circle"):
        await app.memory.plans.revise(
            plan_id, workspace=workspace, reason="test", edits=[Edit("depend", prospects.id, after=("pitch",))]
        )
    with pytest.raises(InvalidRecord, match="circle"):
        await app.memory.plans.revise(
            plan_id, workspace=workspace, reason="test", edits=[Edit("depend", prospects.id, after=("prospects",))]
        )
    assert (await app.memory.plans.get(plan_id, workspace=workspace)).task(prospects.id).depends_on == ()


async def test_odd_plan_commands_get_clear_answers(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script()
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    before = await app.memory.plans.get(plan_id, workspace=workspace)

    assert "don't know that plan command" in await chat.say(f"/plan {plan_id} change 7 to friday")
    assert "no step '²'" in await chat.say(f"/plan {plan_id} drop ²")
    assert "don't know that plan command" in await chat.say(f"/plan {plan_id} move")
    assert "in the past" in await chat.say(f"/plan {plan_id} add research: old news by 10 Dec 1999")
    assert "has passed" in await chat.say("/objective Land a client by 10 Dec 1999")
    assert "no plan" in await chat.say("/plan 999999999999 approve")
    assert all(r.ok or "couldn't" in r.text or "don't know" in r.text for r in chat.replies)

    after = await app.memory.plans.get(plan_id, workspace=workspace)
    assert after.objective == before.objective and after.tasks == before.tasks


async def test_a_plan_whose_steps_were_all_dropped_is_not_announced_complete(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script()
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    for t in (await app.memory.plans.get(plan_id, workspace=workspace)).tasks:
        await chat.say(f"/plan {plan_id} drop {t.id}")

    await _executor(app, script).tick(workspace, timezone=TZ)

    assert (await app.memory.plans.get(plan_id, workspace=workspace)).objective.status == "active"
    notices = _rows(app, "SELECT body FROM schedules WHERE workspace = %s AND kind = 'notice'", workspace)
    assert not any("complete" in n[0] for n in notices)


async def test_the_spend_cap_pauses_a_step_without_using_up_its_retries(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script(Research=["Agencies."])
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    broke = PlanExecutor(
        app.memory,
        app.gate,
        script.tiers(),
        Budget(Decimal(0), Decimal(0)),  # nothing left to spend
        Prices(Decimal(0), Decimal(0)),
        app.settings.context_token_budget,
        retry_base=timedelta(0),
    )

    ran = await broke.run_until_idle(workspace, timezone=TZ)

    research = (await app.memory.plans.get(plan_id, workspace=workspace)).tasks[0]
    assert ran == 1 and script.calls["Research"] == 0
    assert (research.status, research.attempts) == ("failed", 0)
    midnight = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    assert research.next_attempt_at == midnight  # when the daily cap opens again
    notices = " ".join(r[0] for r in _rows(app, "SELECT body FROM schedules WHERE workspace = %s", workspace))
    assert "⏸ Research 20 agencies that fit" in notices and "I'll go on when it resets" in notices
    assert f"`/plan {plan_id} retry {research.id}` goes on now" in notices


async def test_the_coordinator_turns_an_objective_in_plain_words_into_a_draft_plan(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from tests.support.models import call, last_tool_result

    script = _retainer_script()
    script.coordinator = [
        call("propose_plan", objective=objective()),
        lambda messages: ModelResponse(parts=[TextPart(last_tool_result(messages))], usage=USAGE),
    ]
    app = with_model(script)

    reply = await FakeChat(app, workspace).say("help me land three new retainer clients before spring")

    (plan,) = await app.memory.plans.all(workspace)
    assert plan.objective.status == "draft" and len(plan.tasks) == 4
    assert f"`/plan {plan.objective.id} approve`" in reply and "Research 20 agencies that fit" in reply
    assert script.calls["Research"] == 0  # nothing ran


async def test_undoing_the_operators_done_reopens_the_step(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script()
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    executor = _executor(app, script, batch=1)
    plan = await app.memory.plans.get(plan_id, workspace=workspace)
    calls = next(t for t in plan.tasks if t.owner == "operator")

    await chat.say(f"done {calls.task_id}")
    await executor.tick(workspace, timezone=TZ, report=False)
    assert (await app.memory.plans.get(plan_id, workspace=workspace)).task(calls.id).status == "done"
    assert "Undone" in await chat.say("/undo")
    await executor.tick(workspace, timezone=TZ, report=False)
    assert (await app.memory.plans.get(plan_id, workspace=workspace)).task(calls.id).status == "pending"


async def test_plans_from_the_command_line(with_model, workspace: str, run) -> None:  # type: ignore[no-untyped-def]
    import json

    script = _retainer_script()
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)

    code, listed, _ = await asyncio.to_thread(run, "plans")
    assert code == 0 and f"#{plan_id} Land 3 new retainer clients" in listed and "0/4 done" in listed
    code, shown, _ = await asyncio.to_thread(run, "plans", str(plan_id))
    assert code == 0 and "Research 20 agencies that fit" in shown and "Success measure" in shown
    code, raw, _ = await asyncio.to_thread(run, "plans", "--json")
    [row] = json.loads(raw)
    assert row["objective"]["id"] == plan_id and len(row["tasks"]) == 4 and row["progress"]["total"] == 4
    code, _, error = await asyncio.to_thread(run, "plans", "999999999")
    assert code == 2 and "no plan #999999999" in error


async def test_a_stale_worker_cannot_write_back_after_its_step_was_claimed_again(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    """Reassigning resets the attempts; the claim number does not repeat, so the first worker's late
    result cannot land on the second worker's claim."""
    script = _retainer_script()
    app = with_model(script)
    chat, plan_id = await _approved_plan(app, workspace, script)
    plans, lease = app.memory.plans, timedelta(minutes=5)
    (first,) = await plans.claim(workspace=workspace, limit=1, lease=lease, worker=1)
    await chat.say(f"/plan {plan_id} assign {first.id} to finance")
    (second,) = await plans.claim(workspace=workspace, limit=1, lease=lease, worker=2)
    assert second.id == first.id and second.attempts == first.attempts and second.claim_no > first.claim_no

    assert await plans.finish(first, result="the research agent's late answer") is None
    assert await plans.fail(first, error="late", retry_in=timedelta(0)) is None
    step = (await plans.get(plan_id, workspace=workspace)).task(first.id)
    assert (step.status, step.owner, step.result) == ("running", "finance", None)
    assert (await plans.finish(second, result="ranked")) is not None


async def test_only_the_steps_of_a_dead_worker_are_released(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = _retainer_script()
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    plans, me = app.memory.plans, app.memory.conversations.worker
    (mine,) = await plans.claim(workspace=workspace, limit=1, lease=timedelta(minutes=5), worker=me)
    with app.memory.db.connection() as conn:  # another step, claimed by a worker that holds no lock: dead
        conn.execute(
            "UPDATE plan_tasks SET status = 'running', claimed_by = 987654, claimed_until = now() + interval '1 hour'"
            " WHERE objective_id = %s AND key = 'rank'",
            (plan_id,),
        )

    released = await plans.release_orphans(workspace, worker=me + 1)  # as seen by some other worker

    plan = await plans.get(plan_id, workspace=workspace)
    rank = next(t for t in plan.tasks if t.key == "rank")
    assert released == [rank.id]
    assert (rank.status, rank.error) == ("failed", "the process running it stopped")
    assert plan.task(mine.id).status == "running"  # this process is alive: its step stays its own


async def test_a_plan_steps_memory_context_fits_a_small_models_window(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 16: steps used the flat 1,500-token memory budget whatever the model's window."""
    sizes = {}
    for window in (128_000, 2_048):
        script = _retainer_script(Research=["Agencies."])
        app = with_model(script)
        for n in range(40):  # plenty for a 1,500-token memory context
            await app.memory.remember(
                f"Agency lead {n}: a design studio that wants a retainer for new clients, met at meetup {n}",
                workspace=f"{workspace}-{window}",
                layer="project",
            )
        await _approved_plan(app, f"{workspace}-{window}", script)
        tiers = dataclasses.replace(script.tiers(), fast_context=window, strong_context=window)
        executor = dataclasses.replace(_executor(app, script), tiers=tiers)
        await executor.run_until_idle(f"{workspace}-{window}", timezone=TZ, report=False)
        sizes[window] = len(script.seen["Research"].instructions or "")
    assert sizes[2_048] < sizes[128_000] - 1_000  # characters: the small window's step got far less memory


async def test_a_step_claimed_while_this_process_checks_for_orphans_is_never_released(  # type: ignore[no-untyped-def]
    with_model, workspace: str
) -> None:
    """Seen under load: with two executors in one process, one released as "stopped" the step the other
    had just claimed but not yet noted as in hand, and the step ran again (attempts 5, not 1)."""
    script = _retainer_script()
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    plans, me, lease = app.memory.plans, app.memory.conversations.worker, timedelta(minutes=5)
    in_hand: set[int] = set()
    released: list[int] = []
    for _ in range(40):
        with app.memory.db.connection() as conn:  # every step of the plan ready again
            conn.execute(
                "UPDATE plan_tasks SET status = 'pending', claimed_by = NULL, claimed_until = NULL"
                " WHERE objective_id = %s AND status = 'running'",
                (plan_id,),
            )
        in_hand.clear()
        claimed, *freed = await asyncio.gather(
            plans.claim(workspace=workspace, limit=1, lease=lease, worker=me, in_hand=in_hand),
            plans.release_orphans(workspace, worker=me, in_hand=in_hand),
            plans.release_orphans(workspace, worker=me, in_hand=in_hand),
        )
        assert len(claimed) == 1
        released += [step for found in freed for step in found]
    assert released == []


async def test_a_step_of_this_process_whose_write_back_failed_is_released_but_not_one_in_hand(  # type: ignore[no-untyped-def]
    with_model, workspace: str
) -> None:
    """Seen by the database-restart tests: a step whose run ended while the database was away could
    not write back and stayed "running" under this (live) worker until its lease ran out."""
    script = _retainer_script()
    app = with_model(script)
    _, plan_id = await _approved_plan(app, workspace, script)
    plans, me = app.memory.plans, app.memory.conversations.worker
    lease = timedelta(minutes=10)
    (stranded,) = await plans.claim(workspace=workspace, limit=1, lease=lease, worker=me)
    with app.memory.db.connection() as conn:  # another step this process is running right now
        conn.execute(
            "UPDATE plan_tasks SET status = 'running', claimed_by = %s, claimed_until = now() + interval '1 hour'"
            " WHERE objective_id = %s AND key = 'rank'",
            (me, plan_id),
        )
    running = next(t for t in (await plans.get(plan_id, workspace=workspace)).tasks if t.key == "rank")

    released = await plans.release_orphans(workspace, worker=me, in_hand=frozenset({running.id}))

    plan = await plans.get(plan_id, workspace=workspace)
    assert released == [stranded.id]
    assert plan.task(stranded.id).status == "failed" and plan.task(running.id).status == "running"


async def test_a_drafting_step_fed_by_earlier_results_is_audited_as_written_from_outside_content(  # type: ignore[no-untyped-def]
    with_model, workspace: str
) -> None:
    script = _retainer_script(Research=["Agencies."], Rank=["Globex first."], Draft=["Subject: Retainer\n\nHi Globex"])
    app = with_model(script)
    chat, _ = await _approved_plan(app, workspace, script)
    await _executor(app, script).run_until_idle(workspace, timezone=TZ)
    (draft,) = await app.memory.drafts.latest(workspace)
    [(outcome,)] = await asyncio.to_thread(
        _rows, app, "SELECT outcome FROM audit_events WHERE workspace = %s AND name = 'draft.saved'", workspace
    )
    assert outcome.startswith(f"saved draft #{draft.id} v1 “Draft the outreach pitch” for plan step")
    assert "written from outside content (the result of the earlier plan step" in outcome
    assert "written from outside content" in await chat.say("/why")
