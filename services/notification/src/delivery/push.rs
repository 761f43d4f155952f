//! Sends browser push messages: encrypted for the subscription (RFC 8291), signed with the
//! deployment's VAPID key (RFC 8292), retried on 429 and 5xx; a subscription the push
//! service reports gone (404, 410) is dropped.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bytes::Bytes;
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::delivery::http::{CallError, OutboundHttp};
use crate::delivery::webpush::{SubscriberKeys, VapidKey, encrypt};
use crate::store::{NotificationStore, PushJob};

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static PUSHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_notification_push_total",
        "Push messages, by outcome (sent, retried, gone, dropped).",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// The push sender of one replica.
#[derive(Clone)]
pub struct PushSender {
    pub store: NotificationStore,
    pub http: OutboundHttp,
    pub vapid: Arc<VapidKey>,
    pub subject: String,
    pub ttl_seconds: u32,
    pub max_attempts: i32,
    pub concurrency: usize,
    pub tick: Duration,
}

enum Next {
    Done(&'static str),
    Gone,
    Retry(chrono::Duration),
}

impl PushSender {
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let finished = Arc::new(Notify::new());
        let lease = chrono::Duration::seconds(120);
        loop {
            let free = slots.available_permits();
            let mut claimed_all = false;
            if free > 0 {
                let flying = in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
                match self.store.claim_push_jobs(self.store.clock().now(), free as i64, &flying, lease).await {
                    Ok(jobs) => {
                        claimed_all = jobs.len() == free;
                        for job in jobs {
                            let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                            in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id);
                            let (sender, in_flight, finished) = (self.clone(), in_flight.clone(), finished.clone());
                            tokio::spawn(async move {
                                sender.send(&job).await;
                                in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.id);
                                drop(permit);
                                finished.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "push messages not claimed; trying again"),
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
            if claimed_all {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.tick) => {}
                _ = finished.notified() => {}
            }
        }
        let _ = slots.acquire_many(self.concurrency as u32).await;
        tracing::info!("push sender stopped");
    }

    async fn send(&self, job: &PushJob) {
        let next = self.attempt(job).await;
        let result = match next {
            Next::Done(outcome) => {
                PUSHES.with_label_values(&[outcome]).inc();
                self.store.finish_push_job(job.id).await
            }
            Next::Gone => {
                PUSHES.with_label_values(&["gone"]).inc();
                self.store.drop_subscription(job.subscription_id).await
            }
            Next::Retry(_) if job.attempts + 1 >= self.max_attempts => {
                PUSHES.with_label_values(&["dropped"]).inc();
                tracing::warn!(subscription_id = %job.subscription_id, attempts = job.attempts + 1, "push message given up");
                self.store.finish_push_job(job.id).await
            }
            Next::Retry(after) => {
                PUSHES.with_label_values(&["retried"]).inc();
                self.store.retry_push_job(job.id, self.store.clock().now() + after).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "push message outcome not recorded; it will be tried again");
        }
    }

    async fn attempt(&self, job: &PushJob) -> Next {
        let keys = match SubscriberKeys::parse(&job.p256dh, &job.auth) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(subscription_id = %job.subscription_id, error = %e, "push subscription unusable; dropped");
                return Next::Gone;
            }
        };
        let (body, authorization) = match (
            encrypt(job.payload.as_bytes(), &keys),
            self.vapid.authorization(
                &job.endpoint,
                &self.subject,
                self.store.clock().now() + chrono::Duration::hours(12),
            ),
        ) {
            (Ok(body), Ok(auth)) => (body, auth),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(subscription_id = %job.subscription_id, error = %e, "push message cannot be sent; dropped");
                return Next::Done("dropped");
            }
        };
        let headers = [
            ("content-type", "application/octet-stream".to_owned()),
            ("content-encoding", "aes128gcm".to_owned()),
            ("ttl", self.ttl_seconds.to_string()),
            ("urgency", job.urgency.clone()),
            ("authorization", authorization),
        ];
        let backoff = chrono::Duration::seconds(10 << job.attempts.clamp(0, 10));
        match self.http.post(&job.endpoint, &headers, Bytes::from(body), job.allow_private).await {
            Ok(a) if (200..300).contains(&a.status) => Next::Done("sent"),
            Ok(a) if a.status == 404 || a.status == 410 => Next::Gone,
            Ok(a) if a.status == 429 || a.status >= 500 => {
                Next::Retry(a.retry_after.map_or(backoff, |s| chrono::Duration::seconds(s.min(3600) as i64)))
            }
            Ok(a) => {
                tracing::warn!(subscription_id = %job.subscription_id, status = a.status, "push service refused the message");
                Next::Done("dropped")
            }
            Err(CallError::Refused(reason)) => {
                tracing::warn!(subscription_id = %job.subscription_id, reason, "push endpoint address refused");
                Next::Done("dropped")
            }
            Err(_) => Next::Retry(backoff),
        }
    }
}
