//! Browser push: subscriptions, the messages waiting to be sent, and the VAPID key.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{NotificationStore, StoreError};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub user_id: Uuid,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
}

const SUBSCRIPTION_COLUMNS: &str = "tenant_id, id, user_id, endpoint, p256dh, auth, user_agent, created_at";

/// A push message to send now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PushJob {
    pub id: i64,
    pub tenant_id: Uuid,
    pub subscription_id: Uuid,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub payload: String,
    pub urgency: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub allow_private: bool,
}

impl NotificationStore {
    /// Registers a browser's subscription for the agent; the same endpoint again replaces
    /// its keys and owner (a browser re-subscribing, or another agent signing in on it).
    pub async fn register_subscription(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        user_agent: &str,
    ) -> Result<SubscriptionRow, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO push_subscriptions (tenant_id, id, user_id, endpoint, p256dh, auth, user_agent, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, endpoint) DO UPDATE SET user_id = $3, p256dh = $5, auth = $6, user_agent = $7 \
             RETURNING {SUBSCRIPTION_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(user_id)
        .bind(endpoint)
        .bind(p256dh)
        .bind(auth)
        .bind(user_agent)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn subscriptions(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Vec<SubscriptionRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at"
        )))
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn delete_subscription(&self, tenant_id: Uuid, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
            .bind(tenant_id)
            .bind(user_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The push service said the subscription is gone (404, 410): it is dropped with its
    /// waiting messages.
    pub async fn drop_subscription(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Leases up to `limit` due push messages (not those in `in_flight`) until `now + lease`.
    pub async fn claim_push_jobs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        in_flight: &HashSet<i64>,
        lease: Duration,
    ) -> Result<Vec<PushJob>, StoreError> {
        let in_flight: Vec<i64> = in_flight.iter().copied().collect();
        Ok(sqlx::query_as(
            "WITH picked AS ( \
               SELECT id FROM push_jobs WHERE next_attempt_at <= $1 AND NOT (id = ANY($3)) \
               ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             UPDATE push_jobs j SET next_attempt_at = $4 \
             FROM picked, push_subscriptions s LEFT JOIN tenant_settings t ON t.tenant_id = s.tenant_id \
             WHERE j.id = picked.id AND s.id = j.subscription_id \
             RETURNING j.id, j.tenant_id, j.subscription_id, s.endpoint, s.p256dh, s.auth, j.payload, j.urgency, \
               j.attempts, j.created_at, coalesce(t.allow_private_webhook_addresses, false) AS allow_private",
        )
        .bind(now)
        .bind(limit)
        .bind(&in_flight)
        .bind(now + lease)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The message was handed over, or will never be: it goes.
    pub async fn finish_push_job(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM push_jobs WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Tries the message again at `at`.
    pub async fn retry_push_job(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE push_jobs SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The deployment's VAPID private key: the one stored, or `generated` stored now (the
    /// first replica to start wins; the others read its key).
    pub async fn vapid_key(&self, generated: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO vapid_keys (id, private_key, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(generated)
        .bind(self.clock.now())
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar("SELECT private_key FROM vapid_keys WHERE id = 1").fetch_one(&self.pool).await?)
    }
}
