//! Per-person read state: the last message each person read in a conversation, and how many
//! customer messages came after it. Lists read it with one indexed join
//! (`visibility::select_conversations`).

use uuid::Uuid;

use super::{ConversationStore, StoreError};

/// Where a person stands in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReadState {
    pub conversation_id: Uuid,
    pub last_read_message_id: Uuid,
    /// Customer messages stored after it.
    pub unread: i64,
}

impl ConversationStore {
    /// Marks the conversation read by `agent_id` up to `message_id`. Monotonic and idempotent:
    /// a message sent before the one already marked (by sent time, then id) leaves the mark
    /// where it is, and the same one again changes nothing. The caller checks that the person
    /// may see the conversation. `Invalid` when the message is not one of the conversation's.
    pub async fn mark_read(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        agent_id: Uuid,
        message_id: Uuid,
    ) -> Result<ReadState, StoreError> {
        // The customer messages up to the read one are the conversation's count minus those
        // after it: reading the newest message (the usual case) counts nothing. The statement
        // sees the mark as it was before it (`kept`, when the new one is not further on) or as
        // it wrote it (`marked`).
        let marked: Option<ReadState> = sqlx::query_as(
            "WITH target AS ( \
               SELECT m.id, m.sent_at, c.customer_messages - ( \
                 SELECT count(*) FROM messages x \
                 WHERE x.tenant_id = $1 AND x.conversation_id = $2 AND x.sender_kind = 'customer' \
                   AND (x.sent_at, x.id) > (m.sent_at, m.id)) AS customer_messages_read \
               FROM messages m JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id \
               WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.id = $4), \
             marked AS ( \
               INSERT INTO conversation_reads AS r (tenant_id, conversation_id, agent_id, last_read_message_id, \
                 last_read_sent_at, customer_messages_read, updated_at) \
               SELECT $1, $2, $3, id, sent_at, customer_messages_read, $5 FROM target \
               ON CONFLICT (tenant_id, conversation_id, agent_id) DO UPDATE SET \
                 last_read_message_id = EXCLUDED.last_read_message_id, \
                 last_read_sent_at = EXCLUDED.last_read_sent_at, \
                 customer_messages_read = GREATEST(r.customer_messages_read, EXCLUDED.customer_messages_read), \
                 updated_at = EXCLUDED.updated_at \
               WHERE (EXCLUDED.last_read_sent_at, EXCLUDED.last_read_message_id) \
                 > (r.last_read_sent_at, r.last_read_message_id) \
               RETURNING r.last_read_message_id, r.customer_messages_read), \
             kept AS ( \
               SELECT r.last_read_message_id, r.customer_messages_read FROM conversation_reads r \
               WHERE r.tenant_id = $1 AND r.conversation_id = $2 AND r.agent_id = $3 \
                 AND EXISTS (SELECT 1 FROM target) AND NOT EXISTS (SELECT 1 FROM marked)) \
             SELECT c.id AS conversation_id, s.last_read_message_id, \
               GREATEST(c.customer_messages - s.customer_messages_read, 0) AS unread \
             FROM (SELECT * FROM marked UNION ALL SELECT * FROM kept) s, conversations c \
             WHERE c.tenant_id = $1 AND c.id = $2",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(agent_id)
        .bind(message_id)
        .bind(self.now())
        .fetch_optional(&self.pool)
        .await?;
        marked.ok_or_else(|| StoreError::Invalid("last_read_message_id is not a message of this conversation".into()))
    }
}
