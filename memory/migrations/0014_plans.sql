-- Objectives and their plans: objective → projects → plan tasks (owned by the operator or a
-- specialist agent, with dependencies, due dates, status, retry budget and a checkpoint), and the
-- revisions that changed a plan, each with its diff and reason.
CREATE TABLE objectives (
    id               bigserial PRIMARY KEY,
    workspace        text NOT NULL,
    operator         text NOT NULL,
    outcome          text NOT NULL CHECK (length(outcome) BETWEEN 1 AND 500),
    deadline         date,
    success_measure  text,
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'done', 'cancelled')),
    revision         integer NOT NULL DEFAULT 1,
    conversation     text,                       -- where progress reports go
    timezone         text NOT NULL DEFAULT 'UTC', -- the operator's zone when planned: a step is due at 17:00 there
    created_at       timestamptz NOT NULL DEFAULT now(),
    approved_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX objectives_workspace ON objectives (workspace, status, id);

CREATE TABLE plan_projects (
    id            bigserial PRIMARY KEY,
    objective_id  bigint NOT NULL REFERENCES objectives (id) ON DELETE CASCADE,
    position      integer NOT NULL,
    title         text NOT NULL CHECK (length(title) > 0),
    purpose       text
);
CREATE INDEX plan_projects_objective ON plan_projects (objective_id, position);

CREATE TABLE plan_tasks (
    id              bigserial PRIMARY KEY,
    objective_id    bigint NOT NULL REFERENCES objectives (id) ON DELETE CASCADE,
    project_id      bigint REFERENCES plan_projects (id) ON DELETE SET NULL,
    position        integer NOT NULL,
    key             text NOT NULL,               -- the planner's name for it, used by dependencies
    title           text NOT NULL CHECK (length(title) > 0),
    instructions    text NOT NULL DEFAULT '',
    owner           text NOT NULL CHECK (owner IN ('operator', 'research', 'drafting', 'finance', 'scheduling')),
    mode            text NOT NULL DEFAULT 'deterministic'
                    CHECK (mode IN ('exploratory', 'deterministic', 'creative')),
    depends_on      bigint[] NOT NULL DEFAULT '{}',
    due_on          date,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'done', 'failed', 'escalated', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    next_attempt_at timestamptz,
    claimed_until   timestamptz,                 -- a running task whose worker died is taken over after this
    claimed_by      integer,                     -- the worker (liveness lock) running it: dead → taken over at once
    claim_no        bigint NOT NULL DEFAULT 0,   -- +1 per claim, never reset: a worker writes back only its own
    checkpoint      jsonb,                       -- the agent run's messages so far: a retry resumes here
    result          text,
    error           text,
    task_id         bigint REFERENCES tasks (id) ON DELETE SET NULL,  -- the operator's to-do for this step
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (objective_id, key)
);
CREATE INDEX plan_tasks_runnable ON plan_tasks (status, next_attempt_at) WHERE status IN ('pending', 'failed', 'running');

CREATE TABLE plan_revisions (
    id            bigserial PRIMARY KEY,
    objective_id  bigint NOT NULL REFERENCES objectives (id) ON DELETE CASCADE,
    revision      integer NOT NULL,
    reason        text NOT NULL,
    changes       jsonb NOT NULL,                -- [{kind, task, before, after, why}]
    reported      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plan_revisions_objective ON plan_revisions (objective_id, id);
