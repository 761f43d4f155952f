//! WhatsApp's customer service window: a business may send free-form messages only within
//! 24 hours of the customer's last message; outside it, only an approved template.

use chrono::{DateTime, Duration, Utc};
use inbox_proto::common::v1::{MessageContent, message_content::Kind};

/// How long after the customer's last message free-form replies are allowed.
pub const WINDOW_HOURS: i64 = 24;

/// Whether `content` may be sent on `channel` now. The error is the sentence the agent sees.
pub fn check_reply_allowed(
    channel: &str,
    content: &MessageContent,
    last_customer_message_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if channel != "whatsapp" || matches!(content.kind, Some(Kind::WhatsappTemplate(_))) {
        return Ok(());
    }
    match last_customer_message_at {
        Some(last) if now - last < Duration::hours(WINDOW_HOURS) => Ok(()),
        Some(last) => Err(format!(
            "the WhatsApp 24-hour customer service window is closed (the customer last wrote at {}): \
             only an approved template can be sent until the customer writes again",
            last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )),
        None => Err("the customer has not written on WhatsApp yet, so the 24-hour customer service window is \
                     closed: only an approved template can be sent"
            .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inbox_proto::common::v1::{TextContent, WhatsAppTemplateContent};

    fn text() -> MessageContent {
        MessageContent { kind: Some(Kind::Text(TextContent { body: "hi".into() })), reply_to: None }
    }

    #[test]
    fn free_form_is_allowed_for_24_hours_after_the_customer_wrote_then_only_templates() {
        let now = Utc::now();
        assert!(check_reply_allowed("whatsapp", &text(), Some(now - Duration::hours(23)), now).is_ok());
        let closed = check_reply_allowed("whatsapp", &text(), Some(now - Duration::hours(25)), now).unwrap_err();
        assert!(closed.contains("24-hour customer service window is closed"), "{closed}");
        assert!(check_reply_allowed("whatsapp", &text(), None, now).is_err());
        let template = MessageContent {
            kind: Some(Kind::WhatsappTemplate(WhatsAppTemplateContent {
                name: "hello_world".into(),
                ..Default::default()
            })),
            reply_to: None,
        };
        assert!(check_reply_allowed("whatsapp", &template, Some(now - Duration::days(30)), now).is_ok());
    }

    #[test]
    fn other_channels_have_no_window() {
        assert!(check_reply_allowed("webchat", &text(), None, Utc::now()).is_ok());
    }
}
