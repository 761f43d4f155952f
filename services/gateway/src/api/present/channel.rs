//! Channel accounts as admins see them (never their secrets: only whether one is set), and the
//! count of a webhook replay.

use inbox_proto::ingest::v1 as ingest;
use serde::Serialize;
use utoipa::ToSchema;

/// A WhatsApp Cloud API number.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WhatsAppAccount)]
pub struct WhatsAppAccountJson {
    pub id: String,
    pub tenant_id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub has_app_secret: bool,
    pub has_access_token: bool,
    pub business_account_id: String,
}

/// A WhatsApp Cloud API number.
pub fn whatsapp_account(a: &ingest::WhatsAppAccount) -> WhatsAppAccountJson {
    WhatsAppAccountJson {
        id: a.id.clone(),
        tenant_id: a.tenant_id.clone(),
        phone_number_id: a.phone_number_id.clone(),
        display_phone_number: a.display_phone_number.clone(),
        has_app_secret: a.has_app_secret,
        has_access_token: a.has_access_token,
        business_account_id: a.business_account_id.clone(),
    }
}

/// A web chat widget with its public key.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebchatWidget)]
pub struct WebchatWidgetJson {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub widget_key: String,
    pub allowed_origins: Vec<String>,
    pub greeting: String,
    pub color: String,
}

/// A web chat widget with its public key.
pub fn webchat_widget(w: &ingest::WebchatWidget) -> WebchatWidgetJson {
    WebchatWidgetJson {
        id: w.id.clone(),
        tenant_id: w.tenant_id.clone(),
        name: w.name.clone(),
        widget_key: w.widget_key.clone(),
        allowed_origins: w.allowed_origins.clone(),
        greeting: w.greeting.clone(),
        color: w.color.clone(),
    }
}

/// A Twilio number with its voice configuration.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TwilioAccount)]
pub struct TwilioAccountJson {
    pub id: String,
    pub tenant_id: String,
    pub account_sid: String,
    pub phone_number: String,
    pub has_auth_token: bool,
    pub agent_numbers: Vec<String>,
    pub queue_name: String,
    pub ring_timeout_seconds: u32,
    pub voicemail: bool,
    pub voicemail_greeting: String,
    pub voicemail_max_seconds: u32,
    pub record_calls: bool,
    pub transcribe: bool,
}

/// A Twilio number with its voice configuration.
pub fn twilio_account(a: &ingest::TwilioAccount) -> TwilioAccountJson {
    let c = a.config.clone().unwrap_or_default();
    TwilioAccountJson {
        id: a.id.clone(),
        tenant_id: a.tenant_id.clone(),
        account_sid: a.account_sid.clone(),
        phone_number: a.phone_number.clone(),
        has_auth_token: a.has_auth_token,
        agent_numbers: c.agent_numbers,
        queue_name: c.queue_name,
        ring_timeout_seconds: c.ring_timeout_seconds,
        voicemail: c.voicemail,
        voicemail_greeting: c.voicemail_greeting,
        voicemail_max_seconds: c.voicemail_max_seconds,
        record_calls: c.record_calls,
        transcribe: c.transcribe,
    }
}

/// What a replay of archived webhooks processed again.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookReplay)]
pub struct ReplayJson {
    pub payloads: u32,
    pub messages: u32,
    pub statuses: u32,
}

/// What a replay of archived webhooks processed again.
pub fn replay(r: &ingest::ReplayRawPayloadsResponse) -> ReplayJson {
    ReplayJson { payloads: r.payloads, messages: r.messages, statuses: r.statuses }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn to_json(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn an_account_says_whether_a_secret_is_set_and_never_shows_it() {
        let whatsapp = to_json(whatsapp_account(&ingest::WhatsAppAccount {
            id: "a1".into(),
            phone_number_id: "1099".into(),
            has_app_secret: true,
            ..Default::default()
        }));
        assert_eq!((&whatsapp["has_app_secret"], &whatsapp["has_access_token"]), (&json!(true), &json!(false)));
        let twilio = to_json(twilio_account(&ingest::TwilioAccount {
            account_sid: "AC1".into(),
            has_auth_token: true,
            config: Some(ingest::TwilioVoiceConfig { voicemail: true, ring_timeout_seconds: 20, ..Default::default() }),
            ..Default::default()
        }));
        assert_eq!((&twilio["voicemail"], &twilio["ring_timeout_seconds"]), (&json!(true), &json!(20)));
        assert!(twilio.get("auth_token").is_none());
        let unconfigured = to_json(twilio_account(&ingest::TwilioAccount::default()));
        assert_eq!(unconfigured["agent_numbers"], json!([]));
    }

    #[test]
    fn a_widget_shows_its_key_and_origins() {
        let widget = to_json(webchat_widget(&ingest::WebchatWidget {
            widget_key: "wk_1".into(),
            allowed_origins: vec!["https://shop.example".into()],
            ..Default::default()
        }));
        assert_eq!(widget["widget_key"], "wk_1");
        assert_eq!(widget["allowed_origins"], json!(["https://shop.example"]));
    }
}
