//! Replay from the `EVENTS` stream: a tenant's events after a sequence, up to the hub's head,
//! for a socket that reconnects (or fell behind) further back than the hub keeps in memory.
//! An ordered, ephemeral consumer filtered to `events.<tenant>.>` reads them in order; an
//! event stored twice is sent once.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use inbox_bus::Envelope;
use prost::Message as _;
use uuid::Uuid;

use super::directory::Directory;
use super::frame::{Audience, LiveFrame, frame_of};

/// Longest wait for the next replayed event before giving up (the client then resyncs).
const REPLAY_STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a replay could not be made: the client must resync.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the stream no longer holds events after {0}")]
    TooOld(u64),
    #[error("the stream did not answer: {0}")]
    Stream(String),
}

/// What to replay: the stream's events after `after`, up to and including `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRange {
    pub after: u64,
    pub head: u64,
}

impl ReplayRange {
    /// Whether the stream, whose oldest stored sequence is `first`, still holds everything
    /// after `after`.
    pub fn is_held(&self, first: u64) -> bool {
        self.after + 1 >= first
    }

    /// Whether reading stops at the message with sequence `seq` (with `pending` more after it
    /// for the consumer), and whether that message belongs to the replay.
    pub fn step(&self, seq: u64, pending: u64) -> (bool, bool) {
        let within = seq > self.after && seq <= self.head;
        let done = seq >= self.head || pending == 0;
        (within, done)
    }
}

/// The tenant's frames in `range`, oldest first (the caller filters them for its watcher).
/// Availability is not replayed (its frames carry no sequence; `GET /v1/agents` has it).
pub async fn replay_from_stream(
    jetstream: &jetstream::Context,
    tenant_id: Uuid,
    range: ReplayRange,
) -> Result<Vec<LiveFrame>, ReplayError> {
    let failed = |e: &dyn std::fmt::Display| ReplayError::Stream(e.to_string());
    let mut stream = jetstream.get_stream(inbox_bus::Stream::Events.name()).await.map_err(|e| failed(&e))?;
    let first = stream.info().await.map_err(|e| failed(&e))?.state.first_sequence;
    if !range.is_held(first) {
        return Err(ReplayError::TooOld(range.after));
    }
    let config = pull::OrderedConfig {
        filter_subject: format!("events.{tenant_id}.>"),
        deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: range.after + 1 },
        ..Default::default()
    };
    let consumer = stream.create_consumer(config).await.map_err(|e| failed(&e))?;
    if consumer.cached_info().num_pending == 0 {
        return Ok(Vec::new());
    }
    let mut messages = consumer.messages().await.map_err(|e| failed(&e))?;
    // Where conversations were, as the replayed events say (delivery updates follow them).
    let mut directory = Directory::with_capacity(10_000);
    let mut seen = HashSet::new();
    let mut frames = Vec::new();
    loop {
        let next = tokio::time::timeout(REPLAY_STEP_TIMEOUT, messages.next())
            .await
            .map_err(|_| ReplayError::Stream("timed out".into()))?;
        let message = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(failed(&e)),
            None => break,
        };
        let info = message.info().map_err(|e| failed(&e))?;
        let (within, done) = range.step(info.stream_sequence, info.pending);
        if within
            && let Ok(envelope) = Envelope::decode(message.payload.clone())
            && seen.insert(envelope.event_id.clone())
            && let Some(frame) = frame_of(message.subject.as_str(), info.stream_sequence, &envelope, &mut directory)
            && !matches!(frame.audience, Audience::Availability { .. })
        {
            frames.push(frame);
        }
        if done {
            break;
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_held_while_the_stream_keeps_the_event_after_it() {
        let range = ReplayRange { after: 99, head: 200 };
        assert!(range.is_held(1));
        assert!(range.is_held(100));
        assert!(!range.is_held(101), "event 100 was dropped by the stream's limits");
    }

    #[test]
    fn reading_stops_at_the_head_or_when_nothing_is_pending() {
        let range = ReplayRange { after: 10, head: 20 };
        assert_eq!(range.step(11, 5), (true, false));
        assert_eq!(range.step(20, 3), (true, true), "the head");
        assert_eq!(range.step(25, 3), (false, true), "past the head: live delivers it");
        assert_eq!(range.step(15, 0), (true, true), "the last pending");
    }
}
