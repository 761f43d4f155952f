//! The outbound delivery log and the provider's status updates.
//!
//! One row per outbound message, keyed by `(tenant_id, message_id)`. A replica sends only while
//! it holds the row's lease; `request_in_flight` marks the window in which a request may have
//! reached the provider without its answer being recorded. A lease that expires inside that
//! window (the replica died mid-request) is never retried: the delivery becomes `failed` with
//! `delivery_outcome_unknown`, so the customer never gets a message twice (see docs/whatsapp.md).
//!
//! Leases are written and checked with the store's clock (`lease_until` is bound, not computed
//! by PostgreSQL), so every replica and every test judges them by the same "now".

use std::time::Duration;

use chrono::{DateTime, Utc};
use inbox_proto::ingest::v1 as pb;
use uuid::Uuid;

use super::{IngestStore, StoreError};

/// Where a delivery stands; only moves forward (see [`DeliveryState::rank`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Queued,
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 6] =
        [Self::Queued, Self::Accepted, Self::Sent, Self::Delivered, Self::Read, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The order states follow; an update to a lower or equal rank changes nothing.
    pub fn rank(self) -> i16 {
        match self {
            Self::Queued => 0,
            Self::Accepted => 1,
            Self::Sent => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Failed => 5,
        }
    }

    pub fn to_proto(self) -> pb::DeliveryState {
        match self {
            Self::Queued => pb::DeliveryState::Queued,
            Self::Accepted => pb::DeliveryState::Accepted,
            Self::Sent => pb::DeliveryState::Sent,
            Self::Delivered => pb::DeliveryState::Delivered,
            Self::Read => pb::DeliveryState::Read,
            Self::Failed => pb::DeliveryState::Failed,
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub code: i64,
    pub title: String,
    pub details: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub account_id: Option<Uuid>,
    pub channel: String,
    pub state: String,
    pub external_id: Option<String>,
    pub error_code: Option<i64>,
    pub error_title: String,
    pub error_details: String,
    pub attempts: i32,
    pub lease_owner: Option<Uuid>,
    pub lease_until: Option<DateTime<Utc>>,
    pub request_in_flight: bool,
    pub updated_at: DateTime<Utc>,
}

pub(super) const DELIVERY_COLUMNS: &str = "tenant_id, message_id, conversation_id, account_id, channel, state, external_id, \
     error_code, error_title, error_details, attempts, lease_owner, lease_until, request_in_flight, updated_at";

impl DeliveryRow {
    pub fn state(&self) -> DeliveryState {
        DeliveryState::parse(&self.state).unwrap_or(DeliveryState::Queued)
    }

    /// Whether a replica other than `owner` holds a lease that is still live at `now`.
    pub fn leased_elsewhere(&self, owner: Uuid, now: DateTime<Utc>) -> bool {
        self.lease_until.is_some_and(|until| until > now) && self.lease_owner != Some(owner)
    }

    pub fn to_proto(&self) -> pb::Delivery {
        let state = self.state();
        pb::Delivery {
            message_id: self.message_id.to_string(),
            tenant_id: self.tenant_id.to_string(),
            conversation_id: self.conversation_id.to_string(),
            channel: inbox_bus::subjects::channel_from_token(&self.channel)
                .unwrap_or(inbox_proto::common::v1::Channel::Unspecified) as i32,
            channel_account_id: self.account_id.map(|a| a.to_string()).unwrap_or_default(),
            external_id: self.external_id.clone().unwrap_or_default(),
            state: state.to_proto() as i32,
            error: (state == DeliveryState::Failed).then(|| pb::DeliveryError {
                code: self.error_code.unwrap_or(0),
                title: self.error_title.clone(),
                details: self.error_details.clone(),
            }),
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            updated_at: Some(inbox_proto::timestamp_from(self.updated_at)),
        }
    }
}

/// An outbound message to deliver.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub account_id: Option<Uuid>,
    pub channel: &'a str,
    pub recipient: &'a str,
}

/// The answer to "may I send this message now?".
#[derive(Debug)]
pub enum Claim {
    /// Yes: this replica holds the lease.
    Granted(DeliveryRow),
    /// It was handled before (accepted, or failed): nothing to send.
    Finished(DeliveryRow),
    /// Another replica holds a live lease; ask again later.
    HeldElsewhere,
    /// A replica died while a request may have reached the provider: now failed, never resent.
    Interrupted(DeliveryRow),
}

/// A provider status update to remember and apply.
#[derive(Debug, Clone)]
pub struct StatusRecord {
    pub external_id: String,
    pub state: DeliveryState,
    pub occurred_at: DateTime<Utc>,
    pub failure: Option<DeliveryFailure>,
}

/// When a lease of length `lease` taken at `now` ends.
fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(lease).ok().and_then(|d| now.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl IngestStore {
    /// Records `new` if unseen and tries to take its lease for `lease`.
    pub async fn claim_delivery(
        &self,
        new: &NewDelivery<'_>,
        owner: Uuid,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO outbound_deliveries (tenant_id, message_id, conversation_id, account_id, channel, recipient, \
               state, state_rank) VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0) ON CONFLICT DO NOTHING",
        )
        .bind(new.tenant_id)
        .bind(new.message_id)
        .bind(new.conversation_id)
        .bind(new.account_id)
        .bind(new.channel)
        .bind(new.recipient)
        .execute(&mut *tx)
        .await?;
        let row: DeliveryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbound_deliveries WHERE tenant_id = $1 AND message_id = $2 FOR UPDATE"
        )))
        .bind(new.tenant_id)
        .bind(new.message_id)
        .fetch_one(&mut *tx)
        .await?;
        if row.state() != DeliveryState::Queued {
            tx.rollback().await?;
            return Ok(Claim::Finished(row));
        }
        let now = self.clock.now();
        if row.leased_elsewhere(owner, now) {
            tx.rollback().await?;
            return Ok(Claim::HeldElsewhere);
        }
        if row.request_in_flight {
            let failure = DeliveryFailure {
                code: 0,
                title: "delivery_outcome_unknown".into(),
                details: "sending was interrupted while the provider was being called; it is not retried so the \
                          customer never gets the message twice: check the conversation and send it again if needed"
                    .into(),
            };
            let row = fail_in(&mut tx, new.tenant_id, new.message_id, &failure, now).await?;
            tx.commit().await?;
            return Ok(match row {
                Some(row) => Claim::Interrupted(row),
                None => Claim::HeldElsewhere,
            });
        }
        let row: DeliveryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE outbound_deliveries SET lease_owner = $3, lease_until = $4, \
               account_id = COALESCE(account_id, $5), updated_at = $6 \
             WHERE tenant_id = $1 AND message_id = $2 RETURNING {DELIVERY_COLUMNS}"
        )))
        .bind(new.tenant_id)
        .bind(new.message_id)
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(new.account_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Claim::Granted(row))
    }

    /// Opens the in-flight window before a request to the provider; false if the lease was lost.
    pub async fn begin_provider_request(
        &self,
        tenant_id: Uuid,
        message_id: Uuid,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let done = sqlx::query(
            "UPDATE outbound_deliveries SET request_in_flight = true, attempts = attempts + 1, \
               lease_until = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND message_id = $2 AND lease_owner = $3 AND state = 'queued'",
        )
        .bind(tenant_id)
        .bind(message_id)
        .bind(owner)
        .bind(lease_end(now, lease))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The provider answered without accepting (429, 5xx): the request is closed, the last
    /// error kept; the lease is kept for a retry, or released with `release`.
    pub async fn end_provider_request(
        &self,
        tenant_id: Uuid,
        message_id: Uuid,
        owner: Uuid,
        last_error: &DeliveryFailure,
        release: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbound_deliveries SET request_in_flight = false, error_code = $4, error_title = $5, \
               error_details = $6, updated_at = $8, \
               lease_owner = CASE WHEN $7 THEN NULL ELSE lease_owner END, \
               lease_until = CASE WHEN $7 THEN NULL ELSE lease_until END \
             WHERE tenant_id = $1 AND message_id = $2 AND lease_owner = $3 AND state = 'queued'",
        )
        .bind(tenant_id)
        .bind(message_id)
        .bind(owner)
        .bind(last_error.code)
        .bind(&last_error.title)
        .bind(&last_error.details)
        .bind(release)
        .bind(self.clock.now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The provider accepted the message as `external_id`; statuses that arrived before this
    /// are applied now. Returns the delivery as it stands.
    pub async fn record_accepted(
        &self,
        tenant_id: Uuid,
        message_id: Uuid,
        external_id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE outbound_deliveries SET state = 'accepted', state_rank = 1, external_id = $3, \
               error_code = NULL, error_title = '', error_details = '', request_in_flight = false, \
               lease_owner = NULL, lease_until = NULL, updated_at = $4 \
             WHERE tenant_id = $1 AND message_id = $2 AND state = 'queued' RETURNING {DELIVERY_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(message_id)
        .bind(external_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return self.delivery(tenant_id, message_id).await;
        };
        let Some(account_id) = row.account_id else {
            tx.commit().await?;
            return Ok(Some(row));
        };
        apply_remembered_statuses(&mut tx, tenant_id, account_id, &[external_id.to_owned()], now).await?;
        tx.commit().await?;
        self.delivery(tenant_id, message_id).await
    }

    /// Ends a delivery as failed (unless it already ended). Returns it as it stands.
    pub async fn record_failed(
        &self,
        tenant_id: Uuid,
        message_id: Uuid,
        failure: &DeliveryFailure,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        fail_in(&mut tx, tenant_id, message_id, failure, self.clock.now()).await?;
        tx.commit().await?;
        self.delivery(tenant_id, message_id).await
    }

    pub async fn delivery(&self, tenant_id: Uuid, message_id: Uuid) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbound_deliveries WHERE tenant_id = $1 AND message_id = $2"
        )))
        .bind(tenant_id)
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The deliveries of `message_ids` of the tenant (unknown ids are left out).
    pub async fn deliveries(&self, tenant_id: Uuid, message_ids: &[Uuid]) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbound_deliveries WHERE tenant_id = $1 AND message_id = ANY($2)"
        )))
        .bind(tenant_id)
        .bind(message_ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Remembers status updates of the account's messages (once each, whenever they arrive)
    /// and moves the matching deliveries forward. Returns the deliveries they concern, as they
    /// stand now (whether or not this call changed them), for announcing.
    pub async fn apply_statuses(
        &self,
        tenant_id: Uuid,
        account_id: Uuid,
        statuses: &[StatusRecord],
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        let failure = |s: &StatusRecord| s.failure.clone().unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO whatsapp_statuses (tenant_id, account_id, external_id, status, state_rank, occurred_at, \
               error_code, error_title, error_details) \
             SELECT $1, $2, u.e, u.s, u.r, u.o, u.c, u.t, u.d \
             FROM UNNEST($3::text[], $4::text[], $5::smallint[], $6::timestamptz[], $7::bigint[], $8::text[], $9::text[]) \
               AS u(e, s, r, o, c, t, d) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(statuses.iter().map(|s| s.external_id.clone()).collect::<Vec<_>>())
        .bind(statuses.iter().map(|s| s.state.as_str()).collect::<Vec<_>>())
        .bind(statuses.iter().map(|s| s.state.rank()).collect::<Vec<_>>())
        .bind(statuses.iter().map(|s| s.occurred_at).collect::<Vec<_>>())
        .bind(statuses.iter().map(|s| s.failure.as_ref().map(|f| f.code)).collect::<Vec<_>>())
        .bind(statuses.iter().map(|s| failure(s).title).collect::<Vec<_>>())
        .bind(statuses.iter().map(|s| failure(s).details).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        let mut ids: Vec<String> = statuses.iter().map(|s| s.external_id.clone()).collect();
        ids.sort();
        ids.dedup();
        apply_remembered_statuses(&mut tx, tenant_id, account_id, &ids, self.clock.now()).await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbound_deliveries \
             WHERE tenant_id = $1 AND account_id = $2 AND external_id = ANY($3)"
        )))
        .bind(tenant_id)
        .bind(account_id)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// Moves each delivery of `external_ids` to the highest status remembered for it, if higher.
async fn apply_remembered_statuses(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    account_id: Uuid,
    external_ids: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // DISTINCT ON first: an UPDATE ... FROM must see one source row per target row.
    sqlx::query(
        "UPDATE outbound_deliveries d SET state = s.status, state_rank = s.state_rank, \
           error_code = CASE WHEN s.status = 'failed' THEN s.error_code ELSE d.error_code END, \
           error_title = CASE WHEN s.status = 'failed' THEN s.error_title ELSE d.error_title END, \
           error_details = CASE WHEN s.status = 'failed' THEN s.error_details ELSE d.error_details END, \
           updated_at = $4 \
         FROM (SELECT DISTINCT ON (external_id) external_id, status, state_rank, error_code, error_title, error_details \
               FROM whatsapp_statuses WHERE tenant_id = $1 AND account_id = $2 AND external_id = ANY($3) \
               ORDER BY external_id, state_rank DESC) s \
         WHERE d.tenant_id = $1 AND d.account_id = $2 AND d.external_id = s.external_id AND d.state_rank < s.state_rank",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(external_ids)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn fail_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    message_id: Uuid,
    failure: &DeliveryFailure,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE outbound_deliveries SET state = 'failed', state_rank = 5, error_code = $3, error_title = $4, \
           error_details = $5, request_in_flight = false, lease_owner = NULL, lease_until = NULL, updated_at = $6 \
         WHERE tenant_id = $1 AND message_id = $2 AND state = 'queued' RETURNING {DELIVERY_COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(message_id)
    .bind(failure.code)
    .bind(&failure.title)
    .bind(&failure.details)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn leased(owner: Uuid, until: DateTime<Utc>) -> DeliveryRow {
        DeliveryRow {
            tenant_id: Uuid::nil(),
            message_id: Uuid::nil(),
            conversation_id: Uuid::nil(),
            account_id: None,
            channel: "whatsapp".into(),
            state: "queued".into(),
            external_id: None,
            error_code: None,
            error_title: String::new(),
            error_details: String::new(),
            attempts: 0,
            lease_owner: Some(owner),
            lease_until: Some(until),
            request_in_flight: false,
            updated_at: until,
        }
    }

    #[test]
    fn a_lease_keeps_other_replicas_out_only_until_it_ends() {
        let (holder, other) = (Uuid::new_v4(), Uuid::new_v4());
        let now = Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap();
        let row = leased(holder, lease_end(now, Duration::from_secs(30)));
        assert!(row.leased_elsewhere(other, now));
        assert!(!row.leased_elsewhere(holder, now), "its holder may go on");
        assert!(!row.leased_elsewhere(other, now + chrono::Duration::seconds(30)), "ended");
        assert_eq!(lease_end(now, Duration::MAX), DateTime::<Utc>::MAX_UTC, "a lease too long to count never ends");
    }
}
