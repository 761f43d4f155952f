-- Channel secrets sealed at rest (AES-256-GCM, see src/secrets.rs): the app secret, access
-- token and verify token of an account are one sealed value under a configured key named by
-- `secrets_key_id`. The clear columns are emptied by the service when it starts (SQL cannot
-- seal: the keys live in the service's configuration, never in the database) and, once a row is
-- sealed, must stay empty.
ALTER TABLE channel_accounts
    ADD COLUMN secrets_key_id      text,
    ADD COLUMN secrets_sealed      bytea,
    -- Meta's GET handshake names no number, only the verify token: found by its SHA-256.
    ADD COLUMN verify_token_sha256 bytea;

UPDATE channel_accounts SET verify_token_sha256 = sha256(convert_to(verify_token, 'UTF8'))
WHERE verify_token <> '';

CREATE INDEX channel_accounts_verify_token ON channel_accounts (verify_token_sha256)
    WHERE channel = 'whatsapp' AND verify_token_sha256 IS NOT NULL;

ALTER TABLE channel_accounts ADD CONSTRAINT channel_accounts_sealed_secrets_not_in_clear
    CHECK (secrets_key_id IS NULL OR (app_secret = '' AND verify_token = '' AND access_token = ''));
