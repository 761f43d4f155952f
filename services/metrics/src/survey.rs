//! The CSAT survey sender: each resolution by a person queues a survey (in the same transaction
//! that folds the resolution); this loop sends it to the customer over their channel through
//! the conversation service (`Conversations.SendMessage` acting as `service:metrics`), which
//! stores it in the conversation and delivers it. Its idempotency key makes a repeated send
//! deliver once; the stored message comes back as an event, which is what counts it as sent.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use inbox_config::Secret;
use inbox_csat::SURVEY_KEY_PREFIX;
use inbox_proto::common::v1::Channel as ChannelKind;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::conversation::v1::{ConversationStatus, GetConversationRequest, SendMessageRequest};
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::domain::csat::survey_content;
use crate::store::MetricsStore;
use crate::store::csat::{DueSurvey, SurveyOutcome};
use crate::zones::service_context;

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static SURVEYS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_metrics_csat_surveys_total",
        "CSAT survey attempts by outcome: sent, skipped, retry, failed.",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Attempts before a survey is given up.
const MAX_ATTEMPTS: i32 = 5;
/// WhatsApp's customer service window: free-form messages only this long after the
/// customer's last message.
const WHATSAPP_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Sends due surveys.
#[derive(Clone)]
pub struct SurveySender {
    pub store: MetricsStore,
    pub conversations: ConversationsClient<Channel>,
    pub token: Secret,
}

/// The key of a survey's message: one per resolution.
pub fn survey_key(survey: &DueSurvey) -> String {
    format!("{SURVEY_KEY_PREFIX}{}:{}", survey.conversation_id, survey.resolved_at.timestamp_micros())
}

impl SurveySender {
    /// Looks at the queue every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = self.send_due().await {
                tracing::warn!(error = %e, "survey round failed");
            }
        }
    }

    /// Sends the surveys due now; how many were attempted.
    pub async fn send_due(&self) -> Result<usize, crate::store::StoreError> {
        let due = self.store.claim_due_surveys(50).await?;
        for survey in &due {
            let outcome = self.attempt(survey).await;
            let label = match &outcome {
                SurveyOutcome::Sent => "sent",
                SurveyOutcome::Skipped(_) => "skipped",
                SurveyOutcome::Retry(..) => "retry",
                SurveyOutcome::Failed(_) => "failed",
            };
            SURVEYS.with_label_values(&[label]).inc();
            if !matches!(outcome, SurveyOutcome::Sent) {
                tracing::info!(tenant_id = %survey.tenant_id, conversation_id = %survey.conversation_id, outcome = ?outcome, "survey not sent");
            }
            self.store.finish_survey(survey, &outcome).await?;
        }
        Ok(due.len())
    }

    async fn attempt(&self, survey: &DueSurvey) -> SurveyOutcome {
        let now = self.store.clock().now();
        let settings = match self.store.csat_settings(survey.tenant_id).await {
            Ok(settings) => settings,
            Err(e) => return self.retry(survey, now, e.to_string()),
        };
        if !settings.enabled {
            return SurveyOutcome::Skipped("the tenant turned surveys off".into());
        }
        let ctx = service_context(survey.tenant_id);
        let get = GetConversationRequest { conversation_id: survey.conversation_id.to_string() };
        let conversation = match ctx.request(get, &self.token) {
            Ok(request) => match self.conversations.clone().get_conversation(request).await {
                Ok(c) => c.into_inner(),
                Err(status) if status.code() == tonic::Code::NotFound => {
                    return SurveyOutcome::Skipped("the conversation is gone".into());
                }
                Err(status) => return self.retry(survey, now, status.message().to_owned()),
            },
            Err(status) => return SurveyOutcome::Failed(status.message().to_owned()),
        };
        if conversation.status != ConversationStatus::Resolved as i32 {
            return SurveyOutcome::Skipped("the conversation was reopened before the survey went out".into());
        }
        let with_buttons = match ChannelKind::try_from(conversation.channel) {
            Ok(ChannelKind::Whatsapp) => {
                let last = conversation.last_customer_message_at.as_ref().and_then(inbox_proto::timestamp_to_utc);
                if last.is_none_or(|at| now - at >= WHATSAPP_WINDOW) {
                    return SurveyOutcome::Skipped(
                        "outside WhatsApp's 24-hour window, where only approved templates may be sent".into(),
                    );
                }
                true
            }
            Ok(ChannelKind::Webchat) => false,
            _ => return SurveyOutcome::Skipped("the channel carries no messages".into()),
        };
        let send = SendMessageRequest {
            conversation_id: survey.conversation_id.to_string(),
            content: Some(survey_content(&settings.survey_text, with_buttons)),
            internal_note: false,
            idempotency_key: survey_key(survey),
        };
        let request = match ctx.request(send, &self.token) {
            Ok(request) => request,
            Err(status) => return SurveyOutcome::Failed(status.message().to_owned()),
        };
        match self.conversations.clone().send_message(request).await {
            Ok(_) => SurveyOutcome::Sent,
            Err(status) => match status.code() {
                tonic::Code::Unavailable
                | tonic::Code::DeadlineExceeded
                | tonic::Code::ResourceExhausted
                | tonic::Code::Aborted
                | tonic::Code::Internal
                | tonic::Code::Unknown => self.retry(survey, now, status.message().to_owned()),
                code => SurveyOutcome::Failed(format!("{code:?}: {}", status.message())),
            },
        }
    }

    /// Another attempt later (30 s, 2 min, 8 min, 32 min), or giving up after the last.
    fn retry(&self, survey: &DueSurvey, now: DateTime<Utc>, why: String) -> SurveyOutcome {
        if survey.attempts >= MAX_ATTEMPTS {
            return SurveyOutcome::Failed(why);
        }
        let delay = chrono::Duration::seconds(30 * 4i64.pow(survey.attempts.saturating_sub(1) as u32));
        SurveyOutcome::Retry(now + delay, why)
    }
}
