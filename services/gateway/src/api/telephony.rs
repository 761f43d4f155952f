//! Telephony edges of the REST API: the calls of a conversation with their dispositions, an
//! agent setting a call's disposition, and Twilio numbers (admins).

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::{CallContent, CallDisposition, CallEvent, CallRecording, CallTranscript};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::Role;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::time;
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(body: JsonBody<T>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| ApiError(PublicError::invalid_argument(e.body_text())))
}

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/conversations/{id}/calls", get(list_calls).post(start_call))
        .route("/v1/conversations/{id}/calls/{call_sid}/disposition", put(set_disposition))
        .route("/v1/admin/tenants/{tenant_id}/channels/twilio", post(connect_twilio).get(list_twilio))
        .route("/v1/admin/tenants/{tenant_id}/channels/twilio/replay", post(super::whatsapp::replay))
}

/// `answered`, `missed`, `voicemail`, `busy`, `failed`; null when not known.
fn disposition(value: i32) -> Value {
    match CallDisposition::try_from(value).unwrap_or(CallDisposition::Unspecified) {
        CallDisposition::Answered => json!("answered"),
        CallDisposition::Missed => json!("missed"),
        CallDisposition::Voicemail => json!("voicemail"),
        CallDisposition::Busy => json!("busy"),
        CallDisposition::Failed => json!("failed"),
        CallDisposition::Unspecified => Value::Null,
    }
}

fn disposition_from_name(name: &str) -> Option<CallDisposition> {
    Some(match name {
        "answered" => CallDisposition::Answered,
        "missed" => CallDisposition::Missed,
        "voicemail" => CallDisposition::Voicemail,
        "busy" => CallDisposition::Busy,
        "failed" => CallDisposition::Failed,
        _ => return None,
    })
}

fn event_name(value: i32) -> &'static str {
    match CallEvent::try_from(value).unwrap_or(CallEvent::Unspecified) {
        CallEvent::Started => "started",
        CallEvent::Ringing => "ringing",
        CallEvent::Answered => "answered",
        CallEvent::Ended => "ended",
        CallEvent::DialResult => "dial_result",
        CallEvent::Recording => "recording",
        CallEvent::Transcript => "transcript",
        CallEvent::Unspecified => "unknown",
    }
}

fn recording_json(r: &CallRecording) -> Value {
    json!({
        "recording_sid": r.recording_sid,
        "url": r.url,
        "duration_seconds": r.duration_seconds,
        "status": r.status,
        "voicemail": r.voicemail,
    })
}

fn transcript_json(t: &CallTranscript) -> Value {
    json!({
        "transcription_sid": t.transcription_sid,
        "recording_sid": t.recording_sid,
        "text": t.text,
        "status": t.status,
    })
}

/// The JSON of a call item (`content.type = "call"`).
pub(crate) fn call_item_json(c: &CallContent) -> Value {
    json!({
        "type": "call",
        "call_sid": c.call_sid,
        "event": event_name(c.event),
        "direction": c.direction,
        "from": c.from,
        "to": c.to,
        "caller_name": c.caller_name,
        "provider_status": c.provider_status,
        "duration_seconds": c.duration_seconds,
        "disposition": disposition(c.disposition),
        "recording": c.recording.as_ref().map(recording_json),
        "transcript": c.transcript.as_ref().map(transcript_json),
    })
}

pub(crate) fn call_json(c: &pb::Call) -> Value {
    json!({
        "call_sid": c.call_sid,
        "conversation_id": c.conversation_id,
        "from": c.from,
        "to": c.to,
        "started_at": time(c.started_at.as_ref()),
        "duration_seconds": c.duration_seconds,
        "disposition": disposition(c.disposition),
        "auto_disposition": disposition(c.auto_disposition),
        "agent_disposition": disposition(c.agent_disposition),
        "disposition_set_by": if c.disposition_set_by.is_empty() { Value::Null } else { json!(c.disposition_set_by) },
        "disposition_set_at": time(c.disposition_set_at.as_ref()),
        "recordings": c.recordings.iter().map(recording_json).collect::<Vec<_>>(),
        "transcripts": c.transcripts.iter().map(transcript_json).collect::<Vec<_>>(),
        "message_ids": c.message_ids,
    })
}

/// `GET /v1/conversations/{id}/calls`: the conversation's calls, oldest first.
async fn list_calls(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListCallsRequest { conversation_id: id }, &state.service_token)?;
    let calls = state.conversations.clone().list_calls(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"items": calls.calls.iter().map(call_json).collect::<Vec<_>>()})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCall {
    /// The agent's phone (E.164); default: the number's first agent number.
    #[serde(default)]
    agent_number: String,
}

/// `POST /v1/conversations/{id}/calls`: click-to-call. Twilio rings the agent's phone, then
/// calls the customer from the conversation's number; the call's items arrive like any call's.
async fn start_call(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewCall>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    if !matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin) {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "only the tenant's people place calls").into());
    }
    let new = body(new)?;
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation =
        state.conversations.clone().get_conversation(request).await.map_err(upstream_failure)?.into_inner();
    if conversation.channel != inbox_proto::common::v1::Channel::Telephony as i32 {
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
    let call = state.channel_deliveries.clone().start_call(request).await.map_err(upstream_failure)?.into_inner();
    Ok((axum::http::StatusCode::CREATED, Json(json!({"call_sid": call.call_sid, "status": call.status}))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDisposition {
    /// `answered`, `missed`, `voicemail`, `busy`, `failed`, or null to go back to the automatic one.
    disposition: Option<String>,
}

/// `PUT /v1/conversations/{id}/calls/{call_sid}/disposition`: an agent's disposition, which
/// wins over the automatic one (agents, supervisors, admins).
async fn set_disposition(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((id, call_sid)): Path<(String, String)>,
    new: JsonBody<NewDisposition>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    if !matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin) {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "only the tenant's people work conversations").into());
    }
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
    let call = state.conversations.clone().set_call_disposition(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(call_json(&call)))
}

/// No `Debug`: it carries the auth token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTwilio {
    account_sid: String,
    auth_token: String,
    phone_number: String,
    #[serde(default)]
    agent_numbers: Vec<String>,
    #[serde(default)]
    queue_name: String,
    #[serde(default)]
    ring_timeout_seconds: u32,
    #[serde(default = "yes")]
    voicemail: bool,
    #[serde(default)]
    voicemail_greeting: String,
    #[serde(default)]
    voicemail_max_seconds: u32,
    #[serde(default)]
    record_calls: bool,
    #[serde(default)]
    transcribe: bool,
}

fn yes() -> bool {
    true
}

fn twilio_json(a: &ingest::TwilioAccount) -> Value {
    let c = a.config.clone().unwrap_or_default();
    json!({
        "id": a.id,
        "tenant_id": a.tenant_id,
        "account_sid": a.account_sid,
        "phone_number": a.phone_number,
        "has_auth_token": a.has_auth_token,
        "agent_numbers": c.agent_numbers,
        "queue_name": c.queue_name,
        "ring_timeout_seconds": c.ring_timeout_seconds,
        "voicemail": c.voicemail,
        "voicemail_greeting": c.voicemail_greeting,
        "voicemail_max_seconds": c.voicemail_max_seconds,
        "record_calls": c.record_calls,
        "transcribe": c.transcribe,
    })
}

/// `POST /v1/admin/tenants/{tenant_id}/channels/twilio`: connect or reconfigure a number.
async fn connect_twilio(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewTwilio>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = super::admin::admin_of_existing_tenant(state, &principal, &tenant_id).await?;
    let new = body(new)?;
    let request = ctx.request(
        ingest::CreateTwilioAccountRequest {
            account_sid: new.account_sid,
            auth_token: new.auth_token,
            phone_number: new.phone_number,
            config: Some(ingest::TwilioVoiceConfig {
                agent_numbers: new.agent_numbers,
                queue_name: new.queue_name,
                ring_timeout_seconds: new.ring_timeout_seconds,
                voicemail_greeting: new.voicemail_greeting,
                voicemail: new.voicemail,
                record_calls: new.record_calls,
                transcribe: new.transcribe,
                voicemail_max_seconds: new.voicemail_max_seconds,
            }),
        },
        &state.service_token,
    )?;
    let account =
        state.channel_accounts.clone().create_twilio_account(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(twilio_json(&account)))
}

/// `GET /v1/admin/tenants/{tenant_id}/channels/twilio`: the tenant's numbers (no secrets).
async fn list_twilio(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(super::admin::tenant_path(&tenant_id)?)?;
    let request = ctx.request(ingest::ListTwilioAccountsRequest {}, &state.service_token)?;
    let accounts =
        state.channel_accounts.clone().list_twilio_accounts(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"items": accounts.accounts.iter().map(twilio_json).collect::<Vec<_>>()})))
}
