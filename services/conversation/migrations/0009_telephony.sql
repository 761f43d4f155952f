-- Telephony: the disposition an agent set on a phone call (the automatic one is derived from
-- the call's items, which are messages of the conversation).
CREATE TABLE call_dispositions (
    tenant_id       uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    -- Twilio's CallSid.
    call_sid        text        NOT NULL,
    -- answered, missed, voicemail, busy, failed.
    disposition     text        NOT NULL,
    set_by          text        NOT NULL,
    set_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversation_id, call_sid)
);
