-- The sequence of the last routing assignment applied to each conversation: routing's events
-- carry a per-conversation sequence, and an older or repeated one is ignored.
ALTER TABLE conversations ADD COLUMN routing_sequence bigint NOT NULL DEFAULT 0;
