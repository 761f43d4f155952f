//! Our message contents as Cloud API send requests (`POST /{phone_number_id}/messages`).

use chrono::{DateTime, Duration, Utc};
use inbox_proto::common::v1::{MediaContent, MediaKind, MessageContent, TemplateParameter, message_content::Kind};
use serde_json::{Map, Value, json};

/// WhatsApp's customer service window.
pub const CUSTOMER_SERVICE_WINDOW_HOURS: i64 = 24;

/// Whether a free-form message may go out now (templates always may).
pub fn within_customer_service_window(
    content: &MessageContent,
    last_customer_message_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    matches!(content.kind, Some(Kind::WhatsappTemplate(_)))
        || last_customer_message_at.is_some_and(|last| now - last < Duration::hours(CUSTOMER_SERVICE_WINDOW_HOURS))
}

/// The request body that sends `content` to the WhatsApp user `to`; the error says what cannot
/// be sent on WhatsApp.
pub fn request_body(to: &str, content: &MessageContent) -> Result<Value, String> {
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    body.insert("to".into(), json!(to));
    if let Some(context) = content.reply_to.as_ref().filter(|c| !c.external_id.is_empty()) {
        body.insert("context".into(), json!({"message_id": context.external_id}));
    }
    let (kind, object) = match content.kind.as_ref() {
        Some(Kind::Text(text)) => {
            let preview_url = text.body.contains("https://") || text.body.contains("http://");
            ("text", json!({"preview_url": preview_url, "body": text.body}))
        }
        Some(Kind::Media(media)) => media_object(media)?,
        Some(Kind::WhatsappTemplate(t)) => {
            let components: Vec<Value> = t
                .components
                .iter()
                .map(|c| {
                    let mut component = Map::new();
                    component.insert("type".into(), json!(c.r#type));
                    if c.r#type == "button" {
                        component.insert("sub_type".into(), json!(c.sub_type));
                        // The Cloud API documents the button index as a string.
                        component.insert("index".into(), json!(c.index.to_string()));
                    }
                    let parameters: Result<Vec<Value>, String> = c.parameters.iter().map(template_parameter).collect();
                    component.insert("parameters".into(), Value::Array(parameters?));
                    Ok(Value::Object(component))
                })
                .collect::<Result<_, String>>()?;
            let mut template = json!({"name": t.name, "language": {"code": t.language_code}});
            if !components.is_empty() {
                template["components"] = Value::Array(components);
            }
            ("template", template)
        }
        Some(Kind::InteractiveButtons(b)) => {
            let buttons: Vec<Value> =
                b.buttons.iter().map(|x| json!({"type": "reply", "reply": {"id": x.id, "title": x.title}})).collect();
            let mut interactive = json!({"type": "button", "body": {"text": b.body}, "action": {"buttons": buttons}});
            if !b.header.is_empty() {
                interactive["header"] = json!({"type": "text", "text": b.header});
            }
            if !b.footer.is_empty() {
                interactive["footer"] = json!({"text": b.footer});
            }
            ("interactive", interactive)
        }
        Some(Kind::Reaction(r)) => ("reaction", json!({"message_id": r.external_id, "emoji": r.emoji})),
        Some(Kind::Location(l)) => (
            "location",
            json!({"latitude": l.latitude, "longitude": l.longitude, "name": l.name, "address": l.address}),
        ),
        Some(Kind::Contacts(_) | Kind::InteractiveReply(_) | Kind::Call(_) | Kind::Unsupported(_)) | None => {
            return Err("this kind of message cannot be sent on WhatsApp".into());
        }
    };
    body.insert("type".into(), json!(kind));
    body.insert(kind.into(), object);
    Ok(Value::Object(body))
}

fn media_kind(media: &MediaContent) -> &'static str {
    match MediaKind::try_from(media.kind).unwrap_or(MediaKind::Unspecified) {
        MediaKind::Image => "image",
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Sticker => "sticker",
        MediaKind::Document | MediaKind::Unspecified => "document",
    }
}

/// `{"id"}` or `{"link"}`, with a caption where WhatsApp takes one and a document's filename.
fn media_reference(media: &MediaContent, kind: &str) -> Result<Value, String> {
    let mut object = Map::new();
    match (media.media_id.is_empty(), media.url.is_empty()) {
        (false, _) => object.insert("id".into(), json!(media.media_id)),
        (true, false) => object.insert("link".into(), json!(media.url)),
        (true, true) => return Err("a media message needs a media id or a link".into()),
    };
    if matches!(kind, "image" | "video" | "document") && !media.caption.is_empty() {
        object.insert("caption".into(), json!(media.caption));
    }
    if kind == "document" && !media.filename.is_empty() {
        object.insert("filename".into(), json!(media.filename));
    }
    Ok(Value::Object(object))
}

fn media_object(media: &MediaContent) -> Result<(&'static str, Value), String> {
    let kind = media_kind(media);
    Ok((kind, media_reference(media, kind)?))
}

fn template_parameter(p: &TemplateParameter) -> Result<Value, String> {
    match p.r#type.as_str() {
        "text" => Ok(json!({"type": "text", "text": p.text})),
        "payload" => Ok(json!({"type": "payload", "payload": p.payload})),
        kind @ ("image" | "video" | "document") => {
            let media = p.media.as_ref().ok_or_else(|| format!("a {kind} template parameter needs its media"))?;
            Ok(json!({"type": kind, kind: media_reference(media, if kind == "document" { "document" } else { "" })?}))
        }
        other => Err(format!("template parameter type {other:?} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inbox_proto::common::v1::{
        InteractiveButtonsContent, ReplyButton, ReplyContext, TemplateComponent, TextContent, WhatsAppTemplateContent,
    };

    fn content(kind: Kind) -> MessageContent {
        MessageContent { kind: Some(kind), reply_to: None }
    }

    #[test]
    fn text_follows_the_documented_shape() {
        let mut c = content(Kind::Text(TextContent { body: "See https://example.com".into() }));
        c.reply_to = Some(ReplyContext { external_id: "wamid.Q".into(), ..Default::default() });
        assert_eq!(
            request_body("16505551234", &c).unwrap(),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                   "context": {"message_id": "wamid.Q"},
                   "type": "text", "text": {"preview_url": true, "body": "See https://example.com"}})
        );
    }

    #[test]
    fn media_goes_by_id_or_link_with_caption_and_filename() {
        let doc = content(Kind::Media(MediaContent {
            kind: MediaKind::Document as i32,
            url: "https://files.example.com/a.pdf".into(),
            caption: "Your invoice".into(),
            filename: "a.pdf".into(),
            ..Default::default()
        }));
        let body = request_body("1", &doc).unwrap();
        assert_eq!(body["type"], "document");
        assert_eq!(
            body["document"],
            json!({"link": "https://files.example.com/a.pdf", "caption": "Your invoice", "filename": "a.pdf"})
        );
        let voice = content(Kind::Media(MediaContent {
            kind: MediaKind::Audio as i32,
            media_id: "123".into(),
            caption: "x".into(),
            ..Default::default()
        }));
        assert_eq!(request_body("1", &voice).unwrap()["audio"], json!({"id": "123"}), "audio takes no caption");
    }

    #[test]
    fn templates_carry_name_language_components_and_parameters() {
        let t = content(Kind::WhatsappTemplate(WhatsAppTemplateContent {
            name: "order_update".into(),
            language_code: "en_US".into(),
            components: vec![
                TemplateComponent {
                    r#type: "body".into(),
                    parameters: vec![TemplateParameter {
                        r#type: "text".into(),
                        text: "Ana".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                TemplateComponent {
                    r#type: "button".into(),
                    sub_type: "quick_reply".into(),
                    index: 0,
                    parameters: vec![TemplateParameter {
                        r#type: "payload".into(),
                        payload: "YES".into(),
                        ..Default::default()
                    }],
                },
            ],
        }));
        assert_eq!(
            request_body("1", &t).unwrap()["template"],
            json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "YES"}]}
            ]})
        );
    }

    #[test]
    fn reply_buttons_become_an_interactive_button_message() {
        let b = content(Kind::InteractiveButtons(InteractiveButtonsContent {
            body: "Change the address?".into(),
            header: String::new(),
            footer: "Acme".into(),
            buttons: vec![
                ReplyButton { id: "yes".into(), title: "Yes".into() },
                ReplyButton { id: "no".into(), title: "No".into() },
            ],
        }));
        assert_eq!(
            request_body("1", &b).unwrap()["interactive"],
            json!({"type": "button", "body": {"text": "Change the address?"}, "footer": {"text": "Acme"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                                          {"type": "reply", "reply": {"id": "no", "title": "No"}}]}})
        );
    }

    #[test]
    fn free_form_needs_the_window_but_templates_do_not() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2031, 3, 1, 9, 0, 0).unwrap();
        let text = content(Kind::Text(TextContent { body: "hi".into() }));
        assert!(within_customer_service_window(&text, Some(now - Duration::hours(2)), now));
        assert!(!within_customer_service_window(&text, Some(now - Duration::hours(25)), now));
        assert!(!within_customer_service_window(&text, None, now));
        let t = content(Kind::WhatsappTemplate(WhatsAppTemplateContent::default()));
        assert!(within_customer_service_window(&t, None, now));
    }
}
