//! A local Graph API that speaks the documented WhatsApp Cloud API protocol and records what
//! it receives: `POST /{version}/{phone_number_id}/messages`, `GET /{version}/{media_id}` and
//! the media download. Answers can be planned (429, 5xx, Meta's 400 error JSON) before a send.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub const GRAPH_VERSION: &str = "v23.0";

/// One send request as the provider received it.
#[derive(Debug, Clone)]
pub struct ReceivedSend {
    pub phone_number_id: String,
    pub authorization: String,
    pub body: Value,
    /// The status we answered with.
    pub answered: u16,
}

#[derive(Default)]
struct Recorded {
    sends: Vec<ReceivedSend>,
    media_requests: Vec<(String, String)>,
    planned: VecDeque<(u16, Value)>,
    next_id: u64,
}

/// The running fake; cheap to clone.
#[derive(Clone)]
pub struct FakeGraph {
    pub base_url: String,
    state: Arc<Mutex<Recorded>>,
}

/// Bytes of the media file every media id downloads as.
pub const MEDIA_BYTES: &[u8] = b"\xFF\xD8\xFF\xE0 a small jpeg, as far as this test is concerned";

impl FakeGraph {
    pub async fn start() -> anyhow::Result<FakeGraph> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let fake = FakeGraph { base_url, state: Arc::default() };
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(send))
            .route("/{version}/{media_id}", get(media_info))
            .route("/download/{media_id}", get(download))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(fake)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next sends get these answers, in order, before the usual success. Status 0 means:
    /// take the message (it counts as received) but answer only after 5 s, past the client's
    /// timeout.
    pub fn plan(&self, answers: Vec<(u16, Value)>) {
        self.lock().planned.extend(answers);
    }

    pub fn sends(&self) -> Vec<ReceivedSend> {
        self.lock().sends.clone()
    }

    /// `(media_id, authorization)` of every media lookup and download.
    pub fn media_requests(&self) -> Vec<(String, String)> {
        self.lock().media_requests.clone()
    }
}

/// A fleet whose channel-ingest talks to a fresh fake Graph API (retries 20 ms apart).
pub async fn fleet_with_graph() -> anyhow::Result<(crate::Fleet, FakeGraph)> {
    let graph = FakeGraph::start().await?;
    let fleet = crate::Fleet::start_with(&[
        ("channel-ingest", "INBOX__WHATSAPP__GRAPH_BASE_URL", graph.base_url.clone()),
        ("channel-ingest", "INBOX__WHATSAPP__GRAPH_API_VERSION", GRAPH_VERSION.to_owned()),
        ("channel-ingest", "INBOX__WHATSAPP__RETRY_BASE_MS", "20".to_owned()),
        ("channel-ingest", "INBOX__WHATSAPP__REQUEST_TIMEOUT_MS", "2000".to_owned()),
    ])
    .await?;
    Ok((fleet, graph))
}

/// Meta's error JSON.
pub fn meta_error(code: i64, message: &str, details: &str) -> Value {
    json!({"error": {"message": message, "type": "OAuthException", "code": code,
                     "error_data": {"messaging_product": "whatsapp", "details": details},
                     "error_subcode": 2494010, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})
}

fn bearer(headers: &HeaderMap) -> String {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn send(
    State(fake): State<FakeGraph>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer) = answer_send(&fake, phone_number_id, &version, &headers, body);
    if status == 0 {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        return (StatusCode::OK, Json(json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.LATE"}]})))
            .into_response();
    }
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(answer)).into_response();
    if status == 429 {
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("0"));
    }
    response
}

/// Records a send and decides its answer.
fn answer_send(
    fake: &FakeGraph,
    phone_number_id: String,
    version: &str,
    headers: &HeaderMap,
    body: Value,
) -> (u16, Value) {
    let mut state = fake.lock();
    let (status, answer) = if version != GRAPH_VERSION || !bearer(headers).starts_with("Bearer ") {
        (401, meta_error(190, "Invalid OAuth access token.", "missing or wrong token"))
    } else if body["messaging_product"] != "whatsapp" || body["to"].as_str().is_none_or(str::is_empty) {
        (400, meta_error(100, "(#100) Invalid parameter", "messaging_product and to are required"))
    } else if let Some(planned) = state.planned.pop_front() {
        planned
    } else {
        state.next_id += 1;
        let to = body["to"].clone();
        (
            200,
            json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                     "messages": [{"id": format!("wamid.OUT.{}", state.next_id), "message_status": "accepted"}]}),
        )
    };
    state.sends.push(ReceivedSend { phone_number_id, authorization: bearer(headers), body, answered: status });
    (status, answer)
}

async fn media_info(
    State(fake): State<FakeGraph>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    fake.lock().media_requests.push((media_id.clone(), bearer(&headers)));
    if bearer(&headers) != "Bearer EAAG" {
        return (StatusCode::UNAUTHORIZED, Json(meta_error(190, "Invalid OAuth access token.", ""))).into_response();
    }
    if media_id == "expired" {
        return (StatusCode::NOT_FOUND, Json(meta_error(100, "(#100) Invalid parameter", "media expired")))
            .into_response();
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/download/{media_id}", fake.base_url),
        "mime_type": "image/jpeg",
        "sha256": "8d8c5cb9a6b4d3f6bdf9d5ab4b3e0a8d4e2ba0c5a7cc1f4bbd8e0a1f2c3d4e5f",
        "file_size": MEDIA_BYTES.len(),
        "id": media_id,
    }))
    .into_response()
}

async fn download(State(fake): State<FakeGraph>, Path(media_id): Path<String>, headers: HeaderMap) -> Response {
    fake.lock().media_requests.push((format!("download:{media_id}"), bearer(&headers)));
    if bearer(&headers) != "Bearer EAAG" {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    ([(header::CONTENT_TYPE, "image/jpeg")], MEDIA_BYTES).into_response()
}
