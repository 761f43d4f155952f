-- Response templates (saved replies), inserted by agents with `/`.

CREATE TABLE templates (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    -- A short handle the agent types after `/`; stored lower-case so uniqueness ignores case.
    name       text        NOT NULL CHECK (name ~ '^[a-z0-9_-]{1,64}$'),
    -- Text with {{variable}} placeholders, filled in when the template is rendered.
    body       text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 4096),
    -- `user:<id>` of the supervisor or admin who created it.
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT templates_name UNIQUE (tenant_id, name)
);
