-- Rollups: what each conversation contributed, and the sums per bucket. docs/metrics.md.

-- The tenant's time zone as last read from the conversation service (used when it cannot be
-- asked).
CREATE TABLE tenant_zones (
    tenant_id  uuid        PRIMARY KEY,
    time_zone  text        NOT NULL,
    fetched_at timestamptz NOT NULL
);

-- One row per conversation: its timeline (the facts that start and stop the clocks), what it
-- contributed to the rollups (taken back exactly when its timeline changes), and where it
-- stands now (for the live figures).
CREATE TABLE conversation_states (
    tenant_id          uuid        NOT NULL,
    conversation_id    uuid        NOT NULL,
    -- Version of the newest conversation snapshot applied; older ones are ignored.
    version            bigint      NOT NULL,
    channel            text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('active', 'pending', 'resolved', 'archived')),
    team_id            uuid,
    assignee_id        uuid,
    person_handles     boolean     NOT NULL,
    needs_human        boolean     NOT NULL,
    customer_wrote_last boolean    NOT NULL,
    created_at         timestamptz,
    -- Open, the customer wrote last, a person's turn (the backlog).
    waiting_for_person boolean     NOT NULL,
    deleted            boolean     NOT NULL DEFAULT false,
    -- The zone `contributions` were bucketed in.
    time_zone          text        NOT NULL,
    timeline           bytea       NOT NULL,
    contributions      bytea       NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
);

-- The live figures read only open conversations.
CREATE INDEX conversation_states_open ON conversation_states (tenant_id)
    WHERE status IN ('active', 'pending') AND NOT deleted;

-- The sums: one row per tenant, grain (0 hour, 1 day), dimension (0 tenant, 1 channel, 2 team,
-- 3 agent), key (empty, channel token, team or agent id) and bucket start. `figures` holds
-- every counter and every distribution sketch of the cell.
CREATE TABLE rollups (
    tenant_id    uuid        NOT NULL,
    grain        smallint    NOT NULL,
    dim          smallint    NOT NULL,
    key          text        NOT NULL,
    bucket_start timestamptz NOT NULL,
    figures      bytea       NOT NULL,
    PRIMARY KEY (tenant_id, grain, dim, key, bucket_start)
);

-- Every group of a dimension over a range (all agents, all teams).
CREATE INDEX rollups_by_bucket ON rollups (tenant_id, grain, dim, bucket_start);

-- The tenant's CSAT survey.
CREATE TABLE csat_settings (
    tenant_id   uuid        PRIMARY KEY,
    enabled     boolean     NOT NULL,
    survey_text text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Surveys to send, one per resolution by a person; sent by the survey sender.
CREATE TABLE csat_surveys (
    tenant_id       uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    resolved_at     timestamptz NOT NULL,
    agent_id        uuid,
    -- pending, sent, skipped (not applicable), failed (gave up).
    state           text        NOT NULL CHECK (state IN ('pending', 'sent', 'skipped', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    outcome         text        NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, resolved_at)
);

CREATE INDEX csat_surveys_due ON csat_surveys (next_attempt_at) WHERE state = 'pending';

-- Rebuilds started with `inboxctl metrics rebuild`.
CREATE TABLE rebuilds (
    id                 uuid        PRIMARY KEY,
    tenant_id          uuid        NOT NULL,
    from_at            timestamptz NOT NULL,
    state              text        NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    conversations_done bigint      NOT NULL DEFAULT 0,
    started_at         timestamptz NOT NULL,
    -- Moves with every page done: a running rebuild that stopped moving was abandoned.
    updated_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    error              text        NOT NULL DEFAULT ''
);
