//! Storing many inbound messages in one transaction: the same outcome as
//! `append_inbound_message` one by one (contact, conversation, message, status, priority,
//! "needs human", events), written with set-based statements so one commit and a dozen
//! round trips serve a whole batch.
//!
//! Exactly once still rests on the unique provider id: a message already stored (by an
//! earlier delivery, another replica, or twice in the same batch) is reported as a duplicate
//! and changes nothing. Rows are touched in sorted key order, so concurrent batches queue
//! behind each other instead of deadlocking.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use inbox_bus::{Envelope, Payload, new_envelope, subjects};
use inbox_csat::{SURVEY_KEY_PREFIX, rating_of_content};
use inbox_proto::common::v1::{Channel, MessageContent};
use inbox_proto::events::v1::{ConversationCreated, ConversationUpdated, MessageCreated, StatusChanged};
use inbox_proto::ingest::v1::InboundMessage;
use prost::Message as _;
use sqlx::{FromRow, Postgres, Row, Transaction};
use uuid::Uuid;

use super::messages::upsert_contact;
use super::outbox::enqueue_many;
use super::priority::priority_rules_in;
use super::rows::{CONVERSATION_ONLY_COLUMNS, ContactFields, StatusChangeRow};
use super::status::{fill_contacts, status_rules_in};
use super::{Appended, ConversationRow, ConversationStore, MessageRow, StoreError};
use crate::domain::ai::{CUSTOMER_ASKED_REASON, Handler};
use crate::domain::customers::{KeyKind, PhoneNumber};
use crate::domain::inbound::{AfterCustomerMessages, ConversationState, CustomerMessage, after_customer_messages};
use crate::domain::{Priority, PriorityRules, PrioritySource, SenderKind, Status, StatusRules, plain_text};

/// An inbound message checked and flattened for storing.
struct Inbound {
    tenant_id: Uuid,
    channel: &'static str,
    account: String,
    address: String,
    display_name: String,
    external_id: String,
    sent_at: DateTime<Utc>,
    content: Vec<u8>,
    body: String,
    raw_payload_id: String,
}

fn check(tenant_id: Uuid, inbound: &InboundMessage) -> Result<Inbound, StoreError> {
    let channel = Channel::try_from(inbound.channel)
        .ok()
        .filter(|c| *c != Channel::Unspecified)
        .map(subjects::channel_token)
        .ok_or_else(|| StoreError::Invalid("unknown channel".into()))?;
    let sender = inbound.sender.as_ref().ok_or_else(|| StoreError::Invalid("sender is required".into()))?;
    if sender.address.is_empty() || inbound.external_id.is_empty() || inbound.channel_account_id.is_empty() {
        return Err(StoreError::Invalid("sender address, external id and channel account are required".into()));
    }
    let sent_at = inbound
        .sent_at
        .as_ref()
        .and_then(inbox_proto::timestamp_to_utc)
        // As PostgreSQL keeps it: the events carry what is stored.
        .map(|t| t.trunc_subsecs(6))
        .ok_or_else(|| StoreError::Invalid("sent_at is required".into()))?;
    let content = inbound.content.clone().unwrap_or_default();
    Ok(Inbound {
        tenant_id,
        channel,
        account: inbound.channel_account_id.clone(),
        address: sender.address.clone(),
        display_name: sender.display_name.clone(),
        external_id: inbound.external_id.clone(),
        sent_at,
        body: plain_text(&content),
        content: content.encode_to_vec(),
        raw_payload_id: inbound.raw_payload_id.clone(),
    })
}

/// The row `messages` now holds for `m`, as inserted with `id` into `conversation`.
fn stored_row(m: &Inbound, id: Uuid, conversation: Uuid, created_at: DateTime<Utc>) -> MessageRow {
    MessageRow {
        tenant_id: m.tenant_id,
        id,
        conversation_id: conversation,
        channel: m.channel.to_owned(),
        external_id: Some(m.external_id.clone()),
        sender_kind: SenderKind::Customer.as_str().to_owned(),
        sender_id: m.address.clone(),
        content: m.content.clone(),
        sent_at: m.sent_at,
        created_at,
        internal_note: false,
        idempotency_key: None,
        ai_confidence: None,
    }
}

/// Opens a batch's transaction. Every lookup of the batch is by full key, in a database whose
/// working set is in memory; at the default `random_page_cost` (4, a disk's seek) the planner
/// preferred scanning a whole 25,000-row table to 256 index descents (measured: a new tenant
/// in an analysed database stored 9,500 messages/s instead of 14,000). Plans are otherwise the
/// cached ones: planning every statement afresh, foreign-key checks included, had cost a fifth
/// of PostgreSQL's time. A replica frozen mid-batch (SIGSTOP, a stalled VM) would hold its
/// conversations locked against the replica that got its messages redelivered; after 5 s idle
/// in the transaction the server ends its session and releases them.
const BATCH_BEGIN: &str =
    "BEGIN; SET LOCAL random_page_cost = 1.1; SET LOCAL idle_in_transaction_session_timeout = '5s'";

/// A conversation's thread: one conversation per tenant, channel, channel account and customer
/// address (the `conversations_thread` constraint). Ordered, so threads are locked in one order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ThreadKey {
    tenant_id: Uuid,
    channel: String,
    account: String,
    address: String,
}

impl ThreadKey {
    fn of_message(m: &Inbound) -> Self {
        Self {
            tenant_id: m.tenant_id,
            channel: m.channel.to_owned(),
            account: m.account.clone(),
            address: m.address.clone(),
        }
    }

    fn of_conversation(row: &ConversationRow) -> Self {
        Self {
            tenant_id: row.tenant_id,
            channel: row.channel.clone(),
            account: row.channel_account_id.clone(),
            address: row.customer_address.clone(),
        }
    }
}

/// A customer's channel identity: the tenant, channel and address a message came from.
type IdentityKey = (Uuid, &'static str, String);

/// A message of the batch that was inserted: its place in the batch, its id, its input.
type NewMessage<'a> = (usize, Uuid, &'a Inbound);

/// A conversation row this transaction has locked, with its physical address: locked, the row
/// cannot move until the transaction ends, so the batch's update goes straight to it.
struct Locked {
    row: ConversationRow,
    ctid: String,
}

/// What one conversation becomes after the batch's new messages.
struct Change {
    before: ConversationRow,
    ctid: String,
    after: AfterCustomerMessages,
    messages: i64,
}

impl Change {
    /// The preview after the change: the newest message's, or the one it had.
    fn preview(&self) -> &str {
        self.after.preview.as_deref().unwrap_or(&self.before.last_message_preview)
    }

    /// Who spoke last after the change: the customer when their message took the preview.
    fn last_sender(&self) -> &str {
        match self.after.preview {
            Some(_) => SenderKind::Customer.as_str(),
            None => &self.before.last_message_sender_kind,
        }
    }

    fn status_moved(&self) -> bool {
        self.after.status.as_str() != self.before.status
    }
}

impl ConversationStore {
    /// Stores a batch of inbound messages in one transaction; the outcome of each, in order.
    /// Invalid messages are reported and skipped; the rest commit together or not at all.
    pub async fn append_inbound_batch(
        &self,
        batch: &[(Uuid, InboundMessage)],
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        let checked: Vec<Result<Inbound, StoreError>> = batch.iter().map(|(t, m)| check(*t, m)).collect();
        let valid: Vec<(usize, &Inbound)> =
            checked.iter().enumerate().filter_map(|(i, r)| r.as_ref().ok().map(|m| (i, m))).collect();
        let mut outcomes: Vec<Option<Result<Appended, StoreError>>> = checked
            .iter()
            .map(|r| match r {
                Err(StoreError::Invalid(reason)) => Some(Err(StoreError::Invalid(reason.clone()))),
                _ => None,
            })
            .collect();
        if valid.is_empty() {
            return Ok(outcomes.into_iter().map(|o| o.unwrap_or(Ok(Appended::Duplicate))).collect());
        }

        let now = self.now();
        let mut tx = self.pool.begin_with(BATCH_BEGIN).await?;
        let contacts = contacts_of(&mut tx, &valid, now).await?;

        // Conversations, in key order: opened or reused (and locked).
        // Each thread's customer and earliest message (a new conversation starts with it).
        let mut threads: BTreeMap<ThreadKey, (Uuid, DateTime<Utc>)> = BTreeMap::new();
        for (_, m) in &valid {
            let contact = contacts[&(m.tenant_id, m.channel, m.address.clone())];
            let thread = threads.entry(ThreadKey::of_message(m)).or_insert((contact, m.sent_at));
            thread.1 = thread.1.min(m.sent_at);
        }
        let (mut open, created) = lock_threads(&mut tx, &threads, now).await?;

        // Messages: a provider id seen before (or twice here) inserts nothing.
        let conversation_ids: Vec<Uuid> = valid.iter().map(|(_, m)| open[&ThreadKey::of_message(m)].row.id).collect();
        let message_ids: Vec<Uuid> = valid.iter().map(|_| Uuid::now_v7()).collect();
        // Only what the database decides comes back; the rest is what was just written.
        let inserted: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "INSERT INTO messages (tenant_id, id, conversation_id, channel, external_id, sender_kind, sender_id, content, body, sent_at, raw_payload_id, created_at) \
             SELECT t, i, c, ch, e, 'customer', a, co, b, s, NULLIF(r, ''), $11 \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[], \
               $9::timestamptz[], $10::text[]) AS u(t, i, c, ch, e, a, co, b, s, r) \
             ON CONFLICT (tenant_id, channel, external_id) WHERE external_id IS NOT NULL DO NOTHING \
             RETURNING id, created_at",
        )
        .bind(valid.iter().map(|(_, m)| m.tenant_id).collect::<Vec<_>>())
        .bind(&message_ids)
        .bind(&conversation_ids)
        .bind(valid.iter().map(|(_, m)| m.channel).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, m)| m.external_id.as_str()).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, m)| m.address.as_str()).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, m)| m.content.as_slice()).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, m)| m.body.as_str()).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, m)| m.sent_at).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, m)| m.raw_payload_id.as_str()).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        // Keyed by the id we gave each row: of two copies of a provider id, only one is inserted.
        let created_at: HashMap<Uuid, DateTime<Utc>> = inserted.into_iter().collect();
        let mut stored: HashMap<Uuid, MessageRow> = valid
            .iter()
            .zip(&conversation_ids)
            .zip(&message_ids)
            .filter_map(|(((_, m), conversation), id)| {
                created_at.get(id).map(|at| (*id, stored_row(m, *id, *conversation, *at)))
            })
            .collect();

        // Each touched conversation, with its new messages in sent order.
        let mut new_messages: BTreeMap<(Uuid, Uuid), Vec<NewMessage<'_>>> = BTreeMap::new();
        for (((i, m), conversation), message_id) in valid.iter().zip(&conversation_ids).zip(&message_ids) {
            if stored.contains_key(message_id) {
                new_messages.entry((m.tenant_id, *conversation)).or_default().push((*i, *message_id, m));
            }
        }
        for list in new_messages.values_mut() {
            list.sort_by_key(|(_, _, m)| m.sent_at);
        }
        let touched: Vec<(Uuid, Uuid)> = new_messages.keys().copied().collect();
        let mut before: HashMap<(Uuid, Uuid), Locked> =
            std::mem::take(&mut open).into_values().map(|l| ((l.row.tenant_id, l.row.id), l)).collect();
        let mut rules: HashMap<Uuid, (StatusRules, PriorityRules)> = HashMap::new();
        for (tenant, _) in &touched {
            if !rules.contains_key(tenant) {
                let status = status_rules_in(&mut *tx, *tenant).await?;
                let priority = priority_rules_in(&mut *tx, *tenant).await?;
                rules.insert(*tenant, (status, priority));
            }
        }
        let resolved: Vec<(Uuid, Uuid)> = touched
            .iter()
            .filter(|key| before.get(key).is_some_and(|l| l.row.status == Status::Resolved.as_str()))
            .copied()
            .collect();
        let surveys = awaited_surveys(&mut tx, &resolved).await?;
        let changes: Vec<Change> = touched
            .iter()
            .filter_map(|key| {
                let locked = before.remove(key)?;
                let (status_rules, priority_rules) = &rules[&key.0];
                let survey_sent_at = surveys.get(key).copied();
                Some(change_for(locked, &new_messages[key], survey_sent_at, status_rules, priority_rules))
            })
            .collect();
        let after = write_changes(&mut tx, &changes, now).await?;

        // Events: created, one message.created per message, status, priority, needs human.
        let mut events: Vec<(String, Envelope)> = Vec::new();
        let event = |tenant: &str, payload| new_envelope(Uuid::now_v7().to_string(), tenant, payload);
        for (change, (updated, status_change)) in changes.iter().zip(&after) {
            let tenant = updated.tenant_id.to_string();
            let proto = updated.to_proto();
            if created.contains(&updated.id) {
                let payload = Payload::ConversationCreated(ConversationCreated { conversation: Some(proto.clone()) });
                events.push((subjects::event(&tenant, "conversation.created"), event(&tenant, payload)));
            }
            for (i, message_id, _) in &new_messages[&(updated.tenant_id, updated.id)] {
                if let Some(message) = stored.remove(message_id) {
                    let payload = Payload::MessageCreated(MessageCreated {
                        message: Some(message.to_proto()),
                        conversation: Some(proto.clone()),
                    });
                    events.push((subjects::event(&tenant, "message.created"), event(&tenant, payload)));
                    outcomes[*i] = Some(Ok(Appended::Stored {
                        conversation: updated.clone(),
                        message,
                        conversation_created: created.contains(&updated.id),
                    }));
                }
            }
            if let Some(status_change) = status_change {
                let payload = Payload::StatusChanged(StatusChanged {
                    conversation: Some(proto.clone()),
                    change: Some(status_change.to_proto()),
                });
                events.push((subjects::event(&tenant, "conversation.status_changed"), event(&tenant, payload)));
            }
            if change.after.priority.is_some() {
                let payload = Payload::PriorityChanged(ConversationUpdated { conversation: Some(proto.clone()) });
                events.push((subjects::event(&tenant, "conversation.priority_changed"), event(&tenant, payload)));
            }
            if change.after.needs_human {
                let payload = Payload::ConversationUpdated(ConversationUpdated { conversation: Some(proto.clone()) });
                events.push((subjects::event(&tenant, "conversation.needs_human"), event(&tenant, payload)));
            }
        }
        enqueue_many(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(outcomes.into_iter().map(|o| o.unwrap_or(Ok(Appended::Duplicate))).collect())
    }
}

/// When each of `conversations` (tenant, id) was sent its CSAT survey, for those whose last
/// message to the customer (notes aside) is the survey: the system's message marked by its
/// idempotency key (`inbox_csat::SURVEY_KEY_PREFIX`).
async fn awaited_surveys(
    tx: &mut Transaction<'_, Postgres>,
    conversations: &[(Uuid, Uuid)],
) -> Result<HashMap<(Uuid, Uuid), DateTime<Utc>>, StoreError> {
    if conversations.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT c.t, c.i, m.sent_at FROM UNNEST($1::uuid[], $2::uuid[]) AS c(t, i) \
         CROSS JOIN LATERAL (SELECT sender_kind, idempotency_key, sent_at FROM messages \
           WHERE tenant_id = c.t AND conversation_id = c.i AND sender_kind <> 'customer' AND NOT internal_note \
           ORDER BY sent_at DESC, id DESC LIMIT 1) m \
         WHERE m.sender_kind = 'system' AND starts_with(m.idempotency_key, $3)",
    )
    .bind(conversations.iter().map(|(t, _)| *t).collect::<Vec<_>>())
    .bind(conversations.iter().map(|(_, i)| *i).collect::<Vec<_>>())
    .bind(SURVEY_KEY_PREFIX)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(t, i, at)| ((t, i), at)).collect())
}

/// The conversation of every thread, locked: found by its thread key, or opened (starting at
/// the thread's earliest message) when there is none; and the ids of those opened here.
///
/// An existing conversation is only locked, never rewritten here: its one update comes with
/// the batch's changes. Two batches opening the same thread meet on the unique thread key;
/// the second finds the first's conversation once it commits.
async fn lock_threads(
    tx: &mut Transaction<'_, Postgres>,
    threads: &BTreeMap<ThreadKey, (Uuid, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<(HashMap<ThreadKey, Locked>, HashSet<Uuid>), StoreError> {
    let mut found = find_threads(tx, threads.keys()).await?;
    let missing: Vec<(&ThreadKey, &(Uuid, DateTime<Utc>))> =
        threads.iter().filter(|(key, _)| !found.contains_key(*key)).collect();
    let mut created = HashSet::new();
    if !missing.is_empty() {
        let opened: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO conversations (tenant_id, id, contact_id, channel, channel_account_id, customer_address, last_message_at, \
               created_at, updated_at, status_changed_at) \
             SELECT *, $8::timestamptz, $8::timestamptz, $8::timestamptz \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) \
             ON CONFLICT ON CONSTRAINT conversations_thread DO NOTHING RETURNING id",
        )
        .bind(missing.iter().map(|(k, _)| k.tenant_id).collect::<Vec<_>>())
        .bind(missing.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
        .bind(missing.iter().map(|(_, t)| t.0).collect::<Vec<_>>())
        .bind(missing.iter().map(|(k, _)| k.channel.as_str()).collect::<Vec<_>>())
        .bind(missing.iter().map(|(k, _)| k.account.as_str()).collect::<Vec<_>>())
        .bind(missing.iter().map(|(k, _)| k.address.as_str()).collect::<Vec<_>>())
        .bind(missing.iter().map(|(_, t)| t.1).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
        created.extend(opened);
        // Ours, and those another batch opened and committed meanwhile.
        found.extend(find_threads(tx, missing.iter().map(|(k, _)| *k)).await?);
    }
    if let Some((key, _)) = threads.iter().find(|(key, _)| !found.contains_key(*key)) {
        // Not expected (the insert waits for a racing opener's outcome); retried on redelivery.
        let reason = format!("conversation of {} on {} could not be opened", key.address, key.channel);
        return Err(StoreError::Retryable(reason));
    }
    Ok((found, created))
}

/// The conversations of these threads that exist, locked in id order, in one statement.
///
/// The batch's keys are joined to the table, so the tenant is never a condition on its own. With
/// `tenant_id = $1 AND ... = ANY($2)`, a tenant the statistics call empty (new since the last
/// ANALYZE) made PostgreSQL read the whole tenant through any index starting with tenant_id, for
/// every batch; joined, each key is one descent of the unique index, or one scan of a table
/// small enough to be cheaper.
async fn find_threads<'k>(
    tx: &mut Transaction<'_, Postgres>,
    keys: impl Iterator<Item = &'k ThreadKey>,
) -> Result<HashMap<ThreadKey, Locked>, StoreError> {
    let keys: Vec<&ThreadKey> = keys.collect();
    let locked = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_ONLY_COLUMNS}, c.ctid::text AS row_ctid \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(t, ch, acc, a) \
         JOIN conversations c ON c.tenant_id = u.t AND c.channel = u.ch AND c.channel_account_id = u.acc \
           AND c.customer_address = u.a \
         ORDER BY c.id FOR UPDATE OF c"
    )))
    .bind(keys.iter().map(|k| k.tenant_id).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.channel.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.account.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.address.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut rows = Vec::with_capacity(locked.len());
    let mut ctids = Vec::with_capacity(locked.len());
    for row in &locked {
        rows.push(ConversationRow::from_row(row)?);
        ctids.push(row.try_get::<String, _>("row_ctid")?);
    }
    fill_contacts(tx, &mut rows).await?;
    // Joined on the keys: each row is the conversation of one of them.
    Ok(rows
        .into_iter()
        .zip(ctids)
        .map(|(row, ctid)| (ThreadKey::of_conversation(&row), Locked { row, ctid }))
        .collect())
}

/// The contact of every (tenant, channel, address) of the batch: known identities in one
/// query (names refreshed in one statement); new ones through `upsert_contact`, the same path
/// single messages take, so cross-channel matching rules apply alike.
async fn contacts_of(
    tx: &mut Transaction<'_, Postgres>,
    valid: &[(usize, &Inbound)],
    now: DateTime<Utc>,
) -> Result<HashMap<IdentityKey, Uuid>, StoreError> {
    let mut names: BTreeMap<IdentityKey, &str> = BTreeMap::new();
    for (_, m) in valid {
        let name = names.entry((m.tenant_id, m.channel, m.address.clone())).or_insert("");
        if !m.display_name.is_empty() {
            *name = &m.display_name;
        }
    }
    let keys: Vec<&IdentityKey> = names.keys().collect();
    // The batch's keys joined to the identities: see `find_threads` for why.
    let known: Vec<(i64, Uuid, String, String)> = sqlx::query_as(
        "SELECT u.n, i.contact_id, k.display_name, k.display_name_source \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS u(t, ch, a, n) \
         JOIN contact_identities i ON i.tenant_id = u.t AND i.channel = u.ch AND i.address = u.a \
         JOIN contacts k ON k.tenant_id = i.tenant_id AND k.id = i.contact_id",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut contacts: HashMap<IdentityKey, Uuid> = HashMap::new();
    // Known contacts whose provider name differs from the one just received.
    let mut renamed: Vec<(Uuid, Uuid, &str)> = Vec::new();
    for (n, contact, current_name, source) in known {
        let key = keys[(n - 1) as usize];
        let name = names[key];
        if !name.is_empty() && name != current_name && source != "person" {
            renamed.push((key.0, contact, name));
        }
        contacts.insert(key.clone(), contact);
    }
    if !renamed.is_empty() {
        sqlx::query(
            "UPDATE contacts k SET display_name = u.n, updated_at = $4 \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS u(t, i, n) \
             WHERE k.tenant_id = u.t AND k.id = u.i AND k.display_name IS DISTINCT FROM u.n \
               AND k.display_name_source <> 'person'",
        )
        .bind(renamed.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(renamed.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(renamed.iter().map(|r| r.2).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let mut new_by_tenant: BTreeMap<Uuid, Vec<(&'static str, &str, &str)>> = BTreeMap::new();
    for (key, name) in &names {
        if !contacts.contains_key(key) {
            new_by_tenant.entry(key.0).or_default().push((key.1, key.2.as_str(), name));
        }
    }
    for (tenant, identities) in new_by_tenant {
        for ((channel, address), contact) in create_identities(tx, tenant, &identities, now).await? {
            contacts.insert((tenant, channel, address), contact);
        }
    }
    Ok(contacts)
}

/// First contact from these (channel, address, name) identities of one tenant, set-based, with
/// the rules of `upsert_contact`: a WhatsApp or telephony identity whose phone is already a
/// customer's key joins that customer; otherwise a new customer is created and owns the phone.
/// Identities sharing a phone share the customer. An identity another replica created in the
/// meantime goes through `upsert_contact` one by one (rare).
async fn create_identities(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    identities: &[(&'static str, &str, &str)],
    now: DateTime<Utc>,
) -> Result<Vec<((&'static str, String), Uuid)>, StoreError> {
    // Each identity's intended customer: its phone's holder, or a new customer.
    let phones: Vec<Option<PhoneNumber>> = identities
        .iter()
        .map(|(channel, address, _)| {
            subjects::channel_from_token(channel).and_then(|c| PhoneNumber::of_address(c, address))
        })
        .collect();
    let mut claim: BTreeMap<&str, Uuid> = BTreeMap::new();
    for phone in phones.iter().flatten() {
        claim.entry(phone.as_str()).or_insert_with(Uuid::now_v7);
    }
    let claimed: HashMap<String, Uuid> = if claim.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as::<_, (String, Uuid)>(
            "INSERT INTO contact_keys (tenant_id, kind, value, contact_id, created_at) \
             SELECT $1, $2, v, c, $5 FROM UNNEST($3::text[], $4::uuid[]) AS u(v, c) ORDER BY v \
             ON CONFLICT (tenant_id, kind, value) DO UPDATE SET value = EXCLUDED.value \
             RETURNING value, contact_id",
        )
        .bind(tenant_id)
        .bind(KeyKind::Phone.as_str())
        .bind(claim.keys().copied().collect::<Vec<_>>())
        .bind(claim.values().copied().collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect()
    };
    let intended: Vec<Uuid> = phones
        .iter()
        .map(|p| p.as_ref().and_then(|p| claimed.get(p.as_str()).copied()).unwrap_or_else(Uuid::now_v7))
        .collect();
    let inserted: Vec<(String, String, Uuid)> = sqlx::query_as(
        "INSERT INTO contact_identities (tenant_id, channel, address, contact_id, created_at) \
         SELECT $1, ch, a, c, $5 FROM UNNEST($2::text[], $3::text[], $4::uuid[]) AS u(ch, a, c) ORDER BY ch, a \
         ON CONFLICT (tenant_id, channel, address) DO NOTHING RETURNING channel, address, contact_id",
    )
    .bind(tenant_id)
    .bind(identities.iter().map(|i| i.0).collect::<Vec<_>>())
    .bind(identities.iter().map(|i| i.1).collect::<Vec<_>>())
    .bind(&intended)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let inserted: std::collections::HashSet<(String, String)> =
        inserted.into_iter().map(|(channel, address, _)| (channel, address)).collect();

    // New customers: the intended ids that are neither an existing customer (a claimed phone
    // held by someone else) nor left without an identity.
    let existing_holders: std::collections::HashSet<Uuid> =
        claimed.iter().filter(|(phone, holder)| claim.get(phone.as_str()) != Some(*holder)).map(|(_, h)| *h).collect();
    let mut created: BTreeMap<Uuid, &str> = BTreeMap::new();
    let mut joined: BTreeMap<Uuid, &str> = BTreeMap::new();
    let mut out = Vec::with_capacity(identities.len());
    let mut raced = Vec::new();
    for ((channel, address, name), contact) in identities.iter().zip(&intended) {
        if inserted.contains(&((*channel).to_owned(), (*address).to_owned())) {
            if existing_holders.contains(contact) {
                if !name.is_empty() {
                    joined.insert(*contact, name);
                }
            } else {
                let entry = created.entry(*contact).or_insert("");
                if entry.is_empty() {
                    *entry = name;
                }
            }
            out.push(((*channel, (*address).to_owned()), *contact));
        } else {
            raced.push((*channel, *address, *name));
        }
    }
    if !created.is_empty() {
        sqlx::query(
            "INSERT INTO contacts (tenant_id, id, display_name, created_at, updated_at) \
             SELECT $1, i, n, $4, $4 FROM UNNEST($2::uuid[], $3::text[]) AS u(i, n)",
        )
        .bind(tenant_id)
        .bind(created.keys().copied().collect::<Vec<_>>())
        .bind(created.values().copied().collect::<Vec<_>>())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    if !joined.is_empty() {
        // A customer reached on a new channel: the provider's name is the latest, unless a
        // person set one.
        sqlx::query(
            "UPDATE contacts k SET display_name = u.n, updated_at = $4 \
             FROM UNNEST($2::uuid[], $3::text[]) AS u(i, n) \
             WHERE k.tenant_id = $1 AND k.id = u.i AND k.display_name IS DISTINCT FROM u.n \
               AND k.display_name_source <> 'person'",
        )
        .bind(tenant_id)
        .bind(joined.keys().copied().collect::<Vec<_>>())
        .bind(joined.values().copied().collect::<Vec<_>>())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    // Phones we claimed for a customer that ended up with no identity (every identity of the
    // phone raced): hand the key to the customer the racing identity belongs to.
    for (channel, address, name) in raced {
        let contact = upsert_contact(tx, tenant_id, channel, address, name, now).await?;
        out.push(((channel, address.to_owned()), contact));
    }
    let orphaned: Vec<&str> = claim
        .iter()
        .filter(|(phone, ours)| claimed.get(**phone) == Some(*ours) && !created.contains_key(*ours))
        .map(|(phone, _)| *phone)
        .collect();
    for phone in orphaned {
        sqlx::query(
            "UPDATE contact_keys k SET contact_id = i.contact_id FROM contact_identities i \
             WHERE k.tenant_id = $1 AND k.kind = $2 AND k.value = $3 AND i.tenant_id = $1 AND i.contact_id IS NOT NULL \
               AND (i.address = $3 OR '+' || i.address = $3) AND i.channel IN ('whatsapp', 'telephony')",
        )
        .bind(tenant_id)
        .bind(KeyKind::Phone.as_str())
        .bind(phone)
        .execute(&mut **tx)
        .await?;
    }
    Ok(out)
}

/// The conversation after `messages` (new, in sent order), by the domain's rule;
/// `survey_sent_at` is when its CSAT survey went out, if that is our last message to the customer.
fn change_for(
    Locked { row, ctid }: Locked,
    messages: &[NewMessage<'_>],
    survey_sent_at: Option<DateTime<Utc>>,
    status_rules: &StatusRules,
    priority_rules: &PriorityRules,
) -> Change {
    let before = ConversationState {
        is_new: row.version == 0,
        status: Status::parse(&row.status).unwrap_or(Status::Active),
        priority: Priority::parse(&row.priority).unwrap_or(Priority::Normal),
        priority_source: PrioritySource::parse(&row.priority_source).unwrap_or(PrioritySource::Default),
        segment: &row.contact_segment,
        handled_by: Handler::parse(&row.handled_by).unwrap_or(Handler::Ai),
        needs_human: row.needs_human,
        last_message_at: row.last_message_at,
        last_customer_message_at: row.last_customer_message_at,
        waiting_since: row.waiting_since,
        survey_sent_at,
    };
    // Reading a message as a rating is asked only when a survey awaits its answer.
    let rating = |m: &Inbound| match survey_sent_at {
        Some(_) => MessageContent::decode(m.content.as_slice()).ok().as_ref().and_then(rating_of_content),
        None => None,
    };
    let new: Vec<CustomerMessage<'_>> = messages
        .iter()
        .map(|(_, _, m)| CustomerMessage { sent_at: m.sent_at, body: &m.body, rating: rating(m) })
        .collect();
    let after = after_customer_messages(&before, &new, status_rules, priority_rules);
    Change { after, messages: messages.len() as i64, before: row, ctid }
}

/// Writes every change in one UPDATE and the status history in one INSERT; returns each
/// conversation as it is now, with its status change if there was one.
async fn write_changes(
    tx: &mut Transaction<'_, Postgres>,
    changes: &[Change],
    now: DateTime<Utc>,
) -> Result<Vec<(ConversationRow, Option<StatusChangeRow>)>, StoreError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let status_moved: Vec<bool> = changes.iter().map(Change::status_moved).collect();
    // Each row is reached by the address it was locked at, and no condition on the tenant alone
    // is offered to the planner: an index chosen on a stale estimate of the tenant's size read
    // the whole tenant for every batch. The tenant and id still have to match. `ctid = ANY(...)`
    // is what offers the planner a TID scan; `ctid = u.row` then pairs each row with its change.
    let updated: Vec<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE conversations c SET last_message_preview = u.preview, last_message_sender_kind = u.sender, \
           last_message_at = u.at, last_customer_message_at = u.customer_at, waiting_since = u.waiting, \
           status = u.status, status_changed_at = CASE WHEN u.moved THEN $16 ELSE c.status_changed_at END, \
           priority = COALESCE(u.priority, c.priority), \
           priority_source = CASE WHEN u.priority IS NULL THEN c.priority_source ELSE 'auto' END, \
           priority_reason = COALESCE(u.priority_reason, c.priority_reason), \
           needs_human = c.needs_human OR u.needs_human, \
           needs_human_reason = CASE WHEN u.needs_human THEN $13 ELSE c.needs_human_reason END, \
           version = c.version + u.bump, customer_messages = c.customer_messages + u.messages, updated_at = $16 \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], \
           $6::timestamptz[], $7::text[], $8::bool[], $9::text[], $10::text[], $11::bool[], $12::bigint[], \
           $14::uuid[], $15::text[]::tid[], $17::bigint[]) \
           AS u(i, preview, sender, at, customer_at, waiting, status, moved, priority, priority_reason, needs_human, bump, \
             t, row, messages) \
         WHERE c.ctid = ANY($15::text[]::tid[]) AND c.ctid = u.row AND c.tenant_id = u.t AND c.id = u.i \
         RETURNING {CONVERSATION_ONLY_COLUMNS}"
    )))
    .bind(changes.iter().map(|c| c.before.id).collect::<Vec<_>>())
    .bind(changes.iter().map(Change::preview).collect::<Vec<_>>())
    .bind(changes.iter().map(Change::last_sender).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.last_message_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.last_customer_message_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.waiting_since).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.status.as_str()).collect::<Vec<_>>())
    .bind(&status_moved)
    .bind(changes.iter().map(|c| c.after.priority.as_ref().map(|(p, _)| p.as_str())).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.priority.as_ref().map(|(_, r)| r.as_str())).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.needs_human).collect::<Vec<_>>())
    .bind(changes.iter().zip(&status_moved).map(|(c, moved)| c.messages + i64::from(*moved)).collect::<Vec<_>>())
    .bind(CUSTOMER_ASKED_REASON)
    .bind(changes.iter().map(|c| c.before.tenant_id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.ctid.as_str()).collect::<Vec<_>>())
    .bind(now)
    .bind(changes.iter().map(|c| c.messages).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    // The contact is as it was read under the lock this transaction holds.
    let contacts: HashMap<Uuid, ContactFields> = changes.iter().map(|c| (c.before.id, c.before.contact())).collect();
    let mut current: HashMap<Uuid, ConversationRow> = HashMap::with_capacity(changes.len());
    for mut row in updated {
        if let Some(contact) = contacts.get(&row.id) {
            row.set_contact(contact);
        }
        current.insert(row.id, row);
    }
    let moved: Vec<&Change> = changes.iter().zip(&status_moved).filter(|(_, m)| **m).map(|(c, _)| c).collect();
    let history: Vec<StatusChangeRow> = if moved.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "INSERT INTO status_changes (tenant_id, conversation_id, from_status, to_status, actor, reason, changed_at) \
             SELECT t, i, f, s, 'customer', 'the customer wrote', $5 \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS u(t, i, f, s) \
             RETURNING conversation_id, from_status, to_status, actor, reason, changed_at",
        )
        .bind(moved.iter().map(|c| c.before.tenant_id).collect::<Vec<_>>())
        .bind(moved.iter().map(|c| c.before.id).collect::<Vec<_>>())
        .bind(moved.iter().map(|c| c.before.status.as_str()).collect::<Vec<_>>())
        .bind(moved.iter().map(|c| c.after.status.as_str()).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut **tx)
        .await?
    };
    let mut history: HashMap<Uuid, StatusChangeRow> = history.into_iter().map(|h| (h.conversation_id, h)).collect();
    Ok(changes
        .iter()
        .filter_map(|c| current.remove(&c.before.id).map(|row| (row, history.remove(&c.before.id))))
        .collect())
}
