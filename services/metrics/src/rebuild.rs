//! Rebuilds: every conversation with activity since a date, read back from the conversation
//! service's history (`ListConversations`, `ListMessages`, `ListStatusChanges`) and folded
//! again. What the history holds is added to what the events told (facts are identified, so
//! nothing counts twice) and every touched conversation's contributions are recomputed.
//!
//! The history has no hand-off flags ("needs human" and its reason), releases to the AI,
//! assignments, nor the team and assignee at each moment: a conversation rebuilt from history
//! alone uses its current team and assignee, and counts a hand-off only at a take-over.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use inbox_config::Secret;
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::conversation::v1::{
    Conversation, ConversationFilter, ListConversationsRequest, ListMessagesRequest, ListStatusChangesRequest,
    SortOrder, TimeField, TimeWindow,
};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::events::facts::{point_of_message, point_of_status_change, snapshot_of};
use crate::store::fold::ConversationChange;
use crate::store::rebuilds::Rebuild;
use crate::store::{MetricsStore, StoreError};
use crate::zones::{TenantZones, service_context};

/// Conversations listed per page (each page is folded in one transaction).
const PAGE: u32 = 100;

/// Starts and runs rebuilds.
#[derive(Clone)]
pub struct Rebuilder {
    pub store: MetricsStore,
    pub zones: TenantZones,
    pub conversations: ConversationsClient<Channel>,
    pub token: Secret,
    /// Conversations whose history is read at once.
    pub concurrency: usize,
}

impl Rebuilder {
    /// Records a rebuild of the tenant from `from` and runs it in the background.
    pub async fn start(&self, tenant_id: Uuid, from: DateTime<Utc>) -> Result<Rebuild, StoreError> {
        let rebuild = self.store.start_rebuild(tenant_id, from).await?;
        let this = self.clone();
        let id = rebuild.id;
        tokio::spawn(async move {
            let outcome = this.run(tenant_id, id, from).await;
            let error = outcome.as_ref().err().map(String::as_str);
            match &outcome {
                Ok(done) => {
                    tracing::info!(tenant_id = %tenant_id, rebuild_id = %id, conversations = done, "rebuild done")
                }
                Err(e) => tracing::warn!(tenant_id = %tenant_id, rebuild_id = %id, error = %e, "rebuild failed"),
            }
            if let Err(e) = this.store.finish_rebuild(id, error).await {
                tracing::warn!(rebuild_id = %id, error = %e, "could not record the end of a rebuild");
            }
        });
        Ok(rebuild)
    }

    /// Folds every page of conversations active since `from`; the number of conversations.
    async fn run(&self, tenant_id: Uuid, id: Uuid, from: DateTime<Utc>) -> Result<i64, String> {
        let zone = self.zones.zone_of(tenant_id).await.map_err(|e| e.to_string())?;
        let filter = ConversationFilter {
            time_window: TimeWindow::Range as i32,
            from: Some(inbox_proto::timestamp_from(from)),
            time_field: TimeField::LastActivity as i32,
            ..Default::default()
        };
        let mut cursor = String::new();
        let mut done = 0i64;
        loop {
            let request = ListConversationsRequest {
                page: Some(PageRequest { limit: PAGE, cursor: cursor.clone() }),
                filter: Some(filter.clone()),
                sort: SortOrder::Oldest as i32,
            };
            let page = self
                .conversations
                .clone()
                .list_conversations(self.request(tenant_id, request)?)
                .await
                .map_err(|e| format!("listing conversations: {}", e.message()))?
                .into_inner();
            let histories: BTreeMap<Uuid, ConversationChange> = futures::stream::iter(page.conversations)
                .map(|c| self.history_of(tenant_id, c))
                .buffer_unordered(self.concurrency.max(1))
                .try_filter_map(|h| async move { Ok(h) })
                .try_collect()
                .await?;
            done += self.store.absorb_histories(tenant_id, zone, histories).await.map_err(|e| e.to_string())? as i64;
            self.store.rebuild_progress(id, done).await.map_err(|e| e.to_string())?;
            if page.next_cursor.is_empty() {
                return Ok(done);
            }
            cursor = page.next_cursor;
        }
    }

    fn request<T>(&self, tenant_id: Uuid, message: T) -> Result<tonic::Request<T>, String> {
        service_context(tenant_id).request(message, &self.token).map_err(|e| e.message().to_owned())
    }

    /// One conversation's history as a change to fold; `None` for one metrics cannot read.
    async fn history_of(
        &self,
        tenant_id: Uuid,
        conversation: Conversation,
    ) -> Result<Option<(Uuid, ConversationChange)>, String> {
        let (Some(snapshot), Ok(id)) = (snapshot_of(&conversation), Uuid::parse_str(&conversation.id)) else {
            return Ok(None);
        };
        let mut change = ConversationChange::default();
        if let Some(created) = snapshot.created_at {
            change.additions.set_opened(created, None);
        }
        let mut cursor = String::new();
        loop {
            let request = ListMessagesRequest {
                conversation_id: conversation.id.clone(),
                page: Some(PageRequest { limit: 200, cursor: cursor.clone() }),
            };
            let page = self
                .conversations
                .clone()
                .list_messages(self.request(tenant_id, request)?)
                .await
                .map_err(|e| format!("listing messages of {id}: {}", e.message()))?
                .into_inner();
            for message in &page.messages {
                if let Some(point) = point_of_message(message, &snapshot) {
                    change.additions.insert(point);
                }
            }
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = page.next_cursor;
        }
        let changes = self
            .conversations
            .clone()
            .list_status_changes(
                self.request(tenant_id, ListStatusChangesRequest { conversation_id: conversation.id.clone() })?,
            )
            .await
            .map_err(|e| format!("listing status changes of {id}: {}", e.message()))?
            .into_inner();
        for c in &changes.changes {
            if let Some(point) = point_of_status_change(c, &snapshot) {
                change.additions.insert(point);
            }
        }
        change.snapshot = Some(snapshot);
        Ok(Some((id, change)))
    }
}
