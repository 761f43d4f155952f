//! WhatsApp messages to [`InboundMessage`]s.

use chrono::DateTime;
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, UnsupportedContent, message_content::Kind};
use inbox_proto::ingest::v1::{InboundMessage, Sender};

use super::payload::{MessageHeader, WebhookPayload};

/// One customer message of a webhook, with the number it was sent to.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    pub phone_number_id: String,
    /// Tenant, channel account and raw payload id are left empty for the caller to fill.
    pub message: InboundMessage,
}

/// Every customer message in `payload` (statuses and other fields are not messages).
pub fn inbound_messages(payload: &WebhookPayload) -> Vec<Normalised> {
    let mut out = Vec::new();
    for change in payload.entry.iter().flat_map(|e| &e.changes).filter(|c| c.field == "messages") {
        let Some(meta) = &change.value.metadata else { continue };
        for raw in &change.value.messages {
            // `WebhookPayload::parse` checked every message header already.
            let Ok(header) = serde_json::from_value::<MessageHeader>(raw.clone()) else { continue };
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
                },
            });
        }
    }
    out
}

fn content_of(kind: &str, raw: &serde_json::Value) -> MessageContent {
    let kind = match kind {
        "text" => match raw.pointer("/text/body").and_then(|b| b.as_str()) {
            Some(body) => Kind::Text(TextContent { body: body.to_owned() }),
            None => unsupported("text", "text message without a body"),
        },
        other => unsupported(other, &format!("{other} message")),
    };
    MessageContent { kind: Some(kind) }
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
