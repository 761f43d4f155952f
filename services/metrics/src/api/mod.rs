//! `inbox.metrics.v1.Metrics`: translation between the wire and the store, and who may read
//! what (`access`).

pub mod access;
mod error;
pub mod present;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::{CallContext, Role, Visibility};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::buckets::{Grain, bucket_start};
use crate::proto as pb;
use crate::rebuild::Rebuilder;
use crate::store::MetricsStore;
use crate::store::csat::CsatSettings;
use crate::store::rebuilds::Rebuild;
use crate::zones::TenantZones;
use access::{Groups, grouping_of, groups_for};
use present::{SeriesFigures, series_of, series_to_proto};

/// A running rebuild that has not moved for this long was abandoned (its replica stopped).
const REBUILD_ABANDONED_AFTER: Duration = Duration::minutes(5);

pub struct MetricsApi {
    pub store: MetricsStore,
    pub zones: TenantZones,
    pub rebuilder: Rebuilder,
}

/// A checked report request.
struct ReportQuery {
    grain: Grain,
    groups: Groups,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn time(ts: Option<&prost_types::Timestamp>, field: &str) -> Result<DateTime<Utc>, PublicError> {
    ts.and_then(inbox_proto::timestamp_to_utc)
        .ok_or_else(|| PublicError::invalid_argument(format!("{field} is required")))
}

fn report_query(request: &Request<pb::ReportRequest>) -> Result<(CallContext, ReportQuery), PublicError> {
    let ctx = CallContext::of(request).map_err(|s| PublicError::from_status(&s))?.clone();
    let r = request.get_ref();
    let (from, to) = (time(r.from.as_ref(), "from")?, time(r.to.as_ref(), "to")?);
    if from >= to {
        return Err(PublicError::invalid_argument("from must be before to"));
    }
    let (grain, longest) = match pb::Bucket::try_from(r.bucket) {
        Ok(pb::Bucket::Hour) => (Grain::Hour, Duration::days(31)),
        Ok(pb::Bucket::Day | pb::Bucket::Unspecified) => (Grain::Day, Duration::days(400)),
        Err(_) => return Err(PublicError::invalid_argument("bucket must be hour or day")),
    };
    if to - from > longest {
        return Err(PublicError::invalid_argument(format!(
            "a range of {} buckets covers at most {} days",
            if grain == Grain::Hour { "hour" } else { "day" },
            longest.num_days()
        )));
    }
    let grouping = pb::Grouping::try_from(r.group_by).map_err(|_| PublicError::invalid_argument("unknown group_by"))?;
    let groups = groups_for(&ctx, &Visibility::of(request), grouping, &r.group_ids)?;
    Ok((ctx, ReportQuery { grain, groups, from, to }))
}

impl MetricsApi {
    async fn zone(&self, tenant_id: Uuid) -> Result<Tz, PublicError> {
        self.zones.zone_of(tenant_id).await.map_err(|e| {
            tracing::warn!(error = %e, "no time zone for a report");
            PublicError::unavailable("the tenant's time zone is unavailable; try again")
        })
    }

    async fn series(&self, tenant_id: Uuid, q: &ReportQuery) -> Result<Vec<SeriesFigures>, PublicError> {
        let cells =
            self.store.read_cells(tenant_id, q.grain, q.groups.dim, q.groups.keys.as_deref(), q.from, q.to).await?;
        Ok(series_of(q.groups.dim, cells, q.groups.keys.as_deref()))
    }
}

fn require_admin(ctx: &CallContext, what: &str) -> Result<(), PublicError> {
    if matches!(ctx.role, Role::Admin | Role::Operator) {
        Ok(())
    } else {
        Err(PublicError::new(ErrorCode::PermissionDenied, format!("{what} needs the admin role")))
    }
}

fn rebuild_to_proto(r: &Rebuild, now: DateTime<Utc>) -> pb::RebuildStatus {
    let abandoned = r.state == "running" && now - r.updated_at > REBUILD_ABANDONED_AFTER;
    pb::RebuildStatus {
        rebuild_id: r.id.to_string(),
        state: if abandoned { "failed".into() } else { r.state.clone() },
        from: Some(inbox_proto::timestamp_from(r.from_at)),
        conversations_done: r.conversations_done.max(0) as u64,
        started_at: Some(inbox_proto::timestamp_from(r.started_at)),
        finished_at: r.finished_at.map(inbox_proto::timestamp_from),
        error: if abandoned { "abandoned: the replica running it stopped".into() } else { r.error.clone() },
    }
}

#[tonic::async_trait]
impl pb::metrics_server::Metrics for MetricsApi {
    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn get_report(&self, request: Request<pb::ReportRequest>) -> Result<Response<pb::Report>, Status> {
        let (ctx, q) = report_query(&request)?;
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let zone = self.zone(ctx.tenant_id).await?;
        let series = self.series(ctx.tenant_id, &q).await?;
        let totals_only = request.get_ref().totals_only;
        Ok(Response::new(pb::Report {
            time_zone: zone.name().into(),
            bucket: if q.grain == Grain::Hour { pb::Bucket::Hour } else { pb::Bucket::Day } as i32,
            series: series.iter().map(|s| series_to_proto(q.groups.dim, s, totals_only)).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn export_report(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ExportReportResponse>, Status> {
        let (ctx, q) = report_query(&request)?;
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let zone = self.zone(ctx.tenant_id).await?;
        let series = self.series(ctx.tenant_id, &q).await?;
        let content = present::report_csv(q.groups.dim, &series, zone).map_err(|e| {
            tracing::error!(error = %e, "csv writing failed");
            PublicError::internal()
        })?;
        let day = |at: DateTime<Utc>| at.with_timezone(&zone).format("%Y-%m-%d").to_string();
        Ok(Response::new(pb::ExportReportResponse {
            content,
            content_type: "text/csv; charset=utf-8".into(),
            filename: format!("metrics-{}-{}.csv", day(q.from), day(q.to - Duration::microseconds(1))),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn get_live(&self, request: Request<pb::LiveRequest>) -> Result<Response<pb::LiveFigures>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let r = request.get_ref();
        let grouping =
            pb::Grouping::try_from(r.group_by).map_err(|_| PublicError::invalid_argument("unknown group_by"))?;
        let groups = groups_for(&ctx, &Visibility::of(&request), grouping, &r.group_ids)?;
        let zone = self.zone(ctx.tenant_id).await?;
        let now = self.store.clock().now();
        let today = bucket_start(now, zone, Grain::Day);
        let tomorrow = bucket_start(today + Duration::hours(36), zone, Grain::Day);
        let counts = self.store.live_counts(ctx.tenant_id, groups.dim).await?;
        let cells = self
            .store
            .read_cells(ctx.tenant_id, Grain::Day, groups.dim, groups.keys.as_deref(), today, tomorrow)
            .await?;
        let today_series = series_of(groups.dim, cells, groups.keys.as_deref());
        let wanted = |key: &str| groups.keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k == key));
        let mut by_key: std::collections::BTreeMap<String, pb::LiveGroup> = std::collections::BTreeMap::new();
        for s in &today_series {
            by_key
                .entry(s.key.clone())
                .or_insert_with(|| pb::LiveGroup { group_id: s.key.clone(), ..Default::default() });
        }
        for c in counts.iter().filter(|c| wanted(&c.key)) {
            let g = by_key
                .entry(c.key.clone())
                .or_insert_with(|| pb::LiveGroup { group_id: c.key.clone(), ..Default::default() });
            g.active = c.active.max(0) as u64;
            g.pending = c.pending.max(0) as u64;
            g.backlog = c.backlog.max(0) as u64;
            g.backlog_unassigned = c.backlog_unassigned.max(0) as u64;
        }
        for s in &today_series {
            if let Some(g) = by_key.get_mut(&s.key) {
                g.new_today = s.total.count(crate::domain::figures::Counter::NewConversations).max(0) as u64;
                g.resolved_today = s.total.count(crate::domain::figures::Counter::Resolutions).max(0) as u64;
            }
        }
        Ok(Response::new(pb::LiveFigures {
            at: Some(inbox_proto::timestamp_from(now)),
            time_zone: zone.name().into(),
            group_by: grouping_of(groups.dim) as i32,
            groups: by_key.into_values().collect(),
        }))
    }

    async fn get_csat_settings(
        &self,
        request: Request<pb::GetCsatSettingsRequest>,
    ) -> Result<Response<pb::CsatSettings>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let s = self.store.csat_settings(ctx.tenant_id).await?;
        Ok(Response::new(pb::CsatSettings { enabled: s.enabled, survey_text: s.survey_text }))
    }

    async fn set_csat_settings(
        &self,
        request: Request<pb::SetCsatSettingsRequest>,
    ) -> Result<Response<pb::CsatSettings>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx, "changing the CSAT survey")?;
        let given =
            request.into_inner().settings.ok_or_else(|| PublicError::invalid_argument("settings are required"))?;
        let s = self
            .store
            .set_csat_settings(ctx.tenant_id, &CsatSettings { enabled: given.enabled, survey_text: given.survey_text })
            .await?;
        Ok(Response::new(pb::CsatSettings { enabled: s.enabled, survey_text: s.survey_text }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn start_rebuild(
        &self,
        request: Request<pb::StartRebuildRequest>,
    ) -> Result<Response<pb::RebuildStatus>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        require_admin(&ctx, "rebuilding metrics")?;
        let from = time(request.get_ref().from.as_ref(), "from")?;
        let now = self.store.clock().now();
        if from > now {
            return Err(PublicError::invalid_argument("from must not be in the future").into());
        }
        let rebuild = self.rebuilder.start(ctx.tenant_id, from).await?;
        Ok(Response::new(rebuild_to_proto(&rebuild, now)))
    }

    async fn get_rebuild(
        &self,
        request: Request<pb::GetRebuildRequest>,
    ) -> Result<Response<pb::RebuildStatus>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx, "reading a rebuild")?;
        let id = Uuid::parse_str(&request.get_ref().rebuild_id)
            .map_err(|_| PublicError::invalid_argument("rebuild_id must be a uuid"))?;
        let rebuild =
            self.store.rebuild(ctx.tenant_id, id).await?.ok_or_else(|| PublicError::not_found("rebuild not found"))?;
        Ok(Response::new(rebuild_to_proto(&rebuild, self.store.clock().now())))
    }
}
