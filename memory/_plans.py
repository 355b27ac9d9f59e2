"""Objectives and their plans as canonical records.

An objective (an outcome with a deadline and a success measure) has projects, and projects have
plan tasks. A plan task is owned by the operator or by a specialist agent, may depend on other
tasks, and moves ``pending → running → done``; a failing agent task goes ``failed`` (retried after
``next_attempt_at``) and, after its retry budget, ``escalated``: handed to the operator as an
ordinary task. Operator steps are mirrored into the ``tasks`` table so they show up in the
operator's list, and finishing that task finishes the step.

Every change to an approved plan is a revision with its reason and its diff, written in the same
transaction as the change.
"""

from __future__ import annotations

import asyncio
import graphlib
import threading
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._liveness import worker_alive
from memory._postgres import Database
from memory.clock import Clock
from memory.errors import InvalidRecord, NotFound, Superseded

Owner = Literal["operator", "research", "drafting", "finance", "scheduling"]
OWNERS: tuple[Owner, ...] = ("operator", "research", "drafting", "finance", "scheduling")
TaskStatus = Literal["pending", "running", "done", "failed", "escalated", "cancelled"]
ObjectiveStatus = Literal["draft", "active", "done", "cancelled"]
MAX_OUTCOME_CHARS = 500


@dataclass(frozen=True)
class Objective:
    id: int
    workspace: str
    operator: str
    outcome: str
    deadline: date | None
    success_measure: str | None
    status: ObjectiveStatus
    revision: int
    conversation: str | None
    timezone: str
    created_at: datetime
    approved_at: datetime | None


@dataclass(frozen=True)
class PlanProject:
    id: int
    position: int
    title: str
    purpose: str | None


@dataclass(frozen=True)
class PlanTask:
    id: int
    objective_id: int
    project_id: int | None
    position: int
    key: str
    title: str
    instructions: str
    owner: Owner
    mode: str
    depends_on: tuple[int, ...]
    due_on: date | None
    status: TaskStatus
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    checkpoint: Any
    result: str | None
    error: str | None
    task_id: int | None
    finished_at: datetime | None
    claim_no: int = 0  # which claim this copy was read under (see ``Plans.finish``)

    @property
    def for_agent(self) -> bool:
        return self.owner != "operator"


@dataclass(frozen=True)
class Plan:
    objective: Objective
    projects: tuple[PlanProject, ...]
    tasks: tuple[PlanTask, ...]

    def task(self, task_id: int) -> PlanTask:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise NotFound(f"plan #{self.objective.id} has no task {task_id}")

    def count(self, *statuses: str) -> int:
        return sum(1 for t in self.tasks if t.status in statuses)

    def overdue(self, today: date) -> list[PlanTask]:
        return [t for t in self.tasks if t.due_on and t.due_on < today and t.status not in ("done", "cancelled")]


@dataclass(frozen=True)
class NewTask:
    """A task as the planner proposes it; dependencies name other tasks' keys."""

    key: str
    title: str
    owner: Owner
    mode: str = "deterministic"
    instructions: str = ""
    depends_on: tuple[str, ...] = ()
    due_on: date | None = None


@dataclass(frozen=True)
class NewProject:
    title: str
    purpose: str | None = None
    tasks: tuple[NewTask, ...] = ()


@dataclass(frozen=True)
class Change:
    """One line of a plan diff: "moved X from Tue 1 Dec to Tue 8 Dec because Y"."""

    kind: Literal[
        "added", "removed", "moved", "reassigned", "renamed", "reordered", "objective", "deadline", "escalated"
    ]
    task: str
    before: str | None = None
    after: str | None = None
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": self.task, "before": self.before, "after": self.after, "why": self.why}


@dataclass(frozen=True)
class Revision:
    id: int
    objective_id: int
    revision: int
    reason: str
    changes: tuple[Change, ...]
    created_at: datetime


@dataclass(frozen=True)
class Edit:
    """A change an operator or the replanner asks for. ``task_id`` is None for objective-level edits
    and for ``add``."""

    kind: Literal["move", "reassign", "drop", "add", "rename", "outcome", "deadline", "depend", "instruct"]
    task_id: int | None = None
    due_on: date | None = None
    owner: Owner | None = None
    title: str | None = None
    new_task: NewTask | None = None
    after: tuple[str, ...] = ()  # for ``depend``: the keys this task now waits for
    project_id: int | None = None
    why: str = ""


@dataclass(frozen=True)
class Step:
    """What ``Plans.escalate``/``finish`` did, for the report to the operator."""

    task: PlanTask
    operator_task_id: int | None = None
    unblocked: tuple[PlanTask, ...] = field(default=())


def _objective(row: dict[str, Any]) -> Objective:
    return Objective(**{f.name: row[f.name] for f in fields(Objective)})


def _plan_task(row: dict[str, Any]) -> PlanTask:
    values = {f.name: row[f.name] for f in fields(PlanTask)}
    return PlanTask(**{**values, "depends_on": tuple(row["depends_on"] or ())})


def _due_at(day: date | None, timezone: str) -> datetime | None:
    """A plan date as the canonical task's due time: 17:00 that day on the operator's clock."""
    return datetime.combine(day, time(17), ZoneInfo(timezone)) if day else None


def _label(day: date | None) -> str:
    return f"{day:%a %d %b %Y}" if day else "no date"


# A task is ready when its plan is active, it is an agent's, its retry time has come (or its
# worker's lease ran out), and every task it depends on is done or cancelled.
# This process's claims and its own orphan check take turns: a claim's steps join the caller's
# ``in_hand`` before an orphan check can see them running under this worker (two executors in one
# process once released a step the other had just claimed).
_OWN_STEPS = threading.Lock()

_CLAIM = """
    UPDATE plan_tasks SET status = 'running', attempts = attempts + 1, started_at = now(), updated_at = now(),
           claimed_until = now() + %(lease)s, claimed_by = %(worker)s, claim_no = claim_no + 1
    WHERE id IN (
        SELECT p.id FROM plan_tasks p JOIN objectives o ON o.id = p.objective_id
        WHERE o.status = 'active' AND (%(workspace)s::text IS NULL OR o.workspace = %(workspace)s)
          AND p.owner <> 'operator'
          AND (p.status = 'pending'
               OR (p.status = 'failed' AND coalesce(p.next_attempt_at, %(now)s) <= %(now)s)
               OR (p.status = 'running' AND p.claimed_until < now()))
          AND NOT EXISTS (SELECT 1 FROM plan_tasks d
                          WHERE d.id = ANY(p.depends_on) AND d.status NOT IN ('done', 'cancelled'))
        ORDER BY p.objective_id, p.position
        LIMIT %(limit)s
        FOR UPDATE OF p SKIP LOCKED)
    RETURNING *
"""

# Operator steps (and escalated agent steps) follow the operator's task: done when it is done,
# open again when they undo it.
_FOLLOW_TASKS = """
    UPDATE plan_tasks p SET
        status = CASE WHEN t.status = 'done' THEN 'done'
                      WHEN p.owner = 'operator' THEN 'pending' ELSE 'escalated' END,
        finished_at = CASE WHEN t.status = 'done' THEN t.done_at END,
        updated_at = now()
    FROM tasks t, objectives o
    WHERE p.task_id = t.id AND o.id = p.objective_id AND o.workspace = %(workspace)s AND o.status = 'active'
      AND ((t.status = 'done' AND p.status IN ('pending', 'escalated'))
           OR (t.status = 'open' AND p.status = 'done'))
    RETURNING p.id
"""

_FINISH_OBJECTIVES = """
    UPDATE objectives o SET status = 'done', updated_at = now()
    WHERE o.workspace = %(workspace)s AND o.status = 'active'
      AND NOT EXISTS (SELECT 1 FROM plan_tasks p WHERE p.objective_id = o.id AND p.status NOT IN ('done', 'cancelled'))
      AND EXISTS (SELECT 1 FROM plan_tasks p WHERE p.objective_id = o.id AND p.status = 'done')
    RETURNING o.id
"""


class Plans:
    """Objectives, projects, plan tasks and revisions of a workspace."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- creating and reading ------------------------------------------------------------------

    async def create(
        self,
        *,
        workspace: str,
        operator: str,
        outcome: str,
        deadline: date | None,
        success_measure: str | None,
        projects: Sequence[NewProject],
        conversation: str | None = None,
        timezone: str = "UTC",
    ) -> Plan:
        """A draft plan, written in one transaction. Dependencies must name keys of the same plan."""
        outcome = " ".join(outcome.split())
        if not outcome or len(outcome) > MAX_OUTCOME_CHARS:
            raise InvalidRecord(f"an objective needs an outcome of 1 to {MAX_OUTCOME_CHARS} characters")
        keys = [t.key for p in projects for t in p.tasks]
        if len(set(keys)) != len(keys):
            raise InvalidRecord("two tasks of a plan have the same key")
        for p in projects:
            for t in p.tasks:
                _check_task(t, set(keys))
        try:
            graphlib.TopologicalSorter({t.key: t.depends_on for p in projects for t in p.tasks}).prepare()
        except graphlib.CycleError as err:
            raise InvalidRecord(f"the plan's dependencies go in a circle: {' → '.join(err.args[1])}") from err

        def run() -> int:
            with self.db.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """INSERT INTO objectives (workspace, operator, outcome, deadline, success_measure, conversation,
                                               timezone)
                       VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                    (workspace, operator, outcome, deadline, success_measure, conversation, timezone),
                ).fetchone()
                assert row is not None
                objective_id = int(row["id"])
                self._insert_projects(cur, objective_id, projects)
                return objective_id

        return await self.get(await asyncio.to_thread(run), workspace=workspace)

    @staticmethod
    def _insert_projects(
        cur: psycopg.Cursor[dict[str, Any]], objective_id: int, projects: Sequence[NewProject]
    ) -> None:
        ids: dict[str, int] = {}
        position = 0
        for number, project in enumerate(projects, start=1):
            prow = cur.execute(
                """INSERT INTO plan_projects (objective_id, position, title, purpose)
                   VALUES (%s, %s, %s, %s) RETURNING id""",
                (objective_id, number, project.title, project.purpose),
            ).fetchone()
            assert prow is not None
            for t in project.tasks:
                position += 1
                trow = cur.execute(
                    """INSERT INTO plan_tasks (objective_id, project_id, position, key, title, instructions, owner,
                                               mode, due_on)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                    (objective_id, prow["id"], position, t.key, t.title, t.instructions, t.owner, t.mode, t.due_on),
                ).fetchone()
                assert trow is not None
                ids[t.key] = int(trow["id"])
        for project in projects:
            for t in project.tasks:
                if t.depends_on:
                    cur.execute(
                        "UPDATE plan_tasks SET depends_on = %s WHERE id = %s",
                        ([ids[k] for k in t.depends_on], ids[t.key]),
                    )

    async def get(self, objective_id: int, *, workspace: str) -> Plan:
        return await asyncio.to_thread(self.get_sync, objective_id, workspace)

    async def objective(self, objective_id: int, *, workspace: str) -> Objective:
        """The objective alone (the executor needs it per task; the whole plan would be O(tasks))."""

        def run() -> Objective:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    "SELECT * FROM objectives WHERE id = %s AND workspace = %s", (objective_id, workspace)
                ).fetchone()
            if row is None:
                raise NotFound(f"there is no plan #{objective_id}")
            return _objective(row)

        return await asyncio.to_thread(run)

    def get_sync(self, objective_id: int, workspace: str) -> Plan:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT * FROM objectives WHERE id = %s AND workspace = %s", (objective_id, workspace)
            ).fetchone()
            if row is None:
                raise NotFound(f"there is no plan #{objective_id}")
            projects = cur.execute(
                "SELECT * FROM plan_projects WHERE objective_id = %s ORDER BY position", (objective_id,)
            ).fetchall()
            tasks = cur.execute(
                "SELECT * FROM plan_tasks WHERE objective_id = %s ORDER BY position", (objective_id,)
            ).fetchall()
        return Plan(
            _objective(row),
            tuple(PlanProject(p["id"], p["position"], p["title"], p["purpose"]) for p in projects),
            tuple(_plan_task(t) for t in tasks),
        )

    async def all(self, workspace: str, *, include_closed: bool = False) -> list[Plan]:
        def run() -> list[Plan]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT id FROM objectives WHERE workspace = %s AND (%s OR status IN ('draft', 'active'))
                       ORDER BY id""",
                    (workspace, include_closed),
                ).fetchall()

            return [self.get_sync(int(r[0]), workspace) for r in rows]

        return await asyncio.to_thread(run)

    async def revisions(self, objective_id: int, *, limit: int = 10) -> list[Revision]:
        def run() -> list[Revision]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT * FROM plan_revisions WHERE objective_id = %s ORDER BY id DESC LIMIT %s",
                    (objective_id, limit),
                ).fetchall()
            return [
                Revision(
                    r["id"],
                    r["objective_id"],
                    r["revision"],
                    r["reason"],
                    tuple(Change(**c) for c in r["changes"]),
                    r["created_at"],
                )
                for r in rows
            ]

        return await asyncio.to_thread(run)

    # -- the operator's decisions --------------------------------------------------------------

    async def approve(self, objective_id: int, *, workspace: str, operator: str) -> Plan:
        """Draft → active. Each operator step becomes a task in the operator's list."""

        def run() -> None:
            with self.db.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    "SELECT status, timezone FROM objectives WHERE id = %s AND workspace = %s FOR UPDATE",
                    (objective_id, workspace),
                ).fetchone()
                if row is None:
                    raise NotFound(f"there is no plan #{objective_id}")
                if row["status"] != "draft":
                    raise InvalidRecord(f"plan #{objective_id} is {row['status']}, not waiting for approval")
                cur.execute(
                    """UPDATE objectives SET status = 'active', approved_at = now(), updated_at = now()
                       WHERE id = %s""",
                    (objective_id,),
                )
                steps = cur.execute(
                    "SELECT * FROM plan_tasks WHERE objective_id = %s AND owner = 'operator' AND task_id IS NULL",
                    (objective_id,),
                ).fetchall()
                for step in steps:
                    self._operator_task(cur, workspace, objective_id, row["timezone"], _plan_task(step))

        await asyncio.to_thread(run)
        return await self.get(objective_id, workspace=workspace)

    @staticmethod
    def _operator_task(
        cur: psycopg.Cursor[dict[str, Any]], workspace: str, objective_id: int, timezone: str, step: PlanTask
    ) -> int:
        row = cur.execute(
            "INSERT INTO tasks (workspace, title, due_at, source) VALUES (%s, %s, %s, %s) RETURNING id",
            (
                workspace,
                f"{step.title} (plan #{objective_id})"[:500],
                _due_at(step.due_on, timezone),
                f"plan:{objective_id}",
            ),
        ).fetchone()
        assert row is not None
        cur.execute("UPDATE plan_tasks SET task_id = %s WHERE id = %s", (row["id"], step.id))
        return int(row["id"])

    async def cancel(self, objective_id: int, *, workspace: str) -> Plan:
        def run() -> None:
            with self.db.connection() as conn, conn.transaction():
                found = conn.execute(
                    """UPDATE objectives SET status = 'cancelled', updated_at = now()
                       WHERE id = %s AND workspace = %s AND status IN ('draft', 'active') RETURNING id""",
                    (objective_id, workspace),
                ).fetchone()
                if found is None:
                    raise NotFound(f"there is no open plan #{objective_id}")
                conn.execute(
                    """UPDATE tasks SET status = 'cancelled' WHERE status = 'open' AND id IN (
                           SELECT task_id FROM plan_tasks WHERE objective_id = %s AND task_id IS NOT NULL)""",
                    (objective_id,),
                )
                conn.execute(
                    """UPDATE plan_tasks SET status = 'cancelled', updated_at = now()
                       WHERE objective_id = %s AND status NOT IN ('done', 'cancelled')""",
                    (objective_id,),
                )

        await asyncio.to_thread(run)
        return await self.get(objective_id, workspace=workspace)

    async def revise(
        self, objective_id: int, *, workspace: str, reason: str, edits: Sequence[Edit]
    ) -> tuple[Plan, Revision | None]:
        """Apply edits in one transaction and record the diff as a revision (none if nothing changed)."""

        def run() -> Revision | None:
            with self.db.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    "SELECT * FROM objectives WHERE id = %s AND workspace = %s FOR UPDATE", (objective_id, workspace)
                ).fetchone()
                if row is None:
                    raise NotFound(f"there is no plan #{objective_id}")
                objective = _objective(row)
                if objective.status in ("done", "cancelled"):
                    raise InvalidRecord(f"plan #{objective_id} is {objective.status}; it can no longer change")
                changes = [c for e in edits if (c := self._apply(cur, objective, e)) is not None]
                if not changes:
                    return None
                _check_acyclic(cur, objective.id)
                revision = objective.revision + 1
                cur.execute(
                    "UPDATE objectives SET revision = %s, updated_at = now() WHERE id = %s", (revision, objective_id)
                )
                saved = cur.execute(
                    """INSERT INTO plan_revisions (objective_id, revision, reason, changes)
                       VALUES (%s, %s, %s, %s) RETURNING id, created_at""",
                    (objective_id, revision, reason, Jsonb([c.to_json() for c in changes])),
                ).fetchone()
                assert saved is not None
                return Revision(saved["id"], objective_id, revision, reason, tuple(changes), saved["created_at"])

        revision = await asyncio.to_thread(run)
        return await self.get(objective_id, workspace=workspace), revision

    def _apply(self, cur: psycopg.Cursor[dict[str, Any]], objective: Objective, edit: Edit) -> Change | None:
        if edit.kind == "outcome":
            if not edit.title or edit.title == objective.outcome:
                return None
            cur.execute("UPDATE objectives SET outcome = %s WHERE id = %s", (edit.title, objective.id))
            return Change("objective", "objective", objective.outcome, edit.title, edit.why)
        if edit.kind == "deadline":
            if edit.due_on == objective.deadline:
                return None
            cur.execute("UPDATE objectives SET deadline = %s WHERE id = %s", (edit.due_on, objective.id))
            return Change("deadline", "objective", _label(objective.deadline), _label(edit.due_on), edit.why)
        if edit.kind == "add":
            return self._add(cur, objective, edit)
        row = cur.execute(
            "SELECT * FROM plan_tasks WHERE id = %s AND objective_id = %s FOR UPDATE", (edit.task_id, objective.id)
        ).fetchone()
        if row is None:
            raise NotFound(f"plan #{objective.id} has no task {edit.task_id}")
        task = _plan_task(row)
        if edit.kind == "move":
            if edit.due_on == task.due_on:
                return None
            cur.execute("UPDATE plan_tasks SET due_on = %s, updated_at = now() WHERE id = %s", (edit.due_on, task.id))
            if task.task_id:
                cur.execute(
                    "UPDATE tasks SET due_at = %s WHERE id = %s",
                    (_due_at(edit.due_on, objective.timezone), task.task_id),
                )
            return Change("moved", task.title, _label(task.due_on), _label(edit.due_on), edit.why)
        if edit.kind == "depend":
            rows = cur.execute("SELECT id, key FROM plan_tasks WHERE objective_id = %s", (objective.id,)).fetchall()
            keys = {r["key"]: int(r["id"]) for r in rows}
            unknown = [k for k in edit.after if k not in keys]
            if unknown:
                raise InvalidRecord(f"{task.title!r} depends on unknown tasks: {', '.join(unknown)}")
            wanted = sorted(keys[k] for k in edit.after)
            if wanted == sorted(task.depends_on):
                return None
            cur.execute("UPDATE plan_tasks SET depends_on = %s WHERE id = %s", (wanted, task.id))
            names = {v: k for k, v in keys.items()}
            before = ", ".join(names[d] for d in task.depends_on if d in names) or "nothing"
            return Change("reordered", task.title, before, ", ".join(edit.after) or "nothing", edit.why)
        if edit.kind == "instruct":  # what the agent is told: not a change the operator needs to see
            if edit.title is not None and edit.title != task.instructions:
                cur.execute("UPDATE plan_tasks SET instructions = %s WHERE id = %s", (edit.title, task.id))
            return None
        if edit.kind == "rename":
            if not edit.title or edit.title == task.title:
                return None
            cur.execute("UPDATE plan_tasks SET title = %s WHERE id = %s", (edit.title, task.id))
            return Change("renamed", task.title, task.title, edit.title, edit.why)
        if edit.kind == "drop":
            if task.status in ("done", "cancelled"):
                return None
            cur.execute("UPDATE plan_tasks SET status = 'cancelled', updated_at = now() WHERE id = %s", (task.id,))
            if task.task_id:
                cur.execute("UPDATE tasks SET status = 'cancelled' WHERE id = %s AND status = 'open'", (task.task_id,))
            return Change("removed", task.title, task.owner, None, edit.why)
        # reassign
        if edit.owner is None or edit.owner == task.owner:
            return None
        # A running step is taken back: its worker's result no longer counts (finish/fail check the
        # claim). The new owner starts afresh, not from the old owner's conversation.
        cur.execute(
            """UPDATE plan_tasks SET owner = %s, attempts = 0, error = NULL, next_attempt_at = NULL,
                   checkpoint = NULL, claimed_until = NULL,
                   status = CASE WHEN status IN ('failed', 'escalated', 'running') THEN 'pending' ELSE status END,
                   updated_at = now()
               WHERE id = %s""",
            (edit.owner, task.id),
        )
        if edit.owner == "operator" and task.task_id is None and objective.status == "active":
            self._operator_task(cur, objective.workspace, objective.id, objective.timezone, task)
        elif edit.owner != "operator" and task.task_id is not None:
            cur.execute("UPDATE tasks SET status = 'cancelled' WHERE id = %s AND status = 'open'", (task.task_id,))
            cur.execute("UPDATE plan_tasks SET task_id = NULL WHERE id = %s", (task.id,))
        return Change("reassigned", task.title, task.owner, edit.owner, edit.why)

    def _add(self, cur: psycopg.Cursor[dict[str, Any]], objective: Objective, edit: Edit) -> Change:
        new = edit.new_task
        if new is None:
            raise InvalidRecord("nothing to add")
        rows = cur.execute("SELECT id, key FROM plan_tasks WHERE objective_id = %s", (objective.id,)).fetchall()
        keys = {r["key"]: int(r["id"]) for r in rows}
        key, n = new.key, 1
        while key in keys:
            n += 1
            key = f"{new.key}-{n}"
        _check_task(NewTask(key, new.title, new.owner, new.mode, new.instructions, (), new.due_on), {key})
        unknown = [k for k in new.depends_on if k not in keys]
        if unknown:
            raise InvalidRecord(f"{new.title!r} depends on unknown tasks: {', '.join(unknown)}")
        project_id = edit.project_id
        if project_id is None:
            last = cur.execute(
                "SELECT id FROM plan_projects WHERE objective_id = %s ORDER BY position DESC LIMIT 1", (objective.id,)
            ).fetchone()
            project_id = last["id"] if last else None
        row = cur.execute(
            """INSERT INTO plan_tasks (objective_id, project_id, position, key, title, instructions, owner, mode,
                                       due_on, depends_on)
               VALUES (%s, %s, (SELECT coalesce(max(position), 0) + 1 FROM plan_tasks WHERE objective_id = %s),
                       %s, %s, %s, %s, %s, %s, %s)
               RETURNING *""",
            (
                objective.id,
                project_id,
                objective.id,
                key,
                new.title,
                new.instructions,
                new.owner,
                new.mode,
                new.due_on,
                [keys[k] for k in new.depends_on],
            ),
        ).fetchone()
        assert row is not None
        if new.owner == "operator" and objective.status == "active":
            self._operator_task(cur, objective.workspace, objective.id, objective.timezone, _plan_task(row))
        return Change("added", new.title, None, f"{new.owner}, {_label(new.due_on)}", edit.why)

    # -- execution -----------------------------------------------------------------------------

    async def claim(
        self, *, workspace: str | None, limit: int, lease: timedelta, worker: int, in_hand: set[int] | None = None
    ) -> list[PlanTask]:
        """Take up to ``limit`` ready agent tasks (safe with several workers: SKIP LOCKED). Their ids join
        ``in_hand`` (this process's running steps) before ``release_orphans`` can look again."""

        def run() -> list[PlanTask]:
            with _OWN_STEPS:
                with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                    given = {"workspace": workspace, "limit": limit, "lease": lease, "worker": worker}
                    rows = cur.execute(_CLAIM, {**given, "now": self.clock.now()}).fetchall()
                claimed = [_plan_task(r) for r in rows]
                if in_hand is not None:
                    in_hand.update(task.id for task in claimed)
            return claimed

        return await asyncio.to_thread(run)

    async def release_orphans(
        self, workspace: str, *, worker: int, in_hand: AbstractSet[int] = frozenset()
    ) -> list[int]:
        """Steps whose worker process died (its liveness lock is gone) go back to be claimed at once,
        their checkpoint kept; the lease is only the fallback for a worker that hangs. So do this
        worker's own running steps that are not ``in_hand`` (their run ended on a database that went
        away, before it could write back). ``in_hand`` is read while no claim of this process is between
        its commit and joining ``in_hand``: a step claimed a moment ago is never taken for an orphan."""

        def run() -> list[int]:
            with _OWN_STEPS, self.db.connection() as conn:
                in_hand_now = frozenset(in_hand)
                running = conn.execute(
                    """SELECT p.id, p.claimed_by FROM plan_tasks p JOIN objectives o ON o.id = p.objective_id
                       WHERE o.workspace = %s AND p.status = 'running' AND p.claimed_by IS NOT NULL""",
                    (workspace,),
                ).fetchall()
                others = {owner for _, owner in running if owner != worker}
                alive = {owner: worker_alive(conn, owner) for owner in others}
                dead = [
                    (int(task_id), int(owner))
                    for task_id, owner in running
                    if (task_id not in in_hand_now if owner == worker else not alive[owner])
                ]
                if not dead:
                    return []
                released = conn.execute(  # still held by that dead worker: not re-claimed meanwhile
                    """UPDATE plan_tasks p SET status = 'failed', next_attempt_at = %s, claimed_until = NULL,
                           error = 'the process running it stopped', updated_at = now()
                       FROM unnest(%s::bigint[], %s::int[]) AS d(id, owner)
                       WHERE p.id = d.id AND p.status = 'running' AND p.claimed_by = d.owner
                       RETURNING p.id""",
                    (self.clock.now(), [i for i, _ in dead], [o for _, o in dead]),
                ).fetchall()
            return [int(r[0]) for r in released]

        return await asyncio.to_thread(run)

    async def follow_operator_tasks(self, workspace: str) -> tuple[list[int], list[int]]:
        """Bring steps in line with the operator's tasks; close objectives whose steps are all done.
        Returns (steps changed, objectives finished)."""

        def run() -> tuple[list[int], list[int]]:
            with self.db.connection() as conn, conn.transaction():
                steps = [int(r[0]) for r in conn.execute(_FOLLOW_TASKS, {"workspace": workspace}).fetchall()]
                done = [int(r[0]) for r in conn.execute(_FINISH_OBJECTIVES, {"workspace": workspace}).fetchall()]
            return steps, done

        return await asyncio.to_thread(run)

    # A claim is (task id, claim number): everything a worker writes back checks that the step is
    # still running under its claim (the number only grows; attempts are reset by retry/reassign).
    # A step the operator dropped, reassigned or cancelled meanwhile, or that another worker took
    # over after the lease ran out, is no longer the worker's to write.

    async def save_checkpoint(self, claimed: PlanTask, checkpoint: Any, *, lease: timedelta) -> None:
        """Save the run so far and extend the lease; raises ``Superseded`` if the claim was lost."""

        def run() -> None:
            with self.db.connection() as conn:
                found = conn.execute(
                    """UPDATE plan_tasks SET checkpoint = %s, claimed_until = now() + %s, updated_at = now()
                       WHERE id = %s AND status = 'running' AND claim_no = %s RETURNING id""",
                    (Jsonb(checkpoint), lease, claimed.id, claimed.claim_no),
                ).fetchone()
            if found is None:
                raise Superseded(f"plan task {claimed.id} is no longer this worker's")

        await asyncio.to_thread(run)

    async def finish(self, claimed: PlanTask, *, result: str) -> PlanTask | None:
        """Done with ``result``; None if the claim was lost (the result is dropped)."""

        def run() -> PlanTask | None:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """UPDATE plan_tasks SET status = 'done', result = %s, error = NULL, finished_at = now(),
                           claimed_until = NULL, updated_at = now()
                       WHERE id = %s AND status = 'running' AND claim_no = %s RETURNING *""",
                    (result, claimed.id, claimed.claim_no),
                ).fetchone()
            return _plan_task(row) if row else None

        return await asyncio.to_thread(run)

    async def postpone(self, claimed: PlanTask, *, error: str, until: datetime) -> PlanTask | None:
        """Not the step's fault (the spend cap): wait until ``until`` without using up a retry."""

        def run() -> PlanTask | None:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """UPDATE plan_tasks SET status = 'failed', attempts = attempts - 1, error = %s,
                           next_attempt_at = %s, claimed_until = NULL, updated_at = now()
                       WHERE id = %s AND status = 'running' AND claim_no = %s RETURNING *""",
                    (error, until, claimed.id, claimed.claim_no),
                ).fetchone()
            return _plan_task(row) if row else None

        return await asyncio.to_thread(run)

    async def fail(self, claimed: PlanTask, *, error: str, retry_in: timedelta) -> Step | None:
        """Record a failed attempt. Within the retry budget the task waits ``retry_in``; after it, the
        task is escalated: the operator gets a task explaining the error, and the plan a revision.
        None if the claim was lost."""
        task_id = claimed.id

        def run() -> Step | None:
            with self.db.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    "SELECT * FROM plan_tasks WHERE id = %s AND status = 'running' AND claim_no = %s FOR UPDATE",
                    (task_id, claimed.claim_no),
                ).fetchone()
                if row is None:
                    return None
                task = _plan_task(row)
                if task.attempts < task.max_attempts:
                    row = cur.execute(
                        """UPDATE plan_tasks SET status = 'failed', error = %s, next_attempt_at = %s,
                               claimed_until = NULL, updated_at = now()
                           WHERE id = %s RETURNING *""",
                        (error, self.clock.now() + retry_in, task_id),
                    ).fetchone()
                    assert row is not None
                    return Step(_plan_task(row))
                objective = cur.execute("SELECT * FROM objectives WHERE id = %s", (task.objective_id,)).fetchone()
                assert objective is not None
                row = cur.execute(
                    """UPDATE plan_tasks SET status = 'escalated', error = %s, claimed_until = NULL,
                           updated_at = now()
                       WHERE id = %s RETURNING *""",
                    (error, task_id),
                ).fetchone()
                assert row is not None
                escalated = _plan_task(row)
                todo = cur.execute(
                    "INSERT INTO tasks (workspace, title, due_at, source) VALUES (%s, %s, %s, %s) RETURNING id",
                    (
                        objective["workspace"],
                        f"{task.title} (plan #{task.objective_id}; the {task.owner} agent could not do it)"[:500],
                        _due_at(task.due_on, objective["timezone"]),
                        f"plan:{task.objective_id}",
                    ),
                ).fetchone()
                assert todo is not None
                cur.execute("UPDATE plan_tasks SET task_id = %s WHERE id = %s", (todo["id"], task_id))
                revision = objective["revision"] + 1
                change = Change(
                    "escalated",
                    task.title,
                    task.owner,
                    "you",
                    f"it failed {task.attempts} times: {error[:200]}",
                )
                cur.execute(
                    "UPDATE objectives SET revision = %s, updated_at = now() WHERE id = %s", (revision, objective["id"])
                )
                cur.execute(
                    "INSERT INTO plan_revisions (objective_id, revision, reason, changes) VALUES (%s, %s, %s, %s)",
                    (objective["id"], revision, "an agent task ran out of retries", Jsonb([change.to_json()])),
                )
                return Step(escalated, int(todo["id"]))

        return await asyncio.to_thread(run)

    async def retry(self, task_id: int, *, workspace: str) -> PlanTask:
        """Give an escalated or failed agent task a fresh retry budget (its checkpoint is kept)."""

        def run() -> PlanTask:
            with self.db.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """UPDATE plan_tasks p SET status = 'pending', attempts = 0, next_attempt_at = NULL,
                           updated_at = now()
                       FROM objectives o
                       WHERE p.id = %s AND o.id = p.objective_id AND o.workspace = %s AND p.owner <> 'operator'
                         AND p.status IN ('failed', 'escalated')
                       RETURNING p.*""",
                    (task_id, workspace),
                ).fetchone()
                if row is None:
                    raise NotFound(f"task {task_id} is not a failed agent task of an open plan")
                task = _plan_task(row)
                if task.task_id:
                    cur.execute(
                        "UPDATE tasks SET status = 'cancelled' WHERE id = %s AND status = 'open'", (task.task_id,)
                    )
                    cur.execute("UPDATE plan_tasks SET task_id = NULL WHERE id = %s", (task.id,))
            return task

        return await asyncio.to_thread(run)

    async def results(self, task_ids: Sequence[int]) -> dict[int, PlanTask]:
        """Tasks by id (the finished dependencies an agent task builds on)."""
        if not task_ids:
            return {}

        def run() -> dict[int, PlanTask]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute("SELECT * FROM plan_tasks WHERE id = ANY(%s)", (list(task_ids),)).fetchall()
            return {int(r["id"]): _plan_task(r) for r in rows}

        return await asyncio.to_thread(run)

    async def slipped(self, workspace: str, today: date) -> list[PlanTask]:
        """Open tasks of active plans whose due date has passed."""

        def run() -> list[PlanTask]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    """SELECT p.* FROM plan_tasks p JOIN objectives o ON o.id = p.objective_id
                       WHERE o.workspace = %s AND o.status = 'active' AND p.due_on < %s
                         AND p.status NOT IN ('done', 'cancelled', 'running')
                       ORDER BY p.objective_id, p.position""",
                    (workspace, today),
                ).fetchall()
            return [_plan_task(r) for r in rows]

        return await asyncio.to_thread(run)


def _check_acyclic(cur: psycopg.Cursor[dict[str, Any]], objective_id: int) -> None:
    """Refuse an edit that makes steps wait for each other in a circle (they would never run)."""
    rows = cur.execute(
        "SELECT id, title, depends_on FROM plan_tasks WHERE objective_id = %s", (objective_id,)
    ).fetchall()
    titles = {r["id"]: r["title"] for r in rows}
    try:
        graphlib.TopologicalSorter({r["id"]: r["depends_on"] or () for r in rows}).prepare()
    except graphlib.CycleError as err:
        loop = " → ".join(titles.get(i, str(i)) for i in err.args[1])
        raise InvalidRecord(f"that would make steps wait for each other in a circle: {loop}") from err


def _check_task(task: NewTask, keys: set[str]) -> None:
    if not task.key or len(task.key) > 60:
        raise InvalidRecord(f"task key {task.key!r} must be 1 to 60 characters")
    title = " ".join(task.title.split())
    if not title or len(title) > 300:
        raise InvalidRecord("a plan task needs a title of 1 to 300 characters")
    if task.owner not in OWNERS:
        raise InvalidRecord(f"{task.owner!r} cannot own a task; owners are {', '.join(OWNERS)}")
    if task.mode not in ("exploratory", "deterministic", "creative"):
        raise InvalidRecord(f"{task.mode!r} is not a mode")
    unknown = [k for k in task.depends_on if k not in keys]
    if unknown:
        raise InvalidRecord(f"{task.title!r} depends on unknown tasks: {', '.join(unknown)}")


__all__ = [
    "OWNERS",
    "Change",
    "Edit",
    "NewProject",
    "NewTask",
    "Objective",
    "ObjectiveStatus",
    "Owner",
    "Plan",
    "PlanProject",
    "PlanTask",
    "Plans",
    "Revision",
    "Step",
    "Superseded",
    "TaskStatus",
]
