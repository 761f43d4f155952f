-- Consumers remember the ids of the events they handled, to stay idempotent beyond JetStream's
-- duplicate window (a redelivery or a republish days later is recognised here).
CREATE TABLE processed_events (
    event_id     text        PRIMARY KEY,
    tenant_id    uuid        NOT NULL,
    subject      text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
