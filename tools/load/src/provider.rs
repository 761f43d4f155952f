//! A local WhatsApp Graph API: `POST /{version}/{phone_number_id}/messages` as the Cloud API
//! documents it (bearer token, `messaging_product`, `to`, a `wamid` in the answer), counting
//! every send by the reply marker in its text, so that "every reply reached the provider once"
//! can be checked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::traffic::Numbers;

pub const GRAPH_VERSION: &str = "v23.0";
pub const ACCESS_TOKEN: &str = "EAAG-load";

#[derive(Default)]
struct Counts {
    /// Sends received per reply marker.
    by_marker: HashMap<u64, u32>,
    /// Sends without a marker we know.
    other: u64,
}

#[derive(Clone)]
pub struct GraphStub {
    pub base_url: String,
    counts: Arc<Mutex<Counts>>,
    next_id: Arc<AtomicU64>,
}

impl GraphStub {
    pub async fn start(bind: &str) -> anyhow::Result<GraphStub> {
        let listener = tokio::net::TcpListener::bind((bind, 0)).await?;
        let stub = GraphStub {
            base_url: format!("http://{}", listener.local_addr()?),
            counts: Arc::default(),
            next_id: Arc::default(),
        };
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(send))
            .route("/{version}/{id}", get(number))
            .route("/{version}/{business_account_id}/phone_numbers", get(numbers_of_business))
            .with_state(stub.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(stub)
    }

    /// How many sends carried each reply marker.
    pub fn sends(&self) -> HashMap<u64, u32> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).by_marker.clone()
    }

    pub fn unknown_sends(&self) -> u64 {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).other
    }
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "load"}})))
        .into_response()
}

/// `GET /{version}/{phone-number-id}?fields=...`: the number, as channel-ingest checks it when
/// a number is connected.
async fn number(Path((version, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if version != GRAPH_VERSION || bearer(&headers) != format!("Bearer {ACCESS_TOKEN}") {
        return error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    let Some(numbers) = Numbers::of_id(&id).filter(|n| n.phone_number_id() == id) else {
        return error(StatusCode::NOT_FOUND, 100, "Unsupported get request.");
    };
    Json(json!({"id": id, "display_phone_number": numbers.display_digits(), "verified_name": "Load Test Co"}))
        .into_response()
}

/// `GET /{version}/{waba-id}/phone_numbers`: one page holding the business account's number.
async fn numbers_of_business(Path((version, waba)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if version != GRAPH_VERSION || bearer(&headers) != format!("Bearer {ACCESS_TOKEN}") {
        return error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    let Some(numbers) = Numbers::of_id(&waba).filter(|n| n.business_account_id() == waba) else {
        return error(StatusCode::NOT_FOUND, 100, "Unsupported get request.");
    };
    Json(json!({"data": [{"id": numbers.phone_number_id(), "display_phone_number": numbers.display_digits()}]}))
        .into_response()
}

fn bearer(headers: &HeaderMap) -> &str {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

async fn send(
    State(stub): State<GraphStub>,
    Path((version, _phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if version != GRAPH_VERSION || bearer(&headers) != format!("Bearer {ACCESS_TOKEN}") {
        return error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(to) = body["to"].as_str().filter(|to| !to.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter");
    };
    if body["messaging_product"] != "whatsapp" {
        return error(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter");
    }
    let text = body["text"]["body"].as_str().unwrap_or_default();
    {
        let mut counts = stub.counts.lock().unwrap_or_else(|p| p.into_inner());
        match crate::traffic::reply_marker(text) {
            Some(marker) => *counts.by_marker.entry(marker).or_default() += 1,
            None => counts.other += 1,
        }
    }
    let id = stub.next_id.fetch_add(1, Ordering::Relaxed);
    Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": format!("wamid.OUT.{id}"), "message_status": "accepted"}]}))
    .into_response()
}
