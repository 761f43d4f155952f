//! Channel accounts as admins see them (never their secrets: only whether one is set), and the
//! count of a webhook replay.

use inbox_proto::ingest::v1 as ingest;
use serde_json::{Value, json};

/// A WhatsApp Cloud API number.
pub fn whatsapp_account(a: &ingest::WhatsAppAccount) -> Value {
    json!({
        "id": a.id,
        "tenant_id": a.tenant_id,
        "phone_number_id": a.phone_number_id,
        "display_phone_number": a.display_phone_number,
        "has_app_secret": a.has_app_secret,
        "has_access_token": a.has_access_token,
        "business_account_id": a.business_account_id,
    })
}

/// A web chat widget with its public key.
pub fn webchat_widget(w: &ingest::WebchatWidget) -> Value {
    json!({
        "id": w.id,
        "tenant_id": w.tenant_id,
        "name": w.name,
        "widget_key": w.widget_key,
        "allowed_origins": w.allowed_origins,
        "greeting": w.greeting,
        "color": w.color,
    })
}

/// A Twilio number with its voice configuration.
pub fn twilio_account(a: &ingest::TwilioAccount) -> Value {
    let c = a.config.clone().unwrap_or_default();
    json!({
        "id": a.id,
        "tenant_id": a.tenant_id,
        "account_sid": a.account_sid,
        "phone_number": a.phone_number,
        "has_auth_token": a.has_auth_token,
        "agent_numbers": c.agent_numbers,
        "queue_name": c.queue_name,
        "ring_timeout_seconds": c.ring_timeout_seconds,
        "voicemail": c.voicemail,
        "voicemail_greeting": c.voicemail_greeting,
        "voicemail_max_seconds": c.voicemail_max_seconds,
        "record_calls": c.record_calls,
        "transcribe": c.transcribe,
    })
}

/// What a replay of archived webhooks processed again.
pub fn replay(r: &ingest::ReplayRawPayloadsResponse) -> Value {
    json!({"payloads": r.payloads, "messages": r.messages, "statuses": r.statuses})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_says_whether_a_secret_is_set_and_never_shows_it() {
        let whatsapp = whatsapp_account(&ingest::WhatsAppAccount {
            id: "a1".into(),
            phone_number_id: "1099".into(),
            has_app_secret: true,
            ..Default::default()
        });
        assert_eq!((&whatsapp["has_app_secret"], &whatsapp["has_access_token"]), (&json!(true), &json!(false)));
        let twilio = twilio_account(&ingest::TwilioAccount {
            account_sid: "AC1".into(),
            has_auth_token: true,
            config: Some(ingest::TwilioVoiceConfig { voicemail: true, ring_timeout_seconds: 20, ..Default::default() }),
            ..Default::default()
        });
        assert_eq!((&twilio["voicemail"], &twilio["ring_timeout_seconds"]), (&json!(true), &json!(20)));
        assert!(twilio.get("auth_token").is_none());
        let unconfigured = twilio_account(&ingest::TwilioAccount::default());
        assert_eq!(unconfigured["agent_numbers"], json!([]));
    }

    #[test]
    fn a_widget_shows_its_key_and_origins() {
        let widget = webchat_widget(&ingest::WebchatWidget {
            widget_key: "wk_1".into(),
            allowed_origins: vec!["https://shop.example".into()],
            ..Default::default()
        });
        assert_eq!(widget["widget_key"], "wk_1");
        assert_eq!(widget["allowed_origins"], json!(["https://shop.example"]));
    }
}
