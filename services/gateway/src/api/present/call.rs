//! Calls: a call item in a conversation's messages, and a call with its dispositions.

use inbox_proto::common::v1::{CallContent, CallRecording, CallTranscript};
use inbox_proto::conversation::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{non_empty, time};
use crate::api::names::{call_event_name, disposition_name};

/// A recording of a call (a voicemail is one).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CallRecording)]
pub struct RecordingJson {
    pub recording_sid: String,
    pub url: String,
    pub duration_seconds: u32,
    pub status: String,
    pub voicemail: bool,
}

fn recording(r: &CallRecording) -> RecordingJson {
    RecordingJson {
        recording_sid: r.recording_sid.clone(),
        url: r.url.clone(),
        duration_seconds: r.duration_seconds,
        status: r.status.clone(),
        voicemail: r.voicemail,
    }
}

/// The transcript of a recording.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CallTranscript)]
pub struct TranscriptJson {
    pub transcription_sid: String,
    pub recording_sid: String,
    pub text: String,
    pub status: String,
}

fn transcript(t: &CallTranscript) -> TranscriptJson {
    TranscriptJson {
        transcription_sid: t.transcription_sid.clone(),
        recording_sid: t.recording_sid.clone(),
        text: t.text.clone(),
        status: t.status.clone(),
    }
}

/// A call item of a conversation's messages (`content.type = "call"`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CallItem)]
pub struct CallItemJson {
    pub call_sid: String,
    /// What happened: started, ringing, answered, ended, dial_result, ... (`unknown` otherwise).
    pub event: &'static str,
    pub direction: String,
    pub from: String,
    pub to: String,
    pub caller_name: String,
    pub provider_status: String,
    pub duration_seconds: u32,
    /// `null` when not known.
    pub disposition: Option<&'static str>,
    pub recording: Option<RecordingJson>,
    pub transcript: Option<TranscriptJson>,
}

/// The content of a call item (`content.type = "call"`); `disposition` is null when not known.
pub fn call_item(c: &CallContent) -> CallItemJson {
    CallItemJson {
        call_sid: c.call_sid.clone(),
        event: call_event_name(c.event),
        direction: c.direction.clone(),
        from: c.from.clone(),
        to: c.to.clone(),
        caller_name: c.caller_name.clone(),
        provider_status: c.provider_status.clone(),
        duration_seconds: c.duration_seconds,
        disposition: disposition_name(c.disposition),
        recording: c.recording.as_ref().map(recording),
        transcript: c.transcript.as_ref().map(transcript),
    }
}

/// A call of a conversation: the disposition in force, the automatic one and the agent's, with
/// who set it, its recordings, transcripts and message items.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Call)]
pub struct CallJson {
    pub call_sid: String,
    pub conversation_id: String,
    pub from: String,
    pub to: String,
    pub started_at: Option<String>,
    pub duration_seconds: u32,
    pub disposition: Option<&'static str>,
    pub auto_disposition: Option<&'static str>,
    pub agent_disposition: Option<&'static str>,
    pub disposition_set_by: Option<String>,
    pub disposition_set_at: Option<String>,
    pub recordings: Vec<RecordingJson>,
    pub transcripts: Vec<TranscriptJson>,
    pub message_ids: Vec<String>,
}

/// A call of a conversation: the disposition in force, the automatic one and the agent's, with
/// who set it, its recordings, transcripts and message items.
pub fn call(c: &pb::Call) -> CallJson {
    CallJson {
        call_sid: c.call_sid.clone(),
        conversation_id: c.conversation_id.clone(),
        from: c.from.clone(),
        to: c.to.clone(),
        started_at: time(c.started_at.as_ref()),
        duration_seconds: c.duration_seconds,
        disposition: disposition_name(c.disposition),
        auto_disposition: disposition_name(c.auto_disposition),
        agent_disposition: disposition_name(c.agent_disposition),
        disposition_set_by: non_empty(&c.disposition_set_by),
        disposition_set_at: time(c.disposition_set_at.as_ref()),
        recordings: c.recordings.iter().map(recording).collect(),
        transcripts: c.transcripts.iter().map(transcript).collect(),
        message_ids: c.message_ids.clone(),
    }
}

#[cfg(test)]
mod tests {
    use inbox_proto::common::v1::{CallDisposition, CallEvent};

    use serde_json::{Value, json};

    use super::*;
    use crate::api::present::message::ContentKindJson;

    fn item_json(c: &CallContent) -> Value {
        serde_json::to_value(ContentKindJson::Call(Box::new(call_item(c)))).unwrap()
    }

    #[test]
    fn a_call_item_names_its_event_and_disposition_and_nests_recording_and_transcript() {
        let item = CallContent {
            call_sid: "CA1".into(),
            event: CallEvent::Recording as i32,
            direction: "inbound".into(),
            from: "+15551230000".into(),
            to: "+15559870000".into(),
            duration_seconds: 42,
            disposition: CallDisposition::Voicemail as i32,
            recording: Some(CallRecording {
                recording_sid: "RE1".into(),
                url: "https://api.twilio.com/RE1".into(),
                duration_seconds: 40,
                status: "completed".into(),
                voicemail: true,
            }),
            ..Default::default()
        };
        let json = item_json(&item);
        assert_eq!(json["type"], "call");
        assert_eq!(json["event"], "recording");
        assert_eq!(json["disposition"], "voicemail");
        assert_eq!(json["recording"]["voicemail"], true);
        assert_eq!(json["transcript"], Value::Null);
        assert_eq!(item_json(&CallContent::default())["disposition"], Value::Null);
        assert_eq!(item_json(&CallContent::default())["event"], "unknown");
    }

    #[test]
    fn a_call_shows_the_agents_disposition_beside_the_automatic_one() {
        let c = pb::Call {
            call_sid: "CA1".into(),
            disposition: CallDisposition::Answered as i32,
            auto_disposition: CallDisposition::Missed as i32,
            agent_disposition: CallDisposition::Answered as i32,
            disposition_set_by: "user:u1".into(),
            transcripts: vec![CallTranscript { text: "Hello".into(), ..Default::default() }],
            ..Default::default()
        };
        let json = serde_json::to_value(call(&c)).unwrap();
        assert_eq!((&json["disposition"], &json["auto_disposition"]), (&json!("answered"), &json!("missed")));
        assert_eq!(json["disposition_set_by"], "user:u1");
        assert_eq!(json["transcripts"][0]["text"], "Hello");
        assert_eq!(serde_json::to_value(call(&pb::Call::default())).unwrap()["disposition_set_by"], Value::Null);
    }
}
