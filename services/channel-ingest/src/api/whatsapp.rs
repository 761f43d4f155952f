//! The WhatsApp edge: `GET /webhooks/whatsapp` (Meta's verification handshake) and
//! `POST /webhooks/whatsapp`.
//!
//! A POST is parsed (400 if malformed or larger than any webhook Meta sends), its accounts
//! looked up by `metadata.phone_number_id` (or, for other fields, the business account id) in
//! one query or none (404 if unknown), its `X-Hub-Signature-256` checked once with the app
//! secret (401), archived raw, then published; 200 only after JetStream acked every message, so
//! Meta retries anything we could not take. What a forged or unknown request costs is bounded:
//! see `receive_whatsapp`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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
use subtle::ConstantTimeEq;

use super::request::{WebhookContext, body_of};
use crate::ingest::{Processed, process_whatsapp_payload};
use crate::metrics::WEBHOOKS;
use crate::store::{ChannelAccount, WebhookAccounts};
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

/// Distinct app secrets a webhook of other fields is tried against at most: every number of
/// one business account belongs to one Meta app, so Meta signs with one secret; more than this
/// many candidates is not a webhook of Meta's.
const MAX_SECRETS_TRIED: usize = 4;

fn unknown_account(what: &str) -> ApiError {
    rejected("unknown_account", PublicError::not_found(format!("no channel account for {what}")))
}

fn bad_signature(e: signature::SignatureError) -> ApiError {
    rejected("bad_signature", PublicError::new(ErrorCode::InvalidSignature, e.to_string()))
}

/// The accounts of a payload's numbers, whose app secret signed it: 404 when one of them is
/// not connected, 401 unless the signature matches. One HMAC of the body whatever the number
/// of accounts: Meta signs a webhook with its one app's secret, so every account named must
/// hold that secret (compared in constant time).
fn accounts_of_numbers(
    known: &WebhookAccounts,
    numbers: &[&str],
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<Vec<Arc<ChannelAccount>>, ApiError> {
    let accounts = numbers
        .iter()
        .map(|number| known.by_number.get(*number).cloned().flatten())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| unknown_account("this phone_number_id"))?;
    let Some(first) = accounts.first() else { return Err(unknown_account("this phone_number_id")) };
    signature::verify(first.app_secret.as_bytes(), body, signature_header).map_err(bad_signature)?;
    let same_secret = |a: &Arc<ChannelAccount>| bool::from(a.app_secret.as_bytes().ct_eq(first.app_secret.as_bytes()));
    if !accounts.iter().all(same_secret) {
        return Err(bad_signature(signature::SignatureError::Mismatch));
    }
    Ok(accounts)
}

/// The account whose app secret signed a payload that names only WhatsApp Business Accounts:
/// 404 when none of their numbers is connected, 401 when no connected number's secret matches
/// (at most [`MAX_SECRETS_TRIED`] distinct secrets are tried).
fn business_account(
    known: &WebhookAccounts,
    businesses: &[&str],
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<Arc<ChannelAccount>, ApiError> {
    let candidates: Vec<&Arc<ChannelAccount>> =
        businesses.iter().filter_map(|id| known.by_business.get(*id)).flat_map(|accounts| accounts.iter()).collect();
    if candidates.is_empty() {
        return Err(unknown_account("this business account"));
    }
    let mut tried = HashSet::new();
    for account in candidates {
        if !tried.insert(account.app_secret.as_str()) {
            continue;
        }
        if tried.len() > MAX_SECRETS_TRIED {
            break;
        }
        if signature::verify(account.app_secret.as_bytes(), body, signature_header).is_ok() {
            return Ok(Arc::clone(account));
        }
    }
    Err(bad_signature(signature::SignatureError::Mismatch))
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
    // Bounded before the signature is known: the body's size, Meta's caps on what one webhook
    // holds (`payload::MAX_UPDATES`), one account query (none when cached), one HMAC.
    let payload = WebhookPayload::parse(&body)
        .map_err(|e| rejected("malformed", PublicError::invalid_argument(e.to_string())))?;
    let signature_header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let numbers = payload.phone_number_ids();
    let businesses = if numbers.is_empty() { payload.business_account_ids() } else { Vec::new() };
    let known = ctx.store.whatsapp_accounts_for_webhook(&numbers, &businesses).await.map_err(not_taken)?;

    if numbers.is_empty() {
        // Only other fields than `messages`: verified with the app secret of the business
        // account's numbers, archived, acknowledged (Meta would retry a refusal for days), and
        // otherwise not processed.
        let account = business_account(&known, &businesses, &body, signature_header)?;
        tracing::Span::current().record("tenant_id", tracing::field::display(account.tenant_id));
        let raw_id = ctx.archive.archive(&account, body.clone(), received_at).await.map_err(not_taken)?;
        ctx.archive.mark_published(raw_id).await;
        let fields = payload.other_fields();
        WEBHOOKS.with_label_values(&[CHANNEL, "acknowledged"]).inc();
        tracing::info!(fields = ?fields, raw_payload_id = %raw_id, "whatsapp webhook of other fields acknowledged");
        return Ok((StatusCode::OK, Json(json!({"status": "acknowledged", "fields": fields}))).into_response());
    }

    // Every account is found and verified before anything is archived: a bad signature changes
    // nothing.
    let accounts = accounts_of_numbers(&known, &numbers, &body, signature_header)?;
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
    tracing::debug!(messages = total.messages, statuses = total.statuses, "whatsapp webhook accepted");
    Ok((StatusCode::OK, Json(json!({"status": "accepted", "messages": total.messages, "statuses": total.statuses})))
        .into_response())
}
