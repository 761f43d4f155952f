//! Storing inbound messages exactly once, and reading conversations and messages back.

use chrono::{DateTime, Utc};
use inbox_bus::subjects;
use inbox_proto::ingest::v1::InboundMessage;
use sqlx::{Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::customers::claim_key;
use super::rows::{CONVERSATION_COLUMNS, MESSAGE_COLUMNS};
use super::status::reread_conversation;
use super::visibility::{Viewer, push_notes, select_conversations};
use super::{ConversationRow, ConversationStore, Cursor, MessageRow, StoreError};
use crate::domain::SenderKind;
use crate::domain::customers::{KeyKind, PhoneNumber};

/// Which page of a conversation's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPage {
    /// From the first message (`None`) or after a cursor, forward in time.
    Forward(Option<Cursor>),
    /// From the newest message (`None`) or before a cursor, back in time.
    Backward(Option<Cursor>),
}

/// What storing an inbound message did.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a short-lived return value, never stored in bulk
pub enum Appended {
    /// Stored now, with its events in the outbox.
    Stored { conversation: ConversationRow, message: MessageRow, conversation_created: bool },
    /// This provider message id was stored before; nothing changed.
    Duplicate,
}

impl ConversationStore {
    /// Stores a customer message exactly once: upserts the contact by channel address, opens
    /// or reuses (and reopens) the conversation, inserts the message unless its provider id is
    /// known, applies the status, priority and "needs human" rules, and writes the events to
    /// the outbox, all in one transaction. Safe under redelivery and concurrent replicas: the
    /// unique provider id decides. A batch of one (`append_inbound_batch`), so both paths are
    /// the same code.
    pub async fn append_inbound_message(
        &self,
        tenant_id: Uuid,
        inbound: &InboundMessage,
    ) -> Result<Appended, StoreError> {
        let mut outcomes = self.append_inbound_batch(&[(tenant_id, inbound.clone())]).await?;
        outcomes.pop().unwrap_or(Ok(Appended::Duplicate))
    }

    /// The tenant's conversations, most recent activity first, keyset-paginated.
    pub async fn list_conversations(
        &self,
        tenant_id: Uuid,
        limit: i64,
        after: Option<Cursor>,
    ) -> Result<(Vec<ConversationRow>, Option<Cursor>), StoreError> {
        let (at, id) = after.map_or((None, None), |c| (Some(c.at), Some(c.id)));
        let rows: Vec<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
             JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id \
             WHERE c.tenant_id = $1 AND ($2::timestamptz IS NULL OR (c.last_message_at, c.id) < ($2, $3)) \
             ORDER BY c.last_message_at DESC, c.id DESC LIMIT $4"
        )))
        .bind(tenant_id)
        .bind(at)
        .bind(id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(page(rows, limit, |r| Cursor { at: r.last_message_at, id: r.id }))
    }

    /// One conversation of the tenant; `None` if it does not exist or belongs to another tenant.
    pub async fn get_conversation(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<ConversationRow>, StoreError> {
        self.visible_conversation(tenant_id, id, &Viewer::default()).await
    }

    /// One conversation of the tenant that `viewer` may see, with their read state; `None` if
    /// it does not exist, belongs to another tenant, or is not theirs to see (the same answer).
    pub async fn visible_conversation(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        viewer: &Viewer,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let mut qb = select_conversations(tenant_id, viewer);
        qb.push(" AND c.id = ").push_bind(id);
        Ok(qb.build_query_as().fetch_optional(&self.pool).await?)
    }

    /// A page of a conversation's messages, in the order the senders sent them within the
    /// page, with the cursor of the next page in the same direction (forward: newer; backward:
    /// older). Internal notes are left out for a viewer without them. The caller checks that
    /// the viewer may see the conversation.
    pub async fn list_messages(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        viewer: &Viewer,
        limit: i64,
        page_of: HistoryPage,
    ) -> Result<(Vec<MessageRow>, Option<Cursor>), StoreError> {
        let mut qb = QueryBuilder::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.tenant_id = "));
        qb.push_bind(tenant_id).push(" AND m.conversation_id = ").push_bind(conversation_id);
        push_notes(&mut qb, viewer, "m");
        let (cursor, backward) = match page_of {
            HistoryPage::Forward(cursor) => (cursor, false),
            HistoryPage::Backward(cursor) => (cursor, true),
        };
        if let Some(c) = cursor {
            qb.push(if backward { " AND (m.sent_at, m.id) < (" } else { " AND (m.sent_at, m.id) > (" })
                .push_bind(c.at)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(if backward {
            " ORDER BY m.sent_at DESC, m.id DESC LIMIT "
        } else {
            " ORDER BY m.sent_at, m.id LIMIT "
        })
        .push_bind(limit + 1);
        let rows: Vec<MessageRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        let (mut rows, next) = page(rows, limit, |r| Cursor { at: r.sent_at, id: r.id });
        if backward {
            rows.reverse();
        }
        Ok((rows, next))
    }
}

/// Cuts a `limit + 1` result to `limit` rows and the cursor of the next page, if any.
fn page<T>(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> (Vec<T>, Option<Cursor>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(cursor_of);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// The contact behind a channel address, created on first contact. A new WhatsApp or telephony
/// address whose phone number already belongs to a customer joins that customer, and its phone
/// becomes a key of its customer. The unique phone key is claimed before the identity, so two
/// replicas storing the first messages of one phone on two channels at once end with one
/// customer: the second waits on the key and joins the first's customer. A provider's name
/// updates a known contact's name unless a person set it. What is new is dated `now`.
pub(crate) async fn upsert_contact(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    channel: &str,
    address: &str,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let candidate = Uuid::now_v7();
    let phone = subjects::channel_from_token(channel).and_then(|c| PhoneNumber::of_address(c, address));
    let phone_holder = match &phone {
        Some(phone) => Some(claim_key(tx, tenant_id, KeyKind::Phone, phone.as_str(), candidate, now).await?),
        None => None,
    };
    let contact_id: Uuid = sqlx::query_scalar(
        "INSERT INTO contact_identities (tenant_id, channel, address, contact_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, channel, address) DO UPDATE SET address = EXCLUDED.address \
         RETURNING contact_id",
    )
    .bind(tenant_id)
    .bind(channel)
    .bind(address)
    .bind(phone_holder.unwrap_or(candidate))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(phone) = phone.filter(|_| phone_holder == Some(candidate) && contact_id != candidate) {
        // A known identity whose phone was no key yet: the key follows the identity's customer.
        sqlx::query("UPDATE contact_keys SET contact_id = $4 WHERE tenant_id = $1 AND kind = $2 AND value = $3")
            .bind(tenant_id)
            .bind(KeyKind::Phone.as_str())
            .bind(phone.as_str())
            .bind(contact_id)
            .execute(&mut **tx)
            .await?;
    }
    if contact_id == candidate {
        sqlx::query(
            "INSERT INTO contacts (tenant_id, id, display_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .bind(display_name)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    } else if !display_name.is_empty() {
        sqlx::query(
            "UPDATE contacts SET display_name = $3, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND display_name_source = 'provider' AND display_name IS DISTINCT FROM $3",
        )
        .bind(tenant_id)
        .bind(contact_id)
        .bind(display_name)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(contact_id)
}

/// Records a new message on its conversation at `now`: the newest by sent time sets the
/// preview and who spoke last; every message bumps the version.
pub(crate) async fn touch_conversation(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    id: Uuid,
    sent_at: DateTime<Utc>,
    preview: &str,
    sender: SenderKind,
    now: DateTime<Utc>,
) -> Result<ConversationRow, StoreError> {
    // Every SET expression sees the row as it was before this UPDATE.
    sqlx::query(
        "UPDATE conversations SET \
           last_message_preview = CASE WHEN $3 >= last_message_at OR version = 0 THEN $4 ELSE last_message_preview END, \
           last_message_sender_kind = CASE WHEN $3 >= last_message_at OR version = 0 THEN $5 ELSE last_message_sender_kind END, \
           last_message_at = GREATEST(last_message_at, $3), \
           last_customer_message_at = CASE WHEN $5 = 'customer' THEN GREATEST(last_customer_message_at, $3) \
             ELSE last_customer_message_at END, \
           waiting_since = CASE WHEN $5 = 'customer' THEN COALESCE(waiting_since, $3) ELSE NULL END, \
           version = version + 1, updated_at = $6 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(sent_at)
    .bind(preview)
    .bind(sender.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    reread_conversation(tx, tenant_id, id).await
}
