-- Customers, conversations, messages and the transactional outbox.
-- Every table is keyed by tenant first: every query is scoped by tenant.

CREATE TABLE contacts (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    display_name text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- One row per channel address of a customer (WhatsApp wa_id, phone, web visitor id).
CREATE TABLE contact_identities (
    tenant_id  uuid        NOT NULL,
    channel    text        NOT NULL,
    address    text        NOT NULL,
    contact_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel, address),
    -- Deferred so an identity can claim a new contact id before the contact row is written.
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE conversations (
    tenant_id            uuid        NOT NULL,
    id                   uuid        NOT NULL,
    contact_id           uuid        NOT NULL,
    channel              text        NOT NULL,
    channel_account_id   text        NOT NULL,
    customer_address     text        NOT NULL,
    status               text        NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'pending', 'resolved', 'archived')),
    priority             text        NOT NULL DEFAULT 'normal'
        CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    last_message_at      timestamptz NOT NULL,
    last_message_preview text        NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    version              bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    -- One thread per customer address and channel account: a new message reopens it.
    CONSTRAINT conversations_thread UNIQUE (tenant_id, channel, channel_account_id, customer_address),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);

CREATE INDEX conversations_recent ON conversations (tenant_id, last_message_at DESC, id DESC);

CREATE TABLE messages (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    channel         text        NOT NULL,
    -- The provider's id (WhatsApp wamid); NULL for messages that never crossed a provider.
    external_id     text,
    sender_kind     text        NOT NULL CHECK (sender_kind IN ('customer', 'agent', 'ai', 'system')),
    sender_id       text        NOT NULL,
    -- inbox.common.v1.MessageContent, protobuf-encoded: every content kind round-trips.
    content         bytea       NOT NULL,
    -- Plain-text rendering of the content, for previews and search.
    body            text        NOT NULL DEFAULT '',
    sent_at         timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    raw_payload_id  text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id)
);

-- Exactly once: a provider message id is stored once per tenant and channel, whenever and
-- however often the provider (or the bus) delivers it.
CREATE UNIQUE INDEX messages_external_id ON messages (tenant_id, channel, external_id)
    WHERE external_id IS NOT NULL;

-- Messages of a conversation in the order the sender sent them.
CREATE INDEX messages_in_order ON messages (tenant_id, conversation_id, sent_at, id);

-- Events written in the same transaction as the change they describe; the relay publishes
-- them to JetStream (Nats-Msg-Id = event id) and deletes them.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    subject    text        NOT NULL,
    envelope   bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
