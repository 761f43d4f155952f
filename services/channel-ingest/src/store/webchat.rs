//! Web chat: widgets, visitors (identified by a bearer token of which only a hash is kept),
//! the pages they looked at, and the messages of their chat as the widget shows them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{ChannelAccount, DeliveryRow, DeliveryState, IngestStore, StoreError};

const WEBCHAT: &str = "webchat";

/// How long a replica trusts a widget it read; an unknown key is remembered for less, so a
/// widget created through another replica works within seconds.
const WIDGET_TTL: Duration = Duration::from_secs(30);
const UNKNOWN_WIDGET_TTL: Duration = Duration::from_secs(5);
const WIDGET_CACHE_MAX: usize = 100_000;

/// Widgets by key (`None`: no such widget), with the time they were read: every visitor API
/// request names its widget, and most cost no lookup this way.
#[derive(Default)]
pub(crate) struct WidgetCache {
    entries: RwLock<HashMap<String, CachedWidget>>,
}

/// When it was read, and the widget (`None`: the key is unknown).
type CachedWidget = (Instant, Option<Arc<Widget>>);

impl WidgetCache {
    fn get(&self, key: &str) -> Option<Option<Arc<Widget>>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let (at, widget) = entries.get(key)?;
        let ttl = if widget.is_some() { WIDGET_TTL } else { UNKNOWN_WIDGET_TTL };
        (at.elapsed() < ttl).then(|| widget.clone())
    }

    fn forget(&self, key: &str) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    fn put(&self, key: &str, widget: Option<Arc<Widget>>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= WIDGET_CACHE_MAX {
            entries.retain(|_, (at, _)| at.elapsed() < UNKNOWN_WIDGET_TTL);
            if entries.len() >= WIDGET_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (Instant::now(), widget));
    }
}

/// A widget: its channel account and its settings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Widget {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub widget_key: String,
    pub allowed_origins: Vec<String>,
    pub greeting: String,
    pub color: String,
}

impl Widget {
    /// Whether `origin` (the `Origin` header, exactly) may use this widget.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The channel account the raw archive and the bus know the widget by.
    pub fn account(&self) -> ChannelAccount {
        ChannelAccount {
            id: self.id,
            tenant_id: self.tenant_id,
            channel: WEBCHAT.to_owned(),
            external_id: self.widget_key.clone(),
            display_name: self.name.clone(),
            app_secret: String::new(),
            verify_token: String::new(),
            access_token: String::new(),
            config: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

pub struct NewWidget<'a> {
    pub name: &'a str,
    pub allowed_origins: &'a [String],
    pub greeting: &'a str,
    pub color: &'a str,
}

/// A visitor of one widget.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Visitor {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub email: String,
    pub user_agent: String,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// What a session start may change about a visitor; `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct VisitorUpdate<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub user_agent: &'a str,
    pub locale: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PageRecord {
    pub url: String,
    pub title: String,
    pub referrer: String,
    pub at: DateTime<Utc>,
}

/// One message of a visitor's chat.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebchatMessage {
    pub id: Uuid,
    pub sender: String,
    pub client_message_id: String,
    pub body: String,
    pub sent_at: DateTime<Utc>,
}

/// SHA-256 of a visitor token: what the database holds instead of the token.
fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

const WIDGET_COLUMNS: &str = "a.id, a.tenant_id, a.display_name AS name, a.external_id AS widget_key, \
     w.allowed_origins, w.greeting, w.color";
const VISITOR_COLUMNS: &str = "id, tenant_id, account_id, name, email, user_agent, locale, created_at, last_seen_at";

impl IngestStore {
    /// Creates a widget of `tenant_id` with a new random public key.
    pub async fn create_widget(&self, tenant_id: Uuid, new: &NewWidget<'_>) -> Result<Widget, StoreError> {
        let id = Uuid::now_v7();
        let key = format!("wk_{}", hex::encode(rand::random::<[u8; 16]>()));
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO channel_accounts (id, tenant_id, channel, external_id, display_name) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(WEBCHAT)
        .bind(&key)
        .bind(new.name)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webchat_widgets (account_id, tenant_id, allowed_origins, greeting, color) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(new.allowed_origins)
        .bind(new.greeting)
        .bind(new.color)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Widget {
            id,
            tenant_id,
            name: new.name.to_owned(),
            widget_key: key,
            allowed_origins: new.allowed_origins.to_vec(),
            greeting: new.greeting.to_owned(),
            color: new.color.to_owned(),
        })
    }

    /// Replaces the settings of the tenant's widget `id`; `NotFound` for another tenant's, an
    /// unknown or a deleted one. This replica forgets the cached widget at once.
    pub async fn update_widget(&self, tenant_id: Uuid, id: Uuid, new: &NewWidget<'_>) -> Result<Widget, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE webchat_widgets SET allowed_origins = $3, greeting = $4, color = $5 \
             WHERE tenant_id = $1 AND account_id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(new.allowed_origins)
        .bind(new.greeting)
        .bind(new.color)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("no such widget".into()));
        }
        sqlx::query(
            "UPDATE channel_accounts SET display_name = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(new.name)
        .execute(&mut *tx)
        .await?;
        let widget = self.widget_of_tenant(&mut tx, tenant_id, id).await?;
        tx.commit().await?;
        self.widgets.forget(&widget.widget_key);
        Ok(widget)
    }

    /// Deletes the tenant's widget `id` (kept, marked deleted) and returns it as it was.
    pub async fn delete_widget(&self, tenant_id: Uuid, id: Uuid) -> Result<Widget, StoreError> {
        let mut tx = self.pool.begin().await?;
        let widget = self.widget_of_tenant(&mut tx, tenant_id, id).await?;
        sqlx::query("UPDATE webchat_widgets SET deleted_at = $3 WHERE tenant_id = $1 AND account_id = $2")
            .bind(tenant_id)
            .bind(id)
            .bind(self.clock.now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.widgets.forget(&widget.widget_key);
        Ok(widget)
    }

    async fn widget_of_tenant(
        &self,
        tx: &mut sqlx::PgConnection,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Widget, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WIDGET_COLUMNS} FROM channel_accounts a JOIN webchat_widgets w ON w.account_id = a.id \
             WHERE a.tenant_id = $1 AND a.id = $2 AND w.deleted_at IS NULL FOR UPDATE OF w"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound("no such widget".into()))
    }

    pub async fn list_widgets(&self, tenant_id: Uuid) -> Result<Vec<Widget>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WIDGET_COLUMNS} FROM channel_accounts a JOIN webchat_widgets w ON w.account_id = a.id \
             WHERE a.tenant_id = $1 AND a.channel = $2 AND w.deleted_at IS NULL ORDER BY a.created_at"
        )))
        .bind(tenant_id)
        .bind(WEBCHAT)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The widget of a public key, whichever tenant owns it.
    pub async fn widget_by_key(&self, widget_key: &str) -> Result<Option<Widget>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WIDGET_COLUMNS} FROM channel_accounts a JOIN webchat_widgets w ON w.account_id = a.id \
             WHERE a.channel = $1 AND a.external_id = $2 AND w.deleted_at IS NULL"
        )))
        .bind(WEBCHAT)
        .bind(widget_key)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Like `widget_by_key`, from this replica's short-lived cache when it can.
    pub async fn widget_by_key_cached(&self, widget_key: &str) -> Result<Option<Arc<Widget>>, StoreError> {
        if let Some(cached) = self.widgets.get(widget_key) {
            return Ok(cached);
        }
        let widget = self.widget_by_key(widget_key).await?.map(Arc::new);
        self.widgets.put(widget_key, widget.clone());
        Ok(widget)
    }

    /// Creates a visitor of `widget` and returns it with its bearer token (shown once).
    pub async fn create_visitor(
        &self,
        widget: &Widget,
        update: &VisitorUpdate<'_>,
    ) -> Result<(Visitor, String), StoreError> {
        let token = format!("wv_{}", hex::encode(rand::random::<[u8; 32]>()));
        let visitor: Visitor = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webchat_visitors (id, tenant_id, account_id, token_hash, name, email, user_agent, locale, \
               created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {VISITOR_COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(widget.tenant_id)
        .bind(widget.id)
        .bind(token_hash(&token))
        .bind(update.name.unwrap_or_default())
        .bind(update.email.unwrap_or_default())
        .bind(update.user_agent)
        .bind(update.locale)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?;
        Ok((visitor, token))
    }

    /// The visitor holding `token` on `widget`; `None` for an unknown token or one issued by
    /// another widget (so a token never crosses widgets or tenants).
    pub async fn visitor_by_token(&self, widget: &Widget, token: &str) -> Result<Option<Visitor>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VISITOR_COLUMNS} FROM webchat_visitors WHERE token_hash = $1 AND account_id = $2 AND tenant_id = $3"
        )))
        .bind(token_hash(token))
        .bind(widget.id)
        .bind(widget.tenant_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Like `visitor_by_token`, for a token used within `idle` (a token unused longer opens
    /// nothing: its widget starts a new visitor). Using it moves the visitor's last visit to
    /// now, written at most once an hour.
    pub async fn active_visitor_by_token(
        &self,
        widget: &Widget,
        token: &str,
        idle: chrono::Duration,
    ) -> Result<Option<Visitor>, StoreError> {
        let now = self.clock.now();
        let found: Option<Visitor> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VISITOR_COLUMNS} FROM webchat_visitors \
             WHERE token_hash = $1 AND account_id = $2 AND tenant_id = $3 AND last_seen_at > $4"
        )))
        .bind(token_hash(token))
        .bind(widget.id)
        .bind(widget.tenant_id)
        .bind(now - idle)
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut visitor) = found else { return Ok(None) };
        if visitor.last_seen_at < now - chrono::Duration::hours(1) {
            sqlx::query("UPDATE webchat_visitors SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
                .bind(visitor.id)
                .bind(now)
                .execute(&self.pool)
                .await?;
            visitor.last_seen_at = now;
        }
        Ok(Some(visitor))
    }

    /// Records what the visitor told us on a session start; returns the visitor as stored.
    pub async fn update_visitor(&self, visitor_id: Uuid, update: &VisitorUpdate<'_>) -> Result<Visitor, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webchat_visitors SET name = COALESCE($2, name), email = COALESCE($3, email), \
               user_agent = CASE WHEN $4 = '' THEN user_agent ELSE $4 END, \
               locale = CASE WHEN $5 = '' THEN locale ELSE $5 END, last_seen_at = $6 \
             WHERE id = $1 RETURNING {VISITOR_COLUMNS}"
        )))
        .bind(visitor_id)
        .bind(update.name)
        .bind(update.email)
        .bind(update.user_agent)
        .bind(update.locale)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?)
    }

    /// A visitor of the tenant's widget `account_id`.
    pub async fn visitor_of_tenant(
        &self,
        tenant_id: Uuid,
        account_id: Uuid,
        visitor_id: Uuid,
    ) -> Result<Option<Visitor>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VISITOR_COLUMNS} FROM webchat_visitors WHERE tenant_id = $1 AND account_id = $2 AND id = $3"
        )))
        .bind(tenant_id)
        .bind(account_id)
        .bind(visitor_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn record_page_view(&self, visitor_id: Uuid, page: &PageRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webchat_page_views (visitor_id, url, title, referrer, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(visitor_id)
        .bind(&page.url)
        .bind(&page.title)
        .bind(&page.referrer)
        .bind(page.at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The visitor's most recent `limit` page views, oldest first.
    pub async fn page_views(&self, visitor_id: Uuid, limit: i64) -> Result<Vec<PageRecord>, StoreError> {
        let mut pages: Vec<PageRecord> = sqlx::query_as(
            "SELECT url, title, referrer, at FROM webchat_page_views WHERE visitor_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(visitor_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        pages.reverse();
        Ok(pages)
    }

    /// Stores a visitor's message once per idempotency key; returns it as stored and whether
    /// this call stored it.
    pub async fn store_visitor_message(
        &self,
        visitor: &Visitor,
        client_message_id: &str,
        body: &str,
    ) -> Result<(WebchatMessage, bool), StoreError> {
        self.store_message(visitor.tenant_id, visitor.id, Uuid::now_v7(), "visitor", client_message_id, body, None)
            .await
    }

    /// The visitor messages of widget `account_id` stored under the widget's idempotency key
    /// `client_message_id`, with their visitors (for replay: keys are random, so one at most
    /// in practice).
    pub async fn visitor_messages_by_client_id(
        &self,
        tenant_id: Uuid,
        account_id: Uuid,
        client_message_id: &str,
    ) -> Result<Vec<(Visitor, WebchatMessage)>, StoreError> {
        let messages: Vec<(Uuid, Uuid, String, String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT m.visitor_id, m.id, m.sender, m.client_message_id, m.body, m.sent_at \
             FROM webchat_messages m JOIN webchat_visitors v ON v.id = m.visitor_id \
             WHERE m.tenant_id = $1 AND m.sender = 'visitor' AND m.client_message_id = $3 AND v.account_id = $2 \
             ORDER BY m.sent_at, m.id",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(client_message_id)
        .fetch_all(&self.pool)
        .await?;
        let mut found = Vec::with_capacity(messages.len());
        for (visitor_id, id, sender, client_message_id, body, sent_at) in messages {
            if let Some(visitor) = self.visitor_of_tenant(tenant_id, account_id, visitor_id).await? {
                found.push((visitor, WebchatMessage { id, sender, client_message_id, body, sent_at }));
            }
        }
        Ok(found)
    }

    /// Stores an agent's reply once per message id, dated `sent_at` (the store's now if unset).
    pub async fn store_agent_message(
        &self,
        tenant_id: Uuid,
        visitor_id: Uuid,
        message_id: Uuid,
        body: &str,
        sent_at: Option<DateTime<Utc>>,
    ) -> Result<(WebchatMessage, bool), StoreError> {
        self.store_message(tenant_id, visitor_id, message_id, "agent", &message_id.to_string(), body, sent_at).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_message(
        &self,
        tenant_id: Uuid,
        visitor_id: Uuid,
        id: Uuid,
        sender: &str,
        client_message_id: &str,
        body: &str,
        sent_at: Option<DateTime<Utc>>,
    ) -> Result<(WebchatMessage, bool), StoreError> {
        let inserted: Option<WebchatMessage> = sqlx::query_as(
            "INSERT INTO webchat_messages (id, tenant_id, visitor_id, sender, client_message_id, body, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT DO NOTHING RETURNING id, sender, client_message_id, body, sent_at",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(visitor_id)
        .bind(sender)
        .bind(client_message_id)
        .bind(body)
        .bind(sent_at.unwrap_or_else(|| self.clock.now()))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(message) = inserted {
            return Ok((message, true));
        }
        let existing: WebchatMessage = sqlx::query_as(
            "SELECT id, sender, client_message_id, body, sent_at FROM webchat_messages \
             WHERE visitor_id = $1 AND sender = $2 AND client_message_id = $3",
        )
        .bind(visitor_id)
        .bind(sender)
        .bind(client_message_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((existing, false))
    }

    /// The visitor's most recent `limit` messages, oldest first.
    pub async fn visitor_history(&self, visitor_id: Uuid, limit: i64) -> Result<Vec<WebchatMessage>, StoreError> {
        let mut messages: Vec<WebchatMessage> = sqlx::query_as(
            "SELECT id, sender, client_message_id, body, sent_at FROM webchat_messages \
             WHERE visitor_id = $1 ORDER BY sent_at DESC, id DESC LIMIT $2",
        )
        .bind(visitor_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        messages.reverse();
        Ok(messages)
    }

    /// Which of `ids` are agent replies in the chat of `visitor_id` (a visitor only ever marks
    /// their own chat read).
    pub async fn agent_replies_of_visitor(&self, visitor_id: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM webchat_messages WHERE visitor_id = $1 AND sender = 'agent' AND id = ANY($2) ORDER BY id",
        )
        .bind(visitor_id)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves a web chat delivery forward to `state` (never back, never out of failed); returns
    /// the row when it changed.
    pub async fn advance_webchat_delivery(
        &self,
        tenant_id: Uuid,
        message_id: Uuid,
        state: DeliveryState,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE outbound_deliveries SET state = $3, state_rank = $4, \
               external_id = COALESCE(external_id, message_id::text), attempts = GREATEST(attempts, 1), \
               lease_owner = NULL, lease_until = NULL, updated_at = $5 \
             WHERE tenant_id = $1 AND message_id = $2 AND state_rank < $4 AND state <> 'failed' \
             RETURNING {}",
            super::deliveries::DELIVERY_COLUMNS
        )))
        .bind(tenant_id)
        .bind(message_id)
        .bind(state.as_str())
        .bind(state.rank())
        .bind(self.clock.now())
        .fetch_optional(&self.pool)
        .await?)
    }
}
