-- Customer profiles: the keys that make one customer across channels (phone numbers, emails),
-- channel preferences, custom attributes and integration cards from CRMs and calendars.

ALTER TABLE contacts
    -- A name a person set sticks; until then the providers' profile names fill it in.
    ADD COLUMN display_name_source text    NOT NULL DEFAULT 'provider'
        CHECK (display_name_source IN ('provider', 'person')),
    -- Channel tokens (whatsapp, telephony, webchat); '' for no preference.
    ADD COLUMN preferred_channel   text    NOT NULL DEFAULT ''
        CHECK (preferred_channel IN ('', 'whatsapp', 'telephony', 'webchat')),
    ADD COLUMN opted_out_channels  text[]  NOT NULL DEFAULT '{}',
    -- Custom attributes, a JSON object of strings (keys and limits checked by the service).
    ADD COLUMN attributes          jsonb   NOT NULL DEFAULT '{}';

-- A phone number (E.164) or email (lowercased) belongs to at most one customer of a tenant:
-- the unique key is what joins a customer's identities on several channels, even when two
-- replicas store their first messages at the same time.
CREATE TABLE contact_keys (
    tenant_id  uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('phone', 'email')),
    value      text        NOT NULL,
    contact_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, value),
    -- Deferred, like identities: a key can claim a new contact id before the contact row exists.
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX contact_keys_of_contact ON contact_keys (tenant_id, contact_id);
CREATE INDEX contact_identities_of_contact ON contact_identities (tenant_id, contact_id);
-- A customer's conversations, most recent first (profile, related conversations, merges).
CREATE INDEX conversations_of_contact ON conversations (tenant_id, contact_id, last_message_at DESC, id DESC);

-- Existing WhatsApp and telephony identities register their phone numbers; the oldest identity
-- wins when two customers already share a phone (a person can merge them).
INSERT INTO contact_keys (tenant_id, kind, value, contact_id, created_at)
SELECT DISTINCT ON (tenant_id, phone) tenant_id, 'phone', phone, contact_id, created_at
FROM (
    SELECT tenant_id, contact_id, created_at,
           CASE channel WHEN 'whatsapp' THEN '+' || address ELSE address END AS phone
    FROM contact_identities
    WHERE (channel = 'whatsapp' AND address ~ '^[1-9][0-9]{6,14}$')
       OR (channel = 'telephony' AND address ~ '^\+[1-9][0-9]{6,14}$')
) AS phones
ORDER BY tenant_id, phone, created_at;

-- Key/value cards from integrations, one per (source, title) on a customer.
CREATE TABLE integration_cards (
    tenant_id  uuid        NOT NULL,
    contact_id uuid        NOT NULL,
    -- The integration: hubspot, google_calendar...
    source     text        NOT NULL,
    title      text        NOT NULL,
    -- Ordered fields: a JSON array of {"key": ..., "value": ...}.
    fields     jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id, source, title),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
