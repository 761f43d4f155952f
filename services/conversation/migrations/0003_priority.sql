-- Priority: who or what set it and why; customer segments; the tenant's prioritisation rules.

ALTER TABLE conversations
    ADD COLUMN priority_source text NOT NULL DEFAULT 'default' CHECK (priority_source IN ('default', 'auto', 'manual')),
    ADD COLUMN priority_reason text NOT NULL DEFAULT '';

-- A customer segment such as 'vip'; empty for none.
ALTER TABLE contacts ADD COLUMN segment text NOT NULL DEFAULT '';

CREATE TABLE priority_rules (
    tenant_id        uuid   PRIMARY KEY,
    -- Words that make a conversation urgent ("outage", "down"...), matched as whole words.
    urgent_keywords  text[] NOT NULL,
    -- Segments whose conversations are urgent.
    urgent_segments  text[] NOT NULL
);
