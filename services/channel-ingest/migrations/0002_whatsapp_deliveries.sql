-- The outbound delivery log (one row per outbound message, exactly-once sending towards the
-- provider) and the provider's status updates, kept so they apply whenever they arrive.

CREATE TABLE outbound_deliveries (
    tenant_id          uuid        NOT NULL,
    -- The conversation service's message id: the unique key of a send.
    message_id         uuid        NOT NULL,
    conversation_id    uuid        NOT NULL,
    account_id         uuid,
    channel            text        NOT NULL,
    recipient          text        NOT NULL DEFAULT '',
    -- queued < accepted < sent < delivered < read; failed ends it. `state_rank` orders them so
    -- a status can only move a delivery forward.
    state              text        NOT NULL
        CHECK (state IN ('queued', 'accepted', 'sent', 'delivered', 'read', 'failed')),
    state_rank         smallint    NOT NULL,
    -- The provider's id (WhatsApp wamid) once accepted.
    external_id        text,
    error_code         bigint,
    error_title        text        NOT NULL DEFAULT '',
    error_details      text        NOT NULL DEFAULT '',
    -- Calls made to the provider.
    attempts           integer     NOT NULL DEFAULT 0,
    -- Which replica holds the send, until when; `request_in_flight` is true only while an HTTP
    -- request to the provider may have been sent without its answer being recorded.
    lease_owner        uuid,
    lease_until        timestamptz,
    request_in_flight  boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_id)
);

CREATE UNIQUE INDEX outbound_deliveries_external ON outbound_deliveries (tenant_id, account_id, external_id)
    WHERE external_id IS NOT NULL;

-- Every status the provider reported, once per (message, status) whatever the number of retries;
-- a status that arrives before we recorded the wamid is applied when we do.
CREATE TABLE whatsapp_statuses (
    tenant_id     uuid        NOT NULL,
    account_id    uuid        NOT NULL,
    external_id   text        NOT NULL,
    status        text        NOT NULL,
    state_rank    smallint    NOT NULL,
    occurred_at   timestamptz NOT NULL,
    error_code    bigint,
    error_title   text        NOT NULL DEFAULT '',
    error_details text        NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id, external_id, status)
);
