//! The living part of the demo: new customers keep coming (WhatsApp messages, calls that end
//! in voicemail, web chats from the demo shop) and answer what they are told at a human pace;
//! colleagues come online, take what is routed to them, answer, and close what is done.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc::Receiver;

use crate::api::Gateway;
use crate::edges::{CallOutcome, Ingest, TwilioNumber, Visitor, WhatsappNumber};
use crate::provider::Inboxes;
use crate::script::{self, NUDGE, SCENARIOS, Scenario};

pub struct Live {
    pub gateway: Gateway,
    pub ingest: Ingest,
    pub inboxes: Inboxes,
    pub whatsapp: WhatsappNumber,
    pub twilio: TwilioNumber,
    pub widget_key: String,
    pub shop_origin: String,
    /// (user id, first name, token) of each person; the first is the newcomer's (not played).
    pub people: Vec<(String, String, String)>,
    /// Every delay is multiplied by this (1.0: a human pace; the demo test uses less).
    pub pace: f64,
    pub run: u32,
    /// Most customers talking at once.
    pub max_active: usize,
    pub next_customer: AtomicU32,
    pub active: AtomicUsize,
}

/// A fresh idempotency key: each simulated send is one intent.
fn key() -> String {
    format!("sim-{}", uuid::Uuid::new_v4().simple())
}

/// The text of a message only announcing a hand-off: the customer waits for the person.
fn announces_handoff(text: &str) -> bool {
    let text = text.to_lowercase();
    text.contains("passing you to a colleague") || text.contains("connect you with")
}

impl Live {
    fn delay(&self, seconds: std::ops::Range<f64>) -> Duration {
        let s = rand::rng().random_range(seconds);
        Duration::from_secs_f64((s * self.pace).max(0.05))
    }

    /// Runs until the process stops.
    pub async fn run(self: Arc<Self>) {
        for n in 1..self.people.len() {
            let live = self.clone();
            tokio::spawn(async move { live.colleague(n).await });
        }
        loop {
            if self.active.load(Ordering::Relaxed) < self.max_active {
                let n = self.next_customer.fetch_add(1, Ordering::Relaxed);
                let live = self.clone();
                live.active.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let roll = rand::rng().random_range(0..100);
                    let result = match roll {
                        0..50 => live.whatsapp_customer(n).await,
                        50..75 => live.webchat_customer(n).await,
                        _ => live.caller(n).await,
                    };
                    if let Err(e) = result {
                        tracing::warn!(error = %format!("{e:#}"), "a simulated customer gave up");
                    }
                    live.active.fetch_sub(1, Ordering::Relaxed);
                });
            }
            tokio::time::sleep(self.delay(6.0..16.0)).await;
        }
    }

    async fn whatsapp_customer(&self, n: u32) -> anyhow::Result<()> {
        let persona = script::persona(self.run, n);
        let scenario = script::scenario(&mut rand::rng());
        let mut inbox = self.inboxes.open(&persona.wa_id);
        tracing::info!(customer = persona.name, topic = scenario.topic, "a customer writes on WhatsApp");
        let send = |text: &'static str| {
            let (ingest, number, persona) = (self.ingest.clone(), self.whatsapp.clone(), persona.clone());
            async move { ingest.whatsapp_text(&number, &persona.wa_id, &persona.name, text, Utc::now()).await.map(|_| ()) }
        };
        send(scenario.opening).await?;
        let result = self.converse(scenario, &mut inbox, send).await;
        self.inboxes.close(&persona.wa_id);
        result
    }

    async fn webchat_customer(&self, n: u32) -> anyhow::Result<()> {
        let persona = script::persona(self.run, n);
        let scenario = script::scenario(&mut rand::rng());
        let first = script::SHOP_PAGES[n as usize % script::SHOP_PAGES.len()];
        let named = !n.is_multiple_of(3);
        let visitor = Visitor::start(
            &self.ingest,
            &self.widget_key,
            &self.shop_origin,
            named.then_some(persona.name.as_str()),
            named.then_some(persona.email.as_str()),
            first,
        )
        .await?;
        tracing::info!(customer = persona.name, topic = scenario.topic, "a visitor opens the web chat");
        let second = script::SHOP_PAGES[(n as usize + 1) % script::SHOP_PAGES.len()];
        tokio::time::sleep(self.delay(2.0..6.0)).await;
        visitor.page_view(second, Some(first.0)).await?;
        let mut replies = visitor.replies().await?;
        let visitor = Arc::new(visitor);
        visitor.say(scenario.opening).await?;
        let send = |text: &'static str| {
            let visitor = visitor.clone();
            async move { visitor.say(text).await }
        };
        self.converse(scenario, &mut replies, send).await
    }

    async fn caller(&self, n: u32) -> anyhow::Result<()> {
        let persona = script::persona(self.run, n);
        let scenario = script::scenario(&mut rand::rng());
        let outcome = match rand::rng().random_range(0..100) {
            0..65 => CallOutcome::Voicemail,
            65..85 => CallOutcome::Answered(rand::rng().random_range(45..400)),
            _ => CallOutcome::Missed,
        };
        tracing::info!(customer = persona.name, ?outcome, "a customer calls");
        self.ingest.twilio_call(&self.twilio, &persona.phone, outcome, scenario.voicemail, Utc::now()).await.map(|_| ())
    }

    /// The customer's side after the opening: each answer they get is read, then the next
    /// line of their scenario is typed; silence gets one nudge, then they leave.
    async fn converse<F, Fut>(&self, scenario: &Scenario, replies: &mut Receiver<String>, send: F) -> anyhow::Result<()>
    where
        F: Fn(&'static str) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        for line in scenario.follow_ups {
            let mut nudged = false;
            loop {
                match tokio::time::timeout(self.delay(100.0..140.0), replies.recv()).await {
                    Ok(Some(text)) if announces_handoff(&text) => continue,
                    Ok(Some(_)) => break,
                    Ok(None) => return Ok(()),
                    Err(_) if !nudged => {
                        nudged = true;
                        send(NUDGE).await?;
                    }
                    Err(_) => return Ok(()),
                }
            }
            tokio::time::sleep(self.delay(5.0..16.0)).await;
            send(line).await?;
        }
        Ok(())
    }

    /// A colleague: online, answers what is routed to them, closes what is done. The
    /// supervisor also calls back customers who left a voicemail.
    async fn colleague(&self, n: usize) {
        let (me, my_name, token) = self.people[n].clone();
        let mut handled: HashMap<String, u32> = HashMap::new();
        let mut last_online = tokio::time::Instant::now() - Duration::from_secs(3600);
        loop {
            if last_online.elapsed() > Duration::from_secs(60) {
                let body = json!({"availability": "online", "ttl_seconds": 180});
                if self.gateway.put("/v1/me/availability", &token, &body).await.is_ok() {
                    last_online = tokio::time::Instant::now();
                }
            }
            if let Err(e) = self.colleague_round(&me, &my_name, &token, n, &mut handled).await {
                tracing::warn!(colleague = my_name, error = %format!("{e:#}"), "a colleague's round failed");
            }
            tokio::time::sleep(self.delay(4.0..8.0)).await;
        }
    }

    async fn colleague_round(
        &self,
        me: &str,
        my_name: &str,
        token: &str,
        n: usize,
        handled: &mut HashMap<String, u32>,
    ) -> anyhow::Result<()> {
        let mine = self.gateway.conversations(token, "assigned=me&status=active").await?;
        for c in mine.iter().filter(|c| c["last_message_sender_kind"] == "customer").take(3) {
            let Some(id) = c["id"].as_str() else { continue };
            tokio::time::sleep(self.delay(6.0..20.0)).await;
            self.answer(id, c, my_name, token, handled).await?;
        }
        // The supervisor calls back whoever left a voicemail nobody handled yet.
        if n == 1 {
            let calls =
                self.gateway.conversations(token, "channel=telephony&status=active&assigned=unassigned").await?;
            if let Some(call) = calls.first().and_then(|c| c["id"].as_str()) {
                tokio::time::sleep(self.delay(10.0..25.0)).await;
                let path = format!("/v1/conversations/{call}");
                self.gateway.put(&format!("{path}/assignment"), token, &json!({"assignee_id": me})).await?;
                let note = format!("{my_name} called back: sorted out on the phone.");
                self.gateway
                    .post(
                        &format!("{path}/messages"),
                        token,
                        &json!({"text": note, "internal_note": true, "force": true}),
                    )
                    .await?;
                self.gateway.post(&format!("{path}/status"), token, &json!({"status": "resolved"})).await?;
                tracing::info!(colleague = my_name, "called a customer back");
            }
        }
        Ok(())
    }

    async fn answer(
        &self,
        id: &str,
        conversation: &Value,
        my_name: &str,
        token: &str,
        handled: &mut HashMap<String, u32>,
    ) -> anyhow::Result<()> {
        let path = format!("/v1/conversations/{id}");
        if conversation["handled_by"] == "ai" {
            self.gateway.post(&format!("{path}/take-over"), token, &json!({})).await?;
        }
        let messages = self.gateway.messages(token, id).await?;
        let said = |m: &&Value| m["sender_kind"] == "customer" && m["content"]["type"] == "text";
        let first = messages.iter().find(said).and_then(|m| m["content"]["text"].as_str()).unwrap_or_default();
        let last = messages.iter().rev().find(said).and_then(|m| m["content"]["text"].as_str()).unwrap_or_default();
        let customer = conversation["contact"]["display_name"]
            .as_str()
            .and_then(|n| n.split_whitespace().next())
            .filter(|n| !n.starts_with('+') && *n != "Visitor")
            .unwrap_or("there");
        let replies = handled.entry(id.to_owned()).or_default();
        let lower = last.to_lowercase();
        if *replies > 0 && (lower.contains("thank") || lower.contains("perfect") || *replies >= 3) {
            // Done: a saved reply to close, then resolved.
            let closing = self.gateway.get("/v1/templates?q=closing", token).await?;
            if let Some(template) = closing["items"].as_array().and_then(|t| t.first()).and_then(|t| t["id"].as_str()) {
                let body = json!({"template_id": template, "variables": {}, "idempotency_key": format!("close-{id}")});
                let _ = self.gateway.post(&format!("{path}/template-messages"), token, &body).await;
            }
            self.gateway.post(&format!("{path}/status"), token, &json!({"status": "resolved"})).await?;
            tracing::info!(colleague = my_name, conversation = id, "resolved");
            handled.remove(id);
            return Ok(());
        }
        let scenario = SCENARIOS.iter().find(|s| s.opening == first);
        let text = match (scenario, *replies) {
            (Some(s), 0) => script::agent_answer(customer, my_name, s),
            (None, 0) => format!("Hi {customer}, {my_name} here. Let me look into this for you."),
            _ => "Noted, thank you! Is there anything else I can do for you?".to_owned(),
        };
        *replies += 1;
        let body = json!({"text": text, "force": true, "idempotency_key": key()});
        self.gateway.post(&format!("{path}/messages"), token, &body).await?;
        tracing::info!(colleague = my_name, conversation = id, "answered a customer");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_off_announcements_are_told_apart_from_answers() {
        assert!(announces_handoff("I'm passing you to a colleague right away"));
        assert!(announces_handoff("Let me connect you with Sarah, who will take it from here."));
        assert!(!announces_handoff("Hi Ana, Tom here. Your order arrives tomorrow."));
    }
}
