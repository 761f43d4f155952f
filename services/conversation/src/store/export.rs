//! Reading whole conversations, with every message, for export.

use std::collections::HashMap;

use uuid::Uuid;

use super::rows::{CONVERSATION_COLUMNS, MESSAGE_COLUMNS};
use super::{ConversationRow, ConversationStore, MessageRow, StoreError};

/// A conversation with all its messages, oldest first.
#[derive(Debug, Clone)]
pub struct ConversationHistory {
    pub conversation: ConversationRow,
    pub messages: Vec<MessageRow>,
}

impl ConversationStore {
    /// The tenant's conversations among `ids`, each with all its messages in the order the
    /// senders sent them, in the order of `ids`. Ids unknown to the tenant are left out (the
    /// caller names them). Both reads see one snapshot, so a message arriving meanwhile is
    /// either in the export with its conversation or not at all.
    pub async fn conversation_histories(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<ConversationHistory>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        let conversations: Vec<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
             JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id \
             WHERE c.tenant_id = $1 AND c.id = ANY($2)"
        )))
        .bind(tenant_id)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        let messages: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND conversation_id = ANY($2) \
             ORDER BY conversation_id, sent_at, id"
        )))
        .bind(tenant_id)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let mut by_conversation: HashMap<Uuid, Vec<MessageRow>> = HashMap::new();
        for message in messages {
            by_conversation.entry(message.conversation_id).or_default().push(message);
        }
        let mut found: HashMap<Uuid, ConversationRow> = conversations.into_iter().map(|c| (c.id, c)).collect();
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id))
            .map(|conversation| ConversationHistory {
                messages: by_conversation.remove(&conversation.id).unwrap_or_default(),
                conversation,
            })
            .collect())
    }
}
