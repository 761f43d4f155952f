//! The content of a message an agent sends, read from the request: text, an attachment (the
//! text is its caption), an approved WhatsApp template, or text with reply buttons. Each shape
//! checks the channel's documented limits, so a send cannot fail at the provider for them.

use inbox_errors::PublicError;
use inbox_proto::common::v1::{
    InteractiveButtonsContent, MediaContent, MediaKind, MessageContent, ReplyButton, TemplateComponent,
    TemplateParameter, TextContent, WhatsAppTemplateContent, message_content::Kind,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::names::media_kind_from_name;

/// Longest message an agent can send, in characters (WhatsApp's text limit).
const MAX_TEXT_CHARS: usize = 4096;

/// The content of a new message from its request fields: a template, interactive buttons, or
/// text with an optional attachment (at most one of the first two; text or an attachment
/// otherwise). The error names the bad field.
pub fn message_content(
    text: String,
    attachment: Option<NewAttachment>,
    template: Option<Value>,
    interactive: Option<Value>,
) -> Result<MessageContent, PublicError> {
    let kind = match (template, interactive) {
        (Some(_), Some(_)) => return Err(invalid("send either a template or interactive buttons")),
        (Some(template), None) => parse::<NewWhatsAppTemplate>("template", template)?.into_kind()?,
        (None, Some(interactive)) => parse::<NewInteractiveButtons>("interactive", interactive)?.into_kind()?,
        (None, None) => {
            if text.trim().is_empty() && attachment.is_none() {
                return Err(invalid("text or an attachment is required"));
            }
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(PublicError::invalid_argument(format!("text is longer than {MAX_TEXT_CHARS} characters")));
            }
            return match attachment {
                Some(attachment) => attachment.into_content(text),
                None => Ok(MessageContent { kind: Some(Kind::Text(TextContent { body: text })), reply_to: None }),
            };
        }
    };
    Ok(MessageContent { kind: Some(kind), reply_to: None })
}

/// A file sent with a reply: a provider media id or a URL the channel can fetch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    #[schema(schema_with = crate::api::names::schema::media_kind)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    media_id: String,
    mime_type: String,
    #[serde(default)]
    filename: String,
    #[serde(default)]
    size_bytes: u64,
}

impl NewAttachment {
    /// The media content, with `caption`; the error names the bad field.
    fn into_content(self, caption: String) -> Result<MessageContent, PublicError> {
        let Some((kind, voice)) = media_kind_from_name(&self.kind) else {
            return Err(invalid("attachment.kind must be image, audio, voice, video, document or sticker"));
        };
        if self.url.is_empty() == self.media_id.is_empty() {
            return Err(invalid("attachment needs exactly one of url and media_id"));
        }
        if !self.url.is_empty() && !self.url.starts_with("https://") {
            return Err(invalid("attachment.url must be an https URL"));
        }
        if !self.mime_type.contains('/') || self.mime_type.len() > 100 {
            return Err(invalid("attachment.mime_type must be a MIME type such as image/jpeg"));
        }
        if self.filename.chars().count() > 255 || self.url.len() > 2048 || self.media_id.len() > 200 {
            return Err(invalid("attachment fields are too long"));
        }
        Ok(MessageContent {
            kind: Some(Kind::Media(MediaContent {
                kind: kind as i32,
                media_id: self.media_id,
                url: self.url,
                mime_type: self.mime_type,
                sha256: String::new(),
                caption,
                filename: self.filename,
                size_bytes: self.size_bytes,
                voice,
            })),
            reply_to: None,
        })
    }
}

/// An approved WhatsApp template to send: `{"name", "language", "components": [...]}` with
/// the Cloud API's component shapes (`type`, `sub_type`, `index`, `parameters`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWhatsAppTemplate {
    name: String,
    language: String,
    #[serde(default)]
    components: Vec<NewTemplateComponent>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplateComponent {
    /// header, body or button.
    #[serde(rename = "type")]
    kind: String,
    /// A button's: quick_reply or url.
    #[serde(default)]
    sub_type: String,
    #[serde(default)]
    index: u32,
    #[serde(default)]
    parameters: Vec<NewTemplateParameter>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplateParameter {
    /// text, payload, image, video or document (a media parameter needs `link` or `media_id`).
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    media_id: String,
    #[serde(default)]
    filename: String,
}

fn invalid(message: &str) -> PublicError {
    PublicError::invalid_argument(message.to_owned())
}

impl NewWhatsAppTemplate {
    fn into_kind(self) -> Result<Kind, PublicError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 512
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(invalid("template.name must be the approved template's name (lowercase, digits, _)"));
        }
        if self.language.is_empty() || self.language.len() > 16 {
            return Err(invalid("template.language must be a language code such as en_US"));
        }
        let mut components = Vec::with_capacity(self.components.len());
        for c in self.components {
            if !matches!(c.kind.as_str(), "header" | "body" | "button") {
                return Err(invalid("template component type must be header, body or button"));
            }
            if c.kind == "button" && !matches!(c.sub_type.as_str(), "quick_reply" | "url") {
                return Err(invalid("template button sub_type must be quick_reply or url"));
            }
            let mut parameters = Vec::with_capacity(c.parameters.len());
            for p in c.parameters {
                let media = match p.kind.as_str() {
                    "text" | "payload" => None,
                    "image" | "video" | "document" => {
                        if p.link.is_empty() == p.media_id.is_empty() {
                            return Err(invalid("a media template parameter needs exactly one of link and media_id"));
                        }
                        let kind = match p.kind.as_str() {
                            "image" => MediaKind::Image,
                            "video" => MediaKind::Video,
                            _ => MediaKind::Document,
                        };
                        Some(MediaContent {
                            kind: kind as i32,
                            media_id: p.media_id,
                            url: p.link,
                            filename: p.filename,
                            ..Default::default()
                        })
                    }
                    _ => {
                        return Err(invalid("template parameter type must be text, payload, image, video or document"));
                    }
                };
                parameters.push(TemplateParameter { r#type: p.kind, text: p.text, payload: p.payload, media });
            }
            components.push(TemplateComponent { r#type: c.kind, sub_type: c.sub_type, index: c.index, parameters });
        }
        Ok(Kind::WhatsappTemplate(WhatsAppTemplateContent {
            name: self.name,
            language_code: self.language,
            components,
        }))
    }
}

/// Text with one to three reply buttons: `{"body", "header"?, "footer"?, "buttons": [{"id", "title"}]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteractiveButtons {
    body: String,
    #[serde(default)]
    header: String,
    #[serde(default)]
    footer: String,
    buttons: Vec<NewReplyButton>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReplyButton {
    id: String,
    title: String,
}

impl NewInteractiveButtons {
    /// Checks WhatsApp's documented limits so a send cannot fail at the provider for them.
    fn into_kind(self) -> Result<Kind, PublicError> {
        if self.body.trim().is_empty() || self.body.chars().count() > 1024 {
            return Err(invalid("interactive.body is required, at most 1024 characters"));
        }
        if self.header.chars().count() > 60 || self.footer.chars().count() > 60 {
            return Err(invalid("interactive.header and footer are at most 60 characters"));
        }
        if self.buttons.is_empty() || self.buttons.len() > 3 {
            return Err(invalid("interactive.buttons needs one to three buttons"));
        }
        let mut buttons = Vec::with_capacity(self.buttons.len());
        for b in self.buttons {
            if b.id.is_empty()
                || b.id.chars().count() > 256
                || b.title.trim().is_empty()
                || b.title.chars().count() > 20
            {
                return Err(invalid("each button needs an id (up to 256 characters) and a title (up to 20)"));
            }
            if buttons.iter().any(|x: &ReplyButton| x.id == b.id) {
                return Err(invalid("button ids must be unique"));
            }
            buttons.push(ReplyButton { id: b.id, title: b.title });
        }
        Ok(Kind::InteractiveButtons(InteractiveButtonsContent {
            body: self.body,
            header: self.header,
            footer: self.footer,
            buttons,
        }))
    }
}

/// Reads a JSON value into one of the request shapes above, with our error shape.
fn parse<T: serde::de::DeserializeOwned>(field: &str, value: Value) -> Result<T, PublicError> {
    serde_json::from_value(value).map_err(|e| PublicError::invalid_argument(format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attachment(value: Value) -> NewAttachment {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn text_becomes_a_text_message_and_an_attachment_carries_the_text_as_caption() {
        let text = message_content("Hello".into(), None, None, None).unwrap();
        assert_eq!(text.kind, Some(Kind::Text(TextContent { body: "Hello".into() })));
        let voice = attachment(json!({"kind": "voice", "media_id": "m1", "mime_type": "audio/ogg"}));
        let Some(Kind::Media(media)) = message_content("listen".into(), Some(voice), None, None).unwrap().kind else {
            panic!("a media message")
        };
        assert_eq!((media.kind, media.voice, media.caption.as_str()), (MediaKind::Audio as i32, true, "listen"));
    }

    #[test]
    fn a_message_without_content_or_with_two_kinds_of_it_is_refused() {
        assert_eq!(
            message_content(" ".into(), None, None, None).unwrap_err().message,
            "text or an attachment is required"
        );
        assert!(message_content("x".repeat(MAX_TEXT_CHARS + 1), None, None, None).is_err());
        let both = message_content(String::new(), None, Some(json!({})), Some(json!({})));
        assert_eq!(both.unwrap_err().message, "send either a template or interactive buttons");
    }

    #[test]
    fn an_attachment_needs_one_https_source_and_a_mime_type() {
        let plain_http = attachment(json!({"kind": "image", "url": "http://x/a.png", "mime_type": "image/png"}));
        assert_eq!(
            message_content(String::new(), Some(plain_http), None, None).unwrap_err().message,
            "attachment.url must be an https URL"
        );
        let both = attachment(json!({"kind": "image", "url": "https://x", "media_id": "m", "mime_type": "image/png"}));
        assert!(message_content(String::new(), Some(both), None, None).is_err());
        let unknown = attachment(json!({"kind": "gif", "media_id": "m", "mime_type": "image/gif"}));
        assert!(
            message_content(String::new(), Some(unknown), None, None)
                .unwrap_err()
                .message
                .starts_with("attachment.kind")
        );
    }

    #[test]
    fn a_template_and_reply_buttons_are_checked_against_whatsapps_limits() {
        let template = json!({"name": "order_update", "language": "en_US", "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "42"}]},
            {"type": "header", "parameters": [{"type": "image", "link": "https://x/a.png"}]},
        ]});
        let Some(Kind::WhatsappTemplate(t)) = message_content(String::new(), None, Some(template), None).unwrap().kind
        else {
            panic!("a template")
        };
        assert_eq!((t.name.as_str(), t.components.len()), ("order_update", 2));
        assert_eq!(t.components[1].parameters[0].media.as_ref().map(|m| m.url.as_str()), Some("https://x/a.png"));

        let badly_named = json!({"name": "Order Update", "language": "en_US"});
        assert!(message_content(String::new(), None, Some(badly_named), None).is_err());
        let unknown_field = json!({"name": "a", "language": "en", "colour": "red"});
        assert!(
            message_content(String::new(), None, Some(unknown_field), None)
                .unwrap_err()
                .message
                .starts_with("template: ")
        );

        let buttons = json!({"body": "Pick one", "buttons": [{"id": "a", "title": "Yes"}, {"id": "a", "title": "No"}]});
        assert_eq!(
            message_content(String::new(), None, None, Some(buttons)).unwrap_err().message,
            "button ids must be unique"
        );
        let buttons = json!({"body": "Pick one", "buttons": [{"id": "a", "title": "Yes"}, {"id": "b", "title": "No"}]});
        assert!(matches!(
            message_content(String::new(), None, None, Some(buttons)).unwrap().kind,
            Some(Kind::InteractiveButtons(b)) if b.buttons.len() == 2
        ));
    }
}
