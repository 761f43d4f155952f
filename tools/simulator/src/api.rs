//! The gateway's public REST API, as any client would call it.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::Value;

#[derive(Clone)]
pub struct Gateway {
    pub base: String,
    http: reqwest::Client,
}

/// An answer: status and JSON body (`null` when there is none).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(self, what: &str) -> anyhow::Result<Value> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        bail!("{what}: {} {}", self.status, self.body)
    }
}

impl Gateway {
    pub fn new(base: &str) -> anyhow::Result<Gateway> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Gateway { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// One call with `token` as the bearer credential. A 503 ("starting") or an unreachable
    /// gateway is retried for a while: the fleet may still be coming up; a 429 is retried after
    /// its `Retry-After`.
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                // Over the person's request budget: wait as told, as a polite client does.
                Ok(response) if response.status().as_u16() == 429 && attempt < 20 => {
                    let wait = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                        .unwrap_or(1)
                        .clamp(1, 60);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    continue;
                }
                Ok(response) if response.status().as_u16() != 503 || attempt >= 20 => {
                    let status = response.status().as_u16();
                    let body = response.json().await.unwrap_or(Value::Null);
                    return Ok(Answer { status, body });
                }
                Ok(_) => {}
                Err(e) if attempt >= 20 => return Err(e).with_context(|| format!("{method} {url}")),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, token, None).await?.ok(&format!("GET {path}"))
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, token, Some(body)).await?.ok(&format!("POST {path}"))
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::PUT, path, token, Some(body)).await?.ok(&format!("PUT {path}"))
    }

    /// Every conversation the token sees (`query` without `limit`/`cursor`), page by page.
    pub async fn conversations(&self, token: &str, query: &str) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        for _ in 0..100 {
            let mut path = format!("/v1/conversations?limit=100{}{query}", if query.is_empty() { "" } else { "&" });
            if !cursor.is_empty() {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&path, token).await?;
            all.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["next_cursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = next.to_owned(),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Every message of a conversation, oldest first.
    pub async fn messages(&self, token: &str, conversation_id: &str) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        for _ in 0..20 {
            let mut path = format!("/v1/conversations/{conversation_id}/messages?limit=100");
            if !cursor.is_empty() {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&path, token).await?;
            all.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["next_cursor"].as_str() {
                Some(next) if !next.is_empty() => cursor = next.to_owned(),
                _ => break,
            }
        }
        Ok(all)
    }
}
