-- Replay finds a visitor message from its archived payload by the widget's idempotency key
-- (the payload names no visitor: the visitor comes from the bearer token).
CREATE INDEX webchat_messages_by_client_id ON webchat_messages (tenant_id, client_message_id)
    WHERE sender = 'visitor';
