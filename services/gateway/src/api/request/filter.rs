//! The conversation list's filters and sorts as query parameters (also the `filter` object of
//! bulk actions and exports).
//!
//! `status=active,pending&channel=whatsapp&priority=urgent&assigned=me&team=<id>&time=today
//! &time_field=created&view=mine.needs_attention&needs_human=true&ids=a,b` — every parameter
//! optional and combinable. `time` is `last_hour`, `today`, `week`, `month` (in the tenant's
//! zone) or `range` with `from`/`to` (RFC 3339).

use chrono::DateTime;
use inbox_errors::PublicError;
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::names::{channel_from_name, priority_from_name, status_from_name};

/// The list's filter parameters; lists are comma-separated.
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
#[schema(as = ConversationFilter)]
pub struct FilterQuery {
    /// Statuses: active, pending, resolved, archived.
    pub status: Option<String>,
    /// Channels: whatsapp, telephony, webchat (or web).
    pub channel: Option<String>,
    /// Priorities: urgent, high, normal, low.
    pub priority: Option<String>,
    /// me, others, unassigned or all (default).
    pub assigned: Option<String>,
    /// A team's id.
    pub team: Option<String>,
    /// any (default), last_hour, today, week, month (in the tenant's zone) or range (`from`, `to`).
    pub time: Option<String>,
    /// What `time` applies to: activity (default) or created.
    pub time_field: Option<String>,
    /// RFC 3339, with `time=range`.
    pub from: Option<String>,
    /// RFC 3339, with `time=range`.
    pub to: Option<String>,
    /// all.active, all.pending, all.resolved_today, mine.needs_attention, mine.waiting_for_customer,
    /// mine.ready_to_close, team.unassigned, team.in_progress or team.needs_review.
    pub view: Option<String>,
    /// true or false.
    #[serde(default, deserialize_with = "flag")]
    pub needs_human: Option<bool>,
    /// Comma-separated conversation ids.
    pub ids: Option<String>,
}

/// A yes/no filter: a JSON boolean (bulk actions, exports) or the text `true`/`false` (a query
/// string, which reaches a flattened struct as text).
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Option::<Flag>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Flag::Bool(b)) => Ok(Some(b)),
        Some(Flag::Text(t)) => match t.as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(serde::de::Error::custom(format!("needs_human: {other:?} is not true or false"))),
        },
    }
}

fn list(value: &Option<String>) -> impl Iterator<Item = &str> {
    value.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn bad(field: &str, value: &str, allowed: &str) -> PublicError {
    PublicError::invalid_argument(format!("{field}: {value:?} is not one of {allowed}"))
}

/// A channel in a filter; `web` is accepted for `webchat`.
fn filter_channel(name: &str) -> Option<Channel> {
    if name == "web" { Some(Channel::Webchat) } else { channel_from_name(name) }
}

fn view_from_name(name: &str) -> Option<pb::View> {
    Some(match name {
        "all.active" => pb::View::AllActive,
        "all.pending" => pb::View::AllPending,
        "all.resolved_today" => pb::View::AllResolvedToday,
        "mine.needs_attention" => pb::View::MineNeedsAttention,
        "mine.waiting_for_customer" => pb::View::MineWaitingForCustomer,
        "mine.ready_to_close" => pb::View::MineReadyToClose,
        "team.unassigned" => pb::View::TeamUnassigned,
        "team.in_progress" => pb::View::TeamInProgress,
        "team.needs_review" => pb::View::TeamNeedsReview,
        _ => return None,
    })
}

fn timestamp(field: &str, value: &Option<String>) -> Result<Option<prost_types::Timestamp>, PublicError> {
    value
        .as_deref()
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| inbox_proto::timestamp_from(t.to_utc()))
                .map_err(|_| PublicError::invalid_argument(format!("{field} must be an RFC 3339 time")))
        })
        .transpose()
}

impl FilterQuery {
    pub fn to_proto(&self) -> Result<pb::ConversationFilter, PublicError> {
        let statuses = list(&self.status)
            .map(|s| {
                status_from_name(s)
                    .map(|v| v as i32)
                    .ok_or_else(|| bad("status", s, "active, pending, resolved, archived"))
            })
            .collect::<Result<_, _>>()?;
        let channels = list(&self.channel)
            .map(|c| {
                filter_channel(c).map(|v| v as i32).ok_or_else(|| bad("channel", c, "whatsapp, telephony, webchat"))
            })
            .collect::<Result<_, _>>()?;
        let priorities = list(&self.priority)
            .map(|p| {
                priority_from_name(p).map(|v| v as i32).ok_or_else(|| bad("priority", p, "urgent, high, normal, low"))
            })
            .collect::<Result<_, _>>()?;
        let assignment = match self.assigned.as_deref().unwrap_or("all") {
            "all" => pb::AssignmentFilter::All,
            "me" => pb::AssignmentFilter::Me,
            "others" => pb::AssignmentFilter::Others,
            "unassigned" => pb::AssignmentFilter::Unassigned,
            other => return Err(bad("assigned", other, "me, others, unassigned, all")),
        };
        let time_window = match self.time.as_deref().unwrap_or("any") {
            "any" => pb::TimeWindow::Any,
            "last_hour" => pb::TimeWindow::LastHour,
            "today" => pb::TimeWindow::Today,
            "week" => pb::TimeWindow::ThisWeek,
            "month" => pb::TimeWindow::ThisMonth,
            "range" => pb::TimeWindow::Range,
            other => return Err(bad("time", other, "last_hour, today, week, month, range")),
        };
        let time_field = match self.time_field.as_deref().unwrap_or("activity") {
            "activity" => pb::TimeField::LastActivity,
            "created" => pb::TimeField::Created,
            other => return Err(bad("time_field", other, "activity, created")),
        };
        let view = match self.view.as_deref() {
            None => pb::View::Unspecified,
            Some(v) => view_from_name(v).ok_or_else(|| {
                bad("view", v, "all.active, all.pending, all.resolved_today, mine.needs_attention, mine.waiting_for_customer, mine.ready_to_close, team.unassigned, team.in_progress, team.needs_review")
            })?,
        };
        Ok(pb::ConversationFilter {
            statuses,
            channels,
            priorities,
            assignment: assignment as i32,
            team_id: self.team.clone().unwrap_or_default(),
            time_window: time_window as i32,
            from: timestamp("from", &self.from)?,
            to: timestamp("to", &self.to)?,
            time_field: time_field as i32,
            view: view as i32,
            needs_human: self.needs_human,
            ids: list(&self.ids).map(str::to_owned).collect(),
        })
    }
}

/// The list's order: `recent` (default), `oldest`, `priority`, `channel`, `assignment`.
pub fn sort_from_name(name: &str) -> Result<pb::SortOrder, PublicError> {
    Ok(match name {
        "recent" => pb::SortOrder::Recent,
        "oldest" => pb::SortOrder::Oldest,
        "priority" => pb::SortOrder::Priority,
        "channel" => pb::SortOrder::Channel,
        "assignment" => pb::SortOrder::Assignment,
        other => return Err(bad("sort", other, "recent, oldest, priority, channel, assignment")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_reads_its_lists_names_and_times_into_the_services_filter() {
        let query = FilterQuery {
            status: Some("active, pending".into()),
            channel: Some("web,whatsapp".into()),
            priority: Some("urgent".into()),
            assigned: Some("me".into()),
            time: Some("range".into()),
            from: Some("2031-03-01T09:00:00+01:00".into()),
            view: Some("mine.needs_attention".into()),
            ids: Some("c1,,c2".into()),
            ..Default::default()
        };
        let filter = query.to_proto().unwrap();
        assert_eq!(
            filter.statuses,
            vec![pb::ConversationStatus::Active as i32, pb::ConversationStatus::Pending as i32]
        );
        assert_eq!(filter.channels, vec![Channel::Webchat as i32, Channel::Whatsapp as i32]);
        assert_eq!(filter.priorities, vec![pb::Priority::Urgent as i32]);
        assert_eq!(filter.assignment, pb::AssignmentFilter::Me as i32);
        assert_eq!(filter.time_window, pb::TimeWindow::Range as i32);
        assert_eq!(filter.from.map(|t| t.seconds), Some(1_930_118_400));
        assert_eq!(filter.view, pb::View::MineNeedsAttention as i32);
        assert_eq!(filter.ids, vec!["c1".to_owned(), "c2".to_owned()]);
    }

    #[test]
    fn needs_human_reads_from_a_query_string_through_the_list_and_from_a_json_filter() {
        #[derive(Debug, Deserialize)]
        struct ListLike {
            #[serde(flatten)]
            filter: FilterQuery,
        }
        let read = |query: &str| {
            let uri: axum::http::Uri = format!("/v1/conversations?{query}").parse().unwrap();
            axum::extract::Query::<ListLike>::try_from_uri(&uri).map(|q| q.0.filter.needs_human)
        };
        assert_eq!(read("needs_human=true&status=active").unwrap(), Some(true));
        assert_eq!(read("needs_human=false").unwrap(), Some(false));
        assert!(read("needs_human=maybe").is_err());
        let json: FilterQuery = serde_json::from_value(serde_json::json!({"needs_human": true})).unwrap();
        assert_eq!(json.needs_human, Some(true));
        let none: FilterQuery = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(none.needs_human, None);
    }

    #[test]
    fn an_unknown_value_is_refused_naming_the_parameter_and_what_it_may_be() {
        let query = FilterQuery { status: Some("open".into()), ..Default::default() };
        assert_eq!(
            query.to_proto().unwrap_err().message,
            "status: \"open\" is not one of active, pending, resolved, archived"
        );
        let query = FilterQuery { to: Some("yesterday".into()), ..Default::default() };
        assert_eq!(query.to_proto().unwrap_err().message, "to must be an RFC 3339 time");
        assert!(sort_from_name("newest").unwrap_err().message.starts_with("sort:"));
        assert_eq!(sort_from_name("priority").unwrap(), pb::SortOrder::Priority);
    }
}
