-- Archiving a payload took a KEY SHARE lock on its account's row (the foreign key check), and
-- concurrent archive batches for one account turned that lock into a MultiXact each time: the
-- largest PostgreSQL cost per webhook. Accounts are never deleted (widgets are marked deleted),
-- and a payload is archived only after its account was looked up, so the check guarded nothing.
ALTER TABLE raw_payloads DROP CONSTRAINT raw_payloads_account_id_fkey;
