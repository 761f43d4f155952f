//! The providers' side of the demo's channels, served on one local port: the WhatsApp Graph
//! API (`POST /{version}/{phone_number_id}/messages`, number look-ups), Twilio's REST API
//! (number checks, click-to-call, recordings), and the demo shop page that embeds the web chat
//! widget. channel-ingest is pointed here (`INBOX__WHATSAPP__GRAPH_BASE_URL`,
//! `INBOX__TWILIO__API_BASE_URL`), so agents' replies reach the simulated customers, who read
//! them and answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use crate::edges::{Ingest, TwilioNumber, WhatsappNumber, twilio_signature};

/// What the live customers need from the provider side: the text of each message sent to a
/// WhatsApp number, routed to the customer task that owns it.
#[derive(Clone, Default)]
pub struct Inboxes {
    by_address: Arc<Mutex<HashMap<String, tokio::sync::mpsc::Sender<String>>>>,
}

impl Inboxes {
    pub fn open(&self, address: &str) -> tokio::sync::mpsc::Receiver<String> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        if let Ok(mut map) = self.by_address.lock() {
            map.insert(address.to_owned(), tx);
        }
        rx
    }

    pub fn close(&self, address: &str) {
        if let Ok(mut map) = self.by_address.lock() {
            map.remove(address);
        }
    }

    fn deliver(&self, address: &str, text: String) {
        let sender = self.by_address.lock().ok().and_then(|map| map.get(address).cloned());
        if let Some(sender) = sender {
            let _ = sender.try_send(text);
        }
    }
}

/// The channel accounts the provider side plays, known once the demo tenant is set up.
#[derive(Default)]
pub struct Accounts {
    pub whatsapp: Option<WhatsappNumber>,
    pub twilio: Option<TwilioNumber>,
    pub widget_key: Option<String>,
}

#[derive(Clone)]
pub struct Provider {
    pub inboxes: Inboxes,
    pub accounts: Arc<RwLock<Accounts>>,
    ingest: Ingest,
    /// Messages sent through the Graph API since start (for the log and tests).
    pub sent: Arc<std::sync::atomic::AtomicU64>,
}

impl Provider {
    pub fn new(ingest: Ingest) -> Provider {
        Provider { inboxes: Inboxes::default(), accounts: Arc::default(), ingest, sent: Arc::default() }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(shop_page))
            .route("/shop/{*page}", get(shop_page))
            .route("/{version}/{phone_number_id}/messages", post(graph_send))
            .route("/{version}/{object_id}", get(graph_object))
            .route("/{version}/{business_account}/phone_numbers", get(graph_business_numbers))
            .route("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json", get(twilio_numbers))
            .route("/2010-04-01/Accounts/{account}/Calls.json", post(twilio_create_call))
            .route("/2010-04-01/Accounts/{account}/Recordings/{recording}", get(twilio_recording))
            .with_state(self.clone())
    }
}

/// The demo shop: a page with the widget's script tag (the widget talks to channel-ingest).
async fn shop_page(State(provider): State<Provider>) -> Response {
    let key = provider.accounts.read().ok().and_then(|a| a.widget_key.clone());
    let Some(key) = key else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the demo is being set up: reload in a moment").into_response();
    };
    let links: String =
        crate::script::SHOP_PAGES.iter().map(|(path, title)| format!("<a href=\"/shop{path}\">{title}</a> ")).collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Demo shop</title></head>\
         <body style=\"font-family:sans-serif;max-width:40rem;margin:3rem auto\"><h1>Demo shop</h1>\
         <p>{links}</p><p>The chat bubble is bottom right: what you write appears in the inbox.</p>\
         <script src=\"{}/webchat/widget.js\" data-widget-key=\"{key}\" async></script></body></html>",
        provider.ingest.base
    ))
    .into_response()
}

/// Graph API send: answers like Meta (`messages[0].id`), then reports the message sent,
/// delivered and read through status webhooks, and hands its text to the customer.
async fn graph_send(
    State(provider): State<Provider>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    };
    let Some(to) = message["to"].as_str().map(str::to_owned) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter: to");
    };
    let text = match message["type"].as_str() {
        Some("text") => message["text"]["body"].as_str().unwrap_or_default().to_owned(),
        Some("interactive") => message["interactive"]["body"]["text"].as_str().unwrap_or_default().to_owned(),
        Some("template") => format!("[template {}]", message["template"]["name"].as_str().unwrap_or_default()),
        Some(other) => format!("[{other}]"),
        None => String::new(),
    };
    let wamid = format!("wamid.demo.{}", uuid::Uuid::new_v4().simple());
    provider.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    provider.inboxes.deliver(&to, text);
    let number = provider.accounts.read().ok().and_then(|a| a.whatsapp.clone());
    if let Some(number) = number.filter(|n| n.phone_number_id == phone_number_id) {
        let ingest = provider.ingest.clone();
        let (wamid, to) = (wamid.clone(), to.clone());
        tokio::spawn(async move {
            for (status, after_ms) in [("sent", 400), ("delivered", 800), ("read", 2500)] {
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                if let Err(e) = ingest.whatsapp_status(&number, &wamid, &to, status, Utc::now()).await {
                    tracing::warn!(error = %format!("{e:#}"), "status webhook failed");
                    return;
                }
            }
        });
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": wamid}]
    }))
    .into_response()
}

struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0.to_string()).into_response()
    }
}

fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message, "type": "OAuthException", "code": code}}))).into_response()
}

/// `GET /{version}/{id}`: a phone number as Meta describes it. The simulator plays the demo's
/// WhatsApp Business Account, which owns whatever number it is asked about.
async fn graph_object(Path((_version, object_id)): Path<(String, String)>) -> Response {
    Json(json!({
        "id": object_id, "display_phone_number": "+1 555-000-0001", "verified_name": "Demo Company",
        "quality_rating": "GREEN", "code_verification_status": "VERIFIED"
    }))
    .into_response()
}

/// `GET /{version}/{waba-id}/phone_numbers`: the demo's business account owns the demo's number.
async fn graph_business_numbers(Path((_version, _business)): Path<(String, String)>) -> Response {
    Json(json!({
        "data": [{
            "id": crate::setup::DEMO_PHONE_NUMBER_ID, "display_phone_number": "+1 555-000-0001",
            "verified_name": "Demo Company"
        }]
    }))
    .into_response()
}

/// Twilio: the numbers an account owns. The simulator plays the demo's Twilio account, which
/// owns whatever number it is asked about.
async fn twilio_numbers(Path(account): Path<String>, Query(query): Query<HashMap<String, String>>) -> Response {
    let number = query.get("PhoneNumber").cloned().unwrap_or_default();
    Json(json!({
        "incoming_phone_numbers": [{"sid": format!("PN{}", &account.get(2..).unwrap_or_default()), "phone_number": number}],
        "page": 0, "page_size": 50
    }))
    .into_response()
}

/// Twilio click-to-call: accepted, then the call is reported answered and completed to the
/// status callback channel-ingest gave, signed like Twilio signs it.
async fn twilio_create_call(State(provider): State<Provider>, Path(account): Path<String>, body: Bytes) -> Response {
    let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let call_sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    let twilio = provider.accounts.read().ok().and_then(|a| a.twilio.clone());
    if let (Some(twilio), Some(callback)) = (twilio, params.get("StatusCallback").cloned()) {
        let (from, to, sid) = (
            params.get("From").cloned().unwrap_or_default(),
            params.get("To").cloned().unwrap_or_default(),
            call_sid.clone(),
        );
        let ingest_base = provider.ingest.base.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for (status, after, duration) in [("in-progress", 4, None), ("completed", 20, Some("95"))] {
                tokio::time::sleep(Duration::from_secs(after)).await;
                let mut pairs = vec![
                    ("AccountSid", twilio.account_sid.as_str()),
                    ("CallSid", sid.as_str()),
                    ("CallStatus", status),
                    ("Direction", "outbound-api"),
                    ("From", from.as_str()),
                    ("To", to.as_str()),
                ];
                if let Some(duration) = duration {
                    pairs.push(("CallDuration", duration));
                }
                let signature = twilio_signature(&twilio.auth_token, &callback, &pairs);
                // The callback names the public URL; the request goes to channel-ingest itself.
                let path = callback.strip_prefix(&twilio.public_base_url).unwrap_or(&callback).to_owned();
                let url = if path.starts_with('/') { format!("{ingest_base}{path}") } else { path };
                let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter()).finish();
                let sent = client
                    .post(url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("X-Twilio-Signature", signature)
                    .body(body)
                    .send()
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "click-to-call status callback failed");
                }
            }
        });
    }
    (
        StatusCode::CREATED,
        Json(json!({"sid": call_sid, "status": "queued", "account_sid": account, "direction": "outbound-api"})),
    )
        .into_response()
}

/// A recording: a short spoken-tone WAV (the simulator has no voice).
async fn twilio_recording(Path((_account, _recording)): Path<(String, String)>, _headers: HeaderMap) -> Response {
    ([(header::CONTENT_TYPE, "audio/wav")], tone_wav()).into_response()
}

/// One and a half seconds of a soft two-tone chime, 8 kHz mono 16-bit PCM.
fn tone_wav() -> Vec<u8> {
    const RATE: u32 = 8000;
    let samples: Vec<i16> = (0..RATE * 3 / 2)
        .map(|i| {
            let t = f64::from(i) / f64::from(RATE);
            let freq = if t < 0.75 { 660.0 } else { 880.0 };
            let envelope = (1.0 - (t % 0.75) / 0.75).max(0.0);
            ((t * freq * std::f64::consts::TAU).sin() * envelope * 8000.0) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_is_a_well_formed_wav() {
        let wav = tone_wav();
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..12], b"WAVE");
        let riff_len = u32::from_le_bytes([wav[4], wav[5], wav[6], wav[7]]) as usize;
        assert_eq!(riff_len + 8, wav.len());
        assert_eq!(wav.len(), 44 + 8000 * 3 / 2 * 2);
    }

    #[tokio::test]
    async fn a_sent_message_reaches_the_customer_who_owns_the_number() {
        let inboxes = Inboxes::default();
        let mut rx = inboxes.open("15550100001");
        inboxes.deliver("15550100001", "hello".into());
        inboxes.deliver("15550100002", "not yours".into());
        assert_eq!(rx.recv().await.as_deref(), Some("hello"));
        inboxes.close("15550100001");
        inboxes.deliver("15550100001", "after".into());
        assert!(rx.recv().await.is_none());
    }
}
