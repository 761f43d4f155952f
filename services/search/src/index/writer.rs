//! Applying changes: a batch of them in one commit, each checked against the version the
//! index holds, so that a repeated or late event changes nothing.
//!
//! - a conversation is rewritten only by a newer version (its `version` increases with every
//!   change in the conversation service); a deleted one never comes back;
//! - a message is written under its id: a repeat replaces it with itself (a message sent after
//!   every message of its conversation in the index cannot be a repeat, and is only added);
//! - a customer is rewritten when a conversation shows a newer name or a new phone, or when
//!   its whole profile arrives; a merged-away customer never comes back.
//!
//! Nothing is visible, nor acknowledged by the caller, before the commit.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{IndexWriter, Searcher, TantivyDocument, Term};
use uuid::Uuid;

use super::schema::{DocKind, Fields};
use super::state::{ConversationState, CustomerState, KeyMap, Tables, contact_key, conv_key};
use super::{IndexError, SearchIndex};
use crate::documents::{ConversationDoc, CustomerProfile, MessageDoc};
use crate::domain::conversation::Sender;
use crate::domain::phone::PhoneDigits;

/// One change to the index.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A conversation's new state (any conversation event).
    Conversation(ConversationDoc),
    /// A message, with its conversation after it.
    Message { message: MessageDoc, conversation: ConversationDoc },
    /// A conversation and its messages are gone.
    ConversationDeleted { tenant: Uuid, id: Uuid },
    /// A customer's whole profile, from the conversation service.
    Customer(CustomerProfile),
    /// A customer no longer exists (merged into another).
    CustomerGone { tenant: Uuid, id: Uuid },
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Documents written or deleted.
    pub operations: usize,
    /// Changes that the index already held (repeats, older versions, deleted things).
    pub skipped: usize,
    /// Tenants this index saw for the first time.
    pub new_tenants: Vec<Uuid>,
    /// Whether a commit was made (nothing to write makes none).
    pub committed: bool,
}

/// The batch's changes to the tables, merged in after the commit.
#[derive(Default)]
struct Overlay {
    conversations: KeyMap<ConversationState>,
    /// The keys of `conversations` in the order the batch first touched them: new
    /// conversations take their ordinals in this order, close to the order of their documents
    /// in the batch's segment, so that a query reads their states in memory order.
    touched: Vec<u64>,
    customers: HashMap<Uuid, CustomerState>,
    /// Customers written in this batch (not yet readable from the index).
    customer_docs: HashMap<Uuid, CustomerProfile>,
    /// Conversations to write at the end of the batch, at their newest version.
    conversation_docs: KeyMap<ConversationDoc>,
    /// The batch's changes to `Tables::newest_messages`.
    newest_messages: KeyMap<i64>,
    /// The batch's changes to `Tables::contacts` (0: the conversation has no contact document).
    contacts: KeyMap<u64>,
    applied: Applied,
}

impl Overlay {
    fn remember(&mut self, key: u64, state: ConversationState) {
        if self.conversations.insert(key, state).is_none() {
            self.touched.push(key);
        }
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn hash_of(value: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    // 0 means "no address".
    hasher.finish().max(1)
}

impl SearchIndex {
    /// Applies `changes` in order and commits them together; `events` is how many bus events
    /// they came from. On error nothing of the batch stays.
    pub fn apply(&self, changes: &[Change], events: u64) -> Result<Applied, IndexError> {
        let started = std::time::Instant::now();
        let mut writer = self.writer();
        let staged = {
            let tables = self.tables();
            let searcher = self.searcher();
            let mut stage = Stage {
                fields: self.fields(),
                writer: &writer,
                tables: &tables,
                searcher: &searcher,
                overlay: Overlay::default(),
            };
            changes
                .iter()
                .try_for_each(|change| stage.apply(change))
                .and_then(|()| stage.flush_conversations())
                .map(|()| stage.overlay)
        };
        let mut overlay = match staged {
            Ok(overlay) => overlay,
            Err(e) => {
                writer.rollback()?;
                return Err(e);
            }
        };
        let staged_at = started.elapsed();
        if overlay.applied.operations > 0 {
            let committed = writer.prepare_commit().and_then(|mut prepared| {
                prepared.set_payload(&format!("{{\"schema\":{}}}", super::schema::SCHEMA_VERSION));
                prepared.commit()
            });
            if let Err(e) = committed {
                writer.rollback()?;
                return Err(e.into());
            }
            overlay.applied.committed = true;
            let committed_at = started.elapsed();
            self.reader.reload()?;
            tracing::debug!(
                stage_ms = staged_at.as_millis() as u64,
                commit_ms = (committed_at - staged_at).as_millis() as u64,
                reload_ms = (started.elapsed() - committed_at).as_millis() as u64,
                segments = self.reader.searcher().segment_readers().len(),
                "index commit"
            );
            let mut tables = self.tables_mut();
            for key in overlay.touched {
                let Some(state) = overlay.conversations.remove(&key) else { continue };
                if !tables.tenants.contains(&state.tenant) {
                    tables.tenants.insert(state.tenant);
                    overlay.applied.new_tenants.push(state.tenant);
                }
                tables.conversations.insert(key, state);
            }
            tables.customers.extend(overlay.customers);
            tables.newest_messages.extend(overlay.newest_messages);
            for (key, fingerprint) in overlay.contacts {
                match fingerprint {
                    0 => tables.contacts.remove(&key),
                    _ => tables.contacts.insert(key, fingerprint),
                };
            }
            drop(tables);
            self.last_commit_micros.store(Utc::now().timestamp_micros(), std::sync::atomic::Ordering::Relaxed);
            // The new segments' ordinals, read here rather than by the next query (which reads
            // them itself should this fail).
            if let Err(e) = self.segment_ordinals(&self.searcher(), &self.tables()) {
                tracing::warn!(error = %e, "reading the conversation ordinals of new segments failed");
            }
        }
        self.events_indexed.fetch_add(events, std::sync::atomic::Ordering::Relaxed);
        Ok(overlay.applied)
    }
}

struct Stage<'a> {
    fields: &'a Fields,
    writer: &'a IndexWriter,
    tables: &'a Tables,
    searcher: &'a Searcher,
    overlay: Overlay,
}

impl Stage<'_> {
    fn apply(&mut self, change: &Change) -> Result<(), IndexError> {
        match change {
            Change::Conversation(doc) => {
                if !self.upsert_conversation(doc)? {
                    self.overlay.applied.skipped += 1;
                }
            }
            Change::Message { message, conversation } => self.add_message(message, conversation)?,
            Change::ConversationDeleted { tenant, id } => self.delete_conversation(*tenant, *id)?,
            Change::Customer(profile) => self.write_profile(profile)?,
            Change::CustomerGone { tenant, id } => self.delete_customer(*tenant, *id)?,
        }
        Ok(())
    }

    fn conversation(&self, key: u64) -> Option<ConversationState> {
        self.overlay.conversations.get(&key).or_else(|| self.tables.conversations.get(&key)).cloned()
    }

    /// The latest send time among the conversation's indexed messages (`None`: it has none).
    fn newest_message(&self, key: u64) -> Option<i64> {
        self.overlay.newest_messages.get(&key).or_else(|| self.tables.newest_messages.get(&key)).copied()
    }

    fn customer(&self, id: &Uuid) -> Option<CustomerState> {
        self.overlay.customers.get(id).or_else(|| self.tables.customers.get(id)).copied()
    }

    /// The upsert key of a conversation, message or customer.
    fn key_term(&self, id: &Uuid) -> Term {
        Term::from_field_u64(self.fields.key, conv_key(id))
    }

    fn add(&mut self, document: TantivyDocument) -> Result<(), IndexError> {
        self.writer.add_document(document)?;
        self.overlay.applied.operations += 1;
        Ok(())
    }

    /// Writes the conversation when it is newer than what the index holds; `false` when not.
    fn upsert_conversation(&mut self, doc: &ConversationDoc) -> Result<bool, IndexError> {
        let key = conv_key(&doc.id);
        let current = self.conversation(key);
        if let Some(c) = &current {
            if c.id != doc.id {
                return Err(IndexError::Corrupt(format!("conversations {} and {} share a key", c.id, doc.id)));
            }
            if c.deleted || c.version >= doc.version {
                return Ok(false);
            }
        }
        // Written once per batch, at its newest version (`flush_conversations`).
        self.overlay.conversation_docs.insert(key, doc.clone());
        let state = ConversationState {
            id: doc.id,
            tenant: doc.tenant,
            version: doc.version,
            deleted: false,
            status: doc.status.map_or(0, |s| s.code()),
            priority: doc.priority.map_or(0, |p| p.code()),
            channel: doc.channel.map_or(0, |c| c.code()),
            team: doc.team,
            assignee: doc.assignee,
            contact: doc.contact.as_ref().map(|c| c.id),
            last_message_at: micros(doc.last_message_at),
            first_customer_at: current.map_or(i64::MAX, |c| c.first_customer_at),
        };
        self.overlay.remember(key, state);
        if let Some(contact) = &doc.contact {
            self.sight_customer(doc.tenant, contact, doc.address_phone.as_ref())?;
        }
        Ok(true)
    }

    /// Writes each conversation changed in the batch once, at its newest version, and its
    /// contact document when the customer, name or phone changed.
    fn flush_conversations(&mut self) -> Result<(), IndexError> {
        let docs: Vec<ConversationDoc> = self.overlay.conversation_docs.drain().map(|(_, doc)| doc).collect();
        for doc in docs {
            self.writer.delete_term(self.key_term(&doc.id));
            self.add(conversation_document(self.fields, &doc))?;
            self.write_contact(&doc)?;
        }
        Ok(())
    }

    /// Writes the conversation's contact document when its customer, name or phone differ from
    /// what the index holds (and removes it when the conversation no longer shows any).
    fn write_contact(&mut self, doc: &ConversationDoc) -> Result<(), IndexError> {
        let key = conv_key(&doc.id);
        let fingerprint = contact_fingerprint(doc);
        let current = self.overlay.contacts.get(&key).or_else(|| self.tables.contacts.get(&key)).copied().unwrap_or(0);
        if fingerprint == current {
            return Ok(());
        }
        let f = self.fields;
        if current != 0 {
            self.writer.delete_term(Term::from_field_u64(f.key, contact_key(key)));
            self.overlay.applied.operations += 1;
        }
        self.overlay.contacts.insert(key, fingerprint);
        if fingerprint == 0 {
            return Ok(());
        }
        self.add(contact_document(f, doc, fingerprint))
    }

    fn add_message(&mut self, message: &MessageDoc, conversation: &ConversationDoc) -> Result<(), IndexError> {
        let key = conv_key(&message.conversation_id);
        if message.conversation_id != conversation.id || message.tenant != conversation.tenant {
            return Err(IndexError::Corrupt(format!("message {} does not belong to its conversation", message.id)));
        }
        if self.conversation(key).is_some_and(|c| c.deleted) {
            self.overlay.applied.skipped += 1;
            return Ok(());
        }
        self.upsert_conversation(conversation)?;
        let f = self.fields;
        let sent = micros(message.sent_at);
        if self.newest_message(key).is_some_and(|newest| sent <= newest) {
            // Sent no later than a message already indexed: it may be a repeat, written again.
            self.writer.delete_term(self.key_term(&message.id));
        } else {
            self.overlay.newest_messages.insert(key, sent);
        }
        let mut d = TantivyDocument::new();
        d.add_u64(f.key, conv_key(&message.id));
        d.add_u64(f.kind, DocKind::Message.code());
        d.add_text(f.tenant, message.tenant.to_string());
        d.add_u64(f.conv_key, key);
        d.add_text(f.msg_id, message.id.to_string());
        if !message.external_id.is_empty() {
            d.add_text(f.external_id, &message.external_id);
        }
        if !message.text.is_empty() {
            d.add_text(f.body, &message.text);
            d.add_text(f.body_exact, &message.text);
            d.add_text(f.text, &message.text);
        }
        d.add_u64(f.text_source, message.source as u64);
        d.add_u64(f.sender, message.sender.map_or(0, |s| u64::from(s.code())));
        d.add_u64(f.note, u64::from(message.internal_note));
        d.add_i64(f.at, sent);
        self.add(d)?;
        if message.sender == Some(Sender::Customer) {
            let mut state = self
                .conversation(key)
                .unwrap_or_else(|| ConversationState::unknown(message.conversation_id, message.tenant));
            if sent < state.first_customer_at {
                state.first_customer_at = sent;
                self.overlay.remember(key, state);
            }
        }
        Ok(())
    }

    fn delete_conversation(&mut self, tenant: Uuid, id: Uuid) -> Result<(), IndexError> {
        let key = conv_key(&id);
        let current = self.conversation(key);
        if current.as_ref().is_some_and(|c| c.deleted) {
            self.overlay.applied.skipped += 1;
            return Ok(());
        }
        if let Some(c) = &current
            && c.tenant != tenant
        {
            return Err(IndexError::Corrupt(format!("conversation {id} deleted by another tenant")));
        }
        self.overlay.conversation_docs.remove(&key);
        let f = self.fields;
        // The conversation, its contact, its messages, and anything of it added earlier in
        // this batch.
        self.writer.delete_term(Term::from_field_u64(f.conv_key, key));
        self.overlay.contacts.insert(key, 0);
        self.overlay.applied.operations += 1;
        let mut d = TantivyDocument::new();
        d.add_u64(f.key, key);
        d.add_u64(f.kind, DocKind::ConversationTombstone.code());
        d.add_text(f.tenant, tenant.to_string());
        d.add_text(f.conv_id, id.to_string());
        d.add_u64(f.conv_key, key);
        d.add_i64(f.version, i64::MAX);
        self.add(d)?;
        let mut state = current.unwrap_or_else(|| ConversationState::unknown(id, tenant));
        state.deleted = true;
        state.version = i64::MAX;
        self.overlay.remember(key, state);
        Ok(())
    }

    /// A conversation showed its customer: index them if new, or if their name changed or
    /// they wrote from another phone.
    fn sight_customer(
        &mut self,
        tenant: Uuid,
        sighting: &crate::documents::CustomerSighting,
        phone: Option<&PhoneDigits>,
    ) -> Result<(), IndexError> {
        let address = phone.map_or(0, |p| hash_of(p.as_str()));
        let version = micros(sighting.updated_at);
        let current = self.customer(&sighting.id);
        let (profile, merged) = match current {
            Some(c) if c.deleted => return Ok(()),
            None => (false, CustomerProfile::sighted(tenant, sighting, phone.into_iter().cloned().collect())),
            Some(c) => {
                let newer = version > c.version;
                let new_address = address != 0 && address != c.fingerprint;
                if !newer && !new_address {
                    return Ok(());
                }
                let existing = match self.overlay.customer_docs.get(&sighting.id) {
                    Some(doc) => Some(doc.clone()),
                    None => self.stored_customer(&sighting.id)?,
                };
                let merged = match existing {
                    Some(existing) => existing.with_sighting(sighting, phone),
                    None => CustomerProfile::sighted(tenant, sighting, phone.into_iter().cloned().collect()),
                };
                (c.profile, merged)
            }
        };
        let fingerprint = if address != 0 { address } else { current.map_or(0, |c| c.fingerprint) };
        self.write_customer(&merged, fingerprint, profile)
    }

    fn write_profile(&mut self, profile: &CustomerProfile) -> Result<(), IndexError> {
        let current = self.customer(&profile.id);
        if current.is_some_and(|c| c.deleted || (c.profile && c.version > micros(profile.updated_at))) {
            self.overlay.applied.skipped += 1;
            return Ok(());
        }
        let fingerprint = current.map_or(0, |c| c.fingerprint);
        self.write_customer(profile, fingerprint, true)
    }

    fn write_customer(&mut self, c: &CustomerProfile, fingerprint: u64, profile: bool) -> Result<(), IndexError> {
        let f = self.fields;
        self.writer.delete_term(self.key_term(&c.id));
        let mut d = TantivyDocument::new();
        d.add_u64(f.key, conv_key(&c.id));
        d.add_u64(f.kind, DocKind::Customer.code());
        d.add_text(f.tenant, c.tenant.to_string());
        d.add_text(f.contact, c.id.to_string());
        d.add_text(f.name, &c.name);
        for phone in &c.phones {
            add_phone(f, &mut d, phone);
        }
        for email in &c.emails {
            d.add_text(f.email, email);
            if let Some((_, domain)) = email.rsplit_once('@') {
                d.add_text(f.email, format!("@{domain}"));
            }
        }
        let attributes: Vec<String> =
            c.attributes.iter().map(|(k, v)| format!("{} {v}", k.replace('_', " "))).collect();
        if !attributes.is_empty() {
            d.add_text(f.attributes, attributes.join(" \n "));
        }
        d.add_i64(f.version, micros(c.updated_at));
        d.add_i64(f.at, micros(c.updated_at));
        d.add_u64(f.fingerprint, fingerprint);
        d.add_u64(f.profile, u64::from(profile));
        d.add_bytes(f.proto, &c.proto);
        self.add(d)?;
        self.overlay
            .customers
            .insert(c.id, CustomerState { version: micros(c.updated_at), fingerprint, profile, deleted: false });
        self.overlay.customer_docs.insert(c.id, c.clone());
        Ok(())
    }

    fn delete_customer(&mut self, tenant: Uuid, id: Uuid) -> Result<(), IndexError> {
        if self.customer(&id).is_some_and(|c| c.deleted) {
            self.overlay.applied.skipped += 1;
            return Ok(());
        }
        let f = self.fields;
        self.writer.delete_term(self.key_term(&id));
        let mut d = TantivyDocument::new();
        d.add_u64(f.key, conv_key(&id));
        d.add_u64(f.kind, DocKind::CustomerTombstone.code());
        d.add_text(f.tenant, tenant.to_string());
        d.add_text(f.contact, id.to_string());
        d.add_i64(f.version, i64::MAX);
        self.add(d)?;
        self.overlay
            .customers
            .insert(id, CustomerState { version: i64::MAX, fingerprint: 0, profile: false, deleted: true });
        self.overlay.customer_docs.remove(&id);
        Ok(())
    }

    /// The customer as the index holds it (committed).
    fn stored_customer(&self, id: &Uuid) -> Result<Option<CustomerProfile>, IndexError> {
        let query = TermQuery::new(self.key_term(id), IndexRecordOption::Basic);
        let hits = self.searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, address)) = hits.first() else { return Ok(None) };
        let doc: TantivyDocument = self.searcher.doc(*address)?;
        let Some(bytes) = doc.get_first(self.fields.proto).and_then(|v| v.as_bytes()) else { return Ok(None) };
        Ok(CustomerProfile::decode(bytes).ok())
    }
}

/// A hash of what a conversation's contact document holds (the customer, their name, the
/// phone); 0 when it has none of them.
fn contact_fingerprint(doc: &ConversationDoc) -> u64 {
    let phone = doc.address_phone.as_ref().map_or("", |p| p.as_str());
    match &doc.contact {
        None if phone.is_empty() => 0,
        None => hash_of(phone),
        Some(c) => hash_of(&format!("{}\u{1f}{}\u{1f}{phone}", c.id, c.name)),
    }
}

/// The document of a conversation's contact.
fn contact_document(f: &Fields, doc: &ConversationDoc, fingerprint: u64) -> TantivyDocument {
    let key = conv_key(&doc.id);
    let mut d = TantivyDocument::new();
    d.add_u64(f.key, contact_key(key));
    d.add_u64(f.kind, DocKind::ConversationContact.code());
    d.add_text(f.tenant, doc.tenant.to_string());
    d.add_u64(f.conv_key, key);
    if let Some(contact) = &doc.contact {
        d.add_text(f.contact, contact.id.to_string());
        d.add_text(f.name, &contact.name);
    }
    if let Some(phone) = &doc.address_phone {
        add_phone(f, &mut d, phone);
    }
    d.add_u64(f.fingerprint, fingerprint);
    d
}

/// A phone as a whole number and by each of its trailing parts.
fn add_phone(f: &Fields, d: &mut TantivyDocument, phone: &PhoneDigits) {
    d.add_text(f.phone, phone.as_str());
    for suffix in phone.suffixes() {
        d.add_text(f.phone_suffix, suffix);
    }
}

/// The document of a conversation (its customer, name and phone are on its contact document).
fn conversation_document(f: &Fields, doc: &ConversationDoc) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_u64(f.key, conv_key(&doc.id));
    d.add_u64(f.kind, DocKind::Conversation.code());
    d.add_text(f.tenant, doc.tenant.to_string());
    d.add_text(f.conv_id, doc.id.to_string());
    d.add_u64(f.conv_key, conv_key(&doc.id));
    d.add_u64(f.status, doc.status.map_or(0, |s| u64::from(s.code())));
    d.add_u64(f.priority, doc.priority.map_or(0, |p| u64::from(p.code())));
    d.add_u64(f.channel, doc.channel.map_or(0, |c| u64::from(c.code())));
    d.add_text(f.team, doc.team.map(|t| t.to_string()).unwrap_or_default());
    d.add_text(f.assignee, doc.assignee.map(|a| a.to_string()).unwrap_or_default());
    d.add_i64(f.version, doc.version);
    d.add_i64(f.at, micros(doc.last_message_at));
    d.add_i64(f.created_at, micros(doc.created_at));
    d.add_bytes(f.proto, &doc.proto);
    d
}
