//! WhatsApp messages to [`InboundMessage`]s.

use chrono::DateTime;
use inbox_proto::common::v1::{
    Channel, ContactsContent, InteractiveReplyContent, LocationContent, MediaContent, MediaKind, MessageContent,
    ReactionContent, ReplyContext, SharedContact, SharedEmail, SharedPhone, TextContent, UnsupportedContent,
    message_content::Kind,
};
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use serde::Deserialize;
use serde_json::Value;

use super::payload::{MessageHeader, StatusUpdate, WebhookPayload};

/// One customer message of a webhook, with the number it was sent to.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    pub phone_number_id: String,
    /// Tenant, channel account and raw payload id are left empty for the caller to fill.
    pub message: InboundMessage,
}

/// Every customer message in `payload`, in order (statuses and other fields are not messages).
pub fn inbound_messages(payload: &WebhookPayload) -> Vec<Normalised> {
    let mut out = Vec::new();
    for change in payload.entry.iter().flat_map(|e| &e.changes).filter(|c| c.field == "messages") {
        let Some(meta) = &change.value.metadata else { continue };
        for raw in &change.value.messages {
            // `WebhookPayload::parse` checked every message header already.
            let Ok(header) = MessageHeader::deserialize(raw) else { continue };
            let display_name = change
                .value
                .contacts
                .iter()
                .find(|c| c.wa_id == header.from)
                .and_then(|c| c.profile.as_ref())
                .map(|p| p.name.clone())
                .unwrap_or_default();
            let seconds = header.timestamp.parse::<i64>().unwrap_or_default();
            let sent_at = DateTime::from_timestamp(seconds, 0).map(inbox_proto::timestamp_from);
            out.push(Normalised {
                phone_number_id: meta.phone_number_id.clone(),
                message: InboundMessage {
                    tenant_id: String::new(),
                    channel: Channel::Whatsapp as i32,
                    channel_account_id: String::new(),
                    external_id: header.id.clone(),
                    sent_at,
                    sender: Some(Sender { address: header.from.clone(), display_name }),
                    content: Some(content_of(&header.kind, raw)),
                    raw_payload_id: String::new(),
                    visitor: None,
                },
            });
        }
    }
    out
}

/// Every status update in `payload`, with the number it concerns, in order of appearance.
pub fn status_updates(payload: &WebhookPayload) -> Vec<(String, StatusUpdate)> {
    let mut out = Vec::new();
    for change in payload.entry.iter().flat_map(|e| &e.changes).filter(|c| c.field == "messages") {
        let Some(meta) = &change.value.metadata else { continue };
        for raw in &change.value.statuses {
            // `WebhookPayload::parse` checked every status already.
            if let Ok(update) = StatusUpdate::deserialize(raw) {
                out.push((meta.phone_number_id.clone(), update));
            }
        }
    }
    out
}

fn str_at<'a>(raw: &'a Value, pointer: &str) -> &'a str {
    raw.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// The content of one message as Meta documents each type; anything else, or a documented
/// type missing what makes it that type, is kept as unsupported with a description.
fn content_of(kind: &str, raw: &Value) -> MessageContent {
    let kind = match kind {
        "text" => match raw.pointer("/text/body").and_then(Value::as_str) {
            Some(body) => Kind::Text(TextContent { body: body.to_owned() }),
            None => unsupported("text", "text message without a body"),
        },
        "image" | "audio" | "video" | "document" | "sticker" => media(kind, raw),
        "location" => match (
            raw.pointer("/location/latitude").and_then(Value::as_f64),
            raw.pointer("/location/longitude").and_then(Value::as_f64),
        ) {
            (Some(latitude), Some(longitude)) => Kind::Location(LocationContent {
                latitude,
                longitude,
                name: str_at(raw, "/location/name").to_owned(),
                address: str_at(raw, "/location/address").to_owned(),
                url: str_at(raw, "/location/url").to_owned(),
            }),
            _ => unsupported("location", "location without coordinates"),
        },
        "contacts" => {
            let cards = raw.get("contacts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            Kind::Contacts(ContactsContent { contacts: cards.iter().map(shared_contact).collect() })
        }
        "interactive" => {
            let reply_type = str_at(raw, "/interactive/type");
            match reply_type {
                "button_reply" | "list_reply" => {
                    let reply = &raw["interactive"][reply_type];
                    Kind::InteractiveReply(InteractiveReplyContent {
                        reply_type: reply_type.to_owned(),
                        id: str_at(reply, "/id").to_owned(),
                        title: str_at(reply, "/title").to_owned(),
                        description: str_at(reply, "/description").to_owned(),
                    })
                }
                other => unsupported("interactive", &format!("interactive {other} message")),
            }
        }
        // A tap on a template's quick-reply button.
        "button" => Kind::InteractiveReply(InteractiveReplyContent {
            reply_type: "quick_reply".to_owned(),
            id: str_at(raw, "/button/payload").to_owned(),
            title: str_at(raw, "/button/text").to_owned(),
            description: String::new(),
        }),
        "reaction" => Kind::Reaction(ReactionContent {
            external_id: str_at(raw, "/reaction/message_id").to_owned(),
            emoji: str_at(raw, "/reaction/emoji").to_owned(),
        }),
        "system" => unsupported("system", &format!("system message: {}", str_at(raw, "/system/body"))),
        "unsupported" | "unknown" => {
            let title = str_at(raw, "/errors/0/title");
            let details = str_at(raw, "/errors/0/error_data/details");
            let description = [title, details].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": ");
            let description = if description.is_empty() {
                "message type not supported by WhatsApp Cloud API".to_owned()
            } else {
                description
            };
            unsupported(kind, &description)
        }
        other => unsupported(other, &format!("{other} message")),
    };
    MessageContent { kind: Some(kind), reply_to: reply_context(raw) }
}

fn media(kind: &str, raw: &Value) -> Kind {
    let Some(body) = raw.get(kind).filter(|b| b.is_object()) else {
        return unsupported(kind, &format!("{kind} message without its {kind} object"));
    };
    let media_kind = match kind {
        "image" => MediaKind::Image,
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        "document" => MediaKind::Document,
        _ => MediaKind::Sticker,
    };
    Kind::Media(MediaContent {
        kind: media_kind as i32,
        media_id: str_at(body, "/id").to_owned(),
        // Meta's URLs need the access token and expire: agents open media through the gateway.
        url: String::new(),
        mime_type: str_at(body, "/mime_type").to_owned(),
        sha256: str_at(body, "/sha256").to_owned(),
        caption: str_at(body, "/caption").to_owned(),
        filename: str_at(body, "/filename").to_owned(),
        size_bytes: body.get("file_size").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok())).unwrap_or(0),
        voice: body.get("voice").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn shared_contact(card: &Value) -> SharedContact {
    let list = |key: &str| card.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    SharedContact {
        formatted_name: str_at(card, "/name/formatted_name").to_owned(),
        first_name: str_at(card, "/name/first_name").to_owned(),
        last_name: str_at(card, "/name/last_name").to_owned(),
        phones: list("phones")
            .iter()
            .map(|p| SharedPhone {
                phone: str_at(p, "/phone").to_owned(),
                r#type: str_at(p, "/type").to_owned(),
                wa_id: str_at(p, "/wa_id").to_owned(),
            })
            .collect(),
        emails: list("emails")
            .iter()
            .map(|e| SharedEmail { email: str_at(e, "/email").to_owned(), r#type: str_at(e, "/type").to_owned() })
            .collect(),
        company: str_at(card, "/org/company").to_owned(),
        urls: list("urls").iter().map(|u| str_at(u, "/url").to_owned()).filter(|u| !u.is_empty()).collect(),
        birthday: str_at(card, "/birthday").to_owned(),
    }
}

fn reply_context(raw: &Value) -> Option<ReplyContext> {
    let context = raw.get("context").filter(|c| c.is_object())?;
    Some(ReplyContext {
        external_id: str_at(context, "/id").to_owned(),
        from: str_at(context, "/from").to_owned(),
        forwarded: context.get("forwarded").and_then(Value::as_bool).unwrap_or(false),
        frequently_forwarded: context.get("frequently_forwarded").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn unsupported(provider_type: &str, description: &str) -> Kind {
    Kind::Unsupported(UnsupportedContent {
        provider_type: provider_type.to_owned(),
        description: description.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whatsapp::payload::PayloadError;

    /// A text message webhook exactly as Meta documents it.
    const TEXT_WEBHOOK: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{
        "id": "102290129340398",
        "changes": [{
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{
              "from": "16505551234",
              "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
              "timestamp": "1749416383",
              "type": "text",
              "text": {"body": "Does it come in another color?"}
            }]
          },
          "field": "messages"
        }]
      }]
    }"#;

    #[test]
    fn a_documented_text_webhook_becomes_one_inbound_message() {
        let payload = WebhookPayload::parse(TEXT_WEBHOOK.as_bytes()).unwrap();
        assert_eq!(payload.phone_number_ids(), ["106540352242922"]);
        let messages = inbound_messages(&payload);
        assert_eq!(messages.len(), 1);
        let m = &messages[0].message;
        assert_eq!(m.external_id, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
        assert_eq!(m.sender, Some(Sender { address: "16505551234".into(), display_name: "Sheena Nelson".into() }));
        assert_eq!(m.sent_at.as_ref().map(|t| t.seconds), Some(1_749_416_383));
        assert_eq!(
            m.content.as_ref().and_then(|c| c.kind.clone()),
            Some(Kind::Text(TextContent { body: "Does it come in another color?".into() }))
        );
    }

    #[test]
    fn a_type_we_do_not_model_yet_is_kept_as_unsupported() {
        let body = TEXT_WEBHOOK.replace(r#""type": "text""#, r#""type": "order""#);
        let messages = inbound_messages(&WebhookPayload::parse(body.as_bytes()).unwrap());
        assert!(matches!(
            messages[0].message.content.as_ref().and_then(|c| c.kind.clone()),
            Some(Kind::Unsupported(UnsupportedContent { ref provider_type, .. })) if provider_type == "order"
        ));
    }

    const EVERY_TYPE: &str = include_str!("../../tests/fixtures/whatsapp_every_type.json");

    fn kind_of(messages: &[Normalised], wamid: &str) -> Kind {
        let m = messages.iter().find(|m| m.message.external_id == wamid).unwrap();
        m.message.content.as_ref().and_then(|c| c.kind.clone()).unwrap()
    }

    #[test]
    fn every_documented_message_type_of_one_post_is_kept_in_order() {
        let messages = inbound_messages(&WebhookPayload::parse(EVERY_TYPE.as_bytes()).unwrap());
        let ids: Vec<_> = messages.iter().map(|m| m.message.external_id.as_str()).collect();
        let expected: Vec<String> = (1..=16).map(|i| format!("wamid.EVERY.{i:02}")).collect();
        assert_eq!(ids, expected, "two entries, three changes, sixteen messages, none dropped");
        assert_eq!(messages[15].message.sender.as_ref().unwrap().display_name, "Pablo Morales");

        let Kind::Media(image) = kind_of(&messages, "wamid.EVERY.02") else { panic!("image") };
        assert_eq!(
            (image.kind, image.media_id.as_str(), image.mime_type.as_str(), image.caption.as_str()),
            (MediaKind::Image as i32, "1003383421387256", "image/jpeg", "This one")
        );
        assert!(image.sha256.starts_with("8d8c5cb9"));
        let Kind::Media(voice) = kind_of(&messages, "wamid.EVERY.03") else { panic!("audio") };
        assert!(voice.voice && voice.kind == MediaKind::Audio as i32);
        let Kind::Media(video) = kind_of(&messages, "wamid.EVERY.04") else { panic!("video") };
        assert_eq!(video.kind, MediaKind::Video as i32);
        let Kind::Media(document) = kind_of(&messages, "wamid.EVERY.05") else { panic!("document") };
        assert_eq!((document.filename.as_str(), document.caption.as_str()), ("invoice-1042.pdf", "My invoice"));
        let Kind::Media(sticker) = kind_of(&messages, "wamid.EVERY.06") else { panic!("sticker") };
        assert_eq!(sticker.kind, MediaKind::Sticker as i32);

        let Kind::Location(place) = kind_of(&messages, "wamid.EVERY.07") else { panic!("location") };
        assert_eq!((place.latitude, place.longitude, place.name.as_str()), (37.483307, -122.148981, "Philz Coffee"));
        let Kind::Contacts(cards) = kind_of(&messages, "wamid.EVERY.08") else { panic!("contacts") };
        let card = &cards.contacts[0];
        assert_eq!(
            (card.formatted_name.as_str(), card.phones[0].wa_id.as_str(), card.emails[0].email.as_str()),
            ("Barbara J. Johnson", "16505551234", "barbara@example.com")
        );
        assert_eq!((card.company.as_str(), card.urls.len()), ("Social Media Inc", 1));

        let Kind::InteractiveReply(button) = kind_of(&messages, "wamid.EVERY.09") else { panic!("button_reply") };
        assert_eq!(
            (button.reply_type.as_str(), button.id.as_str(), button.title.as_str()),
            ("button_reply", "change-button", "Change")
        );
        let Kind::InteractiveReply(row) = kind_of(&messages, "wamid.EVERY.10") else { panic!("list_reply") };
        assert_eq!((row.reply_type.as_str(), row.description.as_str()), ("list_reply", "Next Day to 2 Days"));
        let Kind::InteractiveReply(quick) = kind_of(&messages, "wamid.EVERY.11") else { panic!("button") };
        assert_eq!(
            (quick.reply_type.as_str(), quick.id.as_str(), quick.title.as_str()),
            ("quick_reply", "STOP_PROMOS", "Stop promotions")
        );
        let Kind::Reaction(reaction) = kind_of(&messages, "wamid.EVERY.12") else { panic!("reaction") };
        assert_eq!((reaction.external_id.as_str(), reaction.emoji.as_str()), ("wamid.OURS.TEMPLATE", "\u{1F44D}"));

        let reply = messages.iter().find(|m| m.message.external_id == "wamid.EVERY.13").unwrap();
        let context = reply.message.content.as_ref().unwrap().reply_to.as_ref().unwrap();
        assert_eq!((context.external_id.as_str(), context.from.as_str()), ("wamid.OURS.TEXT", "15550783881"));

        let Kind::Unsupported(unknown) = kind_of(&messages, "wamid.EVERY.14") else { panic!("unsupported") };
        assert_eq!(unknown.provider_type, "unsupported");
        assert!(unknown.description.contains("Message type unknown"), "{}", unknown.description);
        let Kind::Unsupported(order) = kind_of(&messages, "wamid.EVERY.15") else { panic!("order") };
        assert_eq!(order.provider_type, "order");
    }

    #[test]
    fn statuses_are_read_with_their_errors() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"42"},
            "statuses":[{"id":"wamid.X","status":"failed","timestamp":"1749416383","recipient_id":"1",
              "errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message",
                         "error_data":{"details":"Message failed to send because more than 24 hours have passed"}}]}]}}]}]}"#;
        let updates = status_updates(&WebhookPayload::parse(body.as_bytes()).unwrap());
        assert_eq!(updates.len(), 1);
        let (number, update) = &updates[0];
        assert_eq!((number.as_str(), update.id.as_str(), update.status.as_str()), ("42", "wamid.X", "failed"));
        assert_eq!(update.errors[0].code, 131047);
        assert!(update.errors[0].details().starts_with("Message failed to send"));
    }

    #[test]
    fn status_only_webhooks_carry_no_customer_message() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"42"},
            "statuses":[{"id":"wamid.X","status":"delivered","timestamp":"1749416383","recipient_id":"1"}]}}]}]}"#;
        let payload = WebhookPayload::parse(body.as_bytes()).unwrap();
        assert!(inbound_messages(&payload).is_empty());
    }

    #[test]
    fn malformed_payloads_are_refused_with_a_reason_that_points_at_the_field() {
        assert!(matches!(WebhookPayload::parse(b"{not json"), Err(PayloadError::NotJson(_))));
        assert_eq!(
            WebhookPayload::parse(br#"{"object":"page","entry":[]}"#).unwrap_err(),
            PayloadError::WrongObject("page".into())
        );
        let no_id = TEXT_WEBHOOK.replace(r#""id": "wamid"#, r#""xid": "wamid"#);
        let err = WebhookPayload::parse(no_id.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("entry[0].changes[0].value.messages[0]: missing field `id`"), "{err}");
        let bad_time = TEXT_WEBHOOK.replace("\"1749416383\"", "\"yesterday\"");
        assert!(matches!(WebhookPayload::parse(bad_time.as_bytes()), Err(PayloadError::BadMessage { .. })));
    }
}
