//! Figures of the metrics service (docs/metrics.md):
//!
//! - `GET /v1/metrics/report?from=&to=&bucket=hour|day&group_by=tenant|agent|team|channel&group_ids=a,b&totals_only=true`:
//!   a total and a point per bucket for each group (RFC 3339 `from` inclusive, `to` exclusive;
//!   buckets start on the hour or at midnight in the tenant's time zone);
//! - `GET /v1/metrics/report.csv?...`: the same as a CSV file;
//! - `GET /v1/metrics/live?group_by=&group_ids=`: active, pending and backlog now, new and
//!   resolved today;
//! - `GET|PUT /v1/settings/csat` `{enabled, survey_text}`: the survey sent when a person resolves
//!   (changing it needs the admin role);
//! - `POST /v1/admin/tenants/{id}/metrics/rebuilds` `{from}` and
//!   `GET /v1/admin/tenants/{id}/metrics/rebuilds/{rebuild}`: recompute from the conversation
//!   history (admins and the operator; `inboxctl metrics rebuild`).
//!
//! Agents read their own figures, supervisors and admins everyone's (the metrics service
//! decides, from the caller's role).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use inbox_errors::PublicError;
use inbox_metrics::proto as pb;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present::metrics::{CsatSettings, LiveFigures, Rebuild, Report, csat_settings, live, rebuild, report};
use super::request::{JsonBody, QueryParams, body, query, uuid_in_path};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(get_report))
        .routes(routes!(export_report))
        .routes(routes!(get_live))
        .routes(routes!(get_csat, set_csat))
        .routes(routes!(start_rebuild))
        .routes(routes!(get_rebuild))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// RFC 3339, inclusive.
    #[param(format = DateTime)]
    from: String,
    /// RFC 3339, exclusive.
    #[param(format = DateTime)]
    to: String,
    /// hour or day (default).
    #[serde(default)]
    #[param(pattern = "^(hour|day)$")]
    bucket: Option<String>,
    /// tenant (default), agent, team or channel.
    #[serde(default)]
    #[param(pattern = "^(tenant|agent|team|channel)$")]
    group_by: Option<String>,
    /// Comma-separated.
    #[serde(default)]
    group_ids: Option<String>,
    #[serde(default)]
    totals_only: Option<bool>,
}

fn timestamp(text: &str, name: &str) -> Result<prost_types::Timestamp, PublicError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| inbox_proto::timestamp_from(t.with_timezone(&chrono::Utc)))
        .map_err(|_| PublicError::invalid_argument(format!("{name} must be an RFC 3339 time")))
}

fn grouping(name: Option<&str>) -> Result<pb::Grouping, PublicError> {
    match name.unwrap_or("tenant") {
        "tenant" => Ok(pb::Grouping::Tenant),
        "agent" => Ok(pb::Grouping::Agent),
        "team" => Ok(pb::Grouping::Team),
        "channel" => Ok(pb::Grouping::Channel),
        _ => Err(PublicError::invalid_argument("group_by must be tenant, agent, team or channel")),
    }
}

fn ids(list: Option<&str>) -> Vec<String> {
    list.map(|l| l.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

impl ReportQuery {
    fn to_proto(&self) -> Result<pb::ReportRequest, PublicError> {
        let bucket = match self.bucket.as_deref().unwrap_or("day") {
            "day" => pb::Bucket::Day,
            "hour" => pb::Bucket::Hour,
            _ => return Err(PublicError::invalid_argument("bucket must be hour or day")),
        };
        Ok(pb::ReportRequest {
            from: Some(timestamp(&self.from, "from")?),
            to: Some(timestamp(&self.to, "to")?),
            bucket: bucket as i32,
            group_by: grouping(self.group_by.as_deref())? as i32,
            group_ids: ids(self.group_ids.as_deref()),
            totals_only: self.totals_only.unwrap_or(false),
        })
    }
}

/// A total and a point per bucket for each group (agents: their own figures).
#[utoipa::path(get, path = "/v1/metrics/report", tag = "metrics",
    params(ReportQuery),
    responses((status = 200, description = "The report", body = Report)))]
async fn get_report(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    params: QueryParams<ReportQuery>,
) -> Result<Json<Report>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(query(params)?.to_proto()?, &state.service_token)?;
    let answer = state.metrics.clone().get_report(request).await?.into_inner();
    Ok(Json(report(&answer)))
}

/// The report as a CSV file.
#[utoipa::path(get, path = "/v1/metrics/report.csv", tag = "metrics",
    params(ReportQuery),
    responses((status = 200, description = "The report (`Content-Disposition: attachment`)", content_type = "text/csv",
        body = String)))]
async fn export_report(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    params: QueryParams<ReportQuery>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(query(params)?.to_proto()?, &state.service_token)?;
    let file = state.metrics.clone().export_report(request).await?.into_inner();
    let header = |value: String| HeaderValue::from_str(&value).map_err(|_| PublicError::internal());
    let mut response = file.content.into_response();
    response.headers_mut().insert(CONTENT_TYPE, header(file.content_type)?);
    response.headers_mut().insert(CONTENT_DISPOSITION, header(format!("attachment; filename=\"{}\"", file.filename))?);
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LiveQuery {
    /// tenant (default), agent, team or channel.
    #[serde(default)]
    group_by: Option<String>,
    /// Comma-separated.
    #[serde(default)]
    group_ids: Option<String>,
}

/// Active, pending and backlog now; new and resolved today.
#[utoipa::path(get, path = "/v1/metrics/live", tag = "metrics",
    params(LiveQuery),
    responses((status = 200, description = "The figures", body = LiveFigures)))]
async fn get_live(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    params: QueryParams<LiveQuery>,
) -> Result<Json<LiveFigures>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let params = query(params)?;
    let request = pb::LiveRequest {
        group_by: grouping(params.group_by.as_deref())? as i32,
        group_ids: ids(params.group_ids.as_deref()),
    };
    let answer = state.metrics.clone().get_live(ctx.request(request, &state.service_token)?).await?.into_inner();
    Ok(Json(live(&answer)))
}

/// The satisfaction survey's settings.
#[utoipa::path(get, path = "/v1/settings/csat", tag = "settings",
    responses((status = 200, description = "The settings", body = CsatSettings)))]
async fn get_csat(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<CsatSettings>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetCsatSettingsRequest {}, &state.service_token)?;
    Ok(Json(csat_settings(&state.metrics.clone().get_csat_settings(request).await?.into_inner())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCsatSettings {
    enabled: bool,
    #[serde(default)]
    survey_text: String,
}

/// Changes the satisfaction survey's settings (admins).
#[utoipa::path(put, path = "/v1/settings/csat", tag = "settings",
    request_body = NewCsatSettings,
    responses((status = 200, description = "The settings in force", body = CsatSettings)))]
async fn set_csat(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewCsatSettings>,
) -> Result<Json<CsatSettings>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let settings = pb::CsatSettings { enabled: new.enabled, survey_text: new.survey_text };
    let request = ctx.request(pb::SetCsatSettingsRequest { settings: Some(settings) }, &state.service_token)?;
    Ok(Json(csat_settings(&state.metrics.clone().set_csat_settings(request).await?.into_inner())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRebuild {
    /// RFC 3339: recompute from this time on.
    #[schema(format = DateTime)]
    from: String,
}

/// Recomputes the tenant's figures from the conversation history (admins and the operator).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/metrics/rebuilds", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewRebuild,
    responses((status = 202, description = "Started", body = Rebuild)))]
async fn start_rebuild(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewRebuild>,
) -> Result<(StatusCode, Json<Rebuild>), GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let from = timestamp(&body(new)?.from, "from")?;
    let request = ctx.request(pb::StartRebuildRequest { from: Some(from) }, &state.service_token)?;
    let started = state.metrics.clone().start_rebuild(request).await?.into_inner();
    Ok((StatusCode::ACCEPTED, Json(rebuild(&started))))
}

/// Where a rebuild stands.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/metrics/rebuilds/{rebuild_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("rebuild_id" = String, Path, description = "The rebuild")),
    responses((status = 200, description = "The rebuild", body = Rebuild)))]
async fn get_rebuild(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, rebuild_id)): Path<(String, String)>,
) -> Result<Json<Rebuild>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::GetRebuildRequest { rebuild_id }, &state.service_token)?;
    Ok(Json(rebuild(&state.metrics.clone().get_rebuild(request).await?.into_inner())))
}

#[cfg(test)]
mod tests {
    use inbox_errors::ErrorCode;

    use super::*;

    #[test]
    fn a_report_query_becomes_its_request_and_nonsense_is_refused() {
        let q = ReportQuery {
            from: "2031-03-01T00:00:00+01:00".into(),
            to: "2031-03-08T00:00:00Z".into(),
            bucket: Some("hour".into()),
            group_by: Some("agent".into()),
            group_ids: Some(" a, b ,".into()),
            totals_only: None,
        };
        let r = q.to_proto().unwrap();
        assert_eq!((r.bucket, r.group_by), (pb::Bucket::Hour as i32, pb::Grouping::Agent as i32));
        assert_eq!(r.group_ids, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(r.from.unwrap().seconds, 1_930_086_000);
        let bad = ReportQuery { bucket: Some("week".into()), ..q };
        assert_eq!(bad.to_proto().unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(grouping(Some("country")).unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(timestamp("yesterday", "from").unwrap_err().code, ErrorCode::InvalidArgument);
    }
}
