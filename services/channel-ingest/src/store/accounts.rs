//! Channel accounts and their secrets. Secrets are sealed at rest (`crate::secrets`): the
//! database holds one sealed value per account and the id of the key it is sealed under; the
//! store seals on write and opens on read, so callers only ever see a [`ChannelAccount`] with
//! its secrets in the clear, in memory.
//!
//! The webhook edges find accounts through a short-lived per-replica cache that remembers
//! unknown numbers and business accounts too, and fill it with one query per request, so a
//! stream of forged webhooks naming made-up accounts costs PostgreSQL at most one query each.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{IngestStore, StoreError};
use crate::metrics::ACCOUNT_QUERIES;

/// How long a replica trusts an account it read (a secret rotated through another replica is
/// honoured here within this time; one rotated through this replica, at once).
pub const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(30);
/// How long a replica remembers that no account has a number (or business account id): a
/// number connected through another replica is known here within this time (Meta and Twilio
/// retry what was refused meanwhile).
pub const UNKNOWN_ACCOUNT_TTL: Duration = Duration::from_secs(5);
/// Entries a cache holds before it drops expired ones (and, if still full, all).
const CACHE_MAX: usize = 100_000;

/// Values by key with the time they were read; each value's time to live depends on it.
pub(crate) struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self { entries: RwLock::default() }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    fn get<Q>(&self, key: &Q, ttl: impl Fn(&V) -> Duration) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(at, value)| at.elapsed() < ttl(value)).map(|(_, value)| value.clone())
    }

    fn put_all(&self, values: impl IntoIterator<Item = (K, V)>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, (at, _)| at.elapsed() < UNKNOWN_ACCOUNT_TTL);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        let now = Instant::now();
        entries.extend(values.into_iter().map(|(k, v)| (k, (now, v))));
    }

    fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    fn clear(&self) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// An account, or the knowledge that there is none.
type MaybeAccount = Option<Arc<ChannelAccount>>;
/// The accounts registered under one WhatsApp Business Account id (empty: none).
type BusinessAccounts = Arc<[Arc<ChannelAccount>]>;

fn account_ttl(account: &MaybeAccount) -> Duration {
    if account.is_some() { ACCOUNT_CACHE_TTL } else { UNKNOWN_ACCOUNT_TTL }
}

fn business_ttl(accounts: &BusinessAccounts) -> Duration {
    if accounts.is_empty() { UNKNOWN_ACCOUNT_TTL } else { ACCOUNT_CACHE_TTL }
}

/// The webhook edges' view of accounts: by (channel, provider id), and WhatsApp accounts by
/// business account id.
#[derive(Default)]
pub(crate) struct AccountCache {
    accounts: TtlCache<(&'static str, String), MaybeAccount>,
    businesses: TtlCache<String, BusinessAccounts>,
}

const WHATSAPP: &str = "whatsapp";
const TELEPHONY: &str = "telephony";

/// A channel account with its secrets. Its `Debug` never prints them.
#[derive(Clone)]
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

/// An account as stored: its secrets sealed (or, in a row written before sealing and not yet
/// sealed by [`IngestStore::seal_secrets`], in the clear).
#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    tenant_id: Uuid,
    channel: String,
    external_id: String,
    display_name: String,
    config: serde_json::Value,
    secrets_key_id: Option<String>,
    secrets_sealed: Option<Vec<u8>>,
    app_secret: String,
    verify_token: String,
    access_token: String,
}

/// What one sealed value holds.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Secrets {
    #[serde(default)]
    app_secret: String,
    #[serde(default)]
    verify_token: String,
    #[serde(default)]
    access_token: String,
}

impl Secrets {
    fn is_empty(&self) -> bool {
        self.app_secret.is_empty() && self.verify_token.is_empty() && self.access_token.is_empty()
    }
}

/// What a sealed value is bound to: the account's channel and provider id, which never
/// change for a row (a sealed value copied to another row does not open).
fn binding(channel: &str, external_id: &str) -> Vec<u8> {
    format!("channel_accounts:{channel}:{external_id}").into_bytes()
}

fn verify_token_hash(verify_token: &str) -> Option<Vec<u8>> {
    (!verify_token.is_empty()).then(|| Sha256::digest(verify_token.as_bytes()).to_vec())
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

const ACCOUNT_COLUMNS: &str = "id, tenant_id, channel, external_id, display_name, config, secrets_key_id, \
     secrets_sealed, app_secret, verify_token, access_token";

/// The accounts a WhatsApp webhook names, as its edge needs them.
#[derive(Debug, Default)]
pub struct WebhookAccounts {
    /// By `phone_number_id`: `None` when no tenant connected it.
    pub by_number: HashMap<String, Option<Arc<ChannelAccount>>>,
    /// By WhatsApp Business Account id: the connected numbers registered under it.
    pub by_business: HashMap<String, Arc<[Arc<ChannelAccount>]>>,
}

impl IngestStore {
    /// The account of a stored row, its secrets opened.
    fn open_account(&self, row: AccountRow) -> Result<ChannelAccount, StoreError> {
        let secrets = match (&row.secrets_key_id, &row.secrets_sealed) {
            (Some(key_id), Some(sealed)) => {
                let opened = self.secrets.open(key_id, &binding(&row.channel, &row.external_id), sealed)?;
                serde_json::from_slice(&opened).map_err(|e| {
                    StoreError::Unavailable(format!("sealed secrets of account {} do not read: {e}", row.id))
                })?
            }
            _ => Secrets { app_secret: row.app_secret, verify_token: row.verify_token, access_token: row.access_token },
        };
        Ok(ChannelAccount {
            id: row.id,
            tenant_id: row.tenant_id,
            channel: row.channel,
            external_id: row.external_id,
            display_name: row.display_name,
            app_secret: secrets.app_secret,
            verify_token: secrets.verify_token,
            access_token: secrets.access_token,
            config: row.config,
        })
    }

    fn open_accounts(&self, rows: Vec<AccountRow>) -> Result<Vec<ChannelAccount>, StoreError> {
        rows.into_iter().map(|row| self.open_account(row)).collect()
    }

    /// Seals `secrets` of the account (`channel`, `external_id`): key id and sealed value, or
    /// nothing for an account without secrets.
    fn seal(
        &self,
        channel: &str,
        external_id: &str,
        secrets: &Secrets,
    ) -> Result<(Option<String>, Option<Vec<u8>>), StoreError> {
        if secrets.is_empty() {
            return Ok((None, None));
        }
        let plaintext = serde_json::to_vec(secrets)
            .map_err(|e| StoreError::Unavailable(format!("secrets do not serialise: {e}")))?;
        let (key_id, sealed) = self.secrets.seal(&binding(channel, external_id), &plaintext)?;
        Ok((Some(key_id), Some(sealed)))
    }

    /// Connects a WhatsApp number to `tenant_id`, or updates it if the tenant already has it.
    /// A number connected to another tenant is a conflict.
    pub async fn upsert_whatsapp_account(
        &self,
        tenant_id: Uuid,
        new: &NewWhatsAppAccount<'_>,
    ) -> Result<ChannelAccount, StoreError> {
        let secrets = Secrets {
            app_secret: new.app_secret.to_owned(),
            verify_token: new.verify_token.to_owned(),
            access_token: new.access_token.to_owned(),
        };
        let (key_id, sealed) = self.seal(WHATSAPP, new.phone_number_id, &secrets)?;
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO channel_accounts (id, tenant_id, channel, external_id, display_name, config, \
               secrets_key_id, secrets_sealed, verify_token_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT ON CONSTRAINT channel_accounts_external DO UPDATE SET \
               display_name = EXCLUDED.display_name, config = EXCLUDED.config, \
               secrets_key_id = EXCLUDED.secrets_key_id, secrets_sealed = EXCLUDED.secrets_sealed, \
               verify_token_sha256 = EXCLUDED.verify_token_sha256, \
               app_secret = '', verify_token = '', access_token = '', updated_at = now() \
             WHERE channel_accounts.tenant_id = EXCLUDED.tenant_id \
             RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(WHATSAPP)
        .bind(new.phone_number_id)
        .bind(new.display_phone_number)
        .bind(if new.business_account_id.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({"business_account_id": new.business_account_id})
        })
        .bind(key_id)
        .bind(sealed)
        .bind(verify_token_hash(new.verify_token))
        .fetch_optional(&self.pool)
        .await?;
        self.accounts.accounts.forget(&(WHATSAPP, new.phone_number_id.to_owned()));
        // The number may have moved between business accounts: forget them all.
        self.accounts.businesses.clear();
        let row = row.ok_or_else(|| {
            StoreError::AlreadyExists("this phone_number_id is connected to another tenant".to_owned())
        })?;
        self.open_account(row)
    }

    /// The WhatsApp account of a `phone_number_id`, whichever tenant owns it.
    pub async fn whatsapp_account(&self, phone_number_id: &str) -> Result<Option<ChannelAccount>, StoreError> {
        ACCOUNT_QUERIES.with_label_values(&[WHATSAPP]).inc();
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE channel = $1 AND external_id = $2"
        )))
        .bind(WHATSAPP)
        .bind(phone_number_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| self.open_account(row)).transpose()
    }

    /// The WhatsApp accounts (numbers) registered under a WhatsApp Business Account id, whichever
    /// tenant owns them: webhooks of fields other than `messages` name only the WABA.
    pub async fn whatsapp_accounts_of_business(
        &self,
        business_account_id: &str,
    ) -> Result<Vec<ChannelAccount>, StoreError> {
        ACCOUNT_QUERIES.with_label_values(&[WHATSAPP]).inc();
        let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts \
             WHERE channel = $1 AND config->>'business_account_id' = $2 ORDER BY created_at, id"
        )))
        .bind(WHATSAPP)
        .bind(business_account_id)
        .fetch_all(&self.pool)
        .await?;
        self.open_accounts(rows)
    }

    /// The accounts a WhatsApp webhook names (its `phone_number_id`s and business account
    /// ids, distinct), from this replica's cache, with one query for all that it does not
    /// hold. Unknown ids are remembered for [`UNKNOWN_ACCOUNT_TTL`].
    pub async fn whatsapp_accounts_for_webhook(
        &self,
        phone_number_ids: &[&str],
        business_account_ids: &[&str],
    ) -> Result<WebhookAccounts, StoreError> {
        let mut found = WebhookAccounts::default();
        let mut missing_numbers = Vec::new();
        for &id in phone_number_ids {
            match self.accounts.accounts.get(&(WHATSAPP, id.to_owned()), account_ttl) {
                Some(account) => {
                    found.by_number.insert(id.to_owned(), account);
                }
                None => missing_numbers.push(id),
            }
        }
        let mut missing_businesses = Vec::new();
        for &id in business_account_ids {
            match self.accounts.businesses.get(id, business_ttl) {
                Some(accounts) => {
                    found.by_business.insert(id.to_owned(), accounts);
                }
                None => missing_businesses.push(id),
            }
        }
        if missing_numbers.is_empty() && missing_businesses.is_empty() {
            return Ok(found);
        }
        ACCOUNT_QUERIES.with_label_values(&[WHATSAPP]).inc();
        let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts \
             WHERE channel = $1 AND (external_id = ANY($2) OR config->>'business_account_id' = ANY($3)) \
             ORDER BY created_at, id"
        )))
        .bind(WHATSAPP)
        .bind(&missing_numbers)
        .bind(&missing_businesses)
        .fetch_all(&self.pool)
        .await?;
        let accounts: Vec<Arc<ChannelAccount>> = self.open_accounts(rows)?.into_iter().map(Arc::new).collect();
        let by_number: HashMap<&str, &Arc<ChannelAccount>> =
            accounts.iter().map(|a| (a.external_id.as_str(), a)).collect();
        let numbers: Vec<((&'static str, String), MaybeAccount)> = missing_numbers
            .iter()
            .map(|&id| ((WHATSAPP, id.to_owned()), by_number.get(id).map(|a| Arc::clone(a))))
            .collect();
        let missing: HashSet<&str> = missing_businesses.iter().copied().collect();
        let mut businesses: HashMap<&str, Vec<Arc<ChannelAccount>>> =
            missing_businesses.iter().map(|&id| (id, Vec::new())).collect();
        for account in &accounts {
            if let Some(business) = account.config["business_account_id"].as_str().filter(|b| missing.contains(b))
                && let Some(list) = businesses.get_mut(business)
            {
                list.push(Arc::clone(account));
            }
        }
        let businesses: Vec<(String, BusinessAccounts)> =
            businesses.into_iter().map(|(id, list)| (id.to_owned(), BusinessAccounts::from(list))).collect();
        found.by_number.extend(numbers.iter().map(|((_, id), account)| (id.clone(), account.clone())));
        found.by_business.extend(businesses.iter().cloned());
        self.accounts.accounts.put_all(numbers);
        self.accounts.businesses.put_all(businesses);
        Ok(found)
    }

    /// Whether any WhatsApp account uses `verify_token` (Meta's GET handshake names no number).
    pub async fn whatsapp_verify_token_exists(&self, verify_token: &str) -> Result<bool, StoreError> {
        let Some(hash) = verify_token_hash(verify_token) else { return Ok(false) };
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM channel_accounts WHERE channel = $1 AND verify_token_sha256 = $2)",
        )
        .bind(WHATSAPP)
        .bind(hash)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn list_whatsapp_accounts(&self, tenant_id: Uuid) -> Result<Vec<ChannelAccount>, StoreError> {
        let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 AND channel = $2 ORDER BY created_at"
        )))
        .bind(tenant_id)
        .bind(WHATSAPP)
        .fetch_all(&self.pool)
        .await?;
        self.open_accounts(rows)
    }

    /// One of the tenant's accounts by our id.
    pub async fn account_of_tenant(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<ChannelAccount>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| self.open_account(row)).transpose()
    }
}

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
        let secrets = Secrets { app_secret: new.auth_token.to_owned(), ..Secrets::default() };
        let (key_id, sealed) = self.seal(TELEPHONY, new.phone_number, &secrets)?;
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO channel_accounts (id, tenant_id, channel, external_id, display_name, config, \
               secrets_key_id, secrets_sealed) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7) \
             ON CONFLICT ON CONSTRAINT channel_accounts_external DO UPDATE SET \
               config = EXCLUDED.config, secrets_key_id = EXCLUDED.secrets_key_id, \
               secrets_sealed = EXCLUDED.secrets_sealed, app_secret = '', updated_at = now() \
             WHERE channel_accounts.tenant_id = EXCLUDED.tenant_id \
             RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(TELEPHONY)
        .bind(new.phone_number)
        .bind(&new.config)
        .bind(key_id)
        .bind(sealed)
        .fetch_optional(&self.pool)
        .await?;
        self.accounts.accounts.forget(&(TELEPHONY, new.phone_number.to_owned()));
        let row =
            row.ok_or_else(|| StoreError::AlreadyExists("this number is connected to another tenant".to_owned()))?;
        self.open_account(row)
    }

    /// The Twilio account of a number (E.164), whichever tenant owns it.
    pub async fn twilio_account(&self, phone_number: &str) -> Result<Option<ChannelAccount>, StoreError> {
        ACCOUNT_QUERIES.with_label_values(&[TELEPHONY]).inc();
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE channel = $1 AND external_id = $2"
        )))
        .bind(TELEPHONY)
        .bind(phone_number)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| self.open_account(row)).transpose()
    }

    /// Like `twilio_account`, from this replica's cache when it can; unknown numbers are
    /// remembered for [`UNKNOWN_ACCOUNT_TTL`].
    pub async fn twilio_account_cached(&self, phone_number: &str) -> Result<MaybeAccount, StoreError> {
        let key = (TELEPHONY, phone_number.to_owned());
        if let Some(account) = self.accounts.accounts.get(&key, account_ttl) {
            return Ok(account);
        }
        let account = self.twilio_account(phone_number).await?.map(Arc::new);
        self.accounts.accounts.put_all([(key, account.clone())]);
        Ok(account)
    }

    pub async fn list_twilio_accounts(&self, tenant_id: Uuid) -> Result<Vec<ChannelAccount>, StoreError> {
        let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 AND channel = $2 ORDER BY created_at"
        )))
        .bind(tenant_id)
        .bind(TELEPHONY)
        .fetch_all(&self.pool)
        .await?;
        self.open_accounts(rows)
    }
}

/// What [`IngestStore::seal_secrets`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SealReport {
    /// Rows whose secrets were in the clear, now sealed under the active key.
    pub sealed: u64,
    /// Rows sealed under another key, now sealed under the active key.
    pub resealed: u64,
}

/// Rows sealed again per transaction.
const SEAL_BATCH: i64 = 200;

impl IngestStore {
    /// Seals every account's secrets under the active key: rows still in the clear (written
    /// before sealing existed) and rows under an older key. Safe on every replica at once
    /// (rows are locked and skipped when another replica holds them) and idempotent.
    /// Refuses, naming the key ids, when rows are sealed under keys the configuration no
    /// longer holds: removing a key before its rows were sealed again would lose them.
    pub async fn seal_secrets(&self) -> Result<SealReport, StoreError> {
        let active = self.secrets.active_key_id().to_owned();
        let key_ids: Vec<(String, i64)> = sqlx::query_as(
            "SELECT secrets_key_id, count(*) FROM channel_accounts WHERE secrets_key_id IS NOT NULL GROUP BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let unknown: Vec<String> = key_ids
            .iter()
            .filter(|(id, _)| !self.secrets.holds(id))
            .map(|(id, n)| format!("{n} under {id:?}"))
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::Unavailable(format!(
                "channel accounts are sealed under keys secrets.keys does not hold ({}): add them back",
                unknown.join(", ")
            )));
        }
        let mut report = SealReport::default();
        loop {
            let mut tx = self.pool.begin().await?;
            let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} FROM channel_accounts \
                 WHERE (secrets_key_id IS NULL AND (app_secret <> '' OR verify_token <> '' OR access_token <> '')) \
                    OR secrets_key_id <> $1 \
                 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"
            )))
            .bind(&active)
            .bind(SEAL_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let was_clear = row.secrets_key_id.is_none();
                let account = self.open_account(row)?;
                let secrets = Secrets {
                    app_secret: account.app_secret,
                    verify_token: account.verify_token,
                    access_token: account.access_token,
                };
                let (key_id, sealed) = self.seal(&account.channel, &account.external_id, &secrets)?;
                sqlx::query(
                    "UPDATE channel_accounts SET secrets_key_id = $2, secrets_sealed = $3, verify_token_sha256 = $4, \
                       app_secret = '', verify_token = '', access_token = '' WHERE id = $1",
                )
                .bind(account.id)
                .bind(key_id)
                .bind(sealed)
                .bind(verify_token_hash(&secrets.verify_token))
                .execute(&mut *tx)
                .await?;
                if was_clear {
                    report.sealed += 1;
                } else {
                    report.resealed += 1;
                }
            }
            tx.commit().await?;
        }
        Ok(report)
    }
}
