//! Customer profiles: reading and editing them, merging customers that turn out to be one
//! person, integration cards, and a customer's conversations.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::common::v1::Channel;
use inbox_proto::events::v1::ConversationUpdated;
use inbox_service::Visibility;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::outbox::enqueue;
use super::rows::CONVERSATION_COLUMNS;
use super::visibility::{Viewer, push_visible, select_conversations};
use super::{ConversationRow, ConversationStore, Cursor, StoreError};
use crate::domain::customers::{
    ChannelPreferences, IntegrationCard, KeyKind, PhoneNumber, ProfileFields, ProfileUpdate,
};

/// Most related conversations shown next to a conversation.
pub const MAX_RELATED: i64 = 20;
/// A profile change is announced on at most this many of the customer's conversations (the most
/// recent): live lists show those; older ones pick the change up when next read.
pub const MAX_ANNOUNCED: i64 = 100;

/// A customer as the right panel shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerProfile {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub fields: ProfileFields,
    /// E.164, oldest first.
    pub phones: Vec<String>,
    /// Lowercased, oldest first.
    pub emails: Vec<String>,
    pub identities: Vec<ChannelIdentity>,
    pub cards: Vec<IntegrationCardRow>,
    /// Every conversation of the customer, on every channel and in every status.
    pub total_conversations: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A channel address the customer wrote from (read-only: written by stored messages).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChannelIdentity {
    pub channel: String,
    pub address: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationCardRow {
    pub source: String,
    pub title: String,
    pub fields: Vec<(String, String)>,
    pub updated_at: DateTime<Utc>,
}

/// What an update did: the profile after it, and the customers merged into it.
#[derive(Debug, Clone)]
pub struct UpdatedCustomer {
    pub profile: CustomerProfile,
    pub merged: Vec<Uuid>,
}

/// One field of a card as stored: a JSON array keeps the order.
#[derive(Debug, Serialize, Deserialize)]
struct CardField {
    key: String,
    value: String,
}

#[derive(sqlx::FromRow)]
struct CardRow {
    source: String,
    title: String,
    fields: Json<Vec<CardField>>,
    updated_at: DateTime<Utc>,
}

impl From<CardRow> for IntegrationCardRow {
    fn from(row: CardRow) -> Self {
        Self {
            source: row.source,
            title: row.title,
            fields: row.fields.0.into_iter().map(|f| (f.key, f.value)).collect(),
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    display_name: String,
    display_name_source: String,
    segment: String,
    preferred_channel: String,
    opted_out_channels: Vec<String>,
    attributes: Json<BTreeMap<String, String>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const CONTACT_COLUMNS: &str = "display_name, display_name_source, segment, preferred_channel, opted_out_channels, \
     attributes, created_at, updated_at";

impl ContactRow {
    fn fields(&self) -> ProfileFields {
        let channel = |token: &str| subjects::channel_from_token(token);
        ProfileFields {
            display_name: self.display_name.clone(),
            name_set_by_person: self.display_name_source == "person",
            segment: self.segment.clone(),
            channel_preferences: ChannelPreferences {
                preferred: channel(&self.preferred_channel),
                opted_out: self.opted_out_channels.iter().filter_map(|t| channel(t)).collect(),
            },
            attributes: self.attributes.0.clone(),
        }
    }
}

/// How a row lock on a contact is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    None,
    /// The edited customer: its key does not change, so inbound messages may still reference it.
    Edit,
    /// A customer about to be merged away: nothing may reference it meanwhile.
    Delete,
}

async fn contact_row(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    lock: Lock,
) -> Result<Option<ContactRow>, StoreError> {
    let lock = match lock {
        Lock::None => "",
        Lock::Edit => "FOR NO KEY UPDATE",
        Lock::Delete => "FOR UPDATE",
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant_id = $1 AND id = $2 {lock}"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The whole profile; `None` when the customer is not the tenant's.
async fn read_profile(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    lock: Lock,
) -> Result<Option<CustomerProfile>, StoreError> {
    let Some(contact) = contact_row(conn, tenant_id, id, lock).await? else {
        return Ok(None);
    };
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, value FROM contact_keys WHERE tenant_id = $1 AND contact_id = $2 ORDER BY created_at, value",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let of_kind = |kind: KeyKind| keys.iter().filter(|(k, _)| k == kind.as_str()).map(|(_, v)| v.clone()).collect();
    let identities: Vec<ChannelIdentity> = sqlx::query_as(
        "SELECT channel, address, created_at FROM contact_identities WHERE tenant_id = $1 AND contact_id = $2 \
         ORDER BY created_at, channel, address",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let cards: Vec<CardRow> = sqlx::query_as(
        "SELECT source, title, fields, updated_at FROM integration_cards WHERE tenant_id = $1 AND contact_id = $2 \
         ORDER BY source, title",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let total_conversations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations WHERE tenant_id = $1 AND contact_id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Some(CustomerProfile {
        tenant_id,
        id,
        fields: contact.fields(),
        phones: of_kind(KeyKind::Phone),
        emails: of_kind(KeyKind::Email),
        identities,
        cards: cards.into_iter().map(IntegrationCardRow::from).collect(),
        total_conversations,
        created_at: contact.created_at,
        updated_at: contact.updated_at,
    }))
}

async fn write_fields(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    id: Uuid,
    fields: &ProfileFields,
) -> Result<(), StoreError> {
    let prefs = &fields.channel_preferences;
    sqlx::query(
        "UPDATE contacts SET display_name = $3, display_name_source = $4, segment = $5, preferred_channel = $6, \
           opted_out_channels = $7, attributes = $8 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(&fields.display_name)
    .bind(if fields.name_set_by_person { "person" } else { "provider" })
    .bind(&fields.segment)
    .bind(prefs.preferred.map_or("", subjects::channel_token))
    .bind(prefs.opted_out.iter().map(|c| subjects::channel_token(*c)).collect::<Vec<_>>())
    .bind(Json(&fields.attributes))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims `value` as a key of `contact_id` (dated `now` if new) unless another customer of the
/// tenant holds it; returns the holder. The unique key decides between concurrent claims: a
/// second claimer waits for the first to commit and then sees its holder.
pub(crate) async fn claim_key(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    kind: KeyKind,
    value: &str,
    contact_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO contact_keys (tenant_id, kind, value, contact_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, kind, value) DO UPDATE SET value = EXCLUDED.value \
         RETURNING contact_id",
    )
    .bind(tenant_id)
    .bind(kind.as_str())
    .bind(value)
    .bind(contact_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}

/// Moves everything of customer `other` to `into` (locked by the caller) and deletes `other`:
/// identities, keys, conversations, cards (`into`'s win on the same source and title) and the
/// profile fields as [`ProfileFields::absorb`] says. `false` when `other` no longer exists.
async fn merge_into(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    into: Uuid,
    other: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(absorbed) = contact_row(tx, tenant_id, other, Lock::Delete).await? else {
        return Ok(false);
    };
    let kept = contact_row(tx, tenant_id, into, Lock::Edit)
        .await?
        .ok_or_else(|| StoreError::Internal(format!("customer {into} vanished inside its transaction")))?;
    let mut fields = kept.fields();
    fields.absorb(absorbed.fields());
    write_fields(tx, tenant_id, into, &fields).await?;
    sqlx::query("UPDATE contacts SET created_at = LEAST(created_at, $3) WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(into)
        .bind(absorbed.created_at)
        .execute(&mut **tx)
        .await?;
    for statement in [
        "UPDATE contact_identities SET contact_id = $2 WHERE tenant_id = $1 AND contact_id = $3",
        "UPDATE contact_keys SET contact_id = $2 WHERE tenant_id = $1 AND contact_id = $3",
        "INSERT INTO integration_cards (tenant_id, contact_id, source, title, fields, updated_at) \
         SELECT tenant_id, $2, source, title, fields, updated_at FROM integration_cards \
         WHERE tenant_id = $1 AND contact_id = $3 \
         ON CONFLICT (tenant_id, contact_id, source, title) DO NOTHING",
    ] {
        sqlx::query(statement).bind(tenant_id).bind(into).bind(other).execute(&mut **tx).await?;
    }
    sqlx::query(
        "UPDATE conversations SET contact_id = $2, version = version + 1, updated_at = $4 \
         WHERE tenant_id = $1 AND contact_id = $3",
    )
    .bind(tenant_id)
    .bind(into)
    .bind(other)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for statement in [
        "DELETE FROM integration_cards WHERE tenant_id = $1 AND contact_id = $2",
        "DELETE FROM contacts WHERE tenant_id = $1 AND id = $2",
    ] {
        sqlx::query(statement).bind(tenant_id).bind(other).execute(&mut **tx).await?;
    }
    Ok(true)
}

/// Writes `conversation.customer_updated` for the customer's most recent conversations, whose
/// protobuf embeds the contact; each gets a new version so consumers take it.
async fn announce_customer_updated(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    contact_id: Uuid,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE conversations SET version = version + 1 WHERE tenant_id = $1 AND id IN ( \
           SELECT id FROM conversations WHERE tenant_id = $1 AND contact_id = $2 \
           ORDER BY last_message_at DESC, id DESC LIMIT $3) \
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(contact_id)
    .bind(MAX_ANNOUNCED)
    .fetch_all(&mut **tx)
    .await?;
    let conversations: Vec<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
         JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id \
         WHERE c.tenant_id = $1 AND c.id = ANY($2) ORDER BY c.last_message_at DESC, c.id DESC"
    )))
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let tenant = tenant_id.to_string();
    let subject = subjects::event(&tenant, "conversation.customer_updated");
    for conversation in conversations {
        let event = new_envelope(
            Uuid::now_v7().to_string(),
            &tenant,
            Payload::ConversationUpdated(ConversationUpdated { conversation: Some(conversation.to_proto()) }),
        );
        enqueue(tx, &subject, &event).await?;
    }
    Ok(())
}

/// The phone numbers of a customer's WhatsApp and telephony identities: always keys of theirs.
async fn identity_phones(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    contact_id: Uuid,
) -> Result<Vec<String>, StoreError> {
    let identities: Vec<(String, String)> =
        sqlx::query_as("SELECT channel, address FROM contact_identities WHERE tenant_id = $1 AND contact_id = $2")
            .bind(tenant_id)
            .bind(contact_id)
            .fetch_all(&mut **tx)
            .await?;
    Ok(identities
        .iter()
        .filter_map(|(channel, address)| {
            let channel = subjects::channel_from_token(channel).unwrap_or(Channel::Unspecified);
            PhoneNumber::of_address(channel, address).map(|p| p.as_str().to_owned())
        })
        .collect())
}

impl ConversationStore {
    /// A customer's profile; `None` when the customer is not the tenant's.
    pub async fn get_customer(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<CustomerProfile>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_profile(&mut conn, tenant_id, id, Lock::None).await
    }

    /// Applies a person's change to a profile in one transaction. A phone or email given that
    /// belongs to another customer of the tenant first merges that customer into this one;
    /// then each field given replaces the value: phones and emails given become exactly the
    /// profile's keys (plus the phones of its WhatsApp and telephony identities, which always
    /// stay). A change is announced on the customer's conversations; an update that changes
    /// nothing (a retry) writes and announces nothing. `None` when the customer is not the
    /// tenant's.
    pub async fn update_customer(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        update: &ProfileUpdate,
    ) -> Result<Option<UpdatedCustomer>, StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let Some(before) = read_profile(&mut tx, tenant_id, id, Lock::Edit).await? else {
            return Ok(None);
        };
        let phones = update.phones.as_ref().map(|p| p.iter().map(|p| p.as_str().to_owned()).collect::<Vec<_>>());
        let emails = update.emails.as_ref().map(|e| e.iter().map(|e| e.as_str().to_owned()).collect::<Vec<_>>());
        let given = [(KeyKind::Phone, phones), (KeyKind::Email, emails)];
        let mut merged = Vec::new();
        for (kind, values) in &given {
            for value in values.iter().flatten() {
                let holder = claim_key(&mut tx, tenant_id, *kind, value, id, now).await?;
                if holder != id && !merged.contains(&holder) && merge_into(&mut tx, tenant_id, id, holder, now).await? {
                    merged.push(holder);
                }
            }
        }

        // The fields given apply after merging, so they are exactly what the request asked for
        // and a retry (which merges nothing) finds nothing to change.
        let current = contact_row(&mut tx, tenant_id, id, Lock::None)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("customer {id} vanished inside its transaction")))?
            .fields();
        let mut fields = current.clone();
        if let Some(name) = &update.display_name {
            fields.display_name.clone_from(name);
            fields.name_set_by_person = true;
        }
        if let Some(segment) = &update.segment {
            fields.segment.clone_from(segment);
        }
        if let Some(prefs) = &update.channel_preferences {
            fields.channel_preferences = prefs.clone();
        }
        if let Some(attributes) = &update.attributes {
            fields.attributes.clone_from(attributes);
        }
        if fields != current {
            write_fields(&mut tx, tenant_id, id, &fields).await?;
        }
        // Pruned after merging, so a merged customer's keys of a replaced kind go too, and a
        // retry finds exactly what it asks for.
        for (kind, values) in given {
            let Some(mut keep) = values else { continue };
            if kind == KeyKind::Phone {
                keep.extend(identity_phones(&mut tx, tenant_id, id).await?);
            }
            sqlx::query(
                "DELETE FROM contact_keys WHERE tenant_id = $1 AND contact_id = $2 AND kind = $3 AND NOT (value = ANY($4))",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(kind.as_str())
            .bind(&keep)
            .execute(&mut *tx)
            .await?;
        }

        let mut after = read_profile(&mut tx, tenant_id, id, Lock::None)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("customer {id} vanished inside its transaction")))?;
        if after != before {
            after.updated_at = sqlx::query_scalar(
                "UPDATE contacts SET updated_at = $3 WHERE tenant_id = $1 AND id = $2 RETURNING updated_at",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            announce_customer_updated(&mut tx, tenant_id, id).await?;
        }
        tx.commit().await?;
        Ok(Some(UpdatedCustomer { profile: after, merged }))
    }

    /// Writes a card from an integration, known by (source, title): a repeated sync with the
    /// same fields changes nothing, not even `updated_at`. `None` when the customer is not the
    /// tenant's.
    pub async fn upsert_integration_card(
        &self,
        tenant_id: Uuid,
        customer_id: Uuid,
        card: &IntegrationCard,
    ) -> Result<Option<IntegrationCardRow>, StoreError> {
        let fields: Vec<CardField> =
            card.fields.iter().map(|(key, value)| CardField { key: key.clone(), value: value.clone() }).collect();
        let mut tx = self.pool.begin().await?;
        if contact_row(&mut tx, tenant_id, customer_id, Lock::Edit).await?.is_none() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO integration_cards (tenant_id, contact_id, source, title, fields, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, contact_id, source, title) DO UPDATE \
             SET fields = EXCLUDED.fields, updated_at = EXCLUDED.updated_at \
             WHERE integration_cards.fields IS DISTINCT FROM EXCLUDED.fields",
        )
        .bind(tenant_id)
        .bind(customer_id)
        .bind(&card.source)
        .bind(&card.title)
        .bind(Json(&fields))
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        let row: CardRow = sqlx::query_as(
            "SELECT source, title, fields, updated_at FROM integration_cards \
             WHERE tenant_id = $1 AND contact_id = $2 AND source = $3 AND title = $4",
        )
        .bind(tenant_id)
        .bind(customer_id)
        .bind(&card.source)
        .bind(&card.title)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(row.into()))
    }

    /// Removes a card; `Some(false)` when there was none (a retried delete), `None` when the
    /// customer is not the tenant's.
    pub async fn delete_integration_card(
        &self,
        tenant_id: Uuid,
        customer_id: Uuid,
        source: &str,
        title: &str,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if contact_row(&mut tx, tenant_id, customer_id, Lock::Edit).await?.is_none() {
            return Ok(None);
        }
        let deleted = sqlx::query(
            "DELETE FROM integration_cards WHERE tenant_id = $1 AND contact_id = $2 AND source = $3 AND title = $4",
        )
        .bind(tenant_id)
        .bind(customer_id)
        .bind(source)
        .bind(title)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(deleted.rows_affected() == 1))
    }

    /// A customer's conversations that `viewer` may see, most recent activity first,
    /// keyset-paginated, with the viewer's read state. `None` when the customer is not the
    /// tenant's (a customer is visible to all of the tenant's people; only their conversations
    /// are scoped).
    pub async fn list_customer_conversations(
        &self,
        tenant_id: Uuid,
        customer_id: Uuid,
        viewer: &Viewer,
        limit: i64,
        after: Option<Cursor>,
    ) -> Result<Option<(Vec<ConversationRow>, Option<Cursor>)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if contact_row(&mut conn, tenant_id, customer_id, Lock::None).await?.is_none() {
            return Ok(None);
        }
        let mut qb = select_conversations(tenant_id, viewer);
        qb.push(" AND c.contact_id = ").push_bind(customer_id);
        if let Some(c) = after {
            qb.push(" AND (c.last_message_at, c.id) < (").push_bind(c.at).push(", ").push_bind(c.id).push(")");
        }
        qb.push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ").push_bind(limit + 1);
        let mut rows: Vec<ConversationRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        let next = if rows.len() > usize::try_from(limit).unwrap_or(0) {
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            rows.last().map(|r| Cursor { at: r.last_message_at, id: r.id })
        } else {
            None
        };
        Ok(Some((rows, next)))
    }

    /// How many of a customer's conversations `visibility` allows (a profile's total for a
    /// team-scoped reader).
    pub async fn count_visible_customer_conversations(
        &self,
        tenant_id: Uuid,
        customer_id: Uuid,
        visibility: &Visibility,
    ) -> Result<i64, StoreError> {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM conversations c WHERE c.tenant_id = ");
        qb.push_bind(tenant_id).push(" AND c.contact_id = ").push_bind(customer_id);
        push_visible(&mut qb, visibility);
        Ok(qb.build_query_scalar().fetch_one(&self.pool).await?)
    }

    /// The other conversations of a conversation's customer that `viewer` may see, most recent
    /// first, at most [`MAX_RELATED`]. `None` when the conversation is not the tenant's or not
    /// the viewer's to see.
    pub async fn list_related_conversations(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        viewer: &Viewer,
    ) -> Result<Option<Vec<ConversationRow>>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut qb = QueryBuilder::new("SELECT c.contact_id FROM conversations c WHERE c.tenant_id = ");
        qb.push_bind(tenant_id).push(" AND c.id = ").push_bind(conversation_id);
        push_visible(&mut qb, &viewer.visibility);
        let contact_id: Option<Uuid> = qb.build_query_scalar().fetch_optional(&mut *conn).await?;
        let Some(contact_id) = contact_id else {
            return Ok(None);
        };
        let mut qb = select_conversations(tenant_id, viewer);
        qb.push(" AND c.contact_id = ")
            .push_bind(contact_id)
            .push(" AND c.id <> ")
            .push_bind(conversation_id)
            .push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ")
            .push_bind(MAX_RELATED);
        Ok(Some(qb.build_query_as().fetch_all(&mut *conn).await?))
    }
}
