//! The conversation list's filters and sorts as query parameters, and the view counts.
//!
//! `GET /v1/conversations?status=active,pending&channel=whatsapp&priority=urgent&assigned=me
//! &team=<id>&time=today&time_field=created&view=mine.needs_attention&needs_human=true
//! &sort=priority&limit=50&cursor=...` — every parameter optional and combinable.
//! `time` is `last_hour`, `today`, `week`, `month` (in the tenant's zone) or `range` with
//! `from`/`to` (RFC 3339). `GET /v1/views?team=<id>` counts every view.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::DateTime;
use inbox_errors::PublicError;
use inbox_proto::common::v1::{Channel, PageRequest};
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{ConversationJson, Page, priority_from_name, status_from_name};
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new().route("/v1/conversations", get(list_conversations)).route("/v1/views", get(count_views))
}

/// The list's query parameters; lists are comma-separated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterQuery {
    pub status: Option<String>,
    pub channel: Option<String>,
    pub priority: Option<String>,
    pub assigned: Option<String>,
    pub team: Option<String>,
    pub time: Option<String>,
    pub time_field: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub view: Option<String>,
    pub needs_human: Option<bool>,
    /// Comma-separated conversation ids.
    pub ids: Option<String>,
}

fn list(value: &Option<String>) -> impl Iterator<Item = &str> {
    value.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn bad(field: &str, value: &str, allowed: &str) -> ApiError {
    ApiError(PublicError::invalid_argument(format!("{field}: {value:?} is not one of {allowed}")))
}

pub fn channel_from_name(name: &str) -> Option<Channel> {
    match name {
        "whatsapp" => Some(Channel::Whatsapp),
        "telephony" => Some(Channel::Telephony),
        "webchat" | "web" => Some(Channel::Webchat),
        _ => None,
    }
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

fn timestamp(field: &str, value: &Option<String>) -> Result<Option<prost_types::Timestamp>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| inbox_proto::timestamp_from(t.to_utc()))
                .map_err(|_| ApiError(PublicError::invalid_argument(format!("{field} must be an RFC 3339 time"))))
        })
        .transpose()
}

impl FilterQuery {
    pub fn to_proto(&self) -> Result<pb::ConversationFilter, ApiError> {
        let statuses = list(&self.status)
            .map(|s| {
                status_from_name(s)
                    .map(|v| v as i32)
                    .ok_or_else(|| bad("status", s, "active, pending, resolved, archived"))
            })
            .collect::<Result<_, _>>()?;
        let channels = list(&self.channel)
            .map(|c| {
                channel_from_name(c).map(|v| v as i32).ok_or_else(|| bad("channel", c, "whatsapp, telephony, webchat"))
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

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(flatten)]
    filter: FilterQuery,
}

pub fn sort_from_name(name: &str) -> Result<pb::SortOrder, ApiError> {
    Ok(match name {
        "recent" => pb::SortOrder::Recent,
        "oldest" => pb::SortOrder::Oldest,
        "priority" => pb::SortOrder::Priority,
        "channel" => pb::SortOrder::Channel,
        "assignment" => pb::SortOrder::Assignment,
        other => return Err(bad("sort", other, "recent, oldest, priority, channel, assignment")),
    })
}

async fn list_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<ConversationJson>>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let Query(query) = query.map_err(|e| ApiError(PublicError::invalid_argument(e.body_text())))?;
    let request = pb::ListConversationsRequest {
        page: Some(PageRequest { limit: query.limit.unwrap_or(0), cursor: query.cursor.clone().unwrap_or_default() }),
        filter: Some(query.filter.to_proto()?),
        sort: sort_from_name(query.sort.as_deref().unwrap_or("recent"))? as i32,
    };
    let request = ctx.request(request, &state.service_token)?;
    let response =
        state.conversations.clone().list_conversations(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(Page::new(response.conversations.iter().map(ConversationJson::from).collect(), response.next_cursor)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountQuery {
    #[serde(default)]
    team: Option<String>,
}

async fn count_views(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    query: Result<Query<CountQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let Query(query) = query.map_err(|e| ApiError(PublicError::invalid_argument(e.body_text())))?;
    let request =
        ctx.request(pb::CountViewsRequest { team_id: query.team.unwrap_or_default() }, &state.service_token)?;
    let c = state.conversations.clone().count_views(request).await.map_err(upstream_failure)?.into_inner();
    let by_channel: serde_json::Map<String, Value> =
        c.by_channel.iter().map(|b| (super::json::channel(b.channel).to_owned(), json!(b.open))).collect();
    Ok(Json(json!({
        "all": {
            "total": c.all_active + c.all_pending + c.all_resolved_today,
            "active": c.all_active,
            "pending": c.all_pending,
            "resolved_today": c.all_resolved_today,
        },
        "mine": {
            "total": c.mine_needs_attention + c.mine_waiting_for_customer + c.mine_ready_to_close,
            "needs_attention": c.mine_needs_attention,
            "waiting_for_customer": c.mine_waiting_for_customer,
            "ready_to_close": c.mine_ready_to_close,
        },
        "team": {
            "total": c.team_unassigned + c.team_in_progress + c.team_needs_review,
            "unassigned": c.team_unassigned,
            "in_progress": c.team_in_progress,
            "needs_review": c.team_needs_review,
        },
        "by_channel": by_channel,
    })))
}
