//! Customer satisfaction: the survey sent when a conversation is resolved. Which replies read
//! as a rating, and how the survey message is marked, is the `inbox-csat` crate's rule, shared
//! with the conversation service (which keeps a conversation resolved when it is answered).

use inbox_csat::BUTTON_PREFIX;
use inbox_proto::common::v1::message_content::Kind;
use inbox_proto::common::v1::{InteractiveButtonsContent, MessageContent, ReplyButton, TextContent};

/// The question when the tenant wrote none.
pub const DEFAULT_SURVEY_TEXT: &str =
    "How would you rate the help you received? Reply with a number from 1 (poor) to 5 (excellent).";
/// Longest survey text a tenant may set.
pub const MAX_SURVEY_TEXT: usize = 1000;

/// The survey message: on WhatsApp within the customer service window, the question with three
/// reply buttons (their ids read back as 5, 3 and 1); elsewhere the question as text.
pub fn survey_content(text: &str, with_buttons: bool) -> MessageContent {
    let text = if text.trim().is_empty() { DEFAULT_SURVEY_TEXT } else { text.trim() };
    let kind = if with_buttons {
        let button =
            |score: u8, title: &str| ReplyButton { id: format!("{BUTTON_PREFIX}{score}"), title: title.into() };
        Kind::InteractiveButtons(InteractiveButtonsContent {
            body: text.into(),
            header: String::new(),
            footer: String::new(),
            buttons: vec![button(5, "😀 Great"), button(3, "😐 OK"), button(1, "😞 Poor")],
        })
    } else {
        Kind::Text(TextContent { body: text.into() })
    };
    MessageContent { kind: Some(kind), reply_to: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_survey_has_buttons_on_whatsapp_in_the_window_and_is_text_elsewhere() {
        let Some(Kind::InteractiveButtons(b)) = survey_content("How did we do?", true).kind else { panic!() };
        assert_eq!(b.body, "How did we do?");
        assert_eq!(b.buttons.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["csat:5", "csat:3", "csat:1"]);
        assert!(b.buttons.iter().all(|b| b.title.chars().count() <= 20));
        let Some(Kind::Text(t)) = survey_content("  ", false).kind else { panic!() };
        assert_eq!(t.body, DEFAULT_SURVEY_TEXT);
    }
}
