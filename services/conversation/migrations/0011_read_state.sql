-- Per-person read state: the last message each person read, and what their unread count needs.

-- How many customer messages the conversation holds: a person's unread count is this minus
-- what they had read, so the list joins one row per conversation instead of counting messages.
ALTER TABLE conversations ADD COLUMN customer_messages bigint NOT NULL DEFAULT 0;
UPDATE conversations c SET customer_messages =
    (SELECT count(*) FROM messages m
     WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.sender_kind = 'customer');

-- The last message each person marked read in a conversation. Only ever moves forward (by the
-- messages' sent order).
CREATE TABLE conversation_reads (
    tenant_id              uuid        NOT NULL,
    conversation_id        uuid        NOT NULL,
    -- The person (user id).
    agent_id               uuid        NOT NULL,
    last_read_message_id   uuid        NOT NULL,
    -- The read message's sent time: with its id, the position the mark may only move past.
    last_read_sent_at      timestamptz NOT NULL,
    -- The conversation's customer messages up to and including the read one, when marked.
    customer_messages_read bigint      NOT NULL,
    updated_at             timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, agent_id)
);
