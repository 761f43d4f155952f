//! Phone calls: a call is the set of its call items (messages with `CallContent`), and its
//! disposition follows from that set alone, never from the order the items arrived in.

use chrono::{DateTime, Utc};
use inbox_proto::common::v1::{CallContent, CallDisposition, CallEvent, CallRecording, CallTranscript};
use uuid::Uuid;

/// A call summed up from its items.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSummary {
    pub call_sid: String,
    pub from: String,
    pub to: String,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: u32,
    pub auto_disposition: CallDisposition,
    pub recordings: Vec<CallRecording>,
    pub transcripts: Vec<CallTranscript>,
    pub message_ids: Vec<Uuid>,
}

/// How strongly a dialled outcome says what happened: an answer beats busy beats failed beats
/// missed (several legs: one answered is an answered call).
fn rank(d: CallDisposition) -> u8 {
    match d {
        CallDisposition::Voicemail => 5,
        CallDisposition::Answered => 4,
        CallDisposition::Busy => 3,
        CallDisposition::Failed => 2,
        CallDisposition::Missed => 1,
        CallDisposition::Unspecified => 0,
    }
}

fn stronger(a: Option<CallDisposition>, b: CallDisposition) -> Option<CallDisposition> {
    match a {
        Some(a) if rank(a) >= rank(b) => Some(a),
        _ => Some(b),
    }
}

/// The automatic disposition of a call from its items, in any order:
/// 1. a voicemail (recording or transcript) makes it `voicemail`;
/// 2. else the outcome of ringing the agents (`<Dial>`/`<Enqueue>`, or a call recording,
///    which only exists for an answered call) decides;
/// 3. else the caller's call status: busy, failed, no-answer/canceled (missed) beat
///    in-progress/completed (answered) — Twilio reports the caller's leg as completed even
///    when nobody picked up, so completed alone is weak evidence.
pub fn call_disposition<'a>(items: impl IntoIterator<Item = &'a CallContent>) -> CallDisposition {
    let mut voicemail = false;
    let mut dialled: Option<CallDisposition> = None;
    let mut unanswered_status: Option<CallDisposition> = None;
    let mut answered_status = false;
    for item in items {
        let d = CallDisposition::try_from(item.disposition).unwrap_or(CallDisposition::Unspecified);
        if d == CallDisposition::Voicemail {
            voicemail = true;
            continue;
        }
        if d == CallDisposition::Unspecified {
            continue;
        }
        match CallEvent::try_from(item.event).unwrap_or(CallEvent::Unspecified) {
            CallEvent::DialResult | CallEvent::Recording => dialled = stronger(dialled, d),
            CallEvent::Answered | CallEvent::Ended if d == CallDisposition::Answered => answered_status = true,
            CallEvent::Answered | CallEvent::Ended => unanswered_status = stronger(unanswered_status, d),
            _ => {}
        }
    }
    if voicemail {
        CallDisposition::Voicemail
    } else if let Some(d) = dialled.or(unanswered_status) {
        d
    } else if answered_status {
        CallDisposition::Answered
    } else {
        CallDisposition::Unspecified
    }
}

/// The calls among a conversation's items (`(message id, sent at, content)` in time order),
/// oldest first.
pub fn summarise_calls(items: &[(Uuid, DateTime<Utc>, CallContent)]) -> Vec<CallSummary> {
    let mut order: Vec<&str> = Vec::new();
    for (_, _, c) in items {
        if !order.contains(&c.call_sid.as_str()) {
            order.push(&c.call_sid);
        }
    }
    order
        .into_iter()
        .map(|sid| {
            let mine: Vec<&(Uuid, DateTime<Utc>, CallContent)> =
                items.iter().filter(|(_, _, c)| c.call_sid == sid).collect();
            let first_with = |f: fn(&CallContent) -> &str| {
                mine.iter().map(|(_, _, c)| f(c)).find(|s| !s.is_empty()).unwrap_or_default().to_owned()
            };
            CallSummary {
                call_sid: sid.to_owned(),
                from: first_with(|c| &c.from),
                to: first_with(|c| &c.to),
                // Every call has at least one item: its sid came from one.
                started_at: mine.iter().map(|(_, at, _)| *at).min().unwrap_or_default(),
                duration_seconds: mine
                    .iter()
                    .filter(|(_, _, c)| c.event == CallEvent::Ended as i32)
                    .map(|(_, _, c)| c.duration_seconds)
                    .max()
                    .unwrap_or(0),
                auto_disposition: call_disposition(mine.iter().map(|(_, _, c)| c)),
                recordings: mine.iter().filter_map(|(_, _, c)| c.recording.clone()).collect(),
                transcripts: mine.iter().filter_map(|(_, _, c)| c.transcript.clone()).collect(),
                message_ids: mine.iter().map(|(id, _, _)| *id).collect(),
            }
        })
        .collect()
}

/// `answered`, `missed`, `voicemail`, `busy`, `failed`; empty for unspecified.
pub fn disposition_name(d: CallDisposition) -> &'static str {
    match d {
        CallDisposition::Answered => "answered",
        CallDisposition::Missed => "missed",
        CallDisposition::Voicemail => "voicemail",
        CallDisposition::Busy => "busy",
        CallDisposition::Failed => "failed",
        CallDisposition::Unspecified => "",
    }
}

pub fn disposition_from_name(name: &str) -> Option<CallDisposition> {
    [
        CallDisposition::Answered,
        CallDisposition::Missed,
        CallDisposition::Voicemail,
        CallDisposition::Busy,
        CallDisposition::Failed,
    ]
    .into_iter()
    .find(|d| disposition_name(*d) == name)
}

/// The one-line text of a call item (previews and search).
pub fn call_item_text(c: &CallContent) -> String {
    match CallEvent::try_from(c.event).unwrap_or(CallEvent::Unspecified) {
        CallEvent::Started => "[call] incoming call".to_owned(),
        CallEvent::Ringing => "[call] ringing".to_owned(),
        CallEvent::Answered => "[call] answered".to_owned(),
        CallEvent::Ended if c.provider_status == "completed" => format!("[call] ended after {} s", c.duration_seconds),
        CallEvent::Ended => format!("[call] not connected: {}", c.provider_status),
        CallEvent::DialResult => format!("[call] ringing ended: {}", c.provider_status),
        CallEvent::Recording => match &c.recording {
            Some(r) if r.voicemail => format!("[voicemail] {} s", r.duration_seconds),
            _ => format!("[call recording] {} s", c.duration_seconds),
        },
        CallEvent::Transcript => match &c.transcript {
            Some(t) if !t.text.is_empty() => format!("[transcript] {}", t.text),
            _ => "[transcript unavailable]".to_owned(),
        },
        CallEvent::Unspecified => "[call]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(event: CallEvent, status: &str, d: CallDisposition) -> CallContent {
        CallContent {
            call_sid: "CA1".into(),
            event: event as i32,
            provider_status: status.into(),
            disposition: d as i32,
            ..Default::default()
        }
    }

    fn every_order(items: &[CallContent]) -> Vec<CallDisposition> {
        // All rotations and the reverse: enough to show the order does not matter.
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut v = items.to_vec();
            v.rotate_left(i);
            out.push(call_disposition(&v));
            v.reverse();
            out.push(call_disposition(&v));
        }
        out
    }

    #[test]
    fn an_answered_call_is_answered_whatever_the_order() {
        let items = [
            item(CallEvent::Started, "ringing", CallDisposition::Unspecified),
            item(CallEvent::Answered, "in-progress", CallDisposition::Answered),
            item(CallEvent::DialResult, "completed", CallDisposition::Answered),
            item(CallEvent::Ended, "completed", CallDisposition::Answered),
        ];
        assert!(every_order(&items).iter().all(|d| *d == CallDisposition::Answered));
    }

    #[test]
    fn a_voicemail_beats_no_answer_and_completed() {
        let items = [
            item(CallEvent::DialResult, "no-answer", CallDisposition::Missed),
            item(CallEvent::Ended, "completed", CallDisposition::Answered),
            item(CallEvent::Recording, "completed", CallDisposition::Voicemail),
        ];
        assert!(every_order(&items).iter().all(|d| *d == CallDisposition::Voicemail));
    }

    #[test]
    fn completed_after_an_unanswered_dial_without_recording_is_missed() {
        let items = [
            item(CallEvent::DialResult, "no-answer", CallDisposition::Missed),
            item(CallEvent::Ended, "completed", CallDisposition::Answered),
        ];
        assert!(every_order(&items).iter().all(|d| *d == CallDisposition::Missed));
    }

    #[test]
    fn busy_agents_or_a_busy_status_make_a_busy_call() {
        let dial = [
            item(CallEvent::DialResult, "busy", CallDisposition::Busy),
            item(CallEvent::Ended, "completed", CallDisposition::Answered),
        ];
        assert!(every_order(&dial).iter().all(|d| *d == CallDisposition::Busy));
        let status = [item(CallEvent::Ended, "busy", CallDisposition::Busy)];
        assert_eq!(call_disposition(&status), CallDisposition::Busy);
    }

    #[test]
    fn a_ringing_call_has_no_disposition_yet() {
        assert_eq!(
            call_disposition(&[item(CallEvent::Ringing, "ringing", CallDisposition::Unspecified)]),
            CallDisposition::Unspecified
        );
    }

    #[test]
    fn calls_are_grouped_by_sid_with_duration_and_recordings() {
        let t = Utc::now();
        let mut ended = item(CallEvent::Ended, "completed", CallDisposition::Answered);
        ended.duration_seconds = 42;
        let mut other = item(CallEvent::Ended, "busy", CallDisposition::Busy);
        other.call_sid = "CA2".into();
        let items = vec![(Uuid::now_v7(), t, ended), (Uuid::now_v7(), t, other)];
        let calls = summarise_calls(&items);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].duration_seconds, 42);
        assert_eq!(calls[0].auto_disposition, CallDisposition::Answered);
        assert_eq!(calls[1].auto_disposition, CallDisposition::Busy);
    }
}
