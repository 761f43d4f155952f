//! Group commit for the raw payload archive. Concurrent webhooks hand their payload to one
//! writer, which inserts whatever has queued up in one statement and one commit, then answers
//! each. Marks of payloads published ride along in the same statement, without anyone waiting
//! for them. A webhook is still answered 200 only after its payload is committed and its
//! messages acked.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use inbox_service::Clock;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use sqlx::PgPool;

use super::{ChannelAccount, IngestStore, StoreError};
use crate::metrics::ARCHIVE_BATCH;

/// Most payloads (and most published marks) in one statement.
const MAX_BATCH: usize = 512;

struct Pending {
    id: Uuid,
    tenant_id: Uuid,
    account_id: Uuid,
    channel: String,
    received_at: DateTime<Utc>,
    body: Bytes,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle to the archive writer; cheap to clone.
#[derive(Clone)]
pub struct ArchiveBatcher {
    archive: mpsc::Sender<Pending>,
    published: mpsc::Sender<Uuid>,
}

impl ArchiveBatcher {
    /// Starts the writer; it stops when every handle is dropped.
    ///
    /// One statement at a time: while it commits, the next batch fills up. Writing batches
    /// in parallel made them smaller, each paying a statement's fixed cost: on two cores
    /// `just bench webhook` took 10,000–16,000 webhooks/s with four in flight (about 7 payloads
    /// per insert) and 19,000–20,000 with one (about 24), at a lower latency too.
    pub fn start(store: IngestStore, synchronous_commit: bool) -> Self {
        let (archive, rx) = mpsc::channel(8 * MAX_BATCH);
        let (published, published_rx) = mpsc::channel(8 * MAX_BATCH);
        // Its own connection, with `synchronous_commit` set once at connection start: a batch
        // is then one statement, one round trip.
        let options = (*store.pool().connect_options())
            .clone()
            .options([("synchronous_commit", if synchronous_commit { "on" } else { "off" })]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_lazy_with(options);
        tokio::spawn(write(pool, store.clock().clone(), rx, published_rx));
        Self { archive, published }
    }

    /// Archives `body` for `account`, received at `received_at`, and returns its id once
    /// committed.
    pub async fn archive(
        &self,
        account: &ChannelAccount,
        body: Bytes,
        received_at: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            id,
            tenant_id: account.tenant_id,
            account_id: account.id,
            channel: account.channel.clone(),
            received_at,
            body,
            done,
        };
        let stopped = || StoreError::Unavailable("archive writer stopped".into());
        self.archive.send(pending).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(StoreError::Unavailable)?;
        Ok(id)
    }

    /// Marks a payload published, soon. Losing the mark (a crash) only makes the payload show as
    /// unpublished, which a replay would publish again: idempotent.
    pub async fn mark_published(&self, id: Uuid) {
        let _ = self.published.send(id).await;
    }
}

async fn write(pool: PgPool, clock: Clock, mut payloads: mpsc::Receiver<Pending>, mut published: mpsc::Receiver<Uuid>) {
    let (mut batch, mut marks) = (Vec::new(), Vec::new());
    loop {
        tokio::select! {
            biased;
            Some(p) = payloads.recv() => batch.push(p),
            Some(id) = published.recv() => marks.push(id),
            else => return,
        }
        while batch.len() < MAX_BATCH {
            match payloads.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        while marks.len() < MAX_BATCH {
            match published.try_recv() {
                Ok(id) => marks.push(id),
                Err(_) => break,
            }
        }
        ARCHIVE_BATCH.with_label_values(&["insert"]).observe(batch.len() as f64);
        ARCHIVE_BATCH.with_label_values(&["published"]).observe(marks.len() as f64);
        let result = insert(&pool, &batch, &marks, clock.now()).await.map_err(|e| {
            // Lost marks only make their payloads show as unpublished, which a replay would
            // publish again: idempotent.
            tracing::error!(error = %e, payloads = batch.len(), marks = marks.len(), "archive insert failed");
            e.to_string()
        });
        for p in batch.drain(..) {
            let _ = p.done.send(result.clone());
        }
        marks.clear();
    }
}

/// Archives `batch` and records `marks` as published at `now`, in one statement.
async fn insert(pool: &PgPool, batch: &[Pending], marks: &[Uuid], now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "WITH archived AS ( \
             INSERT INTO raw_payloads (id, tenant_id, account_id, channel, received_at, body) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::bytea[])), \
         marked AS ( \
             INSERT INTO raw_payload_publications (id, published_at) SELECT UNNEST($7::uuid[]), $8 \
             ON CONFLICT (id) DO NOTHING) \
         SELECT 1",
    )
    .bind(batch.iter().map(|p| p.id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.tenant_id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.account_id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.channel.as_str()).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.received_at).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.body.as_ref()).collect::<Vec<_>>())
    .bind(marks)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}
