//! A WhatsApp Cloud API webhook body, as anyone on the internet may POST it: the signature
//! check, the payload parser and the normalisation of what it holds must never panic.
#![no_main]

use inbox_channel_ingest::whatsapp::{normalise, payload::WebhookPayload, signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    // Signed correctly (what Meta sends) and with the body's own first line as a header.
    let good = signature::sign(b"fuzz-app-secret", body);
    assert!(signature::verify(b"fuzz-app-secret", body, Some(&good)).is_ok());
    let header = std::str::from_utf8(body).ok().and_then(|s| s.lines().next());
    let _ = signature::verify(b"fuzz-app-secret", body, header);
    if let Ok(payload) = WebhookPayload::parse(body) {
        let _ = payload.phone_number_ids();
        let _ = payload.business_account_ids();
        let _ = payload.other_fields();
        let _ = normalise::inbound_messages(&payload);
        let _ = normalise::status_updates(&payload);
    }
});
