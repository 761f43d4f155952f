-- No foreign key from messages to conversations. Its check ran one query per stored message
-- (about a seventh of inbound storing's time, measured with `just bench ingest`). The invariant
-- it guarded holds by locking: every writer of a message locks its conversation row first
-- (inbound batches, replies, AI messages, hand-offs), and deleting conversations locks them
-- before deleting their messages, in the same transaction. A message therefore never outlives
-- its conversation (test: `bulk_delete_racing_inbound_leaves_no_orphans`).
ALTER TABLE messages DROP CONSTRAINT messages_tenant_id_conversation_id_fkey;
