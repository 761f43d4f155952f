//! Rebuilding a tenant's part of the index from the conversation service, while live events
//! keep flowing.
//!
//! No gap: the consumer runs throughout, and the rebuild reads each conversation after it
//! started. A change the listing missed (a conversation that moved in the listing's order
//! while it was read) arrives as an event, which the index applies too; whichever of event
//! and snapshot is newer wins by version, so their order does not matter. At the end, the
//! tenant's conversations the conversation service no longer has, and that no event touched
//! since the rebuild began, are removed (a delete that was missed).
//!
//! The conversation service offers no stream of a tenant's history yet: the rebuild pages
//! through `Conversations/ListConversations` (oldest first, 200 a page), reads each
//! conversation's messages with `ListMessages` (`search.rebuild_concurrency` at a time) and
//! each customer with `Customers/GetCustomer`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use inbox_service::Clock;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::documents::{ConversationDoc, MessageDoc};
use crate::error::SearchError;
use crate::index::SearchIndex;
use crate::index::writer::Change;
use crate::peers::Peers;

/// Changes written per commit during a rebuild.
const CHANGES_PER_COMMIT: usize = 2_000;
/// Rebuilds remembered for the status.
const HISTORY: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildState {
    Running,
    Done,
    Failed,
}

impl RebuildState {
    pub fn as_str(self) -> &'static str {
        match self {
            RebuildState::Running => "running",
            RebuildState::Done => "done",
            RebuildState::Failed => "failed",
        }
    }
}

/// One rebuild of one tenant, as far as it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildRecord {
    pub tenant: Uuid,
    pub state: RebuildState,
    pub conversations: u64,
    pub messages: u64,
    pub customers: u64,
    pub removed: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: String,
}

#[derive(Default)]
struct Book {
    /// Running tenants, and whether another rebuild was asked for meanwhile.
    running: HashMap<Uuid, bool>,
    history: VecDeque<RebuildRecord>,
}

/// Runs rebuilds, one at a time per tenant.
pub struct Rebuilds {
    index: Arc<SearchIndex>,
    peers: Arc<Peers>,
    clock: Clock,
    concurrency: usize,
    book: Mutex<Book>,
    shutdown: CancellationToken,
}

impl Rebuilds {
    pub fn new(
        index: Arc<SearchIndex>,
        peers: Arc<Peers>,
        clock: Clock,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self { index, peers, clock, concurrency: concurrency.max(1), book: Mutex::default(), shutdown })
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts rebuilding `tenant`; if a rebuild of it is running, one more follows it.
    pub fn request(self: &Arc<Self>, tenant: Uuid) {
        {
            let mut book = self.book();
            if let Some(again) = book.running.get_mut(&tenant) {
                *again = true;
                return;
            }
            book.running.insert(tenant, false);
        }
        let this = self.clone();
        tokio::spawn(async move { this.run(tenant).await });
    }

    /// Whether any rebuild is running.
    pub fn busy(&self) -> bool {
        !self.book().running.is_empty()
    }

    /// Recent rebuilds, newest first (all tenants when `tenant` is `None`).
    pub fn history(&self, tenant: Option<Uuid>) -> Vec<RebuildRecord> {
        self.book().history.iter().rev().filter(|r| tenant.is_none_or(|t| r.tenant == t)).cloned().collect()
    }

    async fn run(self: Arc<Self>, tenant: Uuid) {
        loop {
            let started_at = self.clock.now();
            let mut record = RebuildRecord {
                tenant,
                state: RebuildState::Running,
                conversations: 0,
                messages: 0,
                customers: 0,
                removed: 0,
                started_at,
                finished_at: None,
                error: String::new(),
            };
            self.record(&record);
            tracing::info!(tenant_id = %tenant, "rebuild started");
            let outcome = tokio::select! {
                outcome = self.rebuild(tenant, &mut record) => outcome,
                _ = self.shutdown.cancelled() => Err(SearchError::Invalid("stopped by shutdown".into())),
            };
            record.finished_at = Some(self.clock.now());
            match outcome {
                Ok(()) => {
                    record.state = RebuildState::Done;
                    tracing::info!(
                        tenant_id = %tenant,
                        conversations = record.conversations,
                        messages = record.messages,
                        customers = record.customers,
                        removed = record.removed,
                        "rebuild done"
                    );
                }
                Err(e) => {
                    record.state = RebuildState::Failed;
                    record.error = e.to_string();
                    tracing::warn!(tenant_id = %tenant, error = %e, "rebuild failed");
                }
            }
            self.record(&record);
            let mut book = self.book();
            match book.running.get_mut(&tenant) {
                Some(again) if *again && !self.shutdown.is_cancelled() => *again = false,
                _ => {
                    book.running.remove(&tenant);
                    return;
                }
            }
        }
    }

    fn record(&self, record: &RebuildRecord) {
        let mut book = self.book();
        if let Some(existing) =
            book.history.iter_mut().rev().find(|r| r.tenant == record.tenant && r.started_at == record.started_at)
        {
            *existing = record.clone();
            return;
        }
        if book.history.len() == HISTORY {
            book.history.pop_front();
        }
        book.history.push_back(record.clone());
    }

    async fn apply(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        if changes.is_empty() {
            return Ok(());
        }
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.apply(&changes, 0)).await??;
        Ok(())
    }

    async fn rebuild(&self, tenant: Uuid, record: &mut RebuildRecord) -> Result<(), SearchError> {
        // What the index holds now: whatever is still at this version at the end, and was not
        // listed, no longer exists.
        let before: HashMap<Uuid, i64> = self
            .index
            .tables()
            .conversations
            .values()
            .filter(|c| c.tenant == tenant && !c.deleted)
            .map(|c| (c.id, c.version))
            .collect();
        let mut listed: HashSet<Uuid> = HashSet::new();
        let mut customers: HashSet<Uuid> = HashSet::new();
        let mut cursor = String::new();
        loop {
            let page = self.peers.conversations(tenant, cursor).await?;
            let docs: Vec<ConversationDoc> = page
                .conversations
                .iter()
                .filter_map(|c| match ConversationDoc::from_proto(c) {
                    Ok(doc) if doc.tenant == tenant => Some(doc),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(tenant_id = %tenant, error = %e, "conversation not indexable");
                        None
                    }
                })
                .collect();
            let with_messages: Vec<(ConversationDoc, Result<Vec<_>, SearchError>)> = futures::stream::iter(docs)
                .map(|doc| async move {
                    let messages = self.peers.messages(tenant, &doc.id.to_string()).await;
                    (doc, messages)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            let mut changes = Vec::new();
            for (doc, messages) in with_messages {
                let messages = messages?;
                listed.insert(doc.id);
                record.conversations += 1;
                if let Some(contact) = &doc.contact {
                    customers.insert(contact.id);
                }
                changes.push(Change::Conversation(doc.clone()));
                for m in &messages {
                    match MessageDoc::from_proto(m) {
                        Ok(message) if message.conversation_id == doc.id => {
                            record.messages += 1;
                            changes.push(Change::Message { message, conversation: doc.clone() });
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(tenant_id = %tenant, error = %e, "message not indexable"),
                    }
                }
                if changes.len() >= CHANGES_PER_COMMIT {
                    self.apply(std::mem::take(&mut changes)).await?;
                }
            }
            self.apply(changes).await?;
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = page.next_cursor;
        }

        let profiles: Vec<(Uuid, Result<_, SearchError>)> = futures::stream::iter(customers)
            .map(|id| async move { (id, self.peers.customer(tenant, id).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut changes = Vec::new();
        for (id, profile) in profiles {
            match profile? {
                Some(profile) if profile.tenant == tenant => {
                    record.customers += 1;
                    changes.push(Change::Customer(profile));
                }
                Some(_) => {}
                None => changes.push(Change::CustomerGone { tenant, id }),
            }
        }
        self.apply(changes).await?;

        let gone: Vec<Change> = {
            let tables = self.index.tables();
            before
                .iter()
                .filter(|(id, version)| {
                    !listed.contains(id)
                        && tables.conversation(id).is_some_and(|c| !c.deleted && c.version == **version)
                })
                .map(|(id, _)| Change::ConversationDeleted { tenant, id: *id })
                .collect()
        };
        record.removed = gone.len() as u64;
        self.apply(gone).await
    }
}

/// The tenants an index of any schema version holds (to rebuild them into a new version).
pub fn tenants_of_index(dir: &Path) -> Vec<Uuid> {
    let read = || -> Result<Vec<Uuid>, tantivy::TantivyError> {
        let index = tantivy::Index::open_in_dir(dir)?;
        let field = index.schema().get_field("tenant")?;
        let searcher = index.reader()?.searcher();
        let mut tenants = HashSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut stream = inverted.terms().stream()?;
            while stream.advance() {
                if let Some(tenant) = std::str::from_utf8(stream.key()).ok().and_then(|s| Uuid::parse_str(s).ok()) {
                    tenants.insert(tenant);
                }
            }
        }
        Ok(tenants.into_iter().collect())
    };
    read().unwrap_or_else(|e| {
        tracing::warn!(directory = %dir.display(), error = %e, "older index unreadable; its tenants are rebuilt as they appear");
        vec![]
    })
}
