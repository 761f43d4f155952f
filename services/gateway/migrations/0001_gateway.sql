-- Tenants and identities: who can sign in, and to which tenant.

CREATE TABLE tenants (
    id         uuid        PRIMARY KEY,
    slug       text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name       text        NOT NULL,
    -- IANA zone; "today" and template dates are in this zone.
    time_zone  text        NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id         uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    email      text        NOT NULL,
    name       text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email ON users (tenant_id, lower(email));
