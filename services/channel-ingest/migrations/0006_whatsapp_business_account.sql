-- Webhooks of fields other than `messages` (template status, account and quality updates) name
-- only the WhatsApp Business Account (`entry[].id`): its numbers are found by it.
CREATE INDEX channel_accounts_whatsapp_business ON channel_accounts ((config->>'business_account_id'))
    WHERE channel = 'whatsapp';
