-- Tenant settings shared by several features; the assignment read model; AI handling;
-- orderings for the conversation list.

-- A tenant without a row uses the defaults below.
CREATE TABLE tenant_settings (
    tenant_id               uuid PRIMARY KEY,
    -- IANA zone: "today" in views, {{date}}/{{time}} in templates, times in exports.
    time_zone               text NOT NULL DEFAULT 'UTC',
    -- {{company_name}} in templates.
    company_name            text NOT NULL DEFAULT '',
    -- An AI message below this confidence sets "needs human".
    ai_confidence_threshold real NOT NULL DEFAULT 0.6 CHECK (ai_confidence_threshold BETWEEN 0 AND 1),
    -- Sent to the customer when an agent takes over from the AI; {{agent_name}} is filled in.
    handoff_message         text NOT NULL DEFAULT
        'Let me connect you with {{agent_name}} from our team who can better assist you. One moment...'
);

ALTER TABLE conversations
    -- Assignment read model (routing owns assignment; the API can set it directly).
    ADD COLUMN assignee_id              uuid,
    ADD COLUMN team_id                  uuid,
    ADD COLUMN assigned_at              timestamptz,
    -- Who answers the customer now: the AI agent, or a person who took over.
    ADD COLUMN handled_by               text    NOT NULL DEFAULT 'ai' CHECK (handled_by IN ('ai', 'human')),
    ADD COLUMN needs_human              boolean NOT NULL DEFAULT false,
    ADD COLUMN needs_human_reason       text    NOT NULL DEFAULT '',
    -- Set by the AI through the API; empty until then (readers get a fallback).
    ADD COLUMN summary                  text    NOT NULL DEFAULT '',
    ADD COLUMN summary_updated_at       timestamptz,
    -- Provider time of the customer's newest message (WhatsApp's 24 h window, "needs attention").
    ADD COLUMN last_customer_message_at timestamptz,
    -- Sort keys of the list, kept by PostgreSQL.
    ADD COLUMN priority_rank   smallint GENERATED ALWAYS AS (
        CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END) STORED,
    ADD COLUMN channel_rank    smallint GENERATED ALWAYS AS (
        CASE channel WHEN 'whatsapp' THEN 0 WHEN 'telephony' THEN 1 WHEN 'webchat' THEN 2 ELSE 3 END) STORED,
    ADD COLUMN assignment_rank smallint GENERATED ALWAYS AS (
        CASE WHEN assignee_id IS NULL THEN 0 ELSE 1 END) STORED;

UPDATE conversations c SET last_customer_message_at =
    (SELECT max(sent_at) FROM messages m
     WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.sender_kind = 'customer');

-- The list: every sort is "key, then most recent"; filters by assignee and status are the
-- common ones (a page of 50 of one agent's conversations in one status must stay fast at 100k).
CREATE INDEX conversations_by_assignee ON conversations (tenant_id, assignee_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_by_status ON conversations (tenant_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_by_priority ON conversations (tenant_id, priority_rank, last_message_at DESC, id DESC);
CREATE INDEX conversations_by_channel ON conversations (tenant_id, channel_rank, last_message_at DESC, id DESC);
CREATE INDEX conversations_by_assignment ON conversations (tenant_id, assignment_rank, last_message_at DESC, id DESC);

-- AI messages carry the model's confidence (0..1).
ALTER TABLE messages ADD COLUMN ai_confidence real CHECK (ai_confidence BETWEEN 0 AND 1);

-- Response-time target: a customer left waiting longer than this is raised to high (0 = off).
ALTER TABLE priority_rules ADD COLUMN first_response_target_seconds integer NOT NULL DEFAULT 0
    CHECK (first_response_target_seconds >= 0);

-- Since when the customer has been waiting for an answer: the first customer message after our
-- last reply; NULL once an agent or the AI answered.
ALTER TABLE conversations ADD COLUMN waiting_since timestamptz;
UPDATE conversations SET waiting_since = last_message_at WHERE last_message_sender_kind = 'customer';

-- What the response-target rule scans.
CREATE INDEX conversations_waiting ON conversations (waiting_since)
    WHERE waiting_since IS NOT NULL AND status IN ('active', 'pending') AND priority_rank > 1;
