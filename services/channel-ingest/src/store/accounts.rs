//! Channel accounts and their secrets.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{IngestStore, StoreError};

/// How long a replica trusts an account it read (a secret rotated through another replica is
/// honoured here within this time; one rotated through this replica, at once).
pub const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(30);

/// Accounts by phone_number_id with the time they were read. Unknown numbers are not cached.
#[derive(Default)]
pub(crate) struct AccountCache {
    entries: RwLock<HashMap<String, (Instant, Arc<ChannelAccount>)>>,
}

impl AccountCache {
    fn get(&self, phone_number_id: &str) -> Option<Arc<ChannelAccount>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(phone_number_id).filter(|(at, _)| at.elapsed() < ACCOUNT_CACHE_TTL).map(|(_, a)| a.clone())
    }

    fn put(&self, account: Arc<ChannelAccount>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 100_000 {
            entries.retain(|_, (at, _)| at.elapsed() < ACCOUNT_CACHE_TTL);
        }
        entries.insert(account.external_id.clone(), (Instant::now(), account));
    }

    fn forget(&self, phone_number_id: &str) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(phone_number_id);
    }
}

const WHATSAPP: &str = "whatsapp";

/// A channel account with its secrets. Its `Debug` never prints them.
#[derive(Clone, sqlx::FromRow)]
pub struct ChannelAccount {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel: String,
    pub external_id: String,
    pub display_name: String,
    pub app_secret: String,
    pub verify_token: String,
    pub access_token: String,
    /// Channel-specific settings (telephony: Account SID and how calls are answered).
    pub config: serde_json::Value,
}

impl std::fmt::Debug for ChannelAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelAccount")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("channel", &self.channel)
            .field("external_id", &self.external_id)
            .finish_non_exhaustive()
    }
}

/// What connecting a WhatsApp number takes.
pub struct NewWhatsAppAccount<'a> {
    pub phone_number_id: &'a str,
    pub display_phone_number: &'a str,
    pub app_secret: &'a str,
    pub verify_token: &'a str,
    pub access_token: &'a str,
    /// Meta's WhatsApp Business Account id; empty when not given.
    pub business_account_id: &'a str,
}

const ACCOUNT_COLUMNS: &str =
    "id, tenant_id, channel, external_id, display_name, app_secret, verify_token, access_token, config";

impl IngestStore {
    /// Connects a WhatsApp number to `tenant_id`, or updates it if the tenant already has it.
    /// A number connected to another tenant is a conflict.
    pub async fn upsert_whatsapp_account(
        &self,
        tenant_id: Uuid,
        new: &NewWhatsAppAccount<'_>,
    ) -> Result<ChannelAccount, StoreError> {
        let row: Option<ChannelAccount> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO channel_accounts (id, tenant_id, channel, external_id, display_name, app_secret, verify_token, access_token, config) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT ON CONSTRAINT channel_accounts_external DO UPDATE SET \
               display_name = EXCLUDED.display_name, app_secret = EXCLUDED.app_secret, \
               verify_token = EXCLUDED.verify_token, access_token = EXCLUDED.access_token, \
               config = EXCLUDED.config, updated_at = now() \
             WHERE channel_accounts.tenant_id = EXCLUDED.tenant_id \
             RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(WHATSAPP)
        .bind(new.phone_number_id)
        .bind(new.display_phone_number)
        .bind(new.app_secret)
        .bind(new.verify_token)
        .bind(new.access_token)
        .bind(if new.business_account_id.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({"business_account_id": new.business_account_id})
        })
        .fetch_optional(&self.pool)
        .await?;
        self.accounts.forget(new.phone_number_id);
        row.ok_or_else(|| {
            StoreError::AlreadyExists(format!("phone_number_id {} is connected to another tenant", new.phone_number_id))
        })
    }

    /// The WhatsApp account of a `phone_number_id`, whichever tenant owns it.
    pub async fn whatsapp_account(&self, phone_number_id: &str) -> Result<Option<ChannelAccount>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE channel = $1 AND external_id = $2"
        )))
        .bind(WHATSAPP)
        .bind(phone_number_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The WhatsApp accounts (numbers) registered under a WhatsApp Business Account id, whichever
    /// tenant owns them: webhooks of fields other than `messages` name only the WABA.
    pub async fn whatsapp_accounts_of_business(
        &self,
        business_account_id: &str,
    ) -> Result<Vec<ChannelAccount>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts \
             WHERE channel = $1 AND config->>'business_account_id' = $2 ORDER BY created_at, id"
        )))
        .bind(WHATSAPP)
        .bind(business_account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Like `whatsapp_account`, served from a short-lived per-replica cache (see
    /// [`ACCOUNT_CACHE_TTL`]): the webhook path reads an account without a database round trip.
    pub async fn whatsapp_account_cached(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Arc<ChannelAccount>>, StoreError> {
        if let Some(account) = self.accounts.get(phone_number_id) {
            return Ok(Some(account));
        }
        let Some(account) = self.whatsapp_account(phone_number_id).await? else { return Ok(None) };
        let account = Arc::new(account);
        self.accounts.put(account.clone());
        Ok(Some(account))
    }

    /// Whether any WhatsApp account uses `verify_token` (Meta's GET handshake names no number).
    pub async fn whatsapp_verify_token_exists(&self, verify_token: &str) -> Result<bool, StoreError> {
        if verify_token.is_empty() {
            return Ok(false);
        }
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM channel_accounts WHERE channel = $1 AND verify_token = $2)",
        )
        .bind(WHATSAPP)
        .bind(verify_token)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn list_whatsapp_accounts(&self, tenant_id: Uuid) -> Result<Vec<ChannelAccount>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 AND channel = $2 ORDER BY created_at"
        )))
        .bind(tenant_id)
        .bind(WHATSAPP)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl IngestStore {
    /// One of the tenant's accounts by our id.
    pub async fn account_of_tenant(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<ChannelAccount>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

const TELEPHONY: &str = "telephony";

/// What connecting a Twilio number takes.
pub struct NewTwilioAccount<'a> {
    /// E.164.
    pub phone_number: &'a str,
    pub auth_token: &'a str,
    /// `{"account_sid": ..., "voice": {...}}`.
    pub config: serde_json::Value,
}

impl IngestStore {
    /// Connects a Twilio number to `tenant_id`, or reconfigures it if the tenant already has it.
    /// A number connected to another tenant is a conflict.
    pub async fn upsert_twilio_account(
        &self,
        tenant_id: Uuid,
        new: &NewTwilioAccount<'_>,
    ) -> Result<ChannelAccount, StoreError> {
        let row: Option<ChannelAccount> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO channel_accounts (id, tenant_id, channel, external_id, display_name, app_secret, config) \
             VALUES ($1, $2, $3, $4, $4, $5, $6) \
             ON CONFLICT ON CONSTRAINT channel_accounts_external DO UPDATE SET \
               app_secret = EXCLUDED.app_secret, config = EXCLUDED.config, updated_at = now() \
             WHERE channel_accounts.tenant_id = EXCLUDED.tenant_id \
             RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(TELEPHONY)
        .bind(new.phone_number)
        .bind(new.auth_token)
        .bind(&new.config)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or_else(|| StoreError::AlreadyExists(format!("{} is connected to another tenant", new.phone_number)))
    }

    /// The Twilio account of a number (E.164), whichever tenant owns it.
    pub async fn twilio_account(&self, phone_number: &str) -> Result<Option<ChannelAccount>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE channel = $1 AND external_id = $2"
        )))
        .bind(TELEPHONY)
        .bind(phone_number)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_twilio_accounts(&self, tenant_id: Uuid) -> Result<Vec<ChannelAccount>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 AND channel = $2 ORDER BY created_at"
        )))
        .bind(tenant_id)
        .bind(TELEPHONY)
        .fetch_all(&self.pool)
        .await?)
    }
}
