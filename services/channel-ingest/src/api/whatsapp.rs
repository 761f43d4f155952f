//! The WhatsApp edge: `GET /webhooks/whatsapp` (Meta's verification handshake) and
//! `POST /webhooks/whatsapp`.
//!
//! A POST is parsed (400 if malformed), its accounts looked up by `metadata.phone_number_id`
//! (404 if unknown), its `X-Hub-Signature-256` checked with each account's app secret (401),
//! archived raw, then published; 200 only after JetStream acked every message, so Meta retries
//! anything we could not take.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::{ApiError, WhenReady};
use serde_json::json;

use super::request::{WebhookContext, body_of};
use crate::ingest::{Processed, process_whatsapp_payload};
use crate::metrics::WEBHOOKS;
use crate::store::ChannelAccount;
use crate::whatsapp::payload::WebhookPayload;
use crate::whatsapp::signature::{self, SIGNATURE_HEADER};

const CHANNEL: &str = "whatsapp";

pub fn routes() -> Router<WhenReady<WebhookContext>> {
    Router::new().route("/webhooks/whatsapp", get(verify_subscription).post(receive_whatsapp))
}

fn rejected(outcome: &'static str, error: PublicError) -> ApiError {
    super::request::rejected(CHANNEL, outcome, error)
}

fn not_taken(error: impl Into<PublicError>) -> ApiError {
    super::request::not_taken(CHANNEL, error)
}

/// Meta's handshake: `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`; answer the
/// challenge when the token is one of ours.
async fn verify_subscription(
    State(ctx): State<WhenReady<WebhookContext>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    if param("hub.mode") != "subscribe" || param("hub.challenge").is_empty() {
        return Err(PublicError::invalid_argument("expected hub.mode=subscribe with hub.challenge").into());
    }
    if !ctx.store.whatsapp_verify_token_exists(param("hub.verify_token")).await.map_err(not_taken)? {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "unknown verify token").into());
    }
    Ok((StatusCode::OK, param("hub.challenge").to_owned()).into_response())
}

/// The account whose app secret signed a payload that names only WhatsApp Business Accounts:
/// 404 when none of their numbers is connected, 401 when no connected number's secret matches.
async fn business_account(
    ctx: &WebhookContext,
    payload: &WebhookPayload,
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<ChannelAccount, ApiError> {
    let mut known = false;
    for business_account_id in payload.business_account_ids() {
        let accounts = ctx.store.whatsapp_accounts_of_business(business_account_id).await.map_err(not_taken)?;
        known |= !accounts.is_empty();
        if let Some(account) =
            accounts.into_iter().find(|a| signature::verify(a.app_secret.as_bytes(), body, signature_header).is_ok())
        {
            return Ok(account);
        }
    }
    if known {
        Err(rejected(
            "bad_signature",
            PublicError::new(ErrorCode::InvalidSignature, "X-Hub-Signature-256 does not match"),
        ))
    } else {
        let ids = payload.business_account_ids().join(", ");
        Err(rejected(
            "unknown_account",
            PublicError::not_found(format!("no channel account for business account {ids}")),
        ))
    }
}

#[tracing::instrument(skip_all, fields(tenant_id, messages, statuses))]
async fn receive_whatsapp(
    State(ctx): State<WhenReady<WebhookContext>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let received_at = ctx.store.clock().now();
    let body = body_of(CHANNEL, body)?;
    let payload = WebhookPayload::parse(&body)
        .map_err(|e| rejected("malformed", PublicError::invalid_argument(e.to_string())))?;
    let signature_header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());

    // Look up and verify every account before archiving anything: a bad signature changes nothing.
    let mut accounts = Vec::new();
    for phone_number_id in payload.phone_number_ids() {
        let account =
            ctx.store.whatsapp_account_cached(phone_number_id).await.map_err(not_taken)?.ok_or_else(|| {
                rejected(
                    "unknown_account",
                    PublicError::not_found(format!("no channel account for phone_number_id {phone_number_id}")),
                )
            })?;
        signature::verify(account.app_secret.as_bytes(), &body, signature_header)
            .map_err(|e| rejected("bad_signature", PublicError::new(ErrorCode::InvalidSignature, e.to_string())))?;
        accounts.push(account);
    }

    if accounts.is_empty() {
        // Only other fields than `messages`: verified with the app secret of the business
        // account's numbers, archived, acknowledged (Meta would retry a refusal for days), and
        // otherwise not processed.
        let account = business_account(ctx, &payload, &body, signature_header).await?;
        tracing::Span::current().record("tenant_id", tracing::field::display(account.tenant_id));
        let raw_id = ctx.archive.archive(&account, body.clone(), received_at).await.map_err(not_taken)?;
        ctx.archive.mark_published(raw_id).await;
        let fields = payload.other_fields();
        WEBHOOKS.with_label_values(&[CHANNEL, "acknowledged"]).inc();
        tracing::info!(fields = ?fields, raw_payload_id = %raw_id, "whatsapp webhook of other fields acknowledged");
        return Ok((StatusCode::OK, Json(json!({"status": "acknowledged", "fields": fields}))).into_response());
    }

    let mut total = Processed::default();
    for account in &accounts {
        tracing::Span::current().record("tenant_id", tracing::field::display(account.tenant_id));
        let raw_id = ctx.archive.archive(account, body.clone(), received_at).await.map_err(not_taken)?;
        match process_whatsapp_payload(&ctx.store, &ctx.bus, account, raw_id, &payload, received_at).await {
            Ok(processed) => {
                total.messages += processed.messages;
                total.statuses += processed.statuses;
                ctx.archive.mark_published(raw_id).await;
            }
            Err(e) => {
                let _ = ctx.store.mark_failed(raw_id, &e.to_string()).await;
                return Err(not_taken(e));
            }
        }
    }
    WEBHOOKS.with_label_values(&[CHANNEL, "accepted"]).inc();
    let span = tracing::Span::current();
    span.record("messages", total.messages);
    span.record("statuses", total.statuses);
    tracing::info!(messages = total.messages, statuses = total.statuses, "whatsapp webhook accepted");
    Ok((StatusCode::OK, Json(json!({"status": "accepted", "messages": total.messages, "statuses": total.statuses})))
        .into_response())
}
