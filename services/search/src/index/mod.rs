//! The search index on local disk: one tantivy index per schema version under
//! `search.index_dir/v<version>`, one writer, and the in-memory tables of what it holds.

pub mod schema;
pub mod search;
pub mod state;
pub mod writer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use tantivy::directory::MmapDirectory;
use tantivy::index::SegmentId;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};
use uuid::Uuid;

use crate::domain::text::{FOLDED, STEMMED, folded_analyzer, stemmed_analyzer};
use schema::{DocKind, Fields, SCHEMA_VERSION};
use state::{ConversationState, CustomerState, Tables, conv_key};

/// The index failed: I/O, a corrupt segment, a full disk.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("index directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("index: {0}")]
    Corrupt(String),
}

/// Sizing of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Indexing threads.
    pub threads: usize,
    /// Memory budget of the writer, shared by its threads (at least 15 MB each).
    pub memory_bytes: usize,
}

/// The index, its writer and its tables. Shared behind an `Arc`; tantivy work is blocking,
/// so callers run it on blocking threads.
pub struct SearchIndex {
    reader: IndexReader,
    fields: Fields,
    writer: Mutex<IndexWriter>,
    tables: RwLock<Tables>,
    /// Per segment of the current searcher, each document's conversation ordinal.
    ordinals: Mutex<HashMap<SegmentId, Arc<[u32]>>>,
    /// This index was created empty (fresh disk or a new schema version) and has not caught up
    /// with the stream and rebuilt its tenants yet; a marker file keeps this across restarts.
    bootstrapping: AtomicBool,
    directory: PathBuf,
    events_indexed: AtomicU64,
    last_commit_micros: AtomicI64,
}

/// A document without a known conversation, in [`SearchIndex::segment_ordinals`].
pub const NO_ORDINAL: u32 = u32::MAX;

/// Present in an index directory until the index has caught up after being created empty.
const BOOTSTRAP_MARKER: &str = "bootstrap";

/// What `search.index_dir` holds besides the index: a replica id, stable across restarts.
pub fn replica_id(root: &Path) -> std::io::Result<String> {
    let path = root.join("replica-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) | Err(_) => {
            let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
            let temp = root.join("replica-id.tmp");
            std::fs::write(&temp, &id)?;
            std::fs::rename(&temp, &path)?;
            Ok(id)
        }
    }
}

/// The directory of the index of `version` under `root`.
pub fn version_dir(root: &Path, version: u32) -> PathBuf {
    root.join(format!("v{version}"))
}

/// Directories of indexes of older schema versions under `root`.
pub fn older_versions(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else { return vec![] };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix('v'))
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|v| v != SCHEMA_VERSION)
        })
        .collect()
}

impl SearchIndex {
    /// Opens the index of this schema version under `root`, creating it when missing, and
    /// loads its tables.
    pub fn open(root: &Path, options: WriterOptions) -> Result<Self, IndexError> {
        let directory = version_dir(root, SCHEMA_VERSION);
        std::fs::create_dir_all(&directory)?;
        let (schema, fields) = schema::build();
        let created = !directory.join("meta.json").exists();
        let marker = directory.join(BOOTSTRAP_MARKER);
        if created {
            std::fs::write(&marker, b"")?;
        }
        let bootstrapping = marker.exists();
        let index = Index::open_or_create(MmapDirectory::open(&directory)?, schema)?;
        index.tokenizers().register(STEMMED, stemmed_analyzer());
        index.tokenizers().register(FOLDED, folded_analyzer());
        let writer = index.writer_with_num_threads(options.threads.max(1), options.memory_bytes)?;
        // Results read their conversation and best message from the document store: keep the
        // blocks read lately decompressed.
        let reader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).doc_store_cache_num_blocks(256).try_into()?;
        let search_index = Self {
            reader,
            fields,
            writer: Mutex::new(writer),
            tables: RwLock::new(Tables::default()),
            ordinals: Mutex::new(HashMap::new()),
            bootstrapping: AtomicBool::new(bootstrapping),
            directory,
            events_indexed: AtomicU64::new(0),
            last_commit_micros: AtomicI64::new(0),
        };
        let tables = search_index.load_tables()?;
        *search_index.tables_mut() = tables;
        Ok(search_index)
    }

    /// Whether this index was created empty and is still catching up: tenants it sees are
    /// rebuilt from the conversation service.
    pub fn bootstrapping(&self) -> bool {
        self.bootstrapping.load(Ordering::Relaxed)
    }

    /// The index caught up with the stream and rebuilt every tenant it knew.
    pub fn finish_bootstrap(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.directory.join(BOOTSTRAP_MARKER)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.bootstrapping.store(false, Ordering::Relaxed);
        Ok(())
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    pub fn tables(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tables_mut(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn events_indexed(&self) -> u64 {
        self.events_indexed.load(Ordering::Relaxed)
    }

    pub fn last_commit_at(&self) -> Option<DateTime<Utc>> {
        match self.last_commit_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => DateTime::from_timestamp_micros(micros),
        }
    }

    pub fn documents(&self) -> u64 {
        self.searcher().num_docs()
    }

    /// The stored document at `address`.
    pub fn stored(&self, searcher: &Searcher, address: tantivy::DocAddress) -> Result<TantivyDocument, IndexError> {
        Ok(searcher.doc(address)?)
    }

    /// For each segment of `searcher`, in order, each document's conversation ordinal in
    /// `tables` ([`NO_ORDINAL`] when the document has no conversation, or one `tables` did not
    /// know when the segment was first read: a query then looks the document's key up).
    /// Segments never change, and ordinals are never reused, so each segment is read once.
    pub fn segment_ordinals(&self, searcher: &Searcher, tables: &Tables) -> Result<Vec<Arc<[u32]>>, IndexError> {
        let mut cache = self.ordinals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = Vec::with_capacity(searcher.segment_readers().len());
        let mut added = false;
        for segment in searcher.segment_readers() {
            if let Some(ordinals) = cache.get(&segment.segment_id()) {
                out.push(ordinals.clone());
                continue;
            }
            let conv_key = segment.fast_fields().u64("conv_key")?;
            let ordinals: Arc<[u32]> = (0..segment.max_doc())
                .map(|doc| conv_key.first(doc).and_then(|key| tables.conversations.ordinal(&key)).unwrap_or(NO_ORDINAL))
                .collect();
            cache.insert(segment.segment_id(), ordinals.clone());
            out.push(ordinals);
            added = true;
        }
        if added {
            let live: std::collections::HashSet<SegmentId> =
                searcher.segment_readers().iter().map(|s| s.segment_id()).collect();
            cache.retain(|id, _| live.contains(id));
        }
        Ok(out)
    }

    /// Reads every conversation's and customer's state from the fast fields.
    fn load_tables(&self) -> Result<Tables, IndexError> {
        let searcher = self.reader.searcher();
        let mut tables = Tables::default();
        let mut first_customer: state::KeyMap<i64> = state::KeyMap::default();
        // The customer of each conversation, from its contact document.
        let mut customers_of: state::KeyMap<Uuid> = state::KeyMap::default();
        let customer_code = u64::from(crate::domain::conversation::Sender::Customer.code());
        for segment in searcher.segment_readers() {
            let ff = segment.fast_fields();
            let kind = ff.u64("kind")?;
            let conv_key_column = ff.u64("conv_key")?;
            let version = ff.i64("version")?;
            let at = ff.i64("at")?;
            let sender = ff.u64("sender")?;
            let status = ff.u64("status")?;
            let priority = ff.u64("priority")?;
            let channel = ff.u64("channel")?;
            let fingerprint = ff.u64("fingerprint")?;
            let profile = ff.u64("profile")?;
            let text = |name: &str| -> Result<Option<tantivy::columnar::StrColumn>, IndexError> { Ok(ff.str(name)?) };
            let (tenant, conv_id, team, assignee, contact) =
                (text("tenant")?, text("conv_id")?, text("team")?, text("assignee")?, text("contact")?);
            let read = |column: &Option<tantivy::columnar::StrColumn>, doc: u32| -> Option<String> {
                let column = column.as_ref()?;
                let ord = column.term_ords(doc).next()?;
                let mut out = String::new();
                column.ord_to_str(ord, &mut out).ok()?;
                Some(out)
            };
            let uuid = |column: &Option<tantivy::columnar::StrColumn>, doc: u32| {
                read(column, doc).and_then(|s| Uuid::parse_str(&s).ok())
            };
            let alive = segment.alive_bitset();
            for doc in 0..segment.max_doc() {
                if alive.is_some_and(|a| a.is_deleted(doc)) {
                    continue;
                }
                match kind.first(doc).and_then(DocKind::from_code) {
                    Some(DocKind::Conversation | DocKind::ConversationTombstone) => {
                        let (Some(id), Some(tenant)) = (uuid(&conv_id, doc), uuid(&tenant, doc)) else {
                            return Err(IndexError::Corrupt(format!("conversation document {doc} without ids")));
                        };
                        let deleted = kind.first(doc) == Some(DocKind::ConversationTombstone.code());
                        let state = ConversationState {
                            id,
                            tenant,
                            version: version.first(doc).unwrap_or(i64::MIN),
                            deleted,
                            status: status.first(doc).unwrap_or(0) as u8,
                            priority: priority.first(doc).unwrap_or(0) as u8,
                            channel: channel.first(doc).unwrap_or(0) as u8,
                            team: uuid(&team, doc),
                            assignee: uuid(&assignee, doc),
                            contact: None,
                            last_message_at: at.first(doc).unwrap_or(0),
                            first_customer_at: i64::MAX,
                        };
                        tables.tenants.insert(tenant);
                        tables.conversations.insert(conv_key(&id), state);
                    }
                    Some(DocKind::Message) => {
                        let (Some(key), Some(sent)) = (conv_key_column.first(doc), at.first(doc)) else {
                            return Err(IndexError::Corrupt(format!(
                                "message document {doc} without its conversation"
                            )));
                        };
                        let newest = tables.newest_messages.entry(key).or_insert(i64::MIN);
                        *newest = (*newest).max(sent);
                        if sender.first(doc) == Some(customer_code) {
                            let first = first_customer.entry(key).or_insert(i64::MAX);
                            *first = (*first).min(sent);
                        }
                    }
                    Some(DocKind::ConversationContact) => {
                        let (Some(key), Some(hash)) = (conv_key_column.first(doc), fingerprint.first(doc)) else {
                            return Err(IndexError::Corrupt(format!(
                                "contact document {doc} without its conversation"
                            )));
                        };
                        tables.contacts.insert(key, hash);
                        if let Some(customer) = uuid(&contact, doc) {
                            customers_of.insert(key, customer);
                        }
                    }
                    Some(DocKind::Customer | DocKind::CustomerTombstone) => {
                        let Some(id) = uuid(&contact, doc) else {
                            return Err(IndexError::Corrupt(format!("customer document {doc} without an id")));
                        };
                        let deleted = kind.first(doc) == Some(DocKind::CustomerTombstone.code());
                        tables.customers.insert(
                            id,
                            CustomerState {
                                version: version.first(doc).unwrap_or(i64::MIN),
                                fingerprint: fingerprint.first(doc).unwrap_or(0),
                                profile: profile.first(doc) == Some(1),
                                deleted,
                            },
                        );
                    }
                    None => {}
                }
            }
        }
        for (key, customer) in customers_of {
            if let Some(state) = tables.conversations.get_mut(&key) {
                state.contact = Some(customer);
            }
        }
        for (key, first) in first_customer {
            if let Some(state) = tables.conversations.get_mut(&key) {
                state.first_customer_at = first;
            } else {
                // Messages of a conversation whose own document is not indexed yet.
                tracing::debug!(conv_key = key, "customer messages without their conversation");
            }
        }
        Ok(tables)
    }
}

/// Creates the index directory and proves it writable, so a bad volume stops the service at
/// start rather than at its first commit.
pub async fn prepare_index_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let probe = dir.join(".write-probe");
    tokio::fs::write(&probe, b"").await?;
    tokio::fs::remove_file(&probe).await
}
