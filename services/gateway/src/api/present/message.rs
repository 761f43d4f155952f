//! A message with its content (every kind a channel carries), the delivery of an outbound
//! message, and the answer to a send.

use axum::Json;
use axum::http::StatusCode;
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::{MessageContent, message_content::Kind};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::call::{CallItemJson, call_item};
use super::conversation::ConversationJson;
use super::time;
use crate::api::error::ErrorBody;
use crate::api::names::{channel_name, delivery_state_name, media_kind_name, sender_kind_name};

/// A message of a conversation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageJson {
    pub id: String,
    pub conversation_id: String,
    pub channel: &'static str,
    pub external_id: String,
    pub sender_kind: &'static str,
    pub sender_id: String,
    pub content: ContentJson,
    pub sent_at: Option<String>,
    pub created_at: Option<String>,
    pub internal_note: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_confidence: Option<f32>,
    /// Outbound messages: where the delivery to the customer stands (set by the messages list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryJson>,
}

impl From<&pb::Message> for MessageJson {
    fn from(m: &pb::Message) -> Self {
        Self {
            id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            channel: channel_name(m.channel),
            external_id: m.external_id.clone(),
            sender_kind: sender_kind_name(m.sender_kind),
            sender_id: m.sender_id.clone(),
            content: content(m.content.as_ref()),
            sent_at: time(m.sent_at.as_ref()),
            created_at: time(m.created_at.as_ref()),
            internal_note: m.internal_note,
            ai_confidence: m.ai_confidence,
            delivery: None,
        }
    }
}

impl MessageJson {
    /// Whether the message went out to the customer, so it has a delivery to show.
    pub fn is_outbound(&self) -> bool {
        matches!(self.sender_kind, "agent" | "ai") && !self.internal_note
    }
}

/// A message's content, typed by `type`, with what it replies to (or was forwarded from).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MessageContent)]
pub struct ContentJson {
    #[serde(flatten)]
    pub kind: ContentKindJson,
    /// What the customer replied to, or where the message was forwarded from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyToJson>,
}

/// What a message replies to (WhatsApp's context).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReplyTo)]
pub struct ReplyToJson {
    pub external_id: String,
    pub from: String,
    pub forwarded: bool,
    pub frequently_forwarded: bool,
}

/// The kinds of content, told apart by `type`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = MessageContentKind)]
pub enum ContentKindJson {
    /// A message without content.
    Empty,
    Text {
        text: String,
    },
    Media(MediaJson),
    /// Content the channel sent that the inbox cannot show.
    Unsupported {
        provider_type: String,
        description: String,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: String,
        address: String,
        url: String,
    },
    Contacts {
        contacts: Vec<SharedContactJson>,
    },
    /// The customer's answer to reply buttons or a list.
    InteractiveReply {
        reply_type: String,
        id: String,
        title: String,
        description: String,
    },
    Reaction {
        external_id: String,
        emoji: String,
    },
    WhatsappTemplate {
        name: String,
        language: String,
        components: Vec<TemplateComponentJson>,
    },
    InteractiveButtons {
        body: String,
        header: String,
        footer: String,
        buttons: Vec<ReplyButtonJson>,
    },
    Call(Box<CallItemJson>),
}

/// An image, audio, voice note, video, document or sticker.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MediaContent)]
pub struct MediaJson {
    /// image, audio, voice, video, document, sticker or unknown.
    pub kind: &'static str,
    pub media_id: String,
    pub mime_type: String,
    pub sha256: String,
    pub caption: String,
    pub filename: String,
    pub size_bytes: u64,
}

/// A contact card the customer shared.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SharedContact)]
pub struct SharedContactJson {
    pub formatted_name: String,
    pub first_name: String,
    pub last_name: String,
    pub phones: Vec<SharedPhoneJson>,
    pub emails: Vec<SharedEmailJson>,
    pub company: String,
    pub urls: Vec<String>,
    pub birthday: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SharedPhone)]
pub struct SharedPhoneJson {
    pub phone: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub wa_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SharedEmail)]
pub struct SharedEmailJson {
    pub email: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A component of a sent WhatsApp template.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TemplateComponent)]
pub struct TemplateComponentJson {
    #[serde(rename = "type")]
    pub kind: String,
    pub sub_type: String,
    pub index: u32,
    pub parameters: Vec<TemplateParameterJson>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TemplateParameter)]
pub struct TemplateParameterJson {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub payload: String,
    pub media_id: Option<String>,
    pub link: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReplyButton)]
pub struct ReplyButtonJson {
    pub id: String,
    pub title: String,
}

/// A message's content, typed by `type`, with what it replies to (or was forwarded from).
pub fn content(content: Option<&MessageContent>) -> ContentJson {
    ContentJson {
        kind: content_kind(content.and_then(|c| c.kind.as_ref())),
        reply_to: content.and_then(|c| c.reply_to.as_ref()).map(|context| ReplyToJson {
            external_id: context.external_id.clone(),
            from: context.from.clone(),
            forwarded: context.forwarded,
            frequently_forwarded: context.frequently_forwarded,
        }),
    }
}

fn content_kind(kind: Option<&Kind>) -> ContentKindJson {
    let Some(kind) = kind else { return ContentKindJson::Empty };
    match kind {
        Kind::Text(t) => ContentKindJson::Text { text: t.body.clone() },
        Kind::Media(m) => ContentKindJson::Media(MediaJson {
            kind: media_kind_name(m.kind, m.voice),
            media_id: m.media_id.clone(),
            mime_type: m.mime_type.clone(),
            sha256: m.sha256.clone(),
            caption: m.caption.clone(),
            filename: m.filename.clone(),
            size_bytes: m.size_bytes,
        }),
        Kind::Unsupported(u) => {
            ContentKindJson::Unsupported { provider_type: u.provider_type.clone(), description: u.description.clone() }
        }
        Kind::Location(l) => ContentKindJson::Location {
            latitude: l.latitude,
            longitude: l.longitude,
            name: l.name.clone(),
            address: l.address.clone(),
            url: l.url.clone(),
        },
        Kind::Contacts(c) => ContentKindJson::Contacts {
            contacts: c
                .contacts
                .iter()
                .map(|k| SharedContactJson {
                    formatted_name: k.formatted_name.clone(),
                    first_name: k.first_name.clone(),
                    last_name: k.last_name.clone(),
                    phones: k
                        .phones
                        .iter()
                        .map(|p| SharedPhoneJson {
                            phone: p.phone.clone(),
                            kind: p.r#type.clone(),
                            wa_id: p.wa_id.clone(),
                        })
                        .collect(),
                    emails: k
                        .emails
                        .iter()
                        .map(|e| SharedEmailJson { email: e.email.clone(), kind: e.r#type.clone() })
                        .collect(),
                    company: k.company.clone(),
                    urls: k.urls.clone(),
                    birthday: k.birthday.clone(),
                })
                .collect(),
        },
        Kind::InteractiveReply(r) => ContentKindJson::InteractiveReply {
            reply_type: r.reply_type.clone(),
            id: r.id.clone(),
            title: r.title.clone(),
            description: r.description.clone(),
        },
        Kind::Reaction(r) => ContentKindJson::Reaction { external_id: r.external_id.clone(), emoji: r.emoji.clone() },
        Kind::WhatsappTemplate(t) => ContentKindJson::WhatsappTemplate {
            name: t.name.clone(),
            language: t.language_code.clone(),
            components: t
                .components
                .iter()
                .map(|c| TemplateComponentJson {
                    kind: c.r#type.clone(),
                    sub_type: c.sub_type.clone(),
                    index: c.index,
                    parameters: c
                        .parameters
                        .iter()
                        .map(|p| TemplateParameterJson {
                            kind: p.r#type.clone(),
                            text: p.text.clone(),
                            payload: p.payload.clone(),
                            media_id: p.media.as_ref().map(|m| m.media_id.clone()),
                            link: p.media.as_ref().map(|m| m.url.clone()),
                        })
                        .collect(),
                })
                .collect(),
        },
        Kind::InteractiveButtons(b) => ContentKindJson::InteractiveButtons {
            body: b.body.clone(),
            header: b.header.clone(),
            footer: b.footer.clone(),
            buttons: b.buttons.iter().map(|x| ReplyButtonJson { id: x.id.clone(), title: x.title.clone() }).collect(),
        },
        Kind::Call(c) => ContentKindJson::Call(Box::new(call_item(c))),
    }
}

/// The provider's refusal of a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeliveryError)]
pub struct DeliveryErrorJson {
    pub code: i64,
    pub title: String,
    pub details: String,
}

/// Where the delivery of an outbound message to the customer stands.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryJson {
    pub message_id: String,
    pub conversation_id: String,
    /// queued, sent, delivered, read, failed (or unspecified).
    pub state: &'static str,
    pub external_id: String,
    pub error: Option<DeliveryErrorJson>,
    pub attempts: u32,
    pub updated_at: Option<String>,
}

/// A message's delivery as clients see it, with the provider's error when it failed.
pub fn delivery(d: &ingest::Delivery) -> DeliveryJson {
    DeliveryJson {
        message_id: d.message_id.clone(),
        conversation_id: d.conversation_id.clone(),
        state: delivery_state_name(d.state),
        external_id: d.external_id.clone(),
        error: d.error.as_ref().map(|e| DeliveryErrorJson {
            code: e.code,
            title: e.title.clone(),
            details: e.details.clone(),
        }),
        attempts: d.attempts,
        updated_at: time(d.updated_at.as_ref()),
    }
}

/// The answer to a send: the message, the conversation after it, and whether the idempotency
/// key had been seen before (nothing sent again).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SentMessage)]
pub struct SentJson {
    pub message: Option<MessageJson>,
    pub conversation: Option<ConversationJson>,
    pub replayed: bool,
}

/// The answer to a send (reply, AI message, template): 201 when stored now, 200 with
/// `"replayed": true` when the idempotency key was seen before.
pub fn sent_reply(sent: &pb::SendMessageResponse) -> (StatusCode, Json<SentJson>) {
    let status = if sent.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let body = SentJson {
        message: sent.message.as_ref().map(MessageJson::from),
        conversation: sent.conversation.as_ref().map(ConversationJson::from),
        replayed: sent.replayed,
    };
    (status, Json(body))
}

/// Metadata in which the conversation service gives a refusal's machine-readable details, a
/// JSON object (the send guard's `{"newer_message_id": "..."}`); it sets the same key.
pub const ERROR_DETAILS_METADATA_KEY: &str = "x-inbox-error-details";

/// A refused send in the API's error shape with the `details` the conversation service gave:
/// `{"error": {"code": "conflict", "message": "...", "details": {"newer_message_id": "..."}}}`
/// (409 when a reply was written on an out-of-date view). `None` when the failure carries no
/// details; it then takes the one error path.
pub fn refusal_with_details(status: &tonic::Status) -> Option<(StatusCode, Json<ErrorBody>)> {
    let details = status.metadata().get(ERROR_DETAILS_METADATA_KEY)?.to_str().ok()?;
    let details: Value = serde_json::from_str(details).ok()?;
    let Value::Object(details) = details else { return None };
    let public = PublicError::from_status(status);
    if public.code == ErrorCode::Internal {
        return None;
    }
    Some((public.code.http_status(), Json(ErrorBody::with_details(&public, details))))
}

#[cfg(test)]
mod tests {
    use inbox_proto::common::v1 as common;
    use serde_json::json;

    use super::*;

    fn content_of(kind: Kind) -> Value {
        to_json(content(Some(&MessageContent { kind: Some(kind), reply_to: None })))
    }

    fn to_json(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn a_message_names_its_sender_and_channel_and_shows_no_delivery_until_one_is_attached() {
        let m = pb::Message {
            id: "m1".into(),
            conversation_id: "c1".into(),
            channel: common::Channel::Webchat as i32,
            sender_kind: pb::SenderKind::Ai as i32,
            ai_confidence: Some(0.5),
            content: Some(MessageContent {
                kind: Some(Kind::Text(common::TextContent { body: "Hi".into() })),
                reply_to: None,
            }),
            ..Default::default()
        };
        let message = MessageJson::from(&m);
        assert!(message.is_outbound());
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!((&json["channel"], &json["sender_kind"]), (&json!("webchat"), &json!("ai")));
        assert_eq!(json["content"], json!({"type": "text", "text": "Hi"}));
        assert_eq!(json["ai_confidence"], 0.5);
        assert!(json.get("delivery").is_none());
        let note = pb::Message { sender_kind: pb::SenderKind::Agent as i32, internal_note: true, ..Default::default() };
        assert!(!MessageJson::from(&note).is_outbound(), "internal notes never reach the customer");
        assert!(serde_json::to_value(MessageJson::from(&note)).unwrap().get("ai_confidence").is_none());
    }

    #[test]
    fn text_media_and_unsupported_contents_are_typed() {
        let voice = content_of(Kind::Media(common::MediaContent {
            kind: common::MediaKind::Audio as i32,
            voice: true,
            media_id: "m1".into(),
            mime_type: "audio/ogg".into(),
            size_bytes: 2048,
            ..Default::default()
        }));
        assert_eq!(voice["type"], "media");
        assert_eq!(voice["kind"], "voice");
        assert_eq!(voice["size_bytes"], 2048);
        let unsupported = content_of(Kind::Unsupported(common::UnsupportedContent {
            provider_type: "order".into(),
            description: "an order".into(),
        }));
        assert_eq!(unsupported, json!({"type": "unsupported", "provider_type": "order", "description": "an order"}));
        assert_eq!(to_json(content(None)), json!({"type": "empty"}));
        assert_eq!(to_json(content(Some(&MessageContent::default()))), json!({"type": "empty"}));
    }

    #[test]
    fn whatsapp_contents_are_typed_with_their_fields() {
        let location = content_of(Kind::Location(common::LocationContent {
            latitude: 52.5,
            longitude: 13.4,
            name: "Shop".into(),
            ..Default::default()
        }));
        assert_eq!((&location["type"], &location["latitude"]), (&json!("location"), &json!(52.5)));

        let contacts = content_of(Kind::Contacts(common::ContactsContent {
            contacts: vec![common::SharedContact {
                formatted_name: "Ana Lima".into(),
                phones: vec![common::SharedPhone { phone: "+1555".into(), ..Default::default() }],
                ..Default::default()
            }],
        }));
        assert_eq!(contacts["type"], "contacts");
        assert_eq!(contacts["contacts"][0]["phones"][0]["phone"], "+1555");

        let reply = content_of(Kind::InteractiveReply(common::InteractiveReplyContent {
            reply_type: "button_reply".into(),
            id: "yes".into(),
            title: "Yes".into(),
            ..Default::default()
        }));
        assert_eq!((&reply["type"], &reply["id"]), (&json!("interactive_reply"), &json!("yes")));

        let reaction =
            content_of(Kind::Reaction(common::ReactionContent { external_id: "wamid.1".into(), emoji: "👍".into() }));
        assert_eq!(reaction, json!({"type": "reaction", "external_id": "wamid.1", "emoji": "👍"}));

        let template = content_of(Kind::WhatsappTemplate(common::WhatsAppTemplateContent {
            name: "order_update".into(),
            language_code: "en_US".into(),
            components: vec![common::TemplateComponent {
                r#type: "header".into(),
                parameters: vec![common::TemplateParameter {
                    r#type: "image".into(),
                    media: Some(common::MediaContent { url: "https://x/a.png".into(), ..Default::default() }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }));
        assert_eq!((&template["type"], &template["language"]), (&json!("whatsapp_template"), &json!("en_US")));
        assert_eq!(template["components"][0]["parameters"][0]["link"], "https://x/a.png");

        let buttons = content_of(Kind::InteractiveButtons(common::InteractiveButtonsContent {
            body: "Pick".into(),
            buttons: vec![common::ReplyButton { id: "a".into(), title: "Yes".into() }],
            ..Default::default()
        }));
        assert_eq!(buttons["type"], "interactive_buttons");
        assert_eq!(buttons["buttons"], json!([{"id": "a", "title": "Yes"}]));

        let call = content_of(Kind::Call(common::CallContent { call_sid: "CA1".into(), ..Default::default() }));
        assert_eq!((&call["type"], &call["call_sid"]), (&json!("call"), &json!("CA1")));
    }

    #[test]
    fn a_reply_carries_what_it_replies_to() {
        let replying = MessageContent {
            kind: Some(Kind::Text(common::TextContent { body: "yes".into() })),
            reply_to: Some(common::ReplyContext {
                external_id: "wamid.0".into(),
                forwarded: true,
                ..Default::default()
            }),
        };
        let json = to_json(content(Some(&replying)));
        assert_eq!(json["reply_to"]["external_id"], "wamid.0");
        assert_eq!(json["reply_to"]["forwarded"], true);
    }

    #[test]
    fn a_failed_delivery_shows_the_providers_error_and_a_send_answers_201_then_200() {
        let d = ingest::Delivery {
            message_id: "m1".into(),
            state: ingest::DeliveryState::Failed as i32,
            error: Some(ingest::DeliveryError {
                code: 131047,
                title: "Re-engagement message".into(),
                details: String::new(),
            }),
            attempts: 2,
            ..Default::default()
        };
        let json = to_json(delivery(&d));
        assert_eq!(
            (&json["state"], &json["error"]["code"], &json["attempts"]),
            (&json!("failed"), &json!(131047), &json!(2))
        );

        let sent = pb::SendMessageResponse { message: None, conversation: None, replayed: false };
        assert_eq!(sent_reply(&sent).0, StatusCode::CREATED);
        let (status, Json(body)) = sent_reply(&pb::SendMessageResponse { replayed: true, ..sent });
        assert_eq!((status, &to_json(body)["replayed"]), (StatusCode::OK, &json!(true)));
    }

    #[test]
    fn a_send_refused_on_a_stale_view_names_the_newer_message_in_its_details() {
        let mut stale = PublicError::new(ErrorCode::Conflict, "message m9 was written after").to_status();
        stale.metadata_mut().insert(ERROR_DETAILS_METADATA_KEY, r#"{"newer_message_id":"m9"}"#.parse().unwrap());
        let (status, Json(body)) = refusal_with_details(&stale).unwrap();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            to_json(body),
            json!({"error": {"code": "conflict", "message": "message m9 was written after",
                             "details": {"newer_message_id": "m9"}}})
        );
        let plain = PublicError::new(ErrorCode::Conflict, "taken over").to_status();
        assert!(refusal_with_details(&plain).is_none(), "no details: the one error path answers");
        let mut internal = tonic::Status::internal("boom");
        internal.metadata_mut().insert(ERROR_DETAILS_METADATA_KEY, r#"{"secret":"x"}"#.parse().unwrap());
        assert!(refusal_with_details(&internal).is_none(), "an internal failure shows nothing");
    }
}
