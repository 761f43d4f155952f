//! The TwiML we answer calls with. Every text and attribute value is XML-escaped.

use super::voice_config::VoiceConfig;

/// Paths of our callbacks, below the public base URL.
pub const VOICE_PATH: &str = "/webhooks/twilio/voice";
pub const DIAL_PATH: &str = "/webhooks/twilio/voice/dial";
/// Click-to-call: the agent answered; connect the customer.
pub const CONNECT_PATH: &str = "/webhooks/twilio/voice/connect";
pub const STATUS_PATH: &str = "/webhooks/twilio/voice/status";
pub const RECORDING_PATH: &str = "/webhooks/twilio/voice/recording";
pub const TRANSCRIPTION_PATH: &str = "/webhooks/twilio/voice/transcription";

/// Escapes `s` for XML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The URLs of the callbacks our TwiML asks for. They carry our number and the caller, which
/// Twilio's recording callbacks do not send, so every replica can file them without state.
pub struct CallbackUrls {
    base: String,
    query: String,
}

impl CallbackUrls {
    /// `base`: our public base URL (no trailing slash); `number`: the tenant's number;
    /// `caller`: the customer's.
    pub fn new(base: &str, number: &str, caller: &str) -> Self {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("number", number)
            .append_pair("caller", caller)
            .finish();
        Self { base: base.trim_end_matches('/').to_owned(), query }
    }

    pub fn dial_action(&self) -> String {
        format!("{}{DIAL_PATH}?{}", self.base, self.query)
    }

    /// `voicemail`: a recording the caller left after nobody answered; else a call recording.
    pub fn recording(&self, voicemail: bool) -> String {
        let kind = if voicemail { "voicemail" } else { "call" };
        format!("{}{RECORDING_PATH}?kind={kind}&{}", self.base, self.query)
    }

    /// Where Twilio fetches the TwiML of a click-to-call once the agent answers.
    pub fn connect(&self) -> String {
        format!("{}{CONNECT_PATH}?{}", self.base, self.query)
    }

    /// The status callback of a call we place.
    pub fn status(&self) -> String {
        format!("{}{STATUS_PATH}?{}", self.base, self.query)
    }

    pub fn transcription(&self) -> String {
        format!("{}{TRANSCRIPTION_PATH}?{}", self.base, self.query)
    }
}

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// How to answer an incoming call: ring the agents (`<Dial><Number>`) or queue the caller
/// (`<Enqueue>`); either way the outcome comes back to the dial action.
pub fn answer_call(voice: &VoiceConfig, urls: &CallbackUrls) -> String {
    let action = escape(&urls.dial_action());
    if !voice.queue_name.is_empty() {
        return format!(
            r#"{HEAD}<Response><Enqueue action="{action}" method="POST">{}</Enqueue></Response>"#,
            escape(&voice.queue_name)
        );
    }
    let record = if voice.record_calls {
        format!(
            r#" record="record-from-answer-dual" recordingStatusCallback="{}" recordingStatusCallbackMethod="POST""#,
            escape(&urls.recording(false))
        )
    } else {
        String::new()
    };
    let numbers: String =
        voice.agent_numbers.iter().map(|n| format!("<Number>{}</Number>", escape(n))).collect::<Vec<_>>().concat();
    format!(
        r#"{HEAD}<Response><Dial timeout="{}" action="{action}" method="POST"{record}>{numbers}</Dial></Response>"#,
        voice.ring_timeout_seconds
    )
}

/// Click-to-call, once the agent answered: ring the customer from our number.
pub fn connect_customer(voice: &VoiceConfig, our_number: &str, customer: &str, urls: &CallbackUrls) -> String {
    format!(
        r#"{HEAD}<Response><Dial callerId="{}" timeout="{}" action="{}" method="POST"><Number>{}</Number></Dial></Response>"#,
        escape(our_number),
        voice.ring_timeout_seconds,
        escape(&urls.dial_action()),
        escape(customer),
    )
}

/// What to do once ringing ended unanswered: the greeting and a voicemail recording (with a
/// transcript when configured), or hang up.
pub fn voicemail(voice: &VoiceConfig, urls: &CallbackUrls) -> String {
    if !voice.voicemail {
        return hangup();
    }
    let say = if voice.voicemail_greeting.is_empty() {
        String::new()
    } else {
        format!("<Say>{}</Say>", escape(&voice.voicemail_greeting))
    };
    let transcribe = if voice.transcribe {
        format!(r#" transcribe="true" transcribeCallback="{}""#, escape(&urls.transcription()))
    } else {
        String::new()
    };
    // After recording Twilio requests `action`; the dial action hangs up when it gets no
    // dial outcome.
    format!(
        r#"{HEAD}<Response>{say}<Record maxLength="{}" playBeep="true" action="{}" method="POST" recordingStatusCallback="{}" recordingStatusCallbackMethod="POST"{transcribe}/><Hangup/></Response>"#,
        voice.voicemail_max_seconds,
        escape(&urls.dial_action()),
        escape(&urls.recording(true)),
    )
}

pub fn hangup() -> String {
    format!("{HEAD}<Response><Hangup/></Response>")
}

/// The answer to status, recording and transcription callbacks (Twilio ignores it).
pub fn empty() -> String {
    format!("{HEAD}<Response/>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> CallbackUrls {
        CallbackUrls::new("https://in.example.com/", "+14155550100", "+4915112345678")
    }

    #[test]
    fn agents_are_dialled_with_timeout_and_action() {
        let voice = VoiceConfig {
            agent_numbers: vec!["+14155550111".into(), "+14155550112".into()],
            ring_timeout_seconds: 25,
            ..Default::default()
        };
        let xml = answer_call(&voice, &urls());
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="25" action="https://in.example.com/webhooks/twilio/voice/dial?number=%2B14155550100&amp;caller=%2B4915112345678" method="POST"><Number>+14155550111</Number><Number>+14155550112</Number></Dial></Response>"#
        );
    }

    #[test]
    fn a_queue_enqueues_the_caller() {
        let voice = VoiceConfig { queue_name: "Sales & <Support>".into(), ..Default::default() };
        let xml = answer_call(&voice, &urls());
        assert!(xml.contains(">Sales &amp; &lt;Support&gt;</Enqueue>"), "{xml}");
        assert!(xml.contains(r#"<Enqueue action="https://in.example.com/webhooks/twilio/voice/dial?"#), "{xml}");
    }

    #[test]
    fn voicemail_says_the_greeting_escaped_and_records_with_transcript() {
        let voice = VoiceConfig {
            agent_numbers: vec!["+14155550111".into()],
            voicemail_greeting: "We're away <back soon> & \"sorry\"".into(),
            transcribe: true,
            ..Default::default()
        };
        let xml = voicemail(&voice, &urls());
        assert!(xml.contains("<Say>We&apos;re away &lt;back soon&gt; &amp; &quot;sorry&quot;</Say>"), "{xml}");
        assert!(xml.contains(r#"recordingStatusCallback="https://in.example.com/webhooks/twilio/voice/recording?kind=voicemail&amp;number="#), "{xml}");
        assert!(xml.contains(r#"transcribe="true" transcribeCallback="https://in.example.com/webhooks/twilio/voice/transcription?number="#), "{xml}");
        let no_voicemail = VoiceConfig { voicemail: false, ..voice };
        assert_eq!(voicemail(&no_voicemail, &urls()), hangup());
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(escape("a\u{1}b\nc"), "ab\nc");
    }
}
