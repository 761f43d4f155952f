//! The inbox views, list filters and sort orders, defined once for lists, counts, bulk actions
//! and exports. "Open" means Active or Pending.
//!
//! | view | conversations |
//! |---|---|
//! | All › Active | status Active |
//! | All › Pending | status Pending |
//! | All › Resolved today | status Resolved, resolved since midnight in the tenant's zone |
//! | Mine › Needs my attention | assigned to me, Active, the customer wrote last |
//! | Mine › Waiting for customer | assigned to me, Active, we (agent, AI, system) wrote last |
//! | Mine › Ready to close | assigned to me, Pending (quiet past the pending timeout) |
//! | Team › Unassigned | open, nobody assigned, not flagged "needs human" |
//! | Team › In progress | open, assigned, not flagged "needs human" |
//! | Team › Needs review | open, flagged "needs human" (assigned or not) |
//! | By channel | open, on that channel |
//!
//! The parts of each group do not overlap, so a group's total is the sum of its parts. The
//! Team views cover one team when a team is given, else the whole tenant.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Priority, Status, TenantSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    AllActive,
    AllPending,
    AllResolvedToday,
    MineNeedsAttention,
    MineWaitingForCustomer,
    MineReadyToClose,
    TeamUnassigned,
    TeamInProgress,
    TeamNeedsReview,
}

impl View {
    pub fn is_mine(self) -> bool {
        matches!(self, View::MineNeedsAttention | View::MineWaitingForCustomer | View::MineReadyToClose)
    }
}

/// Assignment relative to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignment {
    #[default]
    All,
    Me,
    Others,
    Unassigned,
}

/// Which time a window applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeField {
    #[default]
    LastActivity,
    Created,
}

/// A time window as the client named it; resolved to instants in the tenant's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeWindow {
    LastHour,
    Today,
    ThisWeek,
    ThisMonth,
    Range { from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>> },
}

impl TimeWindow {
    /// `[from, to)`; `None` bounds are open.
    pub fn resolve(
        self,
        settings: &TenantSettings,
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        match self {
            TimeWindow::LastHour => (Some(now - Duration::hours(1)), None),
            TimeWindow::Today => (Some(settings.start_of_today(now)), None),
            TimeWindow::ThisWeek => (Some(settings.start_of_week(now)), None),
            TimeWindow::ThisMonth => (Some(settings.start_of_month(now)), None),
            TimeWindow::Range { from, to } => (from, to),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Recent,
    Oldest,
    Priority,
    Channel,
    Assignment,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Recent => "recent",
            SortOrder::Oldest => "oldest",
            SortOrder::Priority => "priority",
            SortOrder::Channel => "channel",
            SortOrder::Assignment => "assignment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SortOrder::Recent, SortOrder::Oldest, SortOrder::Priority, SortOrder::Channel, SortOrder::Assignment]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Most ids one filter may name.
pub const MAX_FILTER_IDS: usize = 10_000;

/// Which conversations a list, count, bulk action or export is about. Every field narrows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFilter {
    pub statuses: Vec<Status>,
    /// Channel tokens (`whatsapp`, `telephony`, `webchat`).
    pub channels: Vec<&'static str>,
    pub priorities: Vec<Priority>,
    pub assignment: Assignment,
    pub team_id: Option<Uuid>,
    pub time_field: TimeField,
    pub window: Option<TimeWindow>,
    pub view: Option<View>,
    pub needs_human: Option<bool>,
    pub ids: Vec<Uuid>,
}

impl ConversationFilter {
    /// Whether the filter depends on who asks ("me").
    pub fn needs_viewer(&self) -> bool {
        self.assignment == Assignment::Me
            || self.assignment == Assignment::Others
            || self.view.is_some_and(View::is_mine)
    }

    /// Whether anything narrows the set (bulk actions refuse an empty filter).
    pub fn is_empty(&self) -> bool {
        *self == ConversationFilter::default()
    }
}

/// Sort key of the rank-based orders, as PostgreSQL computes the generated columns.
pub fn priority_rank(priority: &str) -> i16 {
    match priority {
        "urgent" => 0,
        "high" => 1,
        "normal" => 2,
        _ => 3,
    }
}

pub fn channel_rank(channel: &str) -> i16 {
    match channel {
        "whatsapp" => 0,
        "telephony" => 1,
        "webchat" => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_resolve_in_the_tenant_zone() {
        let tokyo = TenantSettings::parse("Asia/Tokyo", "", 0.6, "x").unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-24T16:00:00Z").unwrap().with_timezone(&Utc);
        // 01:00 on the 25th in Tokyo: today began at 15:00 UTC on the 24th.
        assert_eq!(TimeWindow::Today.resolve(&tokyo, now).0.unwrap().to_rfc3339(), "2026-11-24T15:00:00+00:00");
        assert_eq!(TimeWindow::LastHour.resolve(&tokyo, now).0, Some(now - Duration::hours(1)));
        assert_eq!(TimeWindow::Range { from: None, to: Some(now) }.resolve(&tokyo, now), (None, Some(now)));
    }

    #[test]
    fn only_me_and_mine_depend_on_the_caller() {
        assert!(!ConversationFilter::default().needs_viewer());
        assert!(ConversationFilter { assignment: Assignment::Me, ..Default::default() }.needs_viewer());
        assert!(ConversationFilter { view: Some(View::MineReadyToClose), ..Default::default() }.needs_viewer());
        assert!(!ConversationFilter { view: Some(View::TeamUnassigned), ..Default::default() }.needs_viewer());
    }

    #[test]
    fn sort_names_round_trip() {
        for s in [SortOrder::Recent, SortOrder::Oldest, SortOrder::Priority, SortOrder::Channel, SortOrder::Assignment]
        {
            assert_eq!(SortOrder::parse(s.as_str()), Some(s));
        }
    }
}
