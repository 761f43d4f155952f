-- Telephony (Twilio Programmable Voice): a number's Account SID and how it answers calls.
-- For `channel = 'telephony'`: external_id is the number (E.164), app_secret the auth token.
ALTER TABLE channel_accounts ADD COLUMN config jsonb NOT NULL DEFAULT '{}'::jsonb;
