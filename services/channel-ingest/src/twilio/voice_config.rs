//! How a Twilio number answers calls, as stored in `channel_accounts.config` and sent over
//! gRPC (`inbox.ingest.v1.TwilioVoiceConfig`).

use inbox_proto::ingest::v1 as pb;
use serde::{Deserialize, Serialize};

/// Default ring time of `<Dial>`, Twilio's own default.
pub const DEFAULT_RING_TIMEOUT: u32 = 20;
/// Default longest voicemail.
pub const DEFAULT_VOICEMAIL_MAX: u32 = 120;

/// A Twilio account's settings besides its secret (the auth token is a column of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioConfig {
    /// Twilio's Account SID (`AC` + 32 hex digits).
    pub account_sid: String,
    pub voice: VoiceConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceConfig {
    pub agent_numbers: Vec<String>,
    pub queue_name: String,
    pub ring_timeout_seconds: u32,
    pub voicemail: bool,
    pub voicemail_greeting: String,
    pub voicemail_max_seconds: u32,
    pub record_calls: bool,
    pub transcribe: bool,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            agent_numbers: Vec::new(),
            queue_name: String::new(),
            ring_timeout_seconds: DEFAULT_RING_TIMEOUT,
            voicemail: true,
            voicemail_greeting: String::new(),
            voicemail_max_seconds: DEFAULT_VOICEMAIL_MAX,
            record_calls: false,
            transcribe: false,
        }
    }
}

/// Whether `s` is a phone number in E.164 (`+` and 8 to 15 digits, no leading zero).
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0')
}

impl VoiceConfig {
    /// Checks and completes a configuration from the admin API; the error says what is wrong.
    pub fn from_proto(p: &pb::TwilioVoiceConfig) -> Result<Self, String> {
        let agent_numbers: Vec<String> = p.agent_numbers.iter().map(|n| n.trim().to_owned()).collect();
        if let Some(bad) = agent_numbers.iter().find(|n| !is_e164(n)) {
            return Err(format!("agent number {bad:?} is not in E.164 (+ and digits)"));
        }
        if agent_numbers.len() > 10 {
            return Err("at most 10 agent numbers (Twilio dials at most 10 at once)".into());
        }
        let queue_name = p.queue_name.trim().to_owned();
        if queue_name.chars().count() > 64 {
            return Err("queue_name must be at most 64 characters".into());
        }
        if agent_numbers.is_empty() && queue_name.is_empty() {
            return Err("name agent numbers to ring or a queue".into());
        }
        let ring_timeout_seconds =
            if p.ring_timeout_seconds == 0 { DEFAULT_RING_TIMEOUT } else { p.ring_timeout_seconds };
        if !(5..=600).contains(&ring_timeout_seconds) {
            return Err("ring_timeout_seconds must be between 5 and 600".into());
        }
        let voicemail_max_seconds =
            if p.voicemail_max_seconds == 0 { DEFAULT_VOICEMAIL_MAX } else { p.voicemail_max_seconds };
        if voicemail_max_seconds > 3600 {
            return Err("voicemail_max_seconds must be at most 3600".into());
        }
        if p.voicemail_greeting.chars().count() > 4000 {
            return Err("voicemail_greeting must be at most 4000 characters".into());
        }
        Ok(Self {
            agent_numbers,
            queue_name,
            ring_timeout_seconds,
            voicemail: p.voicemail,
            voicemail_greeting: p.voicemail_greeting.trim().to_owned(),
            voicemail_max_seconds,
            record_calls: p.record_calls,
            transcribe: p.transcribe,
        })
    }

    pub fn to_proto(&self) -> pb::TwilioVoiceConfig {
        pb::TwilioVoiceConfig {
            agent_numbers: self.agent_numbers.clone(),
            queue_name: self.queue_name.clone(),
            ring_timeout_seconds: self.ring_timeout_seconds,
            voicemail_greeting: self.voicemail_greeting.clone(),
            voicemail: self.voicemail,
            record_calls: self.record_calls,
            transcribe: self.transcribe,
            voicemail_max_seconds: self.voicemail_max_seconds,
        }
    }
}

impl TwilioConfig {
    /// The configuration stored with an account; a damaged one reads as the defaults.
    pub fn of(config: &serde_json::Value) -> Self {
        serde_json::from_value(config.clone()).unwrap_or_default()
    }
}

/// Whether `s` looks like a Twilio Account SID.
pub fn is_account_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("AC") && s[2..].chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_plus_and_digits() {
        assert!(is_e164("+14155550100"));
        assert!(!is_e164("14155550100"));
        assert!(!is_e164("+1 415 555"));
        assert!(!is_e164("+0123456789"));
    }

    #[test]
    fn a_configuration_needs_numbers_or_a_queue_and_gets_defaults() {
        let empty = pb::TwilioVoiceConfig::default();
        assert!(VoiceConfig::from_proto(&empty).is_err());
        let ok = VoiceConfig::from_proto(&pb::TwilioVoiceConfig {
            agent_numbers: vec!["+14155550100".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.ring_timeout_seconds, DEFAULT_RING_TIMEOUT);
        assert_eq!(ok.voicemail_max_seconds, DEFAULT_VOICEMAIL_MAX);
        let bad = pb::TwilioVoiceConfig { agent_numbers: vec!["555".into()], ..Default::default() };
        assert!(VoiceConfig::from_proto(&bad).unwrap_err().contains("E.164"));
    }
}
