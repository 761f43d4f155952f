//! The automatic status rules of a tenant, and the transitions they and people make.
//!
//! - A customer message makes a conversation Active; it reopens Resolved and Archived ones
//!   when the tenant's `reopen_on_customer_message` is on (the default).
//! - An agent's reply reopens a Resolved or Archived conversation (the agent is working it);
//!   on Active or Pending it changes nothing by itself.
//! - Active, last message from an agent or the AI, and no customer reply for
//!   `pending_timeout` (1 h) → Pending ("waiting for customer").
//! - Resolved for `auto_archive` (7 days) → Archived.
//! - People may move a conversation to any status; the same status is no change.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{SenderKind, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRules {
    pub pending_timeout: Duration,
    pub auto_archive: Duration,
    pub reopen_on_customer_message: bool,
}

impl Default for StatusRules {
    fn default() -> Self {
        Self {
            pending_timeout: Duration::from_secs(3600),
            auto_archive: Duration::from_secs(7 * 24 * 3600),
            reopen_on_customer_message: true,
        }
    }
}

/// Longest timeout a tenant may set: a year.
pub const MAX_RULE_SECONDS: u32 = 366 * 24 * 3600;

impl StatusRules {
    /// Validates timeouts given in seconds (1 s ..= a year).
    pub fn from_seconds(pending: u32, archive: u32, reopen: bool) -> Result<Self, String> {
        for (name, value) in [("pending_timeout_seconds", pending), ("auto_archive_seconds", archive)] {
            if value == 0 || value > MAX_RULE_SECONDS {
                return Err(format!("{name} must be between 1 and {MAX_RULE_SECONDS}"));
            }
        }
        Ok(Self {
            pending_timeout: Duration::from_secs(u64::from(pending)),
            auto_archive: Duration::from_secs(u64::from(archive)),
            reopen_on_customer_message: reopen,
        })
    }

    /// The status after a customer message arrives.
    pub fn after_customer_message(&self, current: Status) -> Status {
        match current {
            Status::Active | Status::Pending => Status::Active,
            Status::Resolved | Status::Archived if self.reopen_on_customer_message => Status::Active,
            other => other,
        }
    }

    /// The status after an agent replies.
    pub fn after_agent_reply(&self, current: Status) -> Status {
        match current {
            Status::Resolved | Status::Archived => Status::Active,
            other => other,
        }
    }

    /// Whether an Active conversation waited long enough for the customer to become Pending.
    pub fn is_due_for_pending(
        &self,
        status: Status,
        last_sender: SenderKind,
        last_message_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        status == Status::Active
            && matches!(last_sender, SenderKind::Agent | SenderKind::Ai)
            && elapsed(last_message_at, now) >= self.pending_timeout
    }

    /// Whether a Resolved conversation is old enough to archive.
    pub fn is_due_for_archive(&self, status: Status, status_changed_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        status == Status::Resolved && elapsed(status_changed_at, now) >= self.auto_archive
    }
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

/// Actor and reason of the automatic rules, as recorded in the history.
pub const PENDING_RULE: (&str, &str) = ("system:pending_timeout", "no customer reply to our last message");
pub const ARCHIVE_RULE: (&str, &str) = ("system:auto_archive", "resolved long enough to archive");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    #[test]
    fn a_customer_message_makes_a_conversation_active_and_reopens_closed_ones() {
        let rules = StatusRules::default();
        for s in [Status::Active, Status::Pending, Status::Resolved, Status::Archived] {
            assert_eq!(rules.after_customer_message(s), Status::Active);
        }
    }

    #[test]
    fn a_tenant_can_keep_closed_conversations_closed() {
        let rules = StatusRules { reopen_on_customer_message: false, ..Default::default() };
        assert_eq!(rules.after_customer_message(Status::Resolved), Status::Resolved);
        assert_eq!(rules.after_customer_message(Status::Archived), Status::Archived);
        assert_eq!(rules.after_customer_message(Status::Pending), Status::Active);
    }

    #[test]
    fn an_agent_reply_reopens_a_closed_conversation_but_leaves_pending_alone() {
        let rules = StatusRules::default();
        assert_eq!(rules.after_agent_reply(Status::Resolved), Status::Active);
        assert_eq!(rules.after_agent_reply(Status::Pending), Status::Pending);
        assert_eq!(rules.after_agent_reply(Status::Active), Status::Active);
    }

    #[test]
    fn no_customer_reply_for_an_hour_after_our_message_means_pending() {
        let rules = StatusRules::default();
        assert!(!rules.is_due_for_pending(Status::Active, SenderKind::Agent, at(0), at(59)));
        assert!(rules.is_due_for_pending(Status::Active, SenderKind::Agent, at(0), at(60)));
        assert!(rules.is_due_for_pending(Status::Active, SenderKind::Ai, at(0), at(61)));
        assert!(
            !rules.is_due_for_pending(Status::Active, SenderKind::Customer, at(0), at(600)),
            "the customer spoke last"
        );
        assert!(!rules.is_due_for_pending(Status::Resolved, SenderKind::Agent, at(0), at(600)));
    }

    #[test]
    fn resolved_for_seven_days_means_archived() {
        let rules = StatusRules::default();
        let week = 7 * 24 * 60;
        assert!(!rules.is_due_for_archive(Status::Resolved, at(0), at(week - 1)));
        assert!(rules.is_due_for_archive(Status::Resolved, at(0), at(week)));
        assert!(!rules.is_due_for_archive(Status::Active, at(0), at(week * 2)));
    }

    #[test]
    fn timeouts_must_be_sensible() {
        assert!(StatusRules::from_seconds(0, 10, true).is_err());
        assert!(StatusRules::from_seconds(10, MAX_RULE_SECONDS + 1, true).is_err());
        assert_eq!(StatusRules::from_seconds(60, 120, false).unwrap().pending_timeout, Duration::from_secs(60));
    }
}
