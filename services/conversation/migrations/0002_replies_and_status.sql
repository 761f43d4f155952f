-- Agent replies and notes, status history, and the tenant's automatic status rules.

ALTER TABLE messages
    ADD COLUMN internal_note   boolean NOT NULL DEFAULT false,
    ADD COLUMN idempotency_key text;

-- A client's retried send (same key) is stored once.
CREATE UNIQUE INDEX messages_idempotency ON messages (tenant_id, conversation_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

ALTER TABLE conversations
    ADD COLUMN last_message_sender_kind text        NOT NULL DEFAULT 'customer'
        CHECK (last_message_sender_kind IN ('customer', 'agent', 'ai', 'system')),
    ADD COLUMN status_changed_at        timestamptz NOT NULL DEFAULT now();

-- What the sweeper scans: Active conversations whose last word was ours, Resolved ones by age.
CREATE INDEX conversations_awaiting_customer ON conversations (last_message_at)
    WHERE status = 'active' AND last_message_sender_kind IN ('agent', 'ai');
CREATE INDEX conversations_resolved ON conversations (status_changed_at) WHERE status = 'resolved';

CREATE TABLE status_changes (
    tenant_id       uuid        NOT NULL,
    id              bigserial,
    conversation_id uuid        NOT NULL,
    from_status     text        NOT NULL,
    to_status       text        NOT NULL,
    -- user:<id>, ai:<id>, customer, system:<rule>
    actor           text        NOT NULL,
    reason          text        NOT NULL DEFAULT '',
    changed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id)
);

CREATE INDEX status_changes_of_conversation ON status_changes (tenant_id, conversation_id, id);

-- Per-tenant automatic status rules; a tenant without a row uses the defaults below.
CREATE TABLE status_rules (
    tenant_id                  uuid    PRIMARY KEY,
    pending_timeout_seconds    integer NOT NULL DEFAULT 3600 CHECK (pending_timeout_seconds > 0),
    auto_archive_seconds       integer NOT NULL DEFAULT 604800 CHECK (auto_archive_seconds > 0),
    reopen_on_customer_message boolean NOT NULL DEFAULT true
);
