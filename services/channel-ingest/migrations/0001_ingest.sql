-- Channel accounts with their secrets, and the raw payload archive.

CREATE TABLE channel_accounts (
    id                  uuid        PRIMARY KEY,
    tenant_id           uuid        NOT NULL,
    channel             text        NOT NULL,
    -- The provider's id of the account: WhatsApp phone_number_id, Twilio number, widget key.
    external_id         text        NOT NULL,
    display_name        text        NOT NULL DEFAULT '',
    -- Secrets: never logged, never returned by any API.
    app_secret          text        NOT NULL DEFAULT '',
    verify_token        text        NOT NULL DEFAULT '',
    access_token        text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- A provider account belongs to exactly one tenant.
    CONSTRAINT channel_accounts_external UNIQUE (channel, external_id)
);

CREATE INDEX channel_accounts_by_tenant ON channel_accounts (tenant_id, channel);

-- Every verified provider payload, stored before it is processed, so it can be replayed.
CREATE TABLE raw_payloads (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL,
    account_id   uuid        NOT NULL REFERENCES channel_accounts (id),
    channel      text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    body         bytea       NOT NULL,
    -- NULL until every message of the payload is acked by JetStream.
    published_at timestamptz,
    error        text
);

CREATE INDEX raw_payloads_unpublished ON raw_payloads (received_at) WHERE published_at IS NULL;
