//! The calls of a conversation: `GET /v1/conversations/{id}/calls` (oldest first, with their
//! dispositions), `POST /v1/conversations/{id}/calls` (click-to-call) and
//! `PUT /v1/conversations/{id}/calls/{call_sid}/disposition`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::{CallDisposition, Channel};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::http_edge::WhenReady;
use inbox_service::{CallContext, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::names::disposition_from_name;
use super::present::call::{CallJson, call};
use super::present::{Items, items};
use super::request::{JsonBody, body};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(list_calls, start_call)).routes(routes!(set_disposition))
}

/// Refuses anyone but the tenant's people (the AI account does not call or dispose).
fn people_only(ctx: &CallContext, refusal: &str) -> Result<(), PublicError> {
    if matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin) {
        Ok(())
    } else {
        Err(PublicError::new(ErrorCode::PermissionDenied, refusal))
    }
}

/// The conversation's calls, oldest first, with their dispositions.
#[utoipa::path(get, path = "/v1/conversations/{id}/calls", tag = "calls",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The calls", body = Items<CallJson>)))]
async fn list_calls(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Items<CallJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListCallsRequest { conversation_id: id }, &state.service_token)?;
    let calls = state.conversations.clone().list_calls(request).await?.into_inner();
    Ok(Json(items(calls.calls.iter().map(call))))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCall {
    /// The agent's phone (E.164); default: the number's first agent number.
    #[serde(default)]
    agent_number: String,
}

/// Click-to-call: Twilio rings the agent's phone, then calls the customer from the
/// conversation's number; the call's items arrive like any call's.
#[utoipa::path(post, path = "/v1/conversations/{id}/calls", tag = "calls",
    params(("id" = String, Path, description = "A telephony conversation")),
    request_body = NewCall,
    responses((status = 201, description = "The call is placed", body = StartedCall)))]
async fn start_call(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewCall>,
) -> Result<(StatusCode, Json<StartedCall>), GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    people_only(&ctx, "only the tenant's people place calls")?;
    let new = body(new)?;
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation = state.conversations.clone().get_conversation(request).await?.into_inner();
    if conversation.channel != Channel::Telephony as i32 {
        return Err(PublicError::invalid_argument("only telephony conversations can be called back").into());
    }
    let request = ctx.request(
        ingest::StartCallRequest {
            channel_account_id: conversation.channel_account_id,
            customer_number: conversation.customer_address,
            agent_number: new.agent_number,
        },
        &state.service_token,
    )?;
    let started = state.channel_deliveries.clone().start_call(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(StartedCall { call_sid: started.call_sid, status: started.status })))
}

/// A click-to-call as Twilio took it.
#[derive(Debug, Serialize, ToSchema)]
struct StartedCall {
    call_sid: String,
    /// Twilio's status of the call.
    status: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDisposition {
    /// `answered`, `missed`, `voicemail`, `busy`, `failed`, or null to go back to the automatic one.
    disposition: Option<String>,
}

/// An agent's disposition, which wins over the automatic one (agents, supervisors, admins).
#[utoipa::path(put, path = "/v1/conversations/{id}/calls/{call_sid}/disposition", tag = "calls",
    params(("id" = String, Path, description = "The conversation"), ("call_sid" = String, Path, description = "The call")),
    request_body = NewDisposition,
    responses((status = 200, description = "The call", body = CallJson)))]
async fn set_disposition(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((id, call_sid)): Path<(String, String)>,
    new: JsonBody<NewDisposition>,
) -> Result<Json<CallJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    people_only(&ctx, "only the tenant's people work conversations")?;
    let new = body(new)?;
    let disposition = match new.disposition.as_deref() {
        None => CallDisposition::Unspecified,
        Some(name) => disposition_from_name(name).ok_or_else(|| {
            PublicError::invalid_argument("disposition must be answered, missed, voicemail, busy, failed or null")
        })?,
    };
    let request = ctx.request(
        pb::SetCallDispositionRequest { conversation_id: id, call_sid, disposition: disposition as i32 },
        &state.service_token,
    )?;
    let disposed = state.conversations.clone().set_call_disposition(request).await?.into_inner();
    Ok(Json(call(&disposed)))
}
