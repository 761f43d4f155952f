-- Web chat: widgets (a channel account each, `external_id` = the public widget key), their
-- visitors with the pages they looked at, and every message of a visitor's chat as the widget
-- shows it (visitor messages and agent replies), so history survives a page reload.

CREATE TABLE webchat_widgets (
    account_id      uuid        PRIMARY KEY REFERENCES channel_accounts (id),
    tenant_id       uuid        NOT NULL,
    -- Exact origins (`https://shop.example.com`) allowed to embed the widget and call its API.
    allowed_origins text[]      NOT NULL,
    greeting        text        NOT NULL DEFAULT '',
    color           text        NOT NULL DEFAULT '#2563eb'
);

CREATE TABLE webchat_visitors (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL,
    account_id   uuid        NOT NULL REFERENCES channel_accounts (id),
    -- SHA-256 of the visitor's bearer token; the token itself is never stored.
    token_hash   bytea       NOT NULL UNIQUE,
    name         text        NOT NULL DEFAULT '',
    email        text        NOT NULL DEFAULT '',
    user_agent   text        NOT NULL DEFAULT '',
    locale       text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webchat_page_views (
    id         bigserial   PRIMARY KEY,
    visitor_id uuid        NOT NULL REFERENCES webchat_visitors (id),
    url        text        NOT NULL,
    title      text        NOT NULL DEFAULT '',
    referrer   text        NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webchat_page_views_by_visitor ON webchat_page_views (visitor_id, at);

CREATE TABLE webchat_messages (
    -- Visitor messages: our id (also the external id the conversation service stores);
    -- agent replies: the conversation service's message id.
    id                uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL,
    visitor_id        uuid        NOT NULL REFERENCES webchat_visitors (id),
    sender            text        NOT NULL CHECK (sender IN ('visitor', 'agent')),
    -- The widget's idempotency key for visitor messages; the message id for replies.
    client_message_id text        NOT NULL,
    body              text        NOT NULL,
    sent_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webchat_messages_once UNIQUE (visitor_id, sender, client_message_id)
);

CREATE INDEX webchat_messages_by_visitor ON webchat_messages (visitor_id, sent_at);
