//! Sends webhook deliveries: each replica leases due ones (a few per endpoint at a time, so a
//! slow or dead endpoint holds only its own share of the senders), signs and POSTs each, and
//! records the attempt. An endpoint disabled after failing too long is reported to the
//! tenant's admins.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bytes::Bytes;
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::WebhookSettings;
use crate::delivery::http::{CallError, OutboundHttp};
use crate::delivery::live;
use crate::directory::People;
use crate::domain::facts::Draft;
use crate::domain::webhook::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use crate::domain::{Kind, Seen};
use crate::store::{AttemptOutcome, ClaimedDelivery, NotificationStore};

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static ATTEMPTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_notification_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (delivered, failed, refused).",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// The webhook sender of one replica.
#[derive(Clone)]
pub struct WebhookSender {
    pub store: NotificationStore,
    pub http: OutboundHttp,
    pub people: People,
    pub nats: async_nats::Client,
    pub settings: WebhookSettings,
}

impl WebhookSender {
    /// Sends due deliveries until `shutdown`, then lets those in flight finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let in_flight: Arc<Mutex<HashMap<Uuid, Uuid>>> = Arc::default();
        let finished = Arc::new(Notify::new());
        let tick = Duration::from_millis(self.settings.tick_ms);
        let lease = chrono::Duration::seconds(self.settings.timeout_seconds as i64 + 60);
        loop {
            let free = slots.available_permits();
            let mut claimed_all = false;
            if free > 0 {
                let flying = in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let now = self.store.clock().now();
                match self
                    .store
                    .claim_deliveries(now, free as i64, self.settings.per_endpoint as i64, &flying, lease)
                    .await
                {
                    Ok(claimed) => {
                        claimed_all = claimed.len() == free;
                        for delivery in claimed {
                            let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                            in_flight
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(delivery.id, delivery.endpoint_id);
                            let (sender, in_flight, finished) = (self.clone(), in_flight.clone(), finished.clone());
                            tokio::spawn(async move {
                                sender.deliver(&delivery).await;
                                in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&delivery.id);
                                drop(permit);
                                finished.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhook deliveries not claimed; trying again"),
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
                _ = tokio::time::sleep(tick) => {}
                _ = finished.notified() => {}
            }
        }
        // In-flight deliveries finish (each within its timeout) before the service stops.
        let _ = slots.acquire_many(self.settings.concurrency as u32).await;
        tracing::info!("webhook sender stopped");
    }

    /// One attempt of one delivery, recorded.
    pub async fn deliver(&self, delivery: &ClaimedDelivery) {
        let timestamp = self.store.clock().now().timestamp();
        let body = Bytes::from(delivery.payload.clone());
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("user-agent", "inbox-webhooks/1".to_owned()),
            (ID_HEADER, delivery.id.to_string()),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, signature(&delivery.secret, timestamp, &body)),
        ];
        let answer = self.http.post(&delivery.url, &headers, body, delivery.allow_private).await;
        let outcome = match &answer {
            Ok(a) => AttemptOutcome {
                status_code: a.status,
                error: String::new(),
                duration_ms: a.duration.as_millis().min(u32::MAX as u128) as u32,
            },
            Err(e) => AttemptOutcome { status_code: 0, error: e.to_string(), duration_ms: 0 },
        };
        let label = match &answer {
            _ if outcome.succeeded() => "delivered",
            Err(CallError::Refused(_)) => "refused",
            _ => "failed",
        };
        ATTEMPTS.with_label_values(&[label]).inc();
        if !outcome.succeeded() {
            tracing::info!(delivery_id = %delivery.id, endpoint_id = %delivery.endpoint_id, status = outcome.status_code,
                error = %outcome.error, "webhook attempt failed");
        }
        let disable_after = chrono::Duration::hours(self.settings.disable_after_hours);
        match self.store.record_attempt(delivery, &outcome, disable_after, self.settings.disable_after_failures).await {
            Ok(true) => self.tell_admins(delivery).await,
            Ok(false) => {}
            // The lease runs out and the delivery is tried again: at least once, never lost.
            Err(e) => tracing::warn!(delivery_id = %delivery.id, error = %e, "webhook attempt not recorded"),
        }
    }

    async fn tell_admins(&self, delivery: &ClaimedDelivery) {
        tracing::warn!(endpoint_id = %delivery.endpoint_id, tenant_id = %delivery.tenant_id, "webhook endpoint disabled after sustained failure");
        let directory = match self.people.of(delivery.tenant_id).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "admins not told of a disabled webhook endpoint");
                return;
            }
        };
        let drafts: Vec<(Uuid, Draft)> = directory
            .recipients(Kind::WebhookDisabled, Seen::default(), None)
            .into_iter()
            .map(|user_id| {
                (
                    delivery.tenant_id,
                    Draft {
                        user_id,
                        kind: Kind::WebhookDisabled,
                        conversation_id: None,
                        title: Kind::WebhookDisabled.title().to_owned(),
                        body: format!(
                            "{} kept failing and was disabled; re-enable it to resume deliveries",
                            delivery.url
                        ),
                        dedupe_key: format!("webhook_disabled:{}:{}", delivery.endpoint_id, delivery.id),
                        sla_target: String::new(),
                        due_at: None,
                    },
                )
            })
            .collect();
        let directories = HashMap::from([(delivery.tenant_id, directory)]);
        match self.store.store_notifications(&drafts, &directories).await {
            Ok(stored) => live::publish(&self.nats, &stored).await,
            Err(e) => tracing::warn!(error = %e, "admins not told of a disabled webhook endpoint"),
        }
    }
}
