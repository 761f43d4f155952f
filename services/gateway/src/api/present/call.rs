//! Calls: a call item in a conversation's messages, and a call with its dispositions.

use inbox_proto::common::v1::{CallContent, CallRecording, CallTranscript};
use inbox_proto::conversation::v1 as pb;
use serde_json::{Value, json};

use super::time;
use crate::api::names::{call_event_name, disposition_name};

fn recording(r: &CallRecording) -> Value {
    json!({
        "recording_sid": r.recording_sid,
        "url": r.url,
        "duration_seconds": r.duration_seconds,
        "status": r.status,
        "voicemail": r.voicemail,
    })
}

fn transcript(t: &CallTranscript) -> Value {
    json!({
        "transcription_sid": t.transcription_sid,
        "recording_sid": t.recording_sid,
        "text": t.text,
        "status": t.status,
    })
}

/// The content of a call item (`content.type = "call"`); `disposition` is null when not known.
pub fn call_item(c: &CallContent) -> Value {
    json!({
        "type": "call",
        "call_sid": c.call_sid,
        "event": call_event_name(c.event),
        "direction": c.direction,
        "from": c.from,
        "to": c.to,
        "caller_name": c.caller_name,
        "provider_status": c.provider_status,
        "duration_seconds": c.duration_seconds,
        "disposition": disposition_name(c.disposition),
        "recording": c.recording.as_ref().map(recording),
        "transcript": c.transcript.as_ref().map(transcript),
    })
}

/// A call of a conversation: the disposition in force, the automatic one and the agent's, with
/// who set it, its recordings, transcripts and message items.
pub fn call(c: &pb::Call) -> Value {
    json!({
        "call_sid": c.call_sid,
        "conversation_id": c.conversation_id,
        "from": c.from,
        "to": c.to,
        "started_at": time(c.started_at.as_ref()),
        "duration_seconds": c.duration_seconds,
        "disposition": disposition_name(c.disposition),
        "auto_disposition": disposition_name(c.auto_disposition),
        "agent_disposition": disposition_name(c.agent_disposition),
        "disposition_set_by": (!c.disposition_set_by.is_empty()).then_some(&c.disposition_set_by),
        "disposition_set_at": time(c.disposition_set_at.as_ref()),
        "recordings": c.recordings.iter().map(recording).collect::<Vec<_>>(),
        "transcripts": c.transcripts.iter().map(transcript).collect::<Vec<_>>(),
        "message_ids": c.message_ids,
    })
}

#[cfg(test)]
mod tests {
    use inbox_proto::common::v1::{CallDisposition, CallEvent};

    use super::*;

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
        let json = call_item(&item);
        assert_eq!(json["type"], "call");
        assert_eq!(json["event"], "recording");
        assert_eq!(json["disposition"], "voicemail");
        assert_eq!(json["recording"]["voicemail"], true);
        assert_eq!(json["transcript"], Value::Null);
        assert_eq!(call_item(&CallContent::default())["disposition"], Value::Null);
        assert_eq!(call_item(&CallContent::default())["event"], "unknown");
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
        let json = call(&c);
        assert_eq!((&json["disposition"], &json["auto_disposition"]), (&json!("answered"), &json!("missed")));
        assert_eq!(json["disposition_set_by"], "user:u1");
        assert_eq!(json["transcripts"][0]["text"], "Hello");
        assert_eq!(call(&pb::Call::default())["disposition_set_by"], Value::Null);
    }
}
