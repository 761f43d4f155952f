//! A web chat visitor's JSON (a session start or a message) and the fields checked on their
//! own: decoding and validation must never panic, whatever the bytes.
#![no_main]

use inbox_channel_ingest::webchat::visitor_input::{MessageInput, SessionInput, parse_email, parse_locale, parse_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = serde_json::from_slice::<MessageInput>(data) {
        let _ = message.validate();
    }
    if let Ok(session) = serde_json::from_slice::<SessionInput>(data) {
        let _ = session.name.as_deref().map(parse_name);
        let _ = session.email.as_deref().map(parse_email);
        let _ = session.locale.as_deref().map(parse_locale);
        let _ = session.page.as_ref().map(|p| p.validate());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_name(text);
        let _ = parse_email(text);
        let _ = parse_locale(text);
    }
});
