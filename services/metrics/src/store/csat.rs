//! The tenant's CSAT survey settings and the queue of surveys to send.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{MetricsStore, StoreError};
use crate::domain::csat::{DEFAULT_SURVEY_TEXT, MAX_SURVEY_TEXT};

/// Whether and what to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatSettings {
    pub enabled: bool,
    pub survey_text: String,
}

impl Default for CsatSettings {
    fn default() -> Self {
        Self { enabled: false, survey_text: DEFAULT_SURVEY_TEXT.into() }
    }
}

/// A survey whose time has come, claimed for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueSurvey {
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub resolved_at: DateTime<Utc>,
    pub agent_id: Option<Uuid>,
    /// Attempts including this one.
    pub attempts: i32,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyOutcome {
    Sent,
    /// Nothing to send, and never will be (why).
    Skipped(String),
    /// Try again at the given time (why).
    Retry(DateTime<Utc>, String),
    /// Gave up (why).
    Failed(String),
}

/// How long a claimed survey stays invisible to other senders.
const CLAIM_LEASE: Duration = Duration::minutes(2);

impl MetricsStore {
    pub async fn csat_settings(&self, tenant_id: Uuid) -> Result<CsatSettings, StoreError> {
        let row: Option<(bool, String)> =
            sqlx::query_as("SELECT enabled, survey_text FROM csat_settings WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(enabled, survey_text)| CsatSettings { enabled, survey_text }).unwrap_or_default())
    }

    /// Stores the settings (an empty text means the default question).
    pub async fn set_csat_settings(
        &self,
        tenant_id: Uuid,
        settings: &CsatSettings,
    ) -> Result<CsatSettings, StoreError> {
        let text = settings.survey_text.trim();
        if text.chars().count() > MAX_SURVEY_TEXT {
            return Err(StoreError::Invalid(format!("survey_text must be at most {MAX_SURVEY_TEXT} characters")));
        }
        let text = if text.is_empty() { DEFAULT_SURVEY_TEXT } else { text };
        sqlx::query(
            "INSERT INTO csat_settings (tenant_id, enabled, survey_text, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET enabled = excluded.enabled, survey_text = excluded.survey_text, \
               updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(settings.enabled)
        .bind(text)
        .bind(self.clock.now())
        .execute(&self.pool)
        .await?;
        Ok(CsatSettings { enabled: settings.enabled, survey_text: text.into() })
    }

    /// Claims up to `limit` pending surveys that are due (any replica; each once at a time).
    pub async fn claim_due_surveys(&self, limit: i64) -> Result<Vec<DueSurvey>, StoreError> {
        let now = self.clock.now();
        Ok(sqlx::query_as(
            "UPDATE csat_surveys s SET attempts = s.attempts + 1, next_attempt_at = $2, updated_at = $1 \
             FROM (SELECT tenant_id, conversation_id, resolved_at FROM csat_surveys \
                   WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 \
                   FOR UPDATE SKIP LOCKED) due \
             WHERE s.tenant_id = due.tenant_id AND s.conversation_id = due.conversation_id \
               AND s.resolved_at = due.resolved_at \
             RETURNING s.tenant_id, s.conversation_id, s.resolved_at, s.agent_id, s.attempts",
        )
        .bind(now)
        .bind(now + CLAIM_LEASE)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn finish_survey(&self, survey: &DueSurvey, outcome: &SurveyOutcome) -> Result<(), StoreError> {
        let now = self.clock.now();
        let (state, next, why) = match outcome {
            SurveyOutcome::Sent => ("sent", now, "sent"),
            SurveyOutcome::Skipped(why) => ("skipped", now, why.as_str()),
            SurveyOutcome::Retry(at, why) => ("pending", *at, why.as_str()),
            SurveyOutcome::Failed(why) => ("failed", now, why.as_str()),
        };
        sqlx::query(
            "UPDATE csat_surveys SET state = $4, next_attempt_at = $5, outcome = $6, updated_at = $7 \
             WHERE tenant_id = $1 AND conversation_id = $2 AND resolved_at = $3",
        )
        .bind(survey.tenant_id)
        .bind(survey.conversation_id)
        .bind(survey.resolved_at)
        .bind(state)
        .bind(next)
        .bind(why)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The state and outcome of a conversation's surveys, oldest first (for operators and tests).
    pub async fn surveys_of(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT state, outcome FROM csat_surveys WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY resolved_at",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
