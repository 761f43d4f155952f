//! Twilio's voice callbacks: the form parameters Twilio documents, checked, and turned into
//! call items (`inbox.common.v1.CallContent`) with deterministic external ids, so a retried
//! or duplicated callback names the same item at any delay.

use chrono::{DateTime, Utc};
use inbox_proto::common::v1::{
    CallContent, CallDisposition, CallEvent, CallRecording, CallTranscript, Channel, MessageContent,
    message_content::Kind,
};
use inbox_proto::ingest::v1::{InboundMessage, Sender};

use super::twiml::{CONNECT_PATH, DIAL_PATH, RECORDING_PATH, STATUS_PATH, TRANSCRIPTION_PATH, VOICE_PATH};

/// Which of our endpoints Twilio called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackKind {
    /// An incoming call: answer with TwiML.
    Voice,
    /// `<Dial>`/`<Enqueue>` finished (or `<Record>` did): answer with TwiML.
    Dial,
    /// Click-to-call: the agent answered the call we placed; answer with TwiML.
    Connect,
    /// The number's status callback.
    Status,
    Recording,
    Transcription,
}

impl CallbackKind {
    pub fn of_path(path: &str) -> Option<Self> {
        Some(match path {
            VOICE_PATH => Self::Voice,
            DIAL_PATH => Self::Dial,
            CONNECT_PATH => Self::Connect,
            STATUS_PATH => Self::Status,
            RECORDING_PATH => Self::Recording,
            TRANSCRIPTION_PATH => Self::Transcription,
            _ => return None,
        })
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Self::Voice => &["AccountSid", "CallSid", "From", "To"],
            Self::Dial | Self::Connect => &["AccountSid", "CallSid"],
            Self::Status => &["AccountSid", "CallSid", "CallStatus"],
            Self::Recording => &["AccountSid", "CallSid", "RecordingSid", "RecordingStatus"],
            Self::Transcription => &["AccountSid", "CallSid", "TranscriptionSid", "TranscriptionStatus"],
        }
    }
}

/// One checked callback: its POST parameters and the query of the URL Twilio called.
#[derive(Debug, Clone)]
pub struct Callback {
    pub kind: CallbackKind,
    /// The form parameters in body order (the signature sorts them itself).
    pub params: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

impl Callback {
    /// Parses a form-encoded body; the error names what is missing or wrong.
    pub fn parse(kind: CallbackKind, query: Option<&str>, body: &[u8]) -> Result<Self, String> {
        if std::str::from_utf8(body).is_err() {
            return Err("the form body is not UTF-8".into());
        }
        let params: Vec<(String, String)> =
            form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let callback = Self { kind, params, query };
        let missing: Vec<&str> =
            kind.required().iter().copied().filter(|name| callback.param(name).trim().is_empty()).collect();
        if !missing.is_empty() {
            return Err(format!("missing Twilio parameters: {}", missing.join(", ")));
        }
        if callback.our_number().is_empty() || callback.caller().is_empty() {
            return Err("the callback names no To/From numbers (nor number/caller in its URL)".into());
        }
        if callback.call_sid().len() > 64 || !callback.call_sid().chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("CallSid is not a Twilio sid".into());
        }
        Ok(callback)
    }

    /// A POST parameter, empty when absent.
    pub fn param(&self, name: &str) -> &str {
        lookup(&self.params, name)
    }

    pub fn account_sid(&self) -> &str {
        self.param("AccountSid")
    }

    pub fn call_sid(&self) -> &str {
        self.param("CallSid")
    }

    /// A call we placed (click-to-call), not one the customer made.
    pub fn outbound(&self) -> bool {
        self.param("Direction").starts_with("outbound")
    }

    /// The tenant's number: named in the URLs our TwiML gave Twilio, else `To` of an incoming
    /// call (`From` of an outgoing one).
    pub fn our_number(&self) -> &str {
        match lookup(&self.query, "number") {
            "" if self.outbound() => self.param("From"),
            "" => self.param("To"),
            number => number,
        }
    }

    /// The customer's number: the other end of the call.
    pub fn caller(&self) -> &str {
        match lookup(&self.query, "caller") {
            "" if self.outbound() => self.param("To"),
            "" => self.param("From"),
            caller => caller,
        }
    }

    /// The outcome of `<Dial>` (`DialCallStatus`) or `<Enqueue>` (`QueueResult`); empty after
    /// `<Record>`.
    pub fn dial_outcome(&self) -> &str {
        match self.param("DialCallStatus") {
            "" => self.param("QueueResult"),
            status => status,
        }
    }

    /// Whether the dial outcome means nobody took the call.
    pub fn dial_unanswered(&self) -> bool {
        !self.dial_outcome().is_empty() && dial_disposition(self.dial_outcome()) != CallDisposition::Answered
    }

    /// The call item this callback records, if any: `(external id, content)`. Deterministic:
    /// the same callback always gives the same id.
    pub fn call_item(&self) -> Option<(String, CallContent)> {
        let sid = self.call_sid();
        let mut content = CallContent {
            call_sid: sid.to_owned(),
            direction: self.param("Direction").to_owned(),
            caller_name: self.param("CallerName").to_owned(),
            ..Default::default()
        };
        // The numbers as the inbox sees them: the customer and ours (Twilio's `To` of a
        // click-to-call is the agent's phone).
        let (from, to) =
            if self.outbound() { (self.our_number(), self.caller()) } else { (self.caller(), self.our_number()) };
        content.from = from.to_owned();
        content.to = to.to_owned();
        let external_id = match self.kind {
            CallbackKind::Voice | CallbackKind::Connect => {
                content.event = CallEvent::Started as i32;
                content.provider_status = self.param("CallStatus").to_owned();
                format!("call:{sid}:started")
            }
            CallbackKind::Dial => {
                let outcome = self.dial_outcome();
                if outcome.is_empty() {
                    return None;
                }
                content.event = CallEvent::DialResult as i32;
                content.provider_status = outcome.to_owned();
                content.duration_seconds = seconds(self.param("DialCallDuration"));
                content.disposition = dial_disposition(outcome) as i32;
                format!("call:{sid}:dial")
            }
            CallbackKind::Status => {
                let status = self.param("CallStatus");
                let (event, disposition) = match status {
                    "queued" | "initiated" | "ringing" => (CallEvent::Ringing, CallDisposition::Unspecified),
                    "in-progress" => (CallEvent::Answered, CallDisposition::Answered),
                    "completed" => (CallEvent::Ended, CallDisposition::Answered),
                    "busy" => (CallEvent::Ended, CallDisposition::Busy),
                    "failed" => (CallEvent::Ended, CallDisposition::Failed),
                    "no-answer" | "canceled" => (CallEvent::Ended, CallDisposition::Missed),
                    _ => return None,
                };
                content.event = event as i32;
                content.disposition = disposition as i32;
                content.provider_status = status.to_owned();
                content.duration_seconds = seconds(self.param("CallDuration"));
                format!("call:{sid}:{status}")
            }
            CallbackKind::Recording => {
                // `in-progress` and `absent` (nothing recorded) leave no item.
                if self.param("RecordingStatus") != "completed" {
                    return None;
                }
                let voicemail = lookup(&self.query, "kind") != "call";
                content.event = CallEvent::Recording as i32;
                content.provider_status = self.param("RecordingStatus").to_owned();
                content.duration_seconds = seconds(self.param("RecordingDuration"));
                content.disposition =
                    if voicemail { CallDisposition::Voicemail } else { CallDisposition::Answered } as i32;
                content.recording = Some(CallRecording {
                    recording_sid: self.param("RecordingSid").to_owned(),
                    url: self.param("RecordingUrl").to_owned(),
                    duration_seconds: content.duration_seconds,
                    status: self.param("RecordingStatus").to_owned(),
                    voicemail,
                });
                format!("recording:{}", self.param("RecordingSid"))
            }
            CallbackKind::Transcription => {
                content.event = CallEvent::Transcript as i32;
                content.provider_status = self.param("TranscriptionStatus").to_owned();
                // Only voicemails are transcribed (`<Record transcribe>`).
                content.disposition = CallDisposition::Voicemail as i32;
                content.transcript = Some(CallTranscript {
                    transcription_sid: self.param("TranscriptionSid").to_owned(),
                    recording_sid: self.param("RecordingSid").to_owned(),
                    text: self.param("TranscriptionText").to_owned(),
                    status: self.param("TranscriptionStatus").to_owned(),
                });
                format!("transcription:{}", self.param("TranscriptionSid"))
            }
        };
        Some((external_id, content))
    }

    /// When Twilio says this happened (`Timestamp`, RFC 2822, on status callbacks), else when
    /// we received the callback.
    pub fn occurred_at(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::parse_from_rfc2822(self.param("Timestamp")).map(|t| t.with_timezone(&Utc)).unwrap_or(received_at)
    }

    /// The call item as a customer message of the caller's conversation, for a callback we
    /// received at `received_at` (tenant, account and archive id are filled in by the caller).
    pub fn inbound_message(&self, received_at: DateTime<Utc>) -> Option<InboundMessage> {
        let (external_id, content) = self.call_item()?;
        Some(InboundMessage {
            channel: Channel::Telephony as i32,
            external_id,
            sent_at: Some(inbox_proto::timestamp_from(self.occurred_at(received_at))),
            sender: Some(Sender {
                address: self.caller().to_owned(),
                display_name: self.param("CallerName").to_owned(),
            }),
            content: Some(MessageContent { kind: Some(Kind::Call(content)), reply_to: None }),
            ..Default::default()
        })
    }
}

/// What Twilio's `DialCallStatus` or `QueueResult` says about the call.
pub fn dial_disposition(outcome: &str) -> CallDisposition {
    match outcome {
        "completed" | "answered" | "bridged" | "bridging-in-process" => CallDisposition::Answered,
        "busy" => CallDisposition::Busy,
        "failed" | "error" | "system-error" => CallDisposition::Failed,
        _ => CallDisposition::Missed,
    }
}

fn seconds(s: &str) -> u32 {
    s.trim().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: CallbackKind, query: Option<&str>, body: &str) -> Result<Callback, String> {
        Callback::parse(kind, query, body.as_bytes())
    }

    #[test]
    fn an_incoming_call_is_filed_under_the_caller_and_the_called_number() {
        let c = parse(
            CallbackKind::Voice,
            None,
            "AccountSid=AC1&CallSid=CA1&From=%2B4915112345678&To=%2B14155550100&CallStatus=ringing&Direction=inbound&CallerName=Ann",
        )
        .unwrap();
        assert_eq!(c.our_number(), "+14155550100");
        assert_eq!(c.caller(), "+4915112345678");
        let (id, item) = c.call_item().unwrap();
        assert_eq!(id, "call:CA1:started");
        assert_eq!(item.event, CallEvent::Started as i32);
        assert_eq!(item.caller_name, "Ann");
    }

    #[test]
    fn recording_callbacks_take_the_numbers_from_our_url() {
        let c = parse(
            CallbackKind::Recording,
            Some("kind=voicemail&number=%2B14155550100&caller=%2B4915112345678"),
            "AccountSid=AC1&CallSid=CA1&RecordingSid=RE1&RecordingStatus=completed&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2Fr%2FRE1&RecordingDuration=17",
        )
        .unwrap();
        assert_eq!(c.our_number(), "+14155550100");
        let (id, item) = c.call_item().unwrap();
        assert_eq!(id, "recording:RE1");
        assert_eq!(item.disposition, CallDisposition::Voicemail as i32);
        assert_eq!(item.recording.unwrap().duration_seconds, 17);
    }

    #[test]
    fn missing_parameters_are_named() {
        let e = parse(CallbackKind::Status, None, "AccountSid=AC1&From=%2B1&To=%2B2").unwrap_err();
        assert!(e.contains("CallSid") && e.contains("CallStatus"), "{e}");
    }

    #[test]
    fn the_record_action_and_unfinished_recordings_leave_no_item() {
        let q = Some("number=%2B14155550100&caller=%2B4915112345678");
        let after_record = parse(CallbackKind::Dial, q, "AccountSid=AC1&CallSid=CA1&RecordingUrl=x").unwrap();
        assert!(after_record.call_item().is_none());
        let absent =
            parse(CallbackKind::Recording, q, "AccountSid=AC1&CallSid=CA1&RecordingSid=RE1&RecordingStatus=absent")
                .unwrap();
        assert!(absent.call_item().is_none());
    }
}
