-- When the conversation's status last changed: a clock first seen while Pending counts the
-- time it ran before the pause.
ALTER TABLE conversations ADD COLUMN status_changed_at timestamptz;
