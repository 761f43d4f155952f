//! The Twilio edge: Programmable Voice callbacks, `POST /webhooks/twilio/voice` (an incoming call),
//! `/voice/dial` (ringing ended), `/voice/connect` (click-to-call: the agent answered), `/voice/status`, `/voice/recording`, `/voice/transcription`.
//!
//! Each is parsed (400 if malformed, 413 if too large), its account found by our number and
//! Twilio's `AccountSid` (404), its `X-Twilio-Signature` checked with the account's auth token
//! over our public URL (401); none of these store anything. A valid callback is archived raw,
//! its call item published and acked, and only then answered (TwiML), so Twilio retries
//! anything we could not take.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::{ApiError, WhenReady};

use super::request::{WebhookContext, body_of};
use crate::ingest::{publish_twilio_callback, twilio_archive_body};
use crate::metrics::WEBHOOKS;
use crate::twilio::callback::{Callback, CallbackKind};
use crate::twilio::signature::{self, SIGNATURE_HEADER};
use crate::twilio::twiml::{self, CallbackUrls};
use crate::twilio::voice_config::TwilioConfig;

pub fn routes() -> Router<WhenReady<WebhookContext>> {
    Router::new()
        .route(twiml::VOICE_PATH, post(receive_twilio))
        .route(twiml::DIAL_PATH, post(receive_twilio))
        .route(twiml::CONNECT_PATH, post(receive_twilio))
        .route(twiml::STATUS_PATH, post(receive_twilio))
        .route(twiml::RECORDING_PATH, post(receive_twilio))
        .route(twiml::TRANSCRIPTION_PATH, post(receive_twilio))
}

const CHANNEL: &str = "telephony";

fn rejected(outcome: &'static str, error: PublicError) -> ApiError {
    super::request::rejected(CHANNEL, outcome, error)
}

fn not_taken(error: impl Into<PublicError>) -> ApiError {
    super::request::not_taken(CHANNEL, error)
}

fn twiml_response(xml: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

#[tracing::instrument(skip_all, fields(path = uri.path(), tenant_id, call_sid))]
async fn receive_twilio(
    State(ctx): State<WhenReady<WebhookContext>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctx = ctx.get()?;
    let received_at = ctx.store.clock().now();
    let body = body_of(CHANNEL, body)?;
    let kind = CallbackKind::of_path(uri.path())
        .ok_or_else(|| rejected("malformed", PublicError::not_found("no such twilio callback")))?;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(rejected(
            "malformed",
            PublicError::invalid_argument("twilio callbacks are application/x-www-form-urlencoded"),
        ));
    }
    let callback = Callback::parse(kind, uri.query(), &body)
        .map_err(|e| rejected("malformed", PublicError::invalid_argument(e)))?;
    tracing::Span::current().record("call_sid", callback.call_sid());

    let account = ctx.store.twilio_account_cached(callback.our_number()).await.map_err(not_taken)?;
    let config = account.as_ref().map(|a| TwilioConfig::of(&a.config));
    let (Some(account), Some(config)) = (account, config) else {
        return Err(rejected("unknown_account", PublicError::not_found("no twilio account for this number")));
    };
    if config.account_sid != callback.account_sid() {
        return Err(rejected(
            "unknown_account",
            PublicError::not_found("no twilio account for this number and AccountSid"),
        ));
    }
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
    let url = format!("{}{path_and_query}", ctx.twilio_public_base_url);
    let signature_header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    signature::verify(&account.app_secret, &url, &callback.params, signature_header)
        .map_err(|e| rejected("bad_signature", PublicError::new(ErrorCode::InvalidSignature, e.to_string())))?;
    tracing::Span::current().record("tenant_id", tracing::field::display(account.tenant_id));

    let raw_id = ctx
        .archive
        .archive(&account, Bytes::from(twilio_archive_body(path_and_query, &body)), received_at)
        .await
        .map_err(not_taken)?;
    match publish_twilio_callback(&ctx.bus, &account, raw_id, &callback, received_at).await {
        Ok(_) => {
            ctx.archive.mark_published(raw_id).await;
            WEBHOOKS.with_label_values(&[CHANNEL, "accepted"]).inc();
            tracing::debug!(call_sid = callback.call_sid(), "twilio callback accepted");
        }
        // A caller on the line: Twilio does not retry an answer it could not use, it plays its
        // error message and the call is lost. The callback is archived, so the call goes on and
        // its item is published by a replay (`--only-unpublished`) once the bus is back.
        Err(e) if matches!(kind, CallbackKind::Voice | CallbackKind::Dial | CallbackKind::Connect) => {
            let _ = ctx.store.mark_failed(raw_id, &e.to_string()).await;
            WEBHOOKS.with_label_values(&[CHANNEL, "answered_unpublished"]).inc();
            tracing::error!(error = %e, raw_payload_id = %raw_id, "call answered, its item not published: replay it");
        }
        Err(e) => {
            let _ = ctx.store.mark_failed(raw_id, &e.to_string()).await;
            return Err(not_taken(crate::error::unavailable("bus", &e)));
        }
    }

    let urls = CallbackUrls::new(&ctx.twilio_public_base_url, callback.our_number(), callback.caller());
    let xml = match kind {
        CallbackKind::Voice => twiml::answer_call(&config.voice, &urls),
        CallbackKind::Connect => {
            twiml::connect_customer(&config.voice, callback.our_number(), callback.caller(), &urls)
        }
        // Voicemail is for customers who called us, not for customers we called.
        CallbackKind::Dial if callback.dial_unanswered() && !callback.outbound() => {
            twiml::voicemail(&config.voice, &urls)
        }
        CallbackKind::Dial => twiml::hangup(),
        CallbackKind::Status | CallbackKind::Recording | CallbackKind::Transcription => twiml::empty(),
    };
    Ok(twiml_response(xml))
}
