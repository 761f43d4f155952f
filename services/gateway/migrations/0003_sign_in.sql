-- Sign-in for people (passwords, sessions with rotating refresh tokens) and API keys for
-- machines. Every time a rule compares with the clock is written from the gateway's clock.

-- NULL password_hash: the user cannot sign in with a password (operator-minted tokens only).
ALTER TABLE users ADD COLUMN password_hash text;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;
-- Set while the user is disabled: no sign-in, no token, no socket.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
-- Every credential issued before this instant is refused (revoke-all, disable); tokens from
-- before sessions existed carry no session and are judged by it alone.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;

-- One sign-in (kind 'sign_in', refreshed by rotating refresh tokens: the session is the
-- token family), or one operator-minted token for automation (kind 'minted').
CREATE TABLE sessions (
    id             uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES tenants (id),
    user_id        uuid        NOT NULL REFERENCES users (id),
    kind           text        NOT NULL CHECK (kind IN ('sign_in', 'minted')),
    -- Who minted it (`operator`, `user:<id>`); NULL for a sign-in.
    minted_by      text,
    client_address text,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);

CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens by the SHA-256 of their secret. A token is used once; using it again is
-- theft and ends its session.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Keys for machines: `ik_<id>_<secret>`, kept as the SHA-256 of the 256-bit secret.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    name         text        NOT NULL,
    scope        text        NOT NULL CHECK (scope IN ('ai_agent', 'integration', 'read_only')),
    secret_hash  bytea       NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);
