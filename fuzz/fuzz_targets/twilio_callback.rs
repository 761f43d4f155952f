//! A Twilio Voice callback: the kind chosen by the first byte, then the query string and the
//! form body split at the first 0xFF byte. Parsing, the signature check over the parsed
//! parameters and everything derived from a callback must never panic.
#![no_main]

use chrono::{TimeZone, Utc};
use inbox_channel_ingest::twilio::callback::{Callback, CallbackKind};
use inbox_channel_ingest::twilio::signature;
use libfuzzer_sys::fuzz_target;

const KINDS: [CallbackKind; 6] = [
    CallbackKind::Voice,
    CallbackKind::Dial,
    CallbackKind::Connect,
    CallbackKind::Status,
    CallbackKind::Recording,
    CallbackKind::Transcription,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    let (query, body) = match rest.iter().position(|b| *b == 0xFF) {
        Some(at) => (std::str::from_utf8(&rest[..at]).ok(), &rest[at + 1..]),
        None => (None, rest),
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let url = format!("https://ingest.example.test/webhooks/twilio/voice?{}", query.unwrap_or_default());
    let good = signature::sign("fuzz-auth-token", &url, &params);
    assert!(signature::verify("fuzz-auth-token", &url, &params, Some(&good)).is_ok());
    let _ = signature::verify("fuzz-auth-token", &url, &params, std::str::from_utf8(body).ok());
    if let Ok(callback) = Callback::parse(kind, query, body) {
        let received = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
        let _ = callback.call_item();
        let _ = callback.occurred_at(received);
        let _ = callback.inbound_message(received);
        let _ = callback.dial_unanswered();
        let _ = callback.our_number();
        let _ = callback.caller();
    }
});
