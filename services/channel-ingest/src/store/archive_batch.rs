//! Group commit for the raw payload archive. Concurrent webhooks hand their payload to one
//! writer, which inserts whatever has queued up in one statement and one commit, then answers
//! each; marking payloads published is batched the same way, without anyone waiting. A
//! webhook is still answered 200 only after its payload is committed and its messages acked.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use sqlx::PgPool;

use super::{ChannelAccount, IngestStore, StoreError};
use crate::metrics::ARCHIVE_BATCH;

/// Most payloads in one insert.
const MAX_BATCH: usize = 512;
/// Inserts in flight at once: while one commits, the next batch fills up. More in flight made
/// smaller batches, each paying a statement's fixed cost: `just bench webhook` took 10,000–16,000
/// webhooks/s with four (about 7 payloads per insert), 16,500–17,500 with two and 19,000–20,000
/// with one (about 24 per insert), at a lower latency too.
const PARALLEL_FLUSHES: usize = 1;

struct Pending {
    id: Uuid,
    tenant_id: Uuid,
    account_id: Uuid,
    channel: String,
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
    /// Starts the writers; they stop when every handle is dropped.
    pub fn start(store: IngestStore, synchronous_commit: bool) -> Self {
        let (archive, rx) = mpsc::channel(8 * MAX_BATCH);
        let (published, published_rx) = mpsc::channel(8 * MAX_BATCH);
        // Its own few connections, with `synchronous_commit` set once at connection start: an
        // archive batch is then one statement, one round trip.
        let options = (*store.pool().connect_options()).clone().options([
            ("synchronous_commit", if synchronous_commit { "on" } else { "off" }),
            // Plan each batch for the table as it is: a plan cached while the archive was
            // small scans it whole to find a batch's ids, which grows with the archive.
            ("plan_cache_mode", "force_custom_plan"),
        ]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(u32::try_from(PARALLEL_FLUSHES + 1).unwrap_or(5))
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_lazy_with(options);
        tokio::spawn(write_archive(pool.clone(), rx));
        tokio::spawn(write_published_marks(pool, published_rx));
        Self { archive, published }
    }

    /// Archives `body` for `account` and returns its id once committed.
    pub async fn archive(&self, account: &ChannelAccount, body: Bytes) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            id,
            tenant_id: account.tenant_id,
            account_id: account.id,
            channel: account.channel.clone(),
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

async fn write_archive(pool: PgPool, mut rx: mpsc::Receiver<Pending>) {
    let flushes = Arc::new(Semaphore::new(PARALLEL_FLUSHES));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = flushes.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        ARCHIVE_BATCH.with_label_values(&["insert"]).observe(batch.len() as f64);
        let pool = pool.clone();
        tokio::spawn(async move {
            let result = insert(&pool, &batch).await.map_err(|e| {
                tracing::error!(error = %e, payloads = batch.len(), "archive insert failed");
                e.to_string()
            });
            for p in batch {
                let _ = p.done.send(result.clone());
            }
            drop(permit);
        });
    }
}

async fn insert(pool: &PgPool, batch: &[Pending]) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO raw_payloads (id, tenant_id, account_id, channel, body) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bytea[])",
    )
    .bind(batch.iter().map(|p| p.id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.tenant_id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.account_id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.channel.as_str()).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.body.as_ref()).collect::<Vec<_>>())
    .execute(pool)
    .await?;
    Ok(())
}

async fn write_published_marks(pool: PgPool, mut rx: mpsc::Receiver<Uuid>) {
    while let Some(first) = rx.recv().await {
        let mut ids = vec![first];
        while ids.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
        }
        ARCHIVE_BATCH.with_label_values(&["published"]).observe(ids.len() as f64);
        let done = sqlx::query("UPDATE raw_payloads SET published_at = now(), error = NULL WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&pool)
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, payloads = ids.len(), "marking payloads published failed; they stay replayable");
        }
    }
}
