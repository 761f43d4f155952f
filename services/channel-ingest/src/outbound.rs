//! Delivering agents' replies: consumes `outbound.whatsapp.>` and calls the Graph API.
//!
//! Exactly once towards the provider, whatever the redeliveries or the number of replicas: a
//! send happens only under the delivery row's lease in PostgreSQL (unique per tenant and
//! message id), a finished delivery is never sent again, and a send interrupted while its
//! request was in flight is failed rather than repeated (see `store::deliveries`).

use std::sync::Arc;
use std::time::Duration;

use inbox_bus::{Delivery, HandlerError, MessageHandler};
use uuid::Uuid;

use crate::config::WhatsAppSettings;
use crate::events::OutboundReply;
use crate::ingest::announce_deliveries;
use crate::metrics::OUTBOUND_SENDS;
use crate::store::{ChannelAccount, Claim, DeliveryFailure, DeliveryRow, IngestStore};
use crate::whatsapp::graph::{GraphClient, SendOutcome};
use crate::whatsapp::outbound::{request_body, within_customer_service_window};

/// The durable consumer replicas share.
pub const CONSUMER: &str = "channel-ingest-whatsapp";

pub struct WhatsAppSender {
    pub store: IngestStore,
    pub bus: inbox_bus::Bus,
    pub graph: GraphClient,
    pub settings: WhatsAppSettings,
    /// This replica's id, the owner of the leases it takes.
    pub replica: Uuid,
    /// The consumer's delivery limit: the last delivery that still fails ends as failed.
    pub max_deliver: i64,
}

impl WhatsAppSender {
    /// How long a replica may hold a send: every attempt timing out plus the waits between.
    pub fn lease(settings: &WhatsAppSettings) -> Duration {
        let attempts = u64::from(settings.send_attempts);
        let waits: u64 = (0..attempts).map(|a| (settings.retry_base_ms << a.min(10)).min(10_000)).sum();
        Duration::from_millis(settings.request_timeout_ms * attempts + waits + 30_000)
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = Duration::from_millis(self.settings.retry_base_ms << attempt.saturating_sub(1).min(10));
        retry_after.unwrap_or(exponential).min(Duration::from_secs(10))
    }

    async fn announce(&self, row: Option<DeliveryRow>) -> Result<(), HandlerError> {
        let Some(row) = row else { return Ok(()) };
        OUTBOUND_SENDS.with_label_values(&[row.state.as_str()]).inc();
        announce_deliveries(&self.bus, &[row]).await.map_err(|e| HandlerError::Retry(e.to_string()))
    }

    async fn fail(&self, tenant_id: Uuid, message_id: Uuid, failure: DeliveryFailure) -> Result<(), HandlerError> {
        tracing::warn!(%message_id, code = failure.code, title = %failure.title, "whatsapp delivery failed");
        let row = self.store.record_failed(tenant_id, message_id, &failure).await?;
        self.announce(row).await
    }
}

fn refusal(title: &str, details: impl Into<String>) -> DeliveryFailure {
    DeliveryFailure { code: 0, title: title.to_owned(), details: details.into() }
}

impl MessageHandler for WhatsAppSender {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let reply = OutboundReply::of(&delivery)?;
        let (tenant_id, message_id) = (reply.tenant_id, reply.message_id);
        if reply.message.internal_note {
            return Ok(());
        }
        let account: Option<ChannelAccount> = match reply.account_id {
            Some(id) => self.store.account_of_tenant(tenant_id, id).await?,
            None => None,
        };
        let new = reply.new_delivery("whatsapp", account.as_ref().map(|a| a.id));
        let lease = Self::lease(&self.settings);
        match self.store.claim_delivery(&new, self.replica, lease).await? {
            // Handled before: announce its state again (a lost announcement is repaired here).
            Claim::Finished(row) => return self.announce(Some(row)).await,
            Claim::Interrupted(row) => {
                tracing::error!(%message_id, "a send was interrupted mid-request; failed, not repeated");
                return self.announce(Some(row)).await;
            }
            Claim::HeldElsewhere => return Err(HandlerError::Retry("another replica is sending it".into())),
            Claim::Granted(_) => {}
        }

        let Some(account) = account else {
            return self
                .fail(
                    tenant_id,
                    message_id,
                    refusal("channel_account_missing", "the conversation's WhatsApp number is not connected"),
                )
                .await;
        };
        if account.access_token.is_empty() {
            return self
                .fail(
                    tenant_id,
                    message_id,
                    refusal("access_token_missing", "the WhatsApp number has no access token to send with"),
                )
                .await;
        }
        let content = reply.message.content.clone().unwrap_or_default();
        let last_customer = reply.event.last_customer_message_at.as_ref().and_then(inbox_proto::timestamp_to_utc);
        if !within_customer_service_window(&content, last_customer, self.store.clock().now()) {
            let details = "more than 24 hours since the customer's last message: only an approved template can be sent";
            return self.fail(tenant_id, message_id, refusal("outside_customer_service_window", details)).await;
        }
        let body = match request_body(reply.customer_address(), &content) {
            Ok(body) => body,
            Err(reason) => return self.fail(tenant_id, message_id, refusal("unsupported_content", reason)).await,
        };

        let attempts = self.settings.send_attempts;
        for attempt in 1..=attempts {
            if !self.store.begin_provider_request(tenant_id, message_id, self.replica, lease).await? {
                return Err(HandlerError::Retry("lost the send lease".into()));
            }
            match self.graph.send_message(&account.external_id, &account.access_token, &body).await {
                SendOutcome::Accepted { external_id } => {
                    tracing::info!(%message_id, wamid = %external_id, attempt, "whatsapp message accepted");
                    let row = self.store.record_accepted(tenant_id, message_id, &external_id).await?;
                    return self.announce(row).await;
                }
                SendOutcome::Permanent(failure) => return self.fail(tenant_id, message_id, failure).await,
                SendOutcome::Unknown(failure) => {
                    let details = format!(
                        "{} — the provider may have received it; not retried so it cannot arrive twice",
                        failure.details
                    );
                    return self.fail(tenant_id, message_id, refusal("delivery_outcome_unknown", details)).await;
                }
                SendOutcome::Retryable { failure, retry_after } => {
                    let last_attempt = attempt == attempts;
                    tracing::warn!(%message_id, attempt, code = failure.code, title = %failure.title, "whatsapp send will be retried");
                    if last_attempt && delivery.delivered >= self.max_deliver {
                        let details = format!("gave up after {} deliveries: {}", delivery.delivered, failure.details);
                        let failure = DeliveryFailure { details, ..failure };
                        self.store.end_provider_request(tenant_id, message_id, self.replica, &failure, true).await?;
                        return self.fail(tenant_id, message_id, failure).await;
                    }
                    self.store
                        .end_provider_request(tenant_id, message_id, self.replica, &failure, last_attempt)
                        .await?;
                    if last_attempt {
                        return Err(HandlerError::Retry(format!("provider busy: {} {}", failure.code, failure.title)));
                    }
                    tokio::time::sleep(self.backoff(attempt, retry_after)).await;
                }
            }
        }
        Err(HandlerError::Retry("no attempt made".into()))
    }
}

/// Starts the consumer of `outbound.whatsapp.>` until `shutdown`.
pub fn spawn_whatsapp_sender(
    sender: WhatsAppSender,
    bus: inbox_bus::Bus,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut spec = inbox_bus::ConsumerSpec::new(inbox_bus::Stream::Outbound, CONSUMER, "outbound.whatsapp.>");
    spec.concurrency = sender.settings.send_concurrency.max(1);
    spec.ack_wait = WhatsAppSender::lease(&sender.settings) + Duration::from_secs(5);
    let sender = WhatsAppSender { max_deliver: spec.max_deliver, ..sender };
    tokio::spawn(inbox_bus::run_consumer(bus, spec, Arc::new(sender), shutdown))
}
