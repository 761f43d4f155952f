//! The list filter, sort and view counts: protobuf ⇄ domain, validated at the edge.

use inbox_errors::PublicError;
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::timestamp_to_utc;

use super::request::{optional_id, parse_id};
use crate::domain::views::{Assignment, ConversationFilter, MAX_FILTER_IDS, SortOrder, TimeField, TimeWindow, View};
use crate::domain::{Priority, Status};
use crate::store::ViewCounts;

pub fn filter_from_proto(f: Option<&pb::ConversationFilter>) -> Result<ConversationFilter, PublicError> {
    let Some(f) = f else { return Ok(ConversationFilter::default()) };
    let statuses = f
        .statuses
        .iter()
        .map(|s| {
            pb::ConversationStatus::try_from(*s)
                .ok()
                .and_then(Status::from_proto)
                .ok_or_else(|| PublicError::invalid_argument("statuses: unknown status"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let channels = f
        .channels
        .iter()
        .map(|c| match Channel::try_from(*c) {
            Ok(c) if c != Channel::Unspecified => Ok(inbox_bus::subjects::channel_token(c)),
            _ => Err(PublicError::invalid_argument("channels: unknown channel")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let priorities = f
        .priorities
        .iter()
        .map(|p| {
            pb::Priority::try_from(*p)
                .ok()
                .and_then(Priority::from_proto)
                .ok_or_else(|| PublicError::invalid_argument("priorities: unknown priority"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let assignment = match pb::AssignmentFilter::try_from(f.assignment) {
        Ok(pb::AssignmentFilter::All) => Assignment::All,
        Ok(pb::AssignmentFilter::Me) => Assignment::Me,
        Ok(pb::AssignmentFilter::Others) => Assignment::Others,
        Ok(pb::AssignmentFilter::Unassigned) => Assignment::Unassigned,
        Err(_) => return Err(PublicError::invalid_argument("assignment: unknown value")),
    };
    let from =
        f.from.as_ref().map(|t| timestamp_to_utc(t).ok_or_else(|| PublicError::invalid_argument("from: bad time")));
    let to = f.to.as_ref().map(|t| timestamp_to_utc(t).ok_or_else(|| PublicError::invalid_argument("to: bad time")));
    let (from, to) = (from.transpose()?, to.transpose()?);
    let window = match pb::TimeWindow::try_from(f.time_window) {
        Ok(pb::TimeWindow::Any) => None,
        Ok(pb::TimeWindow::LastHour) => Some(TimeWindow::LastHour),
        Ok(pb::TimeWindow::Today) => Some(TimeWindow::Today),
        Ok(pb::TimeWindow::ThisWeek) => Some(TimeWindow::ThisWeek),
        Ok(pb::TimeWindow::ThisMonth) => Some(TimeWindow::ThisMonth),
        Ok(pb::TimeWindow::Range) => {
            if from.is_none() && to.is_none() {
                return Err(PublicError::invalid_argument("a range needs from and/or to"));
            }
            if let (Some(from), Some(to)) = (from, to)
                && from >= to
            {
                return Err(PublicError::invalid_argument("from must be before to"));
            }
            Some(TimeWindow::Range { from, to })
        }
        Err(_) => return Err(PublicError::invalid_argument("time_window: unknown value")),
    };
    if window.is_some_and(|w| !matches!(w, TimeWindow::Range { .. })) && (from.is_some() || to.is_some()) {
        return Err(PublicError::invalid_argument("from and to go with the range time window only"));
    }
    let time_field = match pb::TimeField::try_from(f.time_field) {
        Ok(pb::TimeField::LastActivity) => TimeField::LastActivity,
        Ok(pb::TimeField::Created) => TimeField::Created,
        Err(_) => return Err(PublicError::invalid_argument("time_field: unknown value")),
    };
    let view = match pb::View::try_from(f.view) {
        Ok(pb::View::Unspecified) => None,
        Ok(pb::View::AllActive) => Some(View::AllActive),
        Ok(pb::View::AllPending) => Some(View::AllPending),
        Ok(pb::View::AllResolvedToday) => Some(View::AllResolvedToday),
        Ok(pb::View::MineNeedsAttention) => Some(View::MineNeedsAttention),
        Ok(pb::View::MineWaitingForCustomer) => Some(View::MineWaitingForCustomer),
        Ok(pb::View::MineReadyToClose) => Some(View::MineReadyToClose),
        Ok(pb::View::TeamUnassigned) => Some(View::TeamUnassigned),
        Ok(pb::View::TeamInProgress) => Some(View::TeamInProgress),
        Ok(pb::View::TeamNeedsReview) => Some(View::TeamNeedsReview),
        Err(_) => return Err(PublicError::invalid_argument("view: unknown value")),
    };
    if f.ids.len() > MAX_FILTER_IDS {
        return Err(PublicError::invalid_argument(format!("ids: at most {MAX_FILTER_IDS}")));
    }
    let ids =
        f.ids.iter().enumerate().map(|(i, id)| parse_id(id, &format!("ids[{i}]"))).collect::<Result<Vec<_>, _>>()?;
    Ok(ConversationFilter {
        statuses,
        channels,
        priorities,
        assignment,
        team_id: optional_id(&f.team_id, "team_id")?,
        time_field,
        window,
        view,
        needs_human: f.needs_human,
        ids,
    })
}

pub fn sort_from_proto(sort: i32) -> Result<SortOrder, PublicError> {
    match pb::SortOrder::try_from(sort) {
        Ok(pb::SortOrder::Recent) => Ok(SortOrder::Recent),
        Ok(pb::SortOrder::Oldest) => Ok(SortOrder::Oldest),
        Ok(pb::SortOrder::Priority) => Ok(SortOrder::Priority),
        Ok(pb::SortOrder::Channel) => Ok(SortOrder::Channel),
        Ok(pb::SortOrder::Assignment) => Ok(SortOrder::Assignment),
        Err(_) => Err(PublicError::invalid_argument("sort: unknown order")),
    }
}

pub fn counts_to_proto(c: &ViewCounts) -> pb::ViewCounts {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    pb::ViewCounts {
        all_active: n(c.all_active),
        all_pending: n(c.all_pending),
        all_resolved_today: n(c.all_resolved_today),
        mine_needs_attention: n(c.mine_needs_attention),
        mine_waiting_for_customer: n(c.mine_waiting_for_customer),
        mine_ready_to_close: n(c.mine_ready_to_close),
        team_unassigned: n(c.team_unassigned),
        team_in_progress: n(c.team_in_progress),
        team_needs_review: n(c.team_needs_review),
        by_channel: c
            .open_by_channel
            .iter()
            .map(|(channel, open)| pb::ChannelCount { channel: *channel as i32, open: n(*open) })
            .collect(),
    }
}
