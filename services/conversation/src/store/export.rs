//! Reading whole conversations, with every message, for export: page by page on one snapshot,
//! so an export of any size holds one page in memory.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::rows::MESSAGE_COLUMNS;
use super::visibility::{Viewer, push_notes, push_visible, select_conversations};
use super::{ConversationRow, ConversationStore, MessageRow, StoreError};

/// A read of the tenant's conversations as `viewer` may see them, on one snapshot of the
/// database: a message arriving meanwhile is either in the export with its conversation or not
/// at all. Holds one pooled connection until dropped.
pub struct HistoryReader {
    tx: Transaction<'static, Postgres>,
    tenant_id: Uuid,
    viewer: Viewer,
}

/// Where a page of messages ends: the next page starts after it.
pub type MessagePosition = (DateTime<Utc>, Uuid);

impl ConversationStore {
    /// Opens a read-only snapshot of the tenant's conversations for `viewer`.
    pub async fn history_reader(&self, tenant_id: Uuid, viewer: &Viewer) -> Result<HistoryReader, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        Ok(HistoryReader { tx, tenant_id, viewer: viewer.clone() })
    }
}

impl HistoryReader {
    /// Those of `ids` the tenant has and the viewer may see.
    pub async fn visible(&mut self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let mut qb = QueryBuilder::new("SELECT c.id FROM conversations c WHERE c.tenant_id = ");
        qb.push_bind(self.tenant_id).push(" AND c.id = ANY(").push_bind(ids.to_vec()).push(")");
        push_visible(&mut qb, &self.viewer.visibility);
        Ok(qb.build_query_scalar().fetch_all(&mut *self.tx).await?)
    }

    /// The conversations among `ids` the viewer may see, in the order of `ids`.
    pub async fn conversations(&mut self, ids: &[Uuid]) -> Result<Vec<ConversationRow>, StoreError> {
        // Read as the service: an export carries no one's read state.
        let mut qb = select_conversations(self.tenant_id, &Viewer { user_id: None, ..self.viewer.clone() });
        qb.push(" AND c.id = ANY(").push_bind(ids.to_vec()).push(")");
        let mut rows: Vec<ConversationRow> = qb.build_query_as().fetch_all(&mut *self.tx).await?;
        rows.sort_by_key(|row| ids.iter().position(|id| *id == row.id));
        Ok(rows)
    }

    /// Up to `limit` messages of the conversation, in the order the senders sent them, after
    /// `after` (from the first when `None`), without internal notes for a viewer without them.
    pub async fn messages(
        &mut self,
        conversation_id: Uuid,
        after: Option<MessagePosition>,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let mut qb = QueryBuilder::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.tenant_id = "));
        qb.push_bind(self.tenant_id).push(" AND m.conversation_id = ").push_bind(conversation_id);
        if let Some((sent_at, id)) = after {
            qb.push(" AND (m.sent_at, m.id) > (").push_bind(sent_at).push(", ").push_bind(id).push(")");
        }
        push_notes(&mut qb, &self.viewer, "m");
        qb.push(" ORDER BY m.sent_at, m.id LIMIT ").push_bind(limit);
        Ok(qb.build_query_as().fetch_all(&mut *self.tx).await?)
    }

    /// Ends the read.
    pub async fn close(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}
