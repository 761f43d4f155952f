//! The AI agent's loop: the tenant's live stream (`/v1/stream`) tells it when a customer writes
//! in a conversation the AI handles; it reads the conversation over REST, decides with
//! [`brain::answer`], and answers with `POST /v1/conversations/{id}/ai-messages` (or, for a
//! call, writes the summary). After every (re)connection it looks for customers it has not
//! answered yet, so nothing said while it was away stays unanswered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::brain::{self, Speaker, Turn};

#[derive(Clone)]
pub struct Settings {
    pub gateway: String,
    pub api_key: String,
    /// How long the AI "types" before it answers.
    pub reply_delay: Duration,
    /// The tenant's confidence threshold (only for the log line saying it handed off).
    pub threshold: f32,
    /// Customers who wrote longer ago than this are not answered after a reconnection.
    pub catch_up_window: chrono::Duration,
}

#[derive(Clone)]
pub struct Agent {
    settings: Settings,
    http: reqwest::Client,
    /// Conversations being answered, and whether the customer wrote again meanwhile.
    busy: Arc<Mutex<HashMap<String, bool>>>,
}

impl Agent {
    pub fn new(settings: Settings) -> anyhow::Result<Agent> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
        Ok(Agent { settings, http, busy: Arc::default() })
    }

    /// Runs until the process is stopped: reconnects with backoff when the stream drops.
    pub async fn run(&self) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(500);
        loop {
            let started = tokio::time::Instant::now();
            match self.follow_stream().await {
                Ok(()) => tracing::info!("the live stream closed; reconnecting"),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "live stream failed; reconnecting"),
            }
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(500);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(15));
        }
    }

    async fn follow_stream(&self) -> anyhow::Result<()> {
        let url = format!("{}/v1/stream", self.settings.gateway.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request()?;
        request.headers_mut().insert("Authorization", format!("Bearer {}", self.settings.api_key).parse()?);
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(request))
            .await
            .context("connecting to the live stream timed out")??;
        while let Some(frame) = socket.next().await {
            let text = match frame? {
                WsMessage::Text(text) => text,
                WsMessage::Close(_) => return Ok(()),
                _ => continue,
            };
            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
            match frame["type"].as_str().unwrap_or_default() {
                "ready" => {
                    tracing::info!("connected to the live stream");
                    self.spawn_catch_up();
                }
                "resync" => self.spawn_catch_up(),
                "message.created" => {
                    let message = &frame["message"];
                    let conversation = &frame["conversation"];
                    if message["sender_kind"] == "customer"
                        && message["internal_note"] != true
                        && conversation["handled_by"] == "ai"
                        && let Some(id) = conversation["id"].as_str()
                    {
                        self.spawn_answer(id.to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn spawn_catch_up(&self) {
        let agent = self.clone();
        tokio::spawn(async move {
            if let Err(e) = agent.catch_up(Utc::now()).await {
                tracing::warn!(error = %format!("{e:#}"), "catching up failed");
            }
        });
    }

    /// Answers every open conversation the AI handles whose customer wrote last, recently.
    async fn catch_up(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let mut cursor = String::new();
        for _ in 0..20 {
            let mut url = format!("{}/v1/conversations?status=active&limit=100", self.settings.gateway);
            if !cursor.is_empty() {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&url).await?;
            for c in page["items"].as_array().into_iter().flatten() {
                let recent = c["last_customer_message_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| now.signed_duration_since(t) < self.settings.catch_up_window);
                if c["handled_by"] == "ai"
                    && c["last_message_sender_kind"] == "customer"
                    && recent
                    && let Some(id) = c["id"].as_str()
                {
                    self.spawn_answer(id.to_owned());
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = next.to_owned(),
                _ => break,
            }
        }
        Ok(())
    }

    /// Answers one conversation, once at a time: a message arriving meanwhile is looked at
    /// after the answer in progress.
    fn spawn_answer(&self, conversation_id: String) {
        {
            let Ok(mut busy) = self.busy.lock() else { return };
            if let Some(again) = busy.get_mut(&conversation_id) {
                *again = true;
                return;
            }
            busy.insert(conversation_id.clone(), false);
        }
        let agent = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(agent.settings.reply_delay).await;
                if let Err(e) = agent.answer(&conversation_id).await {
                    tracing::warn!(conversation_id, error = %format!("{e:#}"), "could not answer");
                }
                let Ok(mut busy) = agent.busy.lock() else { return };
                if busy.get(&conversation_id) == Some(&true) {
                    busy.insert(conversation_id.clone(), false);
                } else {
                    busy.remove(&conversation_id);
                    return;
                }
            }
        });
    }

    async fn answer(&self, conversation_id: &str) -> anyhow::Result<()> {
        let base = format!("{}/v1/conversations/{conversation_id}", self.settings.gateway);
        let conversation = self.get(&base).await?;
        if conversation["handled_by"] != "ai" || !matches!(conversation["status"].as_str(), Some("active" | "pending"))
        {
            return Ok(());
        }
        let messages = self.messages(&base).await?;
        let history: Vec<Turn> = messages
            .iter()
            .filter(|m| m["internal_note"] != true)
            .map(|m| Turn { from: Speaker::of_sender_kind(m["sender_kind"].as_str().unwrap_or("")), text: text_of(m) })
            .collect();
        let Some(last_customer) = messages.iter().rev().find(|m| m["sender_kind"] == "customer") else { return Ok(()) };
        let first_name = conversation["contact"]["display_name"]
            .as_str()
            .filter(|n| !n.starts_with("Visitor") && !n.starts_with('+'))
            .and_then(|n| n.split_whitespace().next())
            .unwrap_or("");

        if conversation["channel"] == "telephony" {
            // Nobody can be answered on a call after the fact: the AI sums the call up for the
            // person who calls back.
            if conversation["summary"].as_str().is_some_and(|s| !s.is_empty()) {
                return Ok(());
            }
            let said: Vec<String> =
                history.iter().filter(|t| t.from == Speaker::Customer).map(|t| t.text.clone()).collect();
            let summary = format!(
                "Call from {}: {}",
                if first_name.is_empty() { "a customer" } else { first_name },
                said.join(" ")
            );
            self.send(reqwest::Method::PUT, &format!("{base}/summary"), &json!({"summary": summary}), None).await?;
            tracing::info!(conversation_id, "summed up a call");
            return Ok(());
        }

        let Some(answer) = brain::answer(&history, first_name) else { return Ok(()) };
        let key = format!("ai:{}", last_customer["id"].as_str().unwrap_or_default());
        let mut body = json!({"text": answer.text, "confidence": answer.confidence, "idempotency_key": key});
        if let Some(reason) = &answer.complex_reason {
            body["complex_issue"] = json!(true);
            body["complex_reason"] = json!(reason);
        }
        match self.send(reqwest::Method::POST, &format!("{base}/ai-messages"), &body, Some(409)).await? {
            409 => tracing::info!(conversation_id, "a person handles it now: the AI stays out"),
            _ if answer.hands_off(self.settings.threshold) => tracing::info!(
                conversation_id,
                confidence = answer.confidence,
                reason = answer.complex_reason.as_deref().unwrap_or("unsure"),
                "handed off to a person"
            ),
            _ => tracing::info!(conversation_id, confidence = answer.confidence, "answered"),
        }
        Ok(())
    }

    /// Every message of the conversation, oldest first.
    async fn messages(&self, base: &str) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        for _ in 0..10 {
            let mut url = format!("{base}/messages?limit=100");
            if !cursor.is_empty() {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&url).await?;
            all.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["next_cursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = next.to_owned(),
                _ => break,
            }
        }
        Ok(all)
    }

    async fn get(&self, url: &str) -> anyhow::Result<Value> {
        let response = self.http.get(url).bearer_auth(&self.settings.api_key).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("GET {url}: {status} {body}");
        }
        Ok(body)
    }

    /// Sends a JSON body; returns the status (an `accepted` one besides 2xx is not an error).
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: &Value,
        accepted: Option<u16>,
    ) -> anyhow::Result<u16> {
        let response =
            self.http.request(method.clone(), url).bearer_auth(&self.settings.api_key).json(body).send().await?;
        let status = response.status().as_u16();
        if response.status().is_success() || Some(status) == accepted {
            return Ok(status);
        }
        let text = response.text().await.unwrap_or_default();
        bail!("{method} {url}: {status} {text}")
    }
}

/// The words of a message as the AI reads them (a call's transcript for a voicemail).
fn text_of(message: &Value) -> String {
    let content = &message["content"];
    match content["type"].as_str() {
        Some("text") => content["text"].as_str().unwrap_or_default().to_owned(),
        Some("call") => content["transcript"]["text"].as_str().unwrap_or_default().to_owned(),
        Some("interactive_reply") => content["title"].as_str().unwrap_or_default().to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_of_a_message_is_its_text_or_a_calls_transcript() {
        assert_eq!(text_of(&json!({"content": {"type": "text", "text": "hi"}})), "hi");
        assert_eq!(
            text_of(&json!({"content": {"type": "call", "transcript": {"text": "call me back"}}})),
            "call me back"
        );
        assert_eq!(text_of(&json!({"content": {"type": "interactive_reply", "title": "Yes"}})), "Yes");
        assert_eq!(text_of(&json!({"content": {"type": "media"}})), "");
    }
}
