//! The demo's history: a few hundred past conversations over the three channels, made through
//! the public edges as they would have happened: customers through signed WhatsApp webhooks
//! (Meta's timestamps in the past), signed Twilio callbacks (Twilio's `Timestamp` in the past)
//! and the web chat visitor API; the team and the AI through the REST API.
//!
//! What carries a time of the past is what the providers date: a customer's WhatsApp messages
//! and calls. The web chat, and everything the team and the AI do (answers, take-overs, status
//! changes), is dated by the services' own clock when it is done, that is when the seed runs:
//! the public API takes no time for them. So the customer's side of an old conversation shows
//! its day, and the team's answer and closing show the seed's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::api::Gateway;
use crate::edges::{CallOutcome, Ingest, TwilioNumber, Visitor, WhatsappNumber};
use crate::script::{self, Persona, SCENARIOS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Whatsapp,
    Telephony,
    Webchat,
}

/// Where a conversation ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Open,
    Resolved,
    Archived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// WhatsApp, more than a day ago: the customer wrote; a colleague answered later with the
    /// approved follow-up template (the only kind of message the 24-hour window allows).
    FollowedUp,
    /// The AI answered, the customer thanked it; a colleague closed it.
    AiResolved,
    /// The AI handed off (it was unsure, the issue was complex, or the customer asked for a
    /// person); a colleague took over and answered; the customer thanked them.
    HandedOff,
    /// The AI handed off and nobody has taken it yet: Team › Needs review.
    AwaitingPerson,
    /// A call with its outcome; then a colleague's note.
    Call(CallOutcome),
}

/// One past conversation to make.
#[derive(Debug, Clone)]
pub struct Past {
    pub customer: u32,
    pub channel: Channel,
    pub scenario: usize,
    /// When the customer first wrote or called (the provider's time).
    pub at: DateTime<Utc>,
    pub shape: Shape,
    pub ending: Ending,
    /// The colleague (index into the demo's people) who handles it.
    pub agent: usize,
}

/// The history to make: `total` conversations, six in ten WhatsApp, two calls, two web chats.
/// Pure: the same `now` and generator give the same plan.
pub fn plan(now: DateTime<Utc>, total: u32, people: usize, rng: &mut impl Rng) -> Vec<Past> {
    let confident: Vec<usize> = (0..SCENARIOS.len()).filter(|i| SCENARIOS[*i].ai_confidence >= 0.6).collect();
    let mut plan = Vec::new();
    for customer in 0..total {
        let roll = rng.random_range(0..100);
        let agent = rng.random_range(0..people.max(1));
        let minutes =
            |rng: &mut dyn rand::RngCore, lo: i64, hi: i64| chrono::Duration::minutes(rng.random_range(lo..hi));
        let past = if roll < 60 {
            let shape_roll = rng.random_range(0..100);
            if shape_roll < 70 {
                // Between a day and three weeks ago.
                let at = now - minutes(rng, 26 * 60, 21 * 24 * 60);
                let ending = if now - at > chrono::Duration::days(7) {
                    Ending::Archived
                } else if rng.random_bool(0.75) {
                    Ending::Resolved
                } else {
                    Ending::Open
                };
                let scenario = rng.random_range(0..SCENARIOS.len());
                Past { customer, channel: Channel::Whatsapp, scenario, at, shape: Shape::FollowedUp, ending, agent }
            } else {
                let at = now - minutes(rng, 20, 20 * 60);
                recent(customer, Channel::Whatsapp, at, agent, &confident, rng)
            }
        } else if roll < 80 {
            let at = now - minutes(rng, 60, 14 * 24 * 60);
            let outcome = match rng.random_range(0..100) {
                0..50 => CallOutcome::Voicemail,
                50..85 => CallOutcome::Answered(rng.random_range(60..600)),
                _ => CallOutcome::Missed,
            };
            let ending = if rng.random_bool(0.7) {
                if now - at > chrono::Duration::days(7) { Ending::Archived } else { Ending::Resolved }
            } else {
                Ending::Open
            };
            let scenario = rng.random_range(0..SCENARIOS.len());
            Past { customer, channel: Channel::Telephony, scenario, at, shape: Shape::Call(outcome), ending, agent }
        } else {
            recent(customer, Channel::Webchat, now, agent, &confident, rng)
        };
        plan.push(past);
    }
    plan
}

fn recent(
    customer: u32,
    channel: Channel,
    at: DateTime<Utc>,
    agent: usize,
    confident: &[usize],
    rng: &mut impl Rng,
) -> Past {
    let (shape, ending) = match rng.random_range(0..100) {
        0..45 => (Shape::AiResolved, Ending::Resolved),
        45..85 => (Shape::HandedOff, if rng.random_bool(0.6) { Ending::Resolved } else { Ending::Open }),
        _ => (Shape::AwaitingPerson, Ending::Open),
    };
    let scenario = if shape == Shape::AiResolved {
        *confident.choose(rng).unwrap_or(&0)
    } else {
        rng.random_range(0..SCENARIOS.len())
    };
    Past { customer, channel, scenario, at, shape, ending, agent }
}

/// Conversation ids by customer address, learnt by listing the tenant's conversations.
struct Directory {
    ids: Mutex<(tokio::time::Instant, HashMap<String, String>)>,
}

impl Directory {
    async fn find(&self, gateway: &Gateway, token: &str, address: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            {
                let mut guard = self.ids.lock().await;
                if let Some(id) = guard.1.get(address) {
                    return Ok(id.clone());
                }
                if guard.0.elapsed() > Duration::from_millis(500) {
                    for c in gateway.conversations(token, "").await? {
                        if let (Some(address), Some(id)) = (c["customer_address"].as_str(), c["id"].as_str()) {
                            guard.1.insert(address.to_owned(), id.to_owned());
                        }
                    }
                    guard.0 = tokio::time::Instant::now();
                    if let Some(id) = guard.1.get(address) {
                        return Ok(id.clone());
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no conversation with {address} appeared");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Everything the seed acts with.
pub struct Seeder {
    pub gateway: Gateway,
    pub ingest: Ingest,
    pub whatsapp: WhatsappNumber,
    pub twilio: TwilioNumber,
    pub widget_key: String,
    pub shop_origin: String,
    pub ai_key: String,
    /// (user id, first name, token) of each person of the demo.
    pub people: Vec<(String, String, String)>,
    pub run: u32,
}

impl Seeder {
    /// Makes the whole plan, a few conversations at a time; returns how many were made.
    pub async fn run(self: Arc<Self>, plan: Vec<Past>, concurrency: usize) -> anyhow::Result<u32> {
        let directory = Arc::new(Directory {
            ids: Mutex::new((tokio::time::Instant::now() - Duration::from_secs(5), HashMap::new())),
        });
        let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for past in plan {
            let (seeder, directory, semaphore) = (self.clone(), directory.clone(), semaphore.clone());
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await?;
                seeder.make(&past, &directory).await.with_context(|| format!("{:?} {:?}", past.channel, past.shape))
            });
        }
        let (mut made, mut failed) = (0, 0);
        while let Some(result) = tasks.join_next().await {
            match result? {
                Ok(()) => made += 1,
                Err(e) => {
                    failed += 1;
                    tracing::warn!(error = %format!("{e:#}"), "a past conversation could not be made");
                }
            }
        }
        if made == 0 && failed > 0 {
            bail!("no past conversation could be made ({failed} failed)");
        }
        Ok(made)
    }

    async fn make(&self, past: &Past, directory: &Directory) -> anyhow::Result<()> {
        let persona = script::persona(self.run, past.customer);
        let scenario = &SCENARIOS[past.scenario];
        let (agent_id, agent_name, agent_token) = self.people.get(past.agent).context("no such person")?;
        let lookup_token = &self.people.first().context("no people")?.2;
        let mut conversation = Conversation { id: String::new(), customer_messages: 0, key: past.customer };

        // The customer's side first, then the conversation's id.
        let visitor = match past.channel {
            Channel::Whatsapp => {
                self.ingest
                    .whatsapp_text(&self.whatsapp, &persona.wa_id, &persona.name, scenario.opening, past.at)
                    .await?;
                conversation.customer_messages += 1;
                if past.shape == Shape::FollowedUp && past.customer.is_multiple_of(2) {
                    let later = past.at + chrono::Duration::minutes(4);
                    let line = scenario.follow_ups.first().copied().unwrap_or("Hello?");
                    self.ingest.whatsapp_text(&self.whatsapp, &persona.wa_id, &persona.name, line, later).await?;
                    conversation.customer_messages += 1;
                }
                conversation.id = directory.find(&self.gateway, lookup_token, &persona.wa_id).await?;
                None
            }
            Channel::Telephony => {
                let Shape::Call(outcome) = past.shape else { bail!("a call without an outcome") };
                self.ingest.twilio_call(&self.twilio, &persona.phone, outcome, scenario.voicemail, past.at).await?;
                conversation.id = directory.find(&self.gateway, lookup_token, &persona.phone).await?;
                self.wait_for_call_end(lookup_token, &conversation.id, outcome == CallOutcome::Voicemail).await?;
                None
            }
            Channel::Webchat => {
                let page = script::SHOP_PAGES[past.customer as usize % script::SHOP_PAGES.len()];
                let named = !past.customer.is_multiple_of(3);
                let visitor = Visitor::start(
                    &self.ingest,
                    &self.widget_key,
                    &self.shop_origin,
                    named.then_some(persona.name.as_str()),
                    named.then_some(persona.email.as_str()),
                    page,
                )
                .await?;
                visitor.say(scenario.opening).await?;
                conversation.customer_messages += 1;
                conversation.id = directory.find(&self.gateway, lookup_token, &visitor.visitor_id).await?;
                Some(visitor)
            }
        };
        self.wait_for_customer(lookup_token, &conversation).await?;
        let path = format!("/v1/conversations/{}", conversation.id);

        match past.shape {
            Shape::FollowedUp => {
                let template = json!({
                    "name": script::FOLLOW_UP_TEMPLATE, "language": "en",
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": persona.first_name}]}]
                });
                self.reply(agent_token, &path, json!({"template": template}), &conversation, "template").await?;
                self.assign(agent_token, &path, agent_id).await?;
            }
            Shape::AiResolved => {
                self.ai(&path, scenario.ai_answer, scenario.ai_confidence, &conversation, "answer").await?;
                self.customer_says(&persona, visitor.as_ref(), "Thanks, that helps!", &mut conversation, lookup_token)
                    .await?;
                self.ai(
                    &path,
                    &format!("You're welcome {}! Have a lovely day.", persona.first_name),
                    0.95,
                    &conversation,
                    "welcome",
                )
                .await?;
            }
            Shape::HandedOff | Shape::AwaitingPerson => {
                self.ai(&path, scenario.ai_answer, scenario.ai_confidence, &conversation, "answer").await?;
                if scenario.ai_confidence >= 0.6 {
                    self.customer_says(
                        &persona,
                        visitor.as_ref(),
                        "Can I talk to a real person please?",
                        &mut conversation,
                        lookup_token,
                    )
                    .await?;
                    self.ai(
                        &path,
                        "I'm passing you to a colleague right away: a member of our team will answer here in a moment.",
                        0.2,
                        &conversation,
                        "handoff",
                    )
                    .await?;
                }
                if past.shape == Shape::HandedOff {
                    self.gateway.post(&format!("{path}/take-over"), agent_token, &json!({})).await?;
                    let text = script::agent_answer(&persona.first_name, agent_name, scenario);
                    self.reply(agent_token, &path, json!({"text": text}), &conversation, "agent").await?;
                    self.customer_says(
                        &persona,
                        visitor.as_ref(),
                        "Thank you, that's perfect!",
                        &mut conversation,
                        lookup_token,
                    )
                    .await?;
                }
            }
            Shape::Call(outcome) => {
                if outcome == CallOutcome::Voicemail {
                    let summary = format!("Voicemail from {}: {}", persona.first_name, scenario.voicemail);
                    self.gateway.put(&format!("{path}/summary"), &self.ai_key, &json!({"summary": summary})).await?;
                }
                if past.ending != Ending::Open {
                    let note = format!("Called {} back. {}", persona.first_name, scenario.agent_reply);
                    self.reply(agent_token, &path, json!({"text": note, "internal_note": true}), &conversation, "note")
                        .await?;
                    self.assign(agent_token, &path, agent_id).await?;
                }
            }
        }

        match past.ending {
            Ending::Open => {}
            Ending::Resolved => self.status(agent_token, &path, "resolved").await?,
            Ending::Archived => self.status(agent_token, &path, "archived").await?,
        }
        Ok(())
    }

    async fn customer_says(
        &self,
        persona: &Persona,
        visitor: Option<&Visitor>,
        text: &str,
        conversation: &mut Conversation,
        token: &str,
    ) -> anyhow::Result<()> {
        match visitor {
            Some(visitor) => visitor.say(text).await?,
            None => {
                self.ingest.whatsapp_text(&self.whatsapp, &persona.wa_id, &persona.name, text, Utc::now()).await?;
            }
        }
        conversation.customer_messages += 1;
        self.wait_for_customer(token, conversation).await
    }

    async fn ai(&self, path: &str, text: &str, confidence: f32, c: &Conversation, step: &str) -> anyhow::Result<()> {
        let body = json!({"text": text, "confidence": confidence, "idempotency_key": format!("seed-{}-{}-ai-{step}", self.run, c.key)});
        self.gateway.post(&format!("{path}/ai-messages"), &self.ai_key, &body).await.map(|_| ())
    }

    async fn reply(
        &self,
        token: &str,
        path: &str,
        mut body: Value,
        c: &Conversation,
        step: &str,
    ) -> anyhow::Result<()> {
        body["idempotency_key"] = json!(format!("seed-{}-{}-{step}", self.run, c.key));
        body["force"] = json!(true);
        self.gateway.post(&format!("{path}/messages"), token, &body).await.map(|_| ())
    }

    async fn assign(&self, token: &str, path: &str, agent_id: &str) -> anyhow::Result<()> {
        self.gateway.put(&format!("{path}/assignment"), token, &json!({"assignee_id": agent_id})).await.map(|_| ())
    }

    async fn status(&self, token: &str, path: &str, status: &str) -> anyhow::Result<()> {
        self.gateway.post(&format!("{path}/status"), token, &json!({"status": status})).await.map(|_| ())
    }

    /// Waits until the inbox has stored every customer message sent so far.
    async fn wait_for_customer(&self, token: &str, c: &Conversation) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let messages = self.gateway.messages(token, &c.id).await?;
            let stored = messages.iter().filter(|m| m["sender_kind"] == "customer").count();
            if stored >= c.customer_messages {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("conversation {}: {stored} of {} customer messages stored", c.id, c.customer_messages);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until a call's last callbacks are stored (so closing it is not undone by them).
    async fn wait_for_call_end(&self, token: &str, id: &str, transcript: bool) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let messages = self.gateway.messages(token, id).await?;
            let event =
                |name: &str| messages.iter().any(|m| m["content"]["type"] == "call" && m["content"]["event"] == name);
            if event("ended") && (!transcript || event("transcript")) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the call of conversation {id} did not end");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

struct Conversation {
    id: String,
    customer_messages: usize,
    /// Names the conversation in idempotency keys.
    key: u32,
}

/// Counts of a plan by channel, for the log.
pub fn describe(plan: &[Past]) -> String {
    let count = |c: Channel| plan.iter().filter(|p| p.channel == c).count();
    format!(
        "{} WhatsApp, {} calls, {} web chats",
        count(Channel::Whatsapp),
        count(Channel::Telephony),
        count(Channel::Webchat)
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 14, 10, 0, 0).unwrap()
    }

    #[test]
    fn the_plan_covers_every_channel_and_ending_and_stays_in_the_past() {
        let plan = plan(at(), 300, 5, &mut StdRng::seed_from_u64(1));
        assert_eq!(plan.len(), 300);
        for channel in [Channel::Whatsapp, Channel::Telephony, Channel::Webchat] {
            assert!(plan.iter().filter(|p| p.channel == channel).count() >= 30, "{channel:?}");
        }
        for ending in [Ending::Open, Ending::Resolved, Ending::Archived] {
            assert!(plan.iter().any(|p| p.ending == ending), "{ending:?}");
        }
        for shape in [Shape::FollowedUp, Shape::AiResolved, Shape::HandedOff, Shape::AwaitingPerson] {
            assert!(plan.iter().any(|p| p.shape == shape), "{shape:?}");
        }
        for outcome in [CallOutcome::Voicemail, CallOutcome::Missed] {
            assert!(plan.iter().any(|p| p.shape == Shape::Call(outcome)), "{outcome:?}");
        }
        assert!(plan.iter().all(|p| p.at <= at() && p.agent < 5));
    }

    #[test]
    fn whatsapp_older_than_a_day_is_answered_with_the_template_and_old_ones_are_archived() {
        let plan = plan(at(), 300, 5, &mut StdRng::seed_from_u64(2));
        for p in plan.iter().filter(|p| p.channel == Channel::Whatsapp) {
            let age = at() - p.at;
            if p.shape == Shape::FollowedUp {
                // Past the 24-hour window: free-form replies would be refused.
                assert!(age > chrono::Duration::hours(24));
                assert_eq!(p.ending == Ending::Archived, age > chrono::Duration::days(7));
            } else {
                assert!(age < chrono::Duration::hours(24), "AI answers need the window open");
            }
        }
    }

    #[test]
    fn the_ai_resolves_only_what_it_is_sure_of() {
        let plan = plan(at(), 300, 5, &mut StdRng::seed_from_u64(3));
        for p in plan.iter().filter(|p| p.shape == Shape::AiResolved) {
            assert!(SCENARIOS[p.scenario].ai_confidence >= 0.6);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let a = plan(at(), 50, 5, &mut StdRng::seed_from_u64(9));
        let b = plan(at(), 50, 5, &mut StdRng::seed_from_u64(9));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}
