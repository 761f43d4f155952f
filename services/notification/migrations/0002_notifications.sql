-- The notification service's own state. Times that rules compare are written from the
-- service's clock, never from now().

-- What the service knows of each conversation, from the conversation service's events
-- (version-checked): who may be told, and where its SLA clocks stand.
CREATE TABLE conversations (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL,
    version            bigint      NOT NULL,
    status             text        NOT NULL,
    priority           text        NOT NULL,
    channel            text        NOT NULL,
    assignee_id        uuid,
    team_id            uuid,
    customer_name      text        NOT NULL DEFAULT '',
    preview            text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    -- Start of the current open cycle (creation, or the last reopening).
    opened_at          timestamptz NOT NULL,
    first_response_at  timestamptz,
    last_response_at   timestamptz,
    -- The oldest customer message not answered yet.
    awaiting_since     timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- Kept per agent; newest first by id (uuid v7).
CREATE TABLE notifications (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    kind             text        NOT NULL,
    conversation_id  uuid,
    title            text        NOT NULL,
    body             text        NOT NULL,
    level            text        NOT NULL,
    sound            boolean     NOT NULL,
    browser          boolean     NOT NULL,
    sla_target       text        NOT NULL DEFAULT '',
    due_at           timestamptz,
    created_at       timestamptz NOT NULL,
    read_at          timestamptz,
    -- The fact it reports (event id or timer firing, with its type): a redelivery adds nothing.
    dedupe_key       text        NOT NULL,
    PRIMARY KEY (tenant_id, user_id, id),
    UNIQUE (tenant_id, user_id, dedupe_key)
);
CREATE INDEX notifications_unread ON notifications (tenant_id, user_id) WHERE read_at IS NULL;

CREATE TABLE preferences (
    tenant_id          uuid        NOT NULL,
    user_id            uuid        NOT NULL,
    -- {"assigned": "all", ...}: only the types the agent changed.
    levels             jsonb       NOT NULL DEFAULT '{}',
    do_not_disturb     boolean     NOT NULL DEFAULT false,
    quiet_hours_start  text        NOT NULL DEFAULT '',
    quiet_hours_end    text        NOT NULL DEFAULT '',
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE push_subscriptions (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    endpoint    text        NOT NULL,
    p256dh      text        NOT NULL,
    auth        text        NOT NULL,
    user_agent  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (tenant_id, endpoint)
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (tenant_id, user_id);

-- Push messages to send; deleted once sent or given up.
CREATE TABLE push_jobs (
    id               bigserial   PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    subscription_id  uuid        NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    payload          text        NOT NULL,
    urgency          text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL
);
CREATE INDEX push_jobs_due ON push_jobs (next_attempt_at);

-- One VAPID key pair for the deployment, made by the first replica that starts.
CREATE TABLE vapid_keys (
    id           integer PRIMARY KEY CHECK (id = 1),
    private_key  bytea   NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE TABLE sla_settings (
    tenant_id        uuid    PRIMARY KEY,
    warning_percent  integer NOT NULL,
    time_zone        text    NOT NULL,
    -- [{"weekday": 1, "start": "09:00", "end": "17:00"}, ...]; empty: around the clock.
    business_hours   jsonb   NOT NULL DEFAULT '[]'
);

CREATE TABLE sla_policies (
    tenant_id               uuid    NOT NULL,
    priority                text    NOT NULL,
    first_response_seconds  integer NOT NULL,
    next_response_seconds   integer NOT NULL,
    resolution_seconds      integer NOT NULL,
    PRIMARY KEY (tenant_id, priority)
);

-- One clock per conversation and target; a new cycle (a reopening, the next unanswered
-- customer message) starts the row afresh.
CREATE TABLE sla_timers (
    tenant_id        uuid        NOT NULL,
    conversation_id  uuid        NOT NULL,
    target           text        NOT NULL,
    target_seconds   integer     NOT NULL,
    started_at       timestamptz NOT NULL,
    -- Business seconds counted before running_since.
    elapsed_seconds  bigint      NOT NULL,
    -- Set while the clock runs; null while paused or stopped.
    running_since    timestamptz,
    warning_at       timestamptz,
    due_at           timestamptz,
    warned_at        timestamptz,
    breached_at      timestamptz,
    stopped_at       timestamptz,
    -- The earlier of the warning and the breach still to fire; null when nothing will.
    next_fire_at     timestamptz,
    PRIMARY KEY (tenant_id, conversation_id, target)
);
CREATE INDEX sla_timers_next_fire ON sla_timers (next_fire_at) WHERE next_fire_at IS NOT NULL;

CREATE TABLE tenant_settings (
    tenant_id                        uuid    PRIMARY KEY,
    allow_private_webhook_addresses  boolean NOT NULL DEFAULT false
);

CREATE TABLE webhook_endpoints (
    tenant_id             uuid        NOT NULL,
    id                    uuid        PRIMARY KEY,
    url                   text        NOT NULL,
    secret                text        NOT NULL,
    events                text[]      NOT NULL,
    description           text        NOT NULL DEFAULT '',
    enabled               boolean     NOT NULL DEFAULT true,
    disabled_reason       text        NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    failing_since         timestamptz,
    consecutive_failures  integer     NOT NULL DEFAULT 0
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

CREATE TABLE webhook_deliveries (
    tenant_id        uuid        NOT NULL,
    id               uuid        PRIMARY KEY,
    endpoint_id      uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type       text        NOT NULL,
    -- The fact delivered: one delivery per endpoint and fact, whatever the redeliveries.
    dedupe_key       text        NOT NULL,
    payload          text        NOT NULL,
    -- pending, delivered, failed
    status           text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    -- Retries stop after this (creation or replay + the retry window).
    retry_until      timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    -- A replica is sending it until then.
    leased_until     timestamptz,
    delivered_at     timestamptz,
    UNIQUE (endpoint_id, dedupe_key)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number       integer     NOT NULL,
    at           timestamptz NOT NULL,
    status_code  integer     NOT NULL,
    error        text        NOT NULL DEFAULT '',
    duration_ms  integer     NOT NULL,
    PRIMARY KEY (delivery_id, number)
);

-- The transactional outbox (SLA events), relayed by inbox_service::outbox.
CREATE TABLE outbox (
    id        bigserial PRIMARY KEY,
    subject   text      NOT NULL,
    envelope  bytea     NOT NULL
);
