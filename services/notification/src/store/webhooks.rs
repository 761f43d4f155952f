//! Webhook endpoints, their deliveries and each attempt. A delivery is queued in the same
//! transaction as the event that caused it, leased by the replica that sends it, and recorded
//! with every attempt; retries follow `domain::webhook`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{NotificationStore, StoreError};
use crate::domain::webhook::{next_attempt, should_disable};

/// One event as webhook endpoints receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// `message.created`, `conversation.resolved`...
    pub event_type: String,
    /// One delivery per endpoint and key, whatever the redeliveries.
    pub dedupe_key: String,
    pub event_id: String,
    pub occurred_at: DateTime<Utc>,
    /// The `data` of the body.
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EndpointRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: String,
    pub created_at: DateTime<Utc>,
    pub failing_since: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
}

const ENDPOINT_COLUMNS: &str = "tenant_id, id, url, secret, events, description, enabled, disabled_reason, created_at, \
    failing_since, consecutive_failures";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str =
    "tenant_id, id, endpoint_id, event_type, payload, status, attempts, created_at, next_attempt_at, delivered_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttemptRow {
    pub number: i32,
    pub at: DateTime<Utc>,
    pub status_code: i32,
    pub error: String,
    pub duration_ms: i32,
}

/// A delivery this replica leased to send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret: String,
    pub payload: String,
    pub attempts: i32,
    pub retry_until: DateTime<Utc>,
    pub allow_private: bool,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// 0 when no answer came.
    pub status_code: u16,
    pub error: String,
    pub duration_ms: u32,
}

impl AttemptOutcome {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// What changes on an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// The body of a delivery: the event in a stable envelope, named by the delivery's id.
fn body(delivery_id: Uuid, tenant_id: Uuid, event: &WebhookEvent) -> String {
    serde_json::json!({
        "id": delivery_id,
        "type": event.event_type,
        "event_id": event.event_id,
        "tenant_id": tenant_id,
        "occurred_at": event.occurred_at,
        "data": event.data,
    })
    .to_string()
}

/// Queues a delivery of each event to every enabled endpoint of its tenant subscribed to it.
pub(crate) async fn queue_deliveries(
    conn: &mut PgConnection,
    events: &[(Uuid, &WebhookEvent)],
    now: DateTime<Utc>,
    retry: Duration,
) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<Uuid> = events.iter().map(|(t, _)| *t).collect::<BTreeSet<_>>().into_iter().collect();
    let endpoints: Vec<(Uuid, Uuid, Vec<String>)> =
        sqlx::query_as("SELECT tenant_id, id, events FROM webhook_endpoints WHERE tenant_id = ANY($1) AND enabled")
            .bind(&tenants)
            .fetch_all(&mut *conn)
            .await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let (mut ids, mut tenant_ids, mut endpoint_ids, mut types, mut keys, mut bodies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (tenant, event) in events {
        for (_, endpoint, subscribed) in endpoints.iter().filter(|(t, _, _)| t == tenant) {
            if subscribed.contains(&event.event_type) {
                let id = Uuid::now_v7();
                bodies.push(body(id, *tenant, event));
                ids.push(id);
                tenant_ids.push(*tenant);
                endpoint_ids.push(*endpoint);
                types.push(event.event_type.as_str());
                keys.push(event.dedupe_key.as_str());
            }
        }
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_type, dedupe_key, payload, status, created_at, \
           retry_until, next_attempt_at) \
         SELECT t, i, e, ty, k, p, 'pending', $7, $8, $7 \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[]) AS u(t, i, e, ty, k, p) \
         ON CONFLICT (endpoint_id, dedupe_key) DO NOTHING",
    )
    .bind(&tenant_ids)
    .bind(&ids)
    .bind(&endpoint_ids)
    .bind(&types)
    .bind(&keys)
    .bind(&bodies)
    .bind(now)
    .bind(now + retry)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

impl NotificationStore {
    pub async fn create_endpoint(
        &self,
        tenant_id: Uuid,
        url: &str,
        events: &[String],
        description: &str,
        secret: &str,
    ) -> Result<EndpointRow, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhook_endpoints (tenant_id, id, url, secret, events, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(url)
        .bind(secret)
        .bind(events)
        .bind(description)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn endpoints(&self, tenant_id: Uuid) -> Result<Vec<EndpointRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id"
        )))
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn endpoint(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<EndpointRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Changes an endpoint. Re-enabling clears its failure record; its pending deliveries
    /// are due at once.
    pub async fn update_endpoint(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        update: &EndpointUpdate,
    ) -> Result<Option<EndpointRow>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_endpoints SET url = coalesce($3, url), events = coalesce($4, events), \
               description = coalesce($5, description), enabled = coalesce($6, enabled), \
               disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason WHEN $6 THEN '' ELSE 'disabled by an admin' END, \
               failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END, \
               consecutive_failures = CASE WHEN $6 THEN 0 ELSE consecutive_failures END \
             WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(id)
        .bind(update.url.as_deref())
        .bind(update.events.as_deref())
        .bind(update.description.as_deref())
        .bind(update.enabled)
        .fetch_optional(&mut *tx)
        .await?;
        if update.enabled == Some(true) && row.is_some() {
            sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $3 WHERE endpoint_id = $2 AND tenant_id = $1 \
                 AND status = 'pending' AND next_attempt_at > $3",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete_endpoint(&self, tenant_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn rotate_secret(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        secret: &str,
    ) -> Result<Option<EndpointRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_endpoints SET secret = $3 WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(id)
        .bind(secret)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Leases up to `limit` due deliveries until `now + lease`: at most `per_endpoint` in
    /// flight to one endpoint, counting the ones `in_flight` here already (delivery, endpoint),
    /// which are not taken again. A delivery another replica leased is not taken.
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        per_endpoint: i64,
        in_flight: &HashMap<Uuid, Uuid>,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut used: HashMap<Uuid, i64> = HashMap::new();
        for endpoint in in_flight.values() {
            *used.entry(*endpoint).or_default() += 1;
        }
        let (endpoints, counts): (Vec<Uuid>, Vec<i64>) = used.into_iter().unzip();
        let deliveries: Vec<Uuid> = in_flight.keys().copied().collect();
        Ok(sqlx::query_as(
            "WITH used AS (SELECT * FROM UNNEST($4::uuid[], $5::bigint[]) AS u(endpoint_id, n)), \
             ranked AS ( \
               SELECT d.id, d.endpoint_id, \
                 row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rank \
               FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled \
               WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                 AND (d.leased_until IS NULL OR d.leased_until <= $1) AND NOT (d.id = ANY($6)) \
             ), picked AS ( \
               SELECT r.id FROM ranked r LEFT JOIN used u ON u.endpoint_id = r.endpoint_id \
               WHERE r.rank <= $3 - coalesce(u.n, 0) ORDER BY r.id LIMIT $2 \
             ) \
             UPDATE webhook_deliveries d SET leased_until = $7 \
             FROM picked, webhook_endpoints e \
             LEFT JOIN tenant_settings s ON s.tenant_id = e.tenant_id \
             WHERE d.id = picked.id AND e.id = d.endpoint_id AND d.status = 'pending' \
               AND (d.leased_until IS NULL OR d.leased_until <= $1) \
             RETURNING d.tenant_id, d.id, d.endpoint_id, e.url, e.secret, d.payload, d.attempts, d.retry_until, \
               coalesce(s.allow_private_webhook_addresses, false) AS allow_private",
        )
        .bind(now)
        .bind(limit)
        .bind(per_endpoint)
        .bind(&endpoints)
        .bind(&counts)
        .bind(&deliveries)
        .bind(now + lease)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records one attempt at `now` and moves the delivery on: delivered, tried again later,
    /// or failed once the retry window is over. The endpoint's failure record follows; it is
    /// disabled after failing long enough (then `true`).
    pub async fn record_attempt(
        &self,
        delivery: &ClaimedDelivery,
        outcome: &AttemptOutcome,
        disable_after: Duration,
        disable_after_failures: i32,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let number = delivery.attempts + 1;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, number, at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(delivery.id)
        .bind(number)
        .bind(now)
        .bind(i32::from(outcome.status_code))
        .bind(&outcome.error)
        .bind(outcome.duration_ms as i32)
        .execute(&mut *tx)
        .await?;
        if outcome.succeeded() {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, delivered_at = $3, leased_until = NULL \
                 WHERE id = $1",
            )
            .bind(delivery.id)
            .bind(number)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = NULL, consecutive_failures = 0 WHERE id = $1 \
                 AND (failing_since IS NOT NULL OR consecutive_failures > 0)",
            )
            .bind(delivery.endpoint_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(false);
        }
        let next = next_attempt(number as u32, now, delivery.retry_until);
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $2, leased_until = NULL, \
               status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END, \
               next_attempt_at = coalesce($3, next_attempt_at) WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(number)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        let (failing_since, failures, enabled): (Option<DateTime<Utc>>, i32, bool) = sqlx::query_as(
            "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2), \
               consecutive_failures = consecutive_failures + 1 WHERE id = $1 \
             RETURNING failing_since, consecutive_failures, enabled",
        )
        .bind(delivery.endpoint_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let disable = enabled
            && should_disable(failing_since, failures, next.is_none(), now, disable_after, disable_after_failures);
        if disable {
            let hours = disable_after.num_hours();
            sqlx::query("UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2 WHERE id = $1")
                .bind(delivery.endpoint_id)
                .bind(format!("every attempt failed for {hours} hours ({failures} attempts)"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(disable)
    }

    /// An endpoint's deliveries, newest first, after `cursor` (a delivery id).
    pub async fn deliveries(
        &self,
        tenant_id: Uuid,
        endpoint_id: Uuid,
        status: Option<&str>,
        limit: i64,
        cursor: Option<Uuid>,
    ) -> Result<(Vec<DeliveryRow>, Option<Uuid>), StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = "));
        q.push_bind(tenant_id).push(" AND endpoint_id = ").push_bind(endpoint_id);
        if let Some(status) = status {
            q.push(" AND status = ").push_bind(status.to_owned());
        }
        if let Some(cursor) = cursor {
            q.push(" AND id < ").push_bind(cursor);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
        let mut rows: Vec<DeliveryRow> = q.build_query_as().fetch_all(&self.pool).await?;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok((rows, next))
    }

    pub async fn delivery(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<(DeliveryRow, Vec<AttemptRow>)>, StoreError> {
        let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let attempts = sqlx::query_as(
            "SELECT number, at, status_code, error, duration_ms FROM webhook_attempts WHERE delivery_id = $1 ORDER BY number",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some((row, attempts)))
    }

    /// Sends deliveries of an endpoint again (same ids), with a fresh retry window: the listed
    /// ones, or every failed one created since `since`. How many.
    pub async fn replay(
        &self,
        tenant_id: Uuid,
        endpoint_id: Uuid,
        ids: &[Uuid],
        since: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let done = if ids.is_empty() {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, retry_until = $4, \
                   leased_until = NULL WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'failed' \
                   AND created_at >= $5",
            )
            .bind(tenant_id)
            .bind(endpoint_id)
            .bind(now)
            .bind(now + self.webhook_retry)
            .bind(since.unwrap_or(DateTime::<Utc>::MIN_UTC))
            .execute(&self.pool)
            .await?
        } else {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, retry_until = $4, \
                   leased_until = NULL WHERE tenant_id = $1 AND endpoint_id = $2 AND id = ANY($5)",
            )
            .bind(tenant_id)
            .bind(endpoint_id)
            .bind(now)
            .bind(now + self.webhook_retry)
            .bind(ids)
            .execute(&self.pool)
            .await?
        };
        Ok(done.rows_affected())
    }
}
