//! Consumer of `events.>` (durable `notification`), in batches: each event is translated
//! into what it says about a conversation and what webhook endpoints receive, handed to the
//! shared [`Batcher`], and acked once its batch committed. One transaction per batch, never
//! one per event. New notifications go out live after the commit.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use inbox_bus::{BatchProcessor, Batcher, Delivery, Envelope, HandlerError, MessageHandler, Payload, subjects};
use inbox_proto::conversation::v1 as conv;
use inbox_service::Clock;
use inbox_telemetry::prometheus::{Histogram, IntCounterVec, register_histogram, register_int_counter_vec};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::delivery::live;
use crate::directory::People;
use crate::domain::facts::{ConversationView, Fact, Priority, Sender, Status, What};
use crate::store::{EventItem, NotificationStore, StoreError, WebhookEvent};

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_notification_events_total",
        "Events consumed by notification, by kind and whether their id was seen for the first time.",
        &["kind", "first_seen"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static NOTIFICATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_notification_notifications_total",
        "Notifications stored, by type and level.",
        &["type", "level"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static BATCH_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "inbox_notification_batch_events",
        "Events handled per notification transaction.",
        vec![1.0, 4.0, 16.0, 64.0, 128.0, 256.0, 512.0]
    )
    .expect("metric registers once")
});

fn uuid_of(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text).ok()
}

/// The person of a `user:<id>` actor.
fn user_of(actor: &str) -> Option<Uuid> {
    actor.strip_prefix("user:").and_then(uuid_of)
}

fn time_of(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(inbox_proto::timestamp_to_utc)
}

fn status_of(value: i32) -> Option<Status> {
    match conv::ConversationStatus::try_from(value).ok()? {
        conv::ConversationStatus::Active => Some(Status::Active),
        conv::ConversationStatus::Pending => Some(Status::Pending),
        conv::ConversationStatus::Resolved => Some(Status::Resolved),
        conv::ConversationStatus::Archived => Some(Status::Archived),
        conv::ConversationStatus::Unspecified => None,
    }
}

fn priority_of(value: i32) -> Priority {
    match conv::Priority::try_from(value).unwrap_or(conv::Priority::Unspecified) {
        conv::Priority::Urgent => Priority::Urgent,
        conv::Priority::High => Priority::High,
        conv::Priority::Low => Priority::Low,
        conv::Priority::Normal | conv::Priority::Unspecified => Priority::Normal,
    }
}

fn channel_name(value: i32) -> &'static str {
    use inbox_proto::common::v1::Channel;
    subjects::channel_token(Channel::try_from(value).unwrap_or(Channel::Unspecified))
}

fn view_of(c: &conv::Conversation, at: DateTime<Utc>) -> Option<ConversationView> {
    let created_at = time_of(c.created_at.as_ref()).unwrap_or(at);
    let name = c.contact.as_ref().map(|k| k.display_name.clone()).filter(|n| !n.is_empty());
    Some(ConversationView {
        id: uuid_of(&c.id)?,
        version: c.version,
        status: status_of(c.status)?,
        priority: priority_of(c.priority),
        channel: channel_name(c.channel).to_owned(),
        assignee_id: uuid_of(&c.assignee_id),
        team_id: uuid_of(&c.team_id),
        customer_name: name.unwrap_or_else(|| c.customer_address.clone()),
        preview: c.last_message_preview.clone(),
        created_at,
        status_changed_at: time_of(c.status_changed_at.as_ref()).unwrap_or(at),
    })
}

fn text_of(content: Option<&inbox_proto::common::v1::MessageContent>) -> (String, &'static str) {
    use inbox_proto::common::v1::message_content::Kind;
    match content.and_then(|c| c.kind.as_ref()) {
        Some(Kind::Text(t)) => (t.body.clone(), "text"),
        Some(Kind::Media(m)) => (m.caption.clone(), "media"),
        Some(Kind::Location(_)) => (String::new(), "location"),
        Some(Kind::Contacts(_)) => (String::new(), "contacts"),
        Some(Kind::InteractiveReply(r)) => (r.title.clone(), "interactive_reply"),
        Some(Kind::Reaction(r)) => (r.emoji.clone(), "reaction"),
        Some(Kind::WhatsappTemplate(_)) => (String::new(), "whatsapp_template"),
        Some(Kind::InteractiveButtons(b)) => (b.body.clone(), "interactive_buttons"),
        Some(Kind::Call(_)) => (String::new(), "call"),
        Some(Kind::Unsupported(_)) | None => (String::new(), "unsupported"),
    }
}

fn sender_of(value: i32) -> Sender {
    match conv::SenderKind::try_from(value).unwrap_or(conv::SenderKind::Unspecified) {
        conv::SenderKind::Customer => Sender::Customer,
        conv::SenderKind::Agent => Sender::Agent,
        conv::SenderKind::Ai => Sender::Ai,
        conv::SenderKind::System | conv::SenderKind::Unspecified => Sender::System,
    }
}

fn sender_name(sender: Sender) -> &'static str {
    match sender {
        Sender::Customer => "customer",
        Sender::Agent => "agent",
        Sender::Ai => "ai",
        Sender::System => "system",
    }
}

fn iso(ts: Option<&prost_types::Timestamp>) -> Value {
    time_of(ts).map_or(Value::Null, |t| json!(t))
}

fn id_or_null(text: &str) -> Value {
    if text.is_empty() { Value::Null } else { json!(text) }
}

/// The conversation as webhook endpoints see it.
fn conversation_json(c: &conv::Conversation) -> Value {
    let status = status_of(c.status).map_or("unspecified", Status::as_str);
    json!({
        "id": c.id,
        "channel": channel_name(c.channel),
        "status": status,
        "priority": priority_of(c.priority).as_str(),
        "assignee_id": id_or_null(&c.assignee_id),
        "team_id": id_or_null(&c.team_id),
        "handled_by": c.handled_by,
        "needs_human": c.needs_human,
        "customer": contact_json(c),
        "last_message_preview": c.last_message_preview,
        "last_message_at": iso(c.last_message_at.as_ref()),
        "created_at": iso(c.created_at.as_ref()),
        "updated_at": iso(c.updated_at.as_ref()),
        "version": c.version,
    })
}

fn contact_json(c: &conv::Conversation) -> Value {
    let contact = c.contact.clone().unwrap_or_default();
    json!({
        "id": id_or_null(&contact.id),
        "name": contact.display_name,
        "segment": contact.segment,
        "address": c.customer_address,
        "channel": channel_name(c.channel),
        "created_at": iso(contact.created_at.as_ref()),
        "updated_at": iso(contact.updated_at.as_ref()),
    })
}

/// What one event says, or `None` for events this service has nothing to do with.
pub fn item_of(subject: &str, envelope: &Envelope, now: DateTime<Utc>) -> Option<EventItem> {
    let tenant_id = uuid_of(&envelope.tenant_id)?;
    let kind = subjects::event_kind(subject, &envelope.tenant_id)?;
    let at = time_of(envelope.occurred_at.as_ref()).unwrap_or(now);
    let event_id = envelope.event_id.clone();
    let hook = |event_type: &str, key: String, data: Value| WebhookEvent {
        event_type: event_type.to_owned(),
        dedupe_key: key,
        event_id: event_id.clone(),
        occurred_at: at,
        data,
    };
    let per_event = |event_type: &str| format!("{event_type}:{event_id}");
    let fact = |c: &conv::Conversation, what: What| -> Option<Fact> {
        let view = view_of(c, at)?;
        Some(Fact { event_id: event_id.clone(), at, conversation_id: view.id, conversation: Some(view), what })
    };
    let (fact, webhooks) = match envelope.payload.as_ref()? {
        Payload::ConversationCreated(e) => {
            let c = e.conversation.as_ref()?;
            let mut hooks = vec![hook(
                "conversation.created",
                per_event("conversation.created"),
                json!({"conversation": conversation_json(c)}),
            )];
            let contact = c.contact.clone().unwrap_or_default();
            // A customer first seen with this conversation: the CRM creates the contact.
            if !contact.id.is_empty() && time_of(contact.created_at.as_ref()) >= time_of(c.created_at.as_ref()) {
                hooks.push(hook(
                    "contact.created",
                    format!("contact.created:{}", contact.id),
                    json!({"contact": contact_json(c), "conversation_id": c.id}),
                ));
            }
            (fact(c, What::Opened), hooks)
        }
        Payload::ConversationUpdated(e) | Payload::PriorityChanged(e) => {
            let c = e.conversation.as_ref()?;
            let mut hooks = Vec::new();
            if kind == "conversation.customer_updated" {
                let contact = c.contact.clone().unwrap_or_default();
                let updated = time_of(contact.updated_at.as_ref()).map_or(0, |t| t.timestamp_micros());
                hooks.push(hook(
                    "contact.updated",
                    format!("contact.updated:{}:{updated}", contact.id),
                    json!({"contact": contact_json(c), "conversation_id": c.id}),
                ));
            }
            (fact(c, What::Changed), hooks)
        }
        Payload::AiHandoff(e) => (fact(e.conversation.as_ref()?, What::Changed), Vec::new()),
        Payload::MessageCreated(e) => {
            let (c, m) = (e.conversation.as_ref()?, e.message.as_ref()?);
            let sender = sender_of(m.sender_kind);
            let (text, content_type) = text_of(m.content.as_ref());
            let created_at = time_of(m.created_at.as_ref()).unwrap_or(at);
            let message = json!({
                "id": m.id,
                "conversation_id": m.conversation_id,
                "channel": channel_name(m.channel),
                "sender_kind": sender_name(sender),
                "sender_id": m.sender_id,
                "content_type": content_type,
                "text": text,
                "internal_note": m.internal_note,
                "sent_at": iso(m.sent_at.as_ref()),
                "created_at": iso(m.created_at.as_ref()),
            });
            let hooks = vec![hook(
                "message.created",
                per_event("message.created"),
                json!({"message": message, "conversation": conversation_json(c)}),
            )];
            let what = What::Message { sender, internal_note: m.internal_note, created_at, text };
            (fact(c, what), hooks)
        }
        Payload::StatusChanged(e) => {
            let c = e.conversation.as_ref()?;
            let change = e.change.clone().unwrap_or_default();
            let to = status_of(change.to).or_else(|| status_of(c.status))?;
            let change_json = json!({
                "from": status_of(change.from).map(Status::as_str),
                "to": to.as_str(),
                "actor": change.actor,
                "reason": change.reason,
                "changed_at": iso(change.changed_at.as_ref()),
            });
            let data = json!({"conversation": conversation_json(c), "change": change_json});
            let mut hooks =
                vec![hook("conversation.status_changed", per_event("conversation.status_changed"), data.clone())];
            if to == Status::Resolved {
                hooks.push(hook("conversation.resolved", per_event("conversation.resolved"), data));
            }
            let what = What::StatusChanged { from: status_of(change.from), to, actor: user_of(&change.actor) };
            (fact(c, what), hooks)
        }
        Payload::AssignmentChanged(e) => {
            let c = e.conversation.as_ref()?;
            let data = json!({
                "conversation": conversation_json(c),
                "previous_assignee_id": id_or_null(&e.previous_assignee_id),
                "previous_team_id": id_or_null(&e.previous_team_id),
                "actor": e.actor,
                "note": e.note,
            });
            let hooks = vec![hook("conversation.assigned", per_event("conversation.assigned"), data)];
            let what =
                What::Assigned { previous_assignee_id: uuid_of(&e.previous_assignee_id), actor: user_of(&e.actor) };
            (fact(c, what), hooks)
        }
        Payload::ConversationDeleted(e) => {
            let id = uuid_of(&e.conversation_id)?;
            (
                Some(Fact {
                    event_id: event_id.clone(),
                    at,
                    conversation_id: id,
                    conversation: None,
                    what: What::Deleted,
                }),
                Vec::new(),
            )
        }
        Payload::SlaBreached(alert) => {
            let data = json!({"alert": {
                "conversation_id": alert.conversation_id,
                "target": alert.target,
                "priority": priority_of(alert.priority).as_str(),
                "target_seconds": alert.target_seconds,
                "started_at": iso(alert.started_at.as_ref()),
                "due_at": iso(alert.due_at.as_ref()),
                "assignee_id": id_or_null(&alert.assignee_id),
                "team_id": id_or_null(&alert.team_id),
                "channel": channel_name(alert.channel),
            }});
            (None, vec![hook("sla.breached", per_event("sla.breached"), data)])
        }
        _ => return None,
    };
    if fact.is_none() && webhooks.is_empty() {
        return None;
    }
    Some(EventItem { tenant_id, event_id: event_id.clone(), subject: subject.to_owned(), fact, webhooks })
}

/// Whether the event's id was seen for the first time, or why it could not be handled.
type Outcome = Result<bool, HandlerError>;

/// Handles events in batches.
pub struct HandleEvents {
    batcher: Batcher<Batches>,
    clock: Clock,
}

impl HandleEvents {
    pub fn start(
        store: NotificationStore,
        people: People,
        nats: async_nats::Client,
        workers: usize,
        max_batch: usize,
    ) -> Self {
        let clock = store.clock().clone();
        Self { batcher: Batcher::start(Batches { store, people, nats }, workers, max_batch), clock }
    }
}

struct Batches {
    store: NotificationStore,
    people: People,
    nats: async_nats::Client,
}

fn handler_error(e: &StoreError) -> HandlerError {
    match e {
        StoreError::Invalid(_) => HandlerError::Permanent(e.to_string()),
        _ => HandlerError::Retry(e.to_string()),
    }
}

impl BatchProcessor for Batches {
    type Item = EventItem;
    type Outcome = Outcome;

    async fn process(&self, items: Vec<EventItem>) -> Vec<Outcome> {
        BATCH_SIZE.observe(items.len() as f64);
        let tenants: BTreeSet<Uuid> = items.iter().filter(|i| i.fact.is_some()).map(|i| i.tenant_id).collect();
        let directories = match self.people.of_all(tenants).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "people unknown; the batch will be redelivered");
                return items.iter().map(|_| Err(HandlerError::Retry(e.to_string()))).collect();
            }
        };
        let mut attempt = 0;
        let report = loop {
            attempt += 1;
            match self.store.apply_events(&items, &directories).await {
                Ok(report) => break report,
                Err(e) if e.is_transient() && attempt < 3 => continue,
                Err(e) => {
                    tracing::warn!(error = %e, size = items.len(), "notification batch failed; its events will be redelivered");
                    return items.iter().map(|_| Err(handler_error(&e))).collect();
                }
            }
        };
        for row in &report.stored {
            NOTIFICATIONS.with_label_values(&[row.kind.as_str(), row.level.as_str()]).inc();
        }
        live::publish(&self.nats, &report.stored).await;
        let mut first_seen = report.first_seen;
        items.iter().map(|i| Ok(first_seen.remove(&i.event_id))).collect()
    }
}

impl MessageHandler for HandleEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        if Uuid::parse_str(&envelope.tenant_id).is_err() {
            return Err(HandlerError::Permanent(format!("tenant id {:?} is not a uuid", envelope.tenant_id)));
        }
        let kind = subjects::event_kind(&delivery.subject, &envelope.tenant_id)
            .ok_or_else(|| {
                HandlerError::Permanent(format!(
                    "subject {:?} is not events.{}.<kind>",
                    delivery.subject, envelope.tenant_id
                ))
            })?
            .to_owned();
        if envelope.event_id.is_empty() {
            return Err(HandlerError::Permanent("envelope without an event id".into()));
        }
        let Some(item) = item_of(&delivery.subject, envelope, self.clock.now()) else {
            return Ok(()); // routing's and delivery events, and what other services add
        };
        let first_seen = self.batcher.submit(item).await.map_err(|e| HandlerError::Retry(e.to_string()))??;
        EVENTS.with_label_values(&[kind.as_str(), if first_seen { "true" } else { "false" }]).inc();
        Ok(())
    }
}
