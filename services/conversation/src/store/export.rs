//! Reading whole conversations, with every message, for export.

use std::collections::HashMap;

use sqlx::QueryBuilder;
use uuid::Uuid;

use super::rows::MESSAGE_COLUMNS;
use super::visibility::{Viewer, push_notes, select_conversations};
use super::{ConversationRow, ConversationStore, MessageRow, StoreError};

/// A conversation with all its messages, oldest first.
#[derive(Debug, Clone)]
pub struct ConversationHistory {
    pub conversation: ConversationRow,
    pub messages: Vec<MessageRow>,
}

impl ConversationStore {
    /// The tenant's conversations among `ids` that `viewer` may see, each with all its
    /// messages in the order the senders sent them (without internal notes for a viewer
    /// without them), in the order of `ids`. Ids unknown to the tenant or not the viewer's to
    /// see are left out (the caller names them). Both reads see one snapshot, so a message
    /// arriving meanwhile is either in the export with its conversation or not at all.
    pub async fn conversation_histories(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
        viewer: &Viewer,
    ) -> Result<Vec<ConversationHistory>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        // Read as the service: an export carries no one's read state.
        let mut qb = select_conversations(tenant_id, &Viewer { user_id: None, ..viewer.clone() });
        qb.push(" AND c.id = ANY(").push_bind(ids.to_vec()).push(")");
        let conversations: Vec<ConversationRow> = qb.build_query_as().fetch_all(&mut *tx).await?;
        let visible: Vec<Uuid> = conversations.iter().map(|c| c.id).collect();
        let mut qb = QueryBuilder::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.tenant_id = "));
        qb.push_bind(tenant_id).push(" AND m.conversation_id = ANY(").push_bind(visible).push(")");
        push_notes(&mut qb, viewer, "m");
        qb.push(" ORDER BY m.conversation_id, m.sent_at, m.id");
        let messages: Vec<MessageRow> = qb.build_query_as().fetch_all(&mut *tx).await?;
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
