//! The conversation list with every filter and sort, the view counts, and the ids a bulk
//! action selects; all from one definition of the filter (`domain::views`), each kept to what
//! the viewer may see (`visibility`).

use chrono::{DateTime, Utc};
use inbox_proto::common::v1::Channel;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::settings::tenant_settings_in;
use super::visibility::{Viewer, push_visible, select_conversations};
use super::{ConversationRow, ConversationStore, ListCursor, StoreError};
use crate::domain::views::{Assignment, ConversationFilter, SortOrder, TimeField, View, channel_rank, priority_rank};

/// The counts of every view (see `domain::views`).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ViewCounts {
    pub all_active: i64,
    pub all_pending: i64,
    pub all_resolved_today: i64,
    pub mine_needs_attention: i64,
    pub mine_waiting_for_customer: i64,
    pub mine_ready_to_close: i64,
    pub team_unassigned: i64,
    pub team_in_progress: i64,
    pub team_needs_review: i64,
    #[sqlx(skip)]
    pub open_by_channel: Vec<(Channel, i64)>,
}

const OPEN: &str = "c.status IN ('active', 'pending')";

/// The SQL condition of a view, on `conversations c`; binds "me" and "today".
fn push_view(qb: &mut QueryBuilder<Postgres>, view: View, me: Option<Uuid>, today: DateTime<Utc>) {
    match view {
        View::AllActive => qb.push("c.status = 'active'"),
        View::AllPending => qb.push("c.status = 'pending'"),
        View::AllResolvedToday => qb.push("c.status = 'resolved' AND c.status_changed_at >= ").push_bind(today),
        View::MineNeedsAttention => qb
            .push("c.assignee_id = ")
            .push_bind(me)
            .push(" AND c.status = 'active' AND c.last_message_sender_kind = 'customer'"),
        View::MineWaitingForCustomer => qb
            .push("c.assignee_id = ")
            .push_bind(me)
            .push(" AND c.status = 'active' AND c.last_message_sender_kind <> 'customer'"),
        View::MineReadyToClose => qb.push("c.assignee_id = ").push_bind(me).push(" AND c.status = 'pending'"),
        View::TeamUnassigned => qb.push(OPEN).push(" AND c.assignee_id IS NULL AND NOT c.needs_human"),
        View::TeamInProgress => qb.push(OPEN).push(" AND c.assignee_id IS NOT NULL AND NOT c.needs_human"),
        View::TeamNeedsReview => qb.push(OPEN).push(" AND c.needs_human"),
    };
}

/// `column = value` for one value (keeps index order usable), `column = ANY(values)` for more.
fn push_any(qb: &mut QueryBuilder<Postgres>, column: &str, values: Vec<String>) {
    if values.len() == 1 {
        qb.push(format!(" AND {column} = ")).push_bind(values.into_iter().next());
    } else if !values.is_empty() {
        qb.push(format!(" AND {column} = ANY(")).push_bind(values).push(")");
    }
}

/// Appends ` AND ...` for every narrowing part of `filter` (after `WHERE c.tenant_id = ...`).
async fn push_filter(
    qb: &mut QueryBuilder<Postgres>,
    store: &ConversationStore,
    tenant_id: Uuid,
    filter: &ConversationFilter,
    viewer: &Viewer,
) -> Result<(), StoreError> {
    if filter.needs_viewer() && viewer.user_id.is_none() {
        return Err(StoreError::Invalid("\"me\" and the Mine views need a user as caller".into()));
    }
    push_any(qb, "c.status", filter.statuses.iter().map(|s| s.as_str().to_owned()).collect());
    push_any(qb, "c.channel", filter.channels.iter().map(|c| (*c).to_owned()).collect());
    push_any(qb, "c.priority", filter.priorities.iter().map(|p| p.as_str().to_owned()).collect());
    match filter.assignment {
        Assignment::All => {}
        Assignment::Me => {
            qb.push(" AND c.assignee_id = ").push_bind(viewer.user_id);
        }
        Assignment::Others => {
            qb.push(" AND c.assignee_id IS NOT NULL AND c.assignee_id <> ").push_bind(viewer.user_id);
        }
        Assignment::Unassigned => {
            qb.push(" AND c.assignee_id IS NULL");
        }
    }
    if let Some(team) = filter.team_id {
        qb.push(" AND c.team_id = ").push_bind(team);
    }
    if let Some(needs_human) = filter.needs_human {
        qb.push(" AND c.needs_human = ").push_bind(needs_human);
    }
    if !filter.ids.is_empty() {
        qb.push(" AND c.id = ANY(").push_bind(filter.ids.clone()).push(")");
    }
    let now = store.now();
    let needs_settings = filter.window.is_some() || filter.view == Some(View::AllResolvedToday);
    if needs_settings {
        let settings = tenant_settings_in(store.pool(), tenant_id).await?;
        if let Some(window) = filter.window {
            let column = match filter.time_field {
                TimeField::LastActivity => "c.last_message_at",
                TimeField::Created => "c.created_at",
            };
            let (from, to) = window.resolve(&settings, now);
            if let Some(from) = from {
                qb.push(format!(" AND {column} >= ")).push_bind(from);
            }
            if let Some(to) = to {
                qb.push(format!(" AND {column} < ")).push_bind(to);
            }
        }
        if let Some(view) = filter.view {
            qb.push(" AND (");
            push_view(qb, view, viewer.user_id, settings.start_of_today(now));
            qb.push(")");
        }
    } else if let Some(view) = filter.view {
        qb.push(" AND (");
        push_view(qb, view, viewer.user_id, now);
        qb.push(")");
    }
    Ok(())
}

/// The rank column of a rank-based sort.
fn rank_column(sort: SortOrder) -> Option<&'static str> {
    match sort {
        SortOrder::Priority => Some("c.priority_rank"),
        SortOrder::Channel => Some("c.channel_rank"),
        SortOrder::Assignment => Some("c.assignment_rank"),
        SortOrder::Recent | SortOrder::Oldest => None,
    }
}

fn rank_of(sort: SortOrder, row: &ConversationRow) -> i16 {
    match sort {
        SortOrder::Priority => priority_rank(&row.priority),
        SortOrder::Channel => channel_rank(&row.channel),
        SortOrder::Assignment => i16::from(row.assignee_id.is_some()),
        SortOrder::Recent | SortOrder::Oldest => 0,
    }
}

impl ConversationStore {
    /// The tenant's conversations matching `filter` that `viewer` may see, in `sort` order,
    /// keyset-paginated, with the viewer's read state.
    pub async fn list_conversations_filtered(
        &self,
        tenant_id: Uuid,
        filter: &ConversationFilter,
        viewer: &Viewer,
        sort: SortOrder,
        limit: i64,
        after: Option<ListCursor>,
    ) -> Result<(Vec<ConversationRow>, Option<ListCursor>), StoreError> {
        if after.is_some_and(|c| c.sort != sort) {
            return Err(StoreError::Invalid("the cursor belongs to another sort order".into()));
        }
        let mut qb = select_conversations(tenant_id, viewer);
        push_filter(&mut qb, self, tenant_id, filter, viewer).await?;
        match (sort, rank_column(sort), after) {
            (SortOrder::Oldest, _, Some(c)) => {
                qb.push(" AND (c.last_message_at, c.id) > (").push_bind(c.at).push(", ").push_bind(c.id).push(")");
            }
            (_, None, Some(c)) => {
                qb.push(" AND (c.last_message_at, c.id) < (").push_bind(c.at).push(", ").push_bind(c.id).push(")");
            }
            (_, Some(rank), Some(c)) => {
                qb.push(format!(" AND ({rank} > "))
                    .push_bind(c.rank)
                    .push(format!(" OR ({rank} = "))
                    .push_bind(c.rank)
                    .push(" AND (c.last_message_at, c.id) < (")
                    .push_bind(c.at)
                    .push(", ")
                    .push_bind(c.id)
                    .push(")))");
            }
            (_, _, None) => {}
        }
        match (sort, rank_column(sort)) {
            (SortOrder::Oldest, _) => qb.push(" ORDER BY c.last_message_at, c.id"),
            (_, Some(rank)) => qb.push(format!(" ORDER BY {rank}, c.last_message_at DESC, c.id DESC")),
            (_, None) => qb.push(" ORDER BY c.last_message_at DESC, c.id DESC"),
        };
        qb.push(" LIMIT ").push_bind(limit + 1);
        let mut rows: Vec<ConversationRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        let limit = usize::try_from(limit).unwrap_or(0);
        if rows.len() <= limit {
            return Ok((rows, None));
        }
        rows.truncate(limit);
        let next = rows.last().map(|r| ListCursor { sort, rank: rank_of(sort, r), at: r.last_message_at, id: r.id });
        Ok((rows, next))
    }

    /// Ids of the tenant's conversations matching `filter` that `viewer` may see, at most
    /// `cap` (bulk actions).
    pub async fn select_conversation_ids(
        &self,
        tenant_id: Uuid,
        filter: &ConversationFilter,
        viewer: &Viewer,
        cap: i64,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut qb = QueryBuilder::new("SELECT c.id FROM conversations c WHERE c.tenant_id = ");
        qb.push_bind(tenant_id);
        push_visible(&mut qb, &viewer.visibility);
        push_filter(&mut qb, self, tenant_id, filter, viewer).await?;
        qb.push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ").push_bind(cap);
        Ok(qb.build_query_scalar().fetch_all(&self.pool).await?)
    }

    /// Every view's count for `viewer`, of the conversations they may see; the Team views for
    /// `team_id` or the whole tenant.
    pub async fn count_views(
        &self,
        tenant_id: Uuid,
        viewer: &Viewer,
        team_id: Option<Uuid>,
    ) -> Result<ViewCounts, StoreError> {
        let settings = tenant_settings_in(&self.pool, tenant_id).await?;
        let today = settings.start_of_today(self.now());
        let mut qb = QueryBuilder::new("SELECT ");
        let views = [
            ("all_active", View::AllActive),
            ("all_pending", View::AllPending),
            ("all_resolved_today", View::AllResolvedToday),
            ("mine_needs_attention", View::MineNeedsAttention),
            ("mine_waiting_for_customer", View::MineWaitingForCustomer),
            ("mine_ready_to_close", View::MineReadyToClose),
            ("team_unassigned", View::TeamUnassigned),
            ("team_in_progress", View::TeamInProgress),
            ("team_needs_review", View::TeamNeedsReview),
        ];
        for (i, (name, view)) in views.into_iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push("count(*) FILTER (WHERE ");
            push_view(&mut qb, view, viewer.user_id, today);
            if matches!(view, View::TeamUnassigned | View::TeamInProgress | View::TeamNeedsReview)
                && let Some(team) = team_id
            {
                qb.push(" AND c.team_id = ").push_bind(team);
            }
            qb.push(format!(") AS {name}"));
        }
        // Only open conversations and today's resolved ones can count: the rest is skipped.
        qb.push(" FROM conversations c WHERE c.tenant_id = ")
            .push_bind(tenant_id)
            .push(" AND (c.status IN ('active', 'pending') OR (c.status = 'resolved' AND c.status_changed_at >= ")
            .push_bind(today)
            .push("))");
        push_visible(&mut qb, &viewer.visibility);
        let mut counts: ViewCounts = qb.build_query_as().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::new("SELECT c.channel, count(*) FROM conversations c WHERE c.tenant_id = ");
        qb.push_bind(tenant_id).push(" AND c.status IN ('active', 'pending')");
        push_visible(&mut qb, &viewer.visibility);
        qb.push(" GROUP BY c.channel ORDER BY c.channel");
        let by_channel: Vec<(String, i64)> = qb.build_query_as().fetch_all(&self.pool).await?;
        counts.open_by_channel = by_channel
            .into_iter()
            .filter_map(|(token, n)| inbox_bus::subjects::channel_from_token(&token).map(|c| (c, n)))
            .collect();
        Ok(counts)
    }
}
