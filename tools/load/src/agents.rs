//! Agents: people holding the live WebSocket (`/v1/stream`) who see every message arrive,
//! resume with `?after=<last seq>` whenever the socket drops, and reply through the REST API
//! (`POST /v1/conversations/{id}/messages`, with an idempotency key, retried until answered).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::traffic::{Channel, Ledger, message_marker};

/// What one watcher socket went through.
#[derive(Default)]
pub struct SocketStats {
    pub connects: AtomicU64,
    /// `resync` frames: the gateway could not replay what the socket missed.
    pub resyncs: AtomicU64,
    /// Messages that arrived after a later message of their conversation.
    pub out_of_order: AtomicU64,
    pub frames: AtomicU64,
    pub last_seq: AtomicU64,
}

/// A conversation to reply in, from a customer's message seen on the socket.
#[derive(Debug, Clone)]
pub struct ReplyWanted {
    pub conversation_id: String,
}

/// Holds watcher socket `w` of `token` until `stop` turns true, recording every customer
/// message that arrives in the ledger and resuming after its last `seq` when the socket
/// drops. Every `reply_every`th WhatsApp message is handed to `replies` (watcher 0 only).
pub async fn watch_socket(
    w: usize,
    ws_base: String,
    token: String,
    ledger: Arc<Ledger>,
    stats: Arc<SocketStats>,
    replies: Option<(mpsc::Sender<ReplyWanted>, u64)>,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_k: HashMap<(Channel, u32), u32> = HashMap::new();
    let mut last_seq: Option<u64> = None;
    while !*stop.borrow() {
        let after = last_seq.map(|s| format!("?after={s}")).unwrap_or_default();
        let Ok(request) = stream_request(&format!("{ws_base}/v1/stream{after}"), &token) else { return };
        let connected = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(request)).await;
        let Ok(Ok((mut socket, _))) = connected else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        stats.connects.fetch_add(1, Ordering::Relaxed);
        loop {
            let next = tokio::select! {
                next = socket.next() => next,
                _ = stop.changed() => break,
            };
            let text = match next {
                Some(Ok(Ws::Text(text))) => text,
                Some(Ok(Ws::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => continue,
            };
            stats.frames.fetch_add(1, Ordering::Relaxed);
            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
            if let Some(seq) = frame["seq"].as_u64() {
                last_seq = Some(last_seq.map_or(seq, |s| s.max(seq)));
                stats.last_seq.store(seq, Ordering::Relaxed);
            }
            match frame["type"].as_str() {
                Some("resync") => {
                    stats.resyncs.fetch_add(1, Ordering::Relaxed);
                }
                Some("message.created") => {
                    let message = &frame["message"];
                    if message["sender_kind"] == "agent" {
                        continue;
                    }
                    let Some(i) = message_marker(&message["content"].to_string()) else { continue };
                    let Ok(i) = usize::try_from(i) else { continue };
                    if i >= ledger.len() {
                        continue;
                    }
                    let times = ledger.arrived(w, i);
                    let planned = ledger.plan[i];
                    if times == 1 {
                        let last = last_k.entry((planned.channel, planned.customer)).or_insert(planned.k);
                        if planned.k < *last {
                            stats.out_of_order.fetch_add(1, Ordering::Relaxed);
                        }
                        *last = (*last).max(planned.k);
                    }
                    if let Some((sender, every)) = &replies
                        && times == 1
                        && planned.channel == Channel::WhatsApp
                        && (i as u64).is_multiple_of(*every)
                        && let Some(id) = message["conversation_id"].as_str()
                    {
                        let _ = sender.try_send(ReplyWanted { conversation_id: id.to_owned() });
                    }
                }
                _ => {}
            }
        }
    }
}

/// Replies sent, by reply marker: whether the gateway accepted each.
#[derive(Default)]
pub struct Replies {
    /// This run's reply markers: `markers.start` on.
    pub markers: std::ops::Range<u64>,
    pub accepted: std::sync::Mutex<Vec<u64>>,
    /// The conversation service's message id of each accepted reply, by marker.
    pub message_ids: std::sync::Mutex<std::collections::HashMap<u64, String>>,
    pub failed: AtomicU64,
}

/// Replies as an agent until the channel closes: each reply carries marker `rp<j>r` and the
/// idempotency key `<run>-<j>`, retried with the same key until a 2xx or `deadline`.
pub async fn reply_as_agent(
    gateway: String,
    token: String,
    run: String,
    mut wanted: mpsc::Receiver<ReplyWanted>,
    replies: Arc<Replies>,
    next: Arc<AtomicU64>,
    deadline: Instant,
) {
    let client = reqwest::Client::new();
    while let Some(ReplyWanted { conversation_id }) = wanted.recv().await {
        let j = next.fetch_add(1, Ordering::Relaxed);
        let body =
            serde_json::json!({"text": format!("thanks, on it rp{j}r"), "idempotency_key": format!("{run}-{j}")});
        let url = format!("{gateway}/v1/conversations/{conversation_id}/messages");
        let mut backoff = Duration::from_millis(100);
        loop {
            let answer =
                client.post(&url).bearer_auth(&token).json(&body).timeout(Duration::from_secs(10)).send().await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    replies.accepted.lock().unwrap_or_else(|p| p.into_inner()).push(j);
                    let sent: serde_json::Value = r.json().await.unwrap_or_default();
                    if let Some(id) = sent["message"]["id"].as_str() {
                        replies.message_ids.lock().unwrap_or_else(|p| p.into_inner()).insert(j, id.to_owned());
                    }
                    break;
                }
                // A conversation outside the 24-hour window or a refusal is not retried.
                Ok(r) if r.status().is_client_error() && r.status() != 429 => {
                    replies.failed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                _ if Instant::now() + backoff > deadline => {
                    replies.failed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                _ => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// `count` sockets of `token` held open, reading every frame; each reports the time of the
/// first frame carrying `marker` through `seen`.
pub async fn hold_sockets(
    ws_base: &str,
    token: &str,
    count: usize,
    marker: u64,
    seen: mpsc::UnboundedSender<Instant>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    let url = format!("{ws_base}/v1/stream");
    let opened = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(100) {
        let mut batch = Vec::new();
        for _ in 0..100.min(count - chunk * 100) {
            let (opened, seen, mut stop) = (opened.clone(), seen.clone(), stop.clone());
            let request = stream_request(&url, token)?;
            batch.push(tokio::spawn(async move {
                let Ok(Ok((mut socket, _))) =
                    tokio::time::timeout(Duration::from_secs(30), tokio_tungstenite::connect_async(request)).await
                else {
                    return;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let mut reported = false;
                loop {
                    let next = tokio::select! {
                        next = socket.next() => next,
                        _ = stop.changed() => break,
                    };
                    match next {
                        Some(Ok(Ws::Text(text))) => {
                            if !reported && message_marker(text.as_str()) == Some(marker) {
                                reported = true;
                                let _ = seen.send(Instant::now());
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }));
        }
        // Open in waves of a hundred, as a deploy's reconnect wave would.
        tokio::time::sleep(Duration::from_millis(20)).await;
        tasks.extend(batch);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (opened.load(Ordering::Relaxed) as usize) < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(tasks);
    Ok(opened.load(Ordering::Relaxed) as usize)
}

/// The upgrade request of the live stream at `url`, with `token` in the `Authorization` header
/// (the gateway takes nothing but a short-lived ticket in the URL).
pub fn stream_request(
    url: &str,
    token: &str,
) -> anyhow::Result<tokio_tungstenite::tungstenite::handshake::client::Request> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}
