-- A deleted widget stops answering (its key is unknown to the visitor API) but keeps its row:
-- archived payloads and visitors still name its channel account.
ALTER TABLE webchat_widgets ADD COLUMN deleted_at timestamptz;
