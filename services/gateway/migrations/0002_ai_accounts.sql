-- The tenant's AI agent signs in as a user with role 'ai' (AI messages, summaries).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'supervisor', 'agent', 'ai'));
