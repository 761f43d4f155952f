-- Every batch rewrites the state rows of the conversations it touches; room left in each page
-- lets most of those rewrites stay on their page (HOT), without touching the indexes.
ALTER TABLE conversation_states SET (fillfactor = 80);
