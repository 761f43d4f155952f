-- Agents' working profiles, teams, memberships, routing's view of conversations, the
-- assignment history and the outbox. Availability lives in Redis (it expires by itself).

CREATE TABLE agents (
    tenant_id   uuid        NOT NULL,
    -- The gateway's user id.
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    email       text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    time_zone   text        NOT NULL DEFAULT 'UTC',
    capacity    integer     NOT NULL CHECK (capacity BETWEEN 0 AND 1000),
    -- Open conversations assigned now; changed only with the row locked.
    load        integer     NOT NULL DEFAULT 0 CHECK (load >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE teams (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    name             text        NOT NULL,
    policy           text        NOT NULL CHECK (policy IN ('round_robin', 'least_loaded')),
    -- Channels whose "needs human" conversations without a team come to this team.
    handoff_channels text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX teams_name ON teams (tenant_id, lower(name));

CREATE TABLE team_members (
    tenant_id      uuid        NOT NULL,
    team_id        uuid        NOT NULL,
    agent_id       uuid        NOT NULL,
    -- Round robin order: the member routed to least recently goes next.
    last_routed_at timestamptz NOT NULL DEFAULT 'epoch',
    PRIMARY KEY (tenant_id, team_id, agent_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_agent ON team_members (tenant_id, agent_id);

-- What routing knows of each conversation: the conversation service's facts (from its events,
-- newest version wins) and routing's own decision (assignee, team, waiting).
CREATE TABLE conversations (
    tenant_id            uuid        NOT NULL,
    id                   uuid        NOT NULL,
    channel              text        NOT NULL,
    -- Highest conversation version applied from the conversation service's events.
    source_version       bigint      NOT NULL DEFAULT 0,
    open                 boolean     NOT NULL,
    needs_human          boolean     NOT NULL DEFAULT false,
    assignee_id          uuid,
    team_id              uuid,
    -- Waiting in the team's Unassigned view for an available member.
    waiting              boolean     NOT NULL DEFAULT false,
    waiting_since        timestamptz,
    -- Sequence of the last assignment change (AssignmentChange.sequence).
    sequence             bigint      NOT NULL DEFAULT 0,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX conversations_waiting ON conversations (tenant_id, team_id, waiting_since, id) WHERE waiting;

CREATE TABLE assignment_history (
    tenant_id            uuid        NOT NULL,
    conversation_id      uuid        NOT NULL,
    sequence             bigint      NOT NULL,
    assignee_id          uuid,
    team_id              uuid,
    previous_assignee_id uuid,
    previous_team_id     uuid,
    actor                text        NOT NULL,
    note                 text        NOT NULL DEFAULT '',
    reason               text        NOT NULL,
    changed_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversation_id, sequence)
);

-- Events commit with the change they describe; the relay publishes and deletes them.
CREATE TABLE outbox (
    id       bigserial PRIMARY KEY,
    subject  text      NOT NULL,
    envelope bytea     NOT NULL
);
