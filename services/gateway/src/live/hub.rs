//! The hub: one feed per tenant, fed by this replica's ordered, ephemeral consumer of the
//! JetStream `EVENTS` stream (each event once, in stream order, with its stream sequence) and
//! by the ephemeral core-NATS signals (typing on `typing.>`, viewers on `presence.>`).
//!
//! A socket subscribes at the hub's head (the last stream sequence handled): everything after
//! it arrives on the socket's receiver, everything up to it is replayed, from the tenant's
//! recent frames kept in memory when they reach back far enough, else from the stream. The
//! per-tenant broadcast queue is the bound on how far a socket may fall behind.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use inbox_bus::{Envelope, Payload};
use prost::Message as _;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::coalesce::{Coalescer, Offer};
use super::directory::Directory;
use super::frame::{Audience, LiveFrame, frame_of, typing_frame};
use super::viewers::viewers_frame;

/// Event ids remembered to drop a copy the stream stored twice (a republish after its
/// duplicate window).
const RECENT_EVENT_IDS: usize = 20_000;

/// A tenant nobody listened to for this long has its feed (and recent frames) dropped.
const IDLE_FEED: Duration = Duration::from_secs(600);

/// The longest pull request of the hub's consumer; its idle heartbeat is half of it.
const HUB_PULL_EXPIRES: Duration = Duration::from_secs(4);

/// How long the hub may receive nothing before it asks whether the stream moved on without it.
const HUB_WATCHDOG: Duration = Duration::from_secs(3);

/// How big the hub's buffers are.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Frames a socket may fall behind.
    pub queue: usize,
    /// Recent frames kept per tenant for replay.
    pub memory: usize,
    /// Furthest back a replay may reach, in stream sequences.
    pub replay_limit: u64,
    /// At most one availability frame per agent per this interval.
    pub availability_interval: Duration,
}

struct Feed {
    sender: broadcast::Sender<Arc<LiveFrame>>,
    /// The tenant's most recent sequenced frames, oldest first.
    recent: VecDeque<Arc<LiveFrame>>,
    /// Every frame of the tenant after this sequence is in `recent`.
    covered_after: u64,
    idle_since: Option<Instant>,
}

struct HubState {
    /// The last stream sequence handled.
    head: u64,
    feeds: HashMap<Uuid, Feed>,
    directory: Directory,
    availability: Coalescer<(Uuid, String), i32, (Uuid, Arc<LiveFrame>)>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
}

pub struct LiveHub {
    limits: HubLimits,
    state: Mutex<HubState>,
}

/// What a new subscriber must be sent before its receiver's frames.
#[derive(Debug)]
pub enum Catchup {
    /// Nothing was missed.
    Nothing,
    /// These frames, oldest first (unfiltered: the socket filters).
    Frames(Vec<Arc<LiveFrame>>),
    /// Read the tenant's events after `after` up to `head` from the stream.
    FromStream { after: u64, head: u64 },
    /// Too far back: the client must refetch.
    Resync,
}

/// A socket's place in its tenant's feed.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<LiveFrame>>,
    /// The hub's head when subscribing: the receiver carries every frame after it.
    pub head: u64,
    pub catchup: Catchup,
}

impl LiveHub {
    pub fn new(limits: HubLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(HubState {
                head: 0,
                feeds: HashMap::new(),
                directory: Directory::default(),
                availability: Coalescer::new(limits.availability_interval),
                seen: HashSet::new(),
                seen_order: VecDeque::new(),
            }),
        }
    }

    pub fn limits(&self) -> HubLimits {
        self.limits
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last stream sequence handled.
    pub fn head(&self) -> u64 {
        self.state().head
    }

    /// Starts the hub at stream sequence `head` (the stream's last when its consumer starts).
    pub fn start_at(&self, head: u64) {
        let mut state = self.state();
        state.head = state.head.max(head);
        for feed in state.feeds.values_mut() {
            feed.covered_after = feed.covered_after.max(head);
        }
    }

    /// Subscribes to `tenant_id`'s feed; `after` is the last sequence the client saw.
    pub fn subscribe(&self, tenant_id: Uuid, after: Option<u64>) -> Subscription {
        let limits = self.limits;
        let mut state = self.state();
        let head = state.head;
        let feed = state.feeds.entry(tenant_id).or_insert_with(|| Feed::new(limits.queue, head));
        feed.idle_since = None;
        let receiver = feed.sender.subscribe();
        let catchup = match after {
            None => Catchup::Nothing,
            Some(after) => catchup(after, head, feed, limits.replay_limit),
        };
        Subscription { receiver, head, catchup }
    }

    /// Handles the event at stream sequence `seq` on `subject`, at `now` (for coalescing).
    pub fn accept_event(&self, subject: &str, seq: u64, envelope: &Envelope, now: Instant) {
        let memory = self.limits.memory;
        let mut state = self.state();
        state.head = state.head.max(seq);
        if !state.first_sight(&envelope.event_id) {
            tracing::debug!(event_id = %envelope.event_id, seq, "copy of an event already pushed, dropped");
            return;
        }
        let Ok(tenant_id) = Uuid::parse_str(&envelope.tenant_id) else { return };
        let Some(frame) = frame_of(subject, seq, envelope, &mut state.directory) else { return };
        let frame = Arc::new(frame);
        if let (Audience::Availability { .. }, Some(Payload::AgentAvailabilityChanged(change))) =
            (frame.audience, envelope.payload.as_ref())
        {
            let key = (tenant_id, change.agent_id.clone());
            let (offer, frame) = state.availability.offer(key, change.availability, (tenant_id, frame), now);
            if let (Offer::SendNow, Some((tenant_id, frame))) = (offer, frame) {
                state.publish(tenant_id, frame, memory);
            }
            return;
        }
        state.publish(tenant_id, frame, memory);
    }

    /// Sends an ephemeral frame (typing, viewers) to the tenant's sockets.
    pub fn publish_ephemeral(&self, tenant_id: Uuid, frame: LiveFrame) {
        let memory = self.limits.memory;
        self.state().publish(tenant_id, Arc::new(frame), memory);
    }

    /// Sends the availability frames held back whose interval has ended, and drops the feeds
    /// nobody listened to for a while.
    pub fn tick(&self, now: Instant) {
        let memory = self.limits.memory;
        let mut state = self.state();
        for (tenant_id, frame) in state.availability.due(now) {
            state.publish(tenant_id, frame, memory);
        }
        state.feeds.retain(|_, feed| {
            if feed.sender.receiver_count() > 0 {
                feed.idle_since = None;
                return true;
            }
            let since = *feed.idle_since.get_or_insert(now);
            now.saturating_duration_since(since) < IDLE_FEED
        });
    }

    /// The frame of a typing signal or a viewers change, placed by the hub's directory.
    pub fn signal_frame(&self, envelope: &Envelope) -> Option<LiveFrame> {
        let state = self.state();
        typing_frame(envelope, &state.directory).or_else(|| viewers_frame(envelope))
    }

    /// Where conversation `id` is, if this replica has seen an event of it.
    pub fn place_of(&self, id: Uuid) -> Option<super::directory::Whereabouts> {
        self.state().directory.place(id)
    }
}

impl Feed {
    fn new(queue: usize, head: u64) -> Self {
        Self { sender: broadcast::channel(queue).0, recent: VecDeque::new(), covered_after: head, idle_since: None }
    }
}

impl HubState {
    /// True the first time an event id is seen (within the last [`RECENT_EVENT_IDS`]).
    fn first_sight(&mut self, event_id: &str) -> bool {
        if event_id.is_empty() {
            return true;
        }
        if !self.seen.insert(event_id.to_owned()) {
            return false;
        }
        self.seen_order.push_back(event_id.to_owned());
        if self.seen_order.len() > RECENT_EVENT_IDS
            && let Some(oldest) = self.seen_order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }

    fn publish(&mut self, tenant_id: Uuid, frame: Arc<LiveFrame>, memory: usize) {
        let head = self.head;
        let Some(feed) = self.feeds.get_mut(&tenant_id) else {
            // Nobody of the tenant is connected here: a socket that opens later replays from
            // the stream. Availability is not replayed (GET /v1/agents has it).
            return;
        };
        if frame.seq.is_some() {
            feed.recent.push_back(frame.clone());
            while feed.recent.len() > memory {
                if let Some(dropped) = feed.recent.pop_front() {
                    feed.covered_after = dropped.seq.unwrap_or(feed.covered_after);
                }
            }
            if memory == 0 {
                feed.covered_after = head;
            }
        }
        // No receivers is not an error: the feed stays for sockets that reconnect.
        let _ = feed.sender.send(frame);
    }
}

/// What a subscriber at `head` that last saw `after` must be sent first.
fn catchup(after: u64, head: u64, feed: &Feed, replay_limit: u64) -> Catchup {
    if after >= head {
        return Catchup::Nothing;
    }
    if head - after > replay_limit {
        return Catchup::Resync;
    }
    if after >= feed.covered_after {
        return Catchup::Frames(feed.recent.iter().filter(|f| f.seq.is_some_and(|s| s > after)).cloned().collect());
    }
    Catchup::FromStream { after, head }
}

/// How old each event is when this replica's live push reads it: the last stage before the
/// agents' sockets (webhook → socket is the sum of the stages before it and this).
#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
static EVENT_AGE: std::sync::LazyLock<inbox_telemetry::prometheus::Histogram> = std::sync::LazyLock::new(|| {
    inbox_telemetry::prometheus::register_histogram!(
        "inbox_gateway_live_event_age_seconds",
        "Time from an event's storing in the EVENTS stream to this gateway's live push reading it.",
        inbox_bus::STAGE_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

/// Feeds the hub from the `EVENTS` stream until `shutdown`: an ordered consumer of this
/// replica (no acks, nothing durable) starting right after the stream's last message, so each
/// event is handled once, in order, whatever publishers repeat; a broken consumer is
/// recreated right after the last sequence handled.
/// The stream sequence the hub's consumer reads after. The first start begins at the stream's
/// end (live push replays no history). A consumer recreated after it broke (NATS restarted,
/// the pull went quiet) resumes right after the last event handled: starting at the stream's
/// end again skipped every event published meanwhile and marked them covered for resuming
/// sockets (the chaos run's sockets missed thousands after a NATS restart). A stream that came
/// back shorter than what was handled (recreated empty) resumes at its end.
fn start_after(resuming: bool, handled: u64, stream_last: u64) -> u64 {
    if resuming { handled.min(stream_last) } else { stream_last.max(handled) }
}

/// Whether the stream holds events after `head`. Asked by the watchdog when the hub received
/// nothing for a while: an ordered consumer lost with a NATS restart can stay silent for 15 s
/// before the client reports it (the chaos run's sockets waited that long), while the stream
/// has long moved on. Unknown (NATS unreachable, slow) counts as not moved on.
async fn stream_moved_on(jetstream: &async_nats::jetstream::Context, head: u64) -> bool {
    let look = jetstream.get_stream(inbox_bus::Stream::Events.name());
    match tokio::time::timeout(Duration::from_secs(2), look).await {
        Ok(Ok(stream)) => stream.cached_info().state.last_sequence > head,
        _ => false,
    }
}

pub async fn relay_events_to_hub(
    jetstream: async_nats::jetstream::Context,
    hub: Arc<LiveHub>,
    shutdown: CancellationToken,
) {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull};
    let mut resuming = false;
    loop {
        let resume = resuming;
        let started = async {
            let mut stream = jetstream.get_stream(inbox_bus::Stream::Events.name()).await?;
            let last = stream.info().await?.state.last_sequence;
            let start = start_after(resume, hub.head(), last);
            let config = pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: start + 1 },
                // Pull requests of 4 s with a 2 s idle heartbeat (the client's defaults are 30 s
                // and 15 s): a consumer lost with a NATS restart is noticed and recreated in
                // seconds (the chaos run saw sockets wait 15 s for their events).
                max_expires: HUB_PULL_EXPIRES,
                ..Default::default()
            };
            let messages = stream.create_consumer(config).await?.messages().await?;
            hub.start_at(start);
            Ok::<_, async_nats::Error>(messages)
        };
        let mut messages = tokio::select! {
            () = shutdown.cancelled() => return,
            started = started => match started {
                Ok(m) => {
                    resuming = true;
                    m
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the EVENTS stream; live push waits and retries");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            },
        };
        tracing::info!(head = hub.head(), "live push reads the EVENTS stream");
        let mut watchdog = tokio::time::interval_at(tokio::time::Instant::now() + HUB_WATCHDOG, HUB_WATCHDOG);
        let mut head_at_last_look = hub.head();
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = messages.next() => next,
                _ = watchdog.tick() => {
                    let head = hub.head();
                    if head == head_at_last_look && stream_moved_on(&jetstream, head).await {
                        tracing::warn!(head, "EVENTS stream moved on while live push received nothing; recreating its consumer");
                        break;
                    }
                    head_at_last_look = head;
                    continue;
                }
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "EVENTS consumer failed; recreating it");
                    break;
                }
                None => break,
            };
            let Ok(info) = message.info() else { continue };
            let seq = info.stream_sequence;
            EVENT_AGE.observe(inbox_bus::seconds_since_stored(info.published.unix_timestamp_nanos()));
            match Envelope::decode(message.payload.clone()) {
                Ok(envelope) => hub.accept_event(message.subject.as_str(), seq, &envelope, Instant::now()),
                Err(_) => {
                    tracing::warn!(subject = %message.subject, seq, "undecodable envelope skipped by live push");
                    hub.start_at(seq);
                }
            }
        }
    }
}

/// Feeds the hub with the ephemeral signals on core NATS `subject` (typing, viewers) until
/// `shutdown`.
pub async fn relay_signals_to_hub(
    client: async_nats::Client,
    hub: Arc<LiveHub>,
    subject: &'static str,
    shutdown: CancellationToken,
) {
    let mut subscription = match client.subscribe(subject).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, subject, "cannot subscribe to live signals; agents will not see them");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            next = subscription.next() => match next {
                Some(m) => m,
                None => break,
            },
        };
        let Ok(envelope) = Envelope::decode(message.payload.clone()) else {
            tracing::warn!(subject = %message.subject, "undecodable live signal skipped");
            continue;
        };
        let Ok(tenant_id) = Uuid::parse_str(&envelope.tenant_id) else { continue };
        if let Some(frame) = hub.signal_frame(&envelope) {
            hub.publish_ephemeral(tenant_id, frame);
        }
    }
    let _ = subscription.unsubscribe().await;
}

/// Sends held availability frames when their interval ends, until `shutdown`.
pub async fn tick_hub(hub: Arc<LiveHub>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => hub.tick(Instant::now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use inbox_proto::conversation::v1::{Conversation, Message};
    use inbox_proto::events::v1::{AgentAvailabilityChanged, MessageCreated};

    use super::*;

    fn limits(memory: usize) -> HubLimits {
        HubLimits { queue: 64, memory, replay_limit: 1000, availability_interval: Duration::from_secs(1) }
    }

    fn created(tenant: Uuid, event_id: &str) -> Envelope {
        inbox_bus::new_envelope(
            event_id,
            tenant.to_string(),
            Payload::MessageCreated(MessageCreated {
                message: Some(Message { id: event_id.into(), ..Default::default() }),
                conversation: Some(Conversation { id: Uuid::new_v4().to_string(), ..Default::default() }),
            }),
        )
    }

    fn seqs(frames: &[Arc<LiveFrame>]) -> Vec<u64> {
        frames.iter().filter_map(|f| f.seq).collect()
    }

    #[test]
    fn the_first_start_reads_from_the_streams_end_and_a_restart_from_the_last_event_handled() {
        assert_eq!(start_after(false, 0, 500), 500, "live push replays no history");
        assert_eq!(start_after(false, 600, 500), 600, "never behind what the hub already covers");
        // The consumer broke at 480 (NATS restarted); 20 events were stored meanwhile.
        assert_eq!(start_after(true, 480, 500), 480, "the 20 published while it was broken are read");
        assert_eq!(start_after(true, 480, 0), 0, "a stream recreated empty is read from its start");
    }

    #[test]
    fn only_subscribers_of_a_tenant_get_its_frames() {
        let hub = LiveHub::new(limits(16));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut rx_a = hub.subscribe(a, None).receiver;
        let mut rx_b = hub.subscribe(b, None).receiver;
        hub.accept_event("events.a.message.created", 1, &created(a, "e1"), Instant::now());
        assert_eq!(rx_a.try_recv().unwrap().seq, Some(1));
        assert!(rx_b.try_recv().is_err());
    }

    #[test]
    fn a_copy_of_an_event_is_pushed_once() {
        let hub = LiveHub::new(limits(16));
        let tenant = Uuid::new_v4();
        let mut rx = hub.subscribe(tenant, None).receiver;
        hub.accept_event("events.t.message.created", 1, &created(tenant, "e1"), Instant::now());
        hub.accept_event("events.t.message.created", 2, &created(tenant, "e1"), Instant::now());
        assert_eq!(rx.try_recv().unwrap().seq, Some(1));
        assert!(rx.try_recv().is_err(), "the republished copy is dropped");
        assert_eq!(hub.head(), 2, "but its sequence is handled");
    }

    #[test]
    fn a_reconnect_replays_from_memory_what_it_missed_in_order_and_then_only_what_is_new() {
        let hub = LiveHub::new(limits(16));
        let tenant = Uuid::new_v4();
        hub.start_at(10);
        let _listening = hub.subscribe(tenant, None);
        for seq in 11..=15 {
            hub.accept_event("events.t.message.created", seq, &created(tenant, &format!("e{seq}")), Instant::now());
        }
        let mut sub = hub.subscribe(tenant, Some(12));
        assert_eq!(sub.head, 15);
        let Catchup::Frames(frames) = &sub.catchup else { panic!("{:?}", sub.catchup) };
        assert_eq!(seqs(frames), vec![13, 14, 15]);
        hub.accept_event("events.t.message.created", 16, &created(tenant, "e16"), Instant::now());
        assert_eq!(sub.receiver.try_recv().unwrap().seq, Some(16));
        assert!(matches!(hub.subscribe(tenant, Some(16)).catchup, Catchup::Nothing));
        assert!(matches!(hub.subscribe(tenant, Some(99)).catchup, Catchup::Nothing), "ahead of this replica");
    }

    #[test]
    fn a_reconnect_reaching_past_memory_reads_the_stream_and_past_the_bound_resyncs() {
        let hub = LiveHub::new(limits(2));
        let tenant = Uuid::new_v4();
        hub.start_at(2000);
        let _listening = hub.subscribe(tenant, None);
        for seq in 2001..=2005 {
            hub.accept_event("events.t.message.created", seq, &created(tenant, &format!("e{seq}")), Instant::now());
        }
        assert!(
            matches!(hub.subscribe(tenant, Some(2003)).catchup, Catchup::Frames(ref f) if seqs(f) == vec![2004, 2005])
        );
        assert!(matches!(hub.subscribe(tenant, Some(2002)).catchup, Catchup::FromStream { after: 2002, head: 2005 }));
        assert!(matches!(hub.subscribe(tenant, Some(1005)).catchup, Catchup::FromStream { after: 1005, head: 2005 }));
        let far = hub.subscribe(tenant, Some(1004));
        assert!(matches!(far.catchup, Catchup::Resync), "more than the replay limit back");
    }

    #[test]
    fn a_feed_created_after_events_passed_replays_them_from_the_stream() {
        let hub = LiveHub::new(limits(16));
        let tenant = Uuid::new_v4();
        hub.start_at(10);
        hub.accept_event("events.t.message.created", 11, &created(tenant, "e11"), Instant::now());
        assert!(matches!(hub.subscribe(tenant, Some(10)).catchup, Catchup::FromStream { after: 10, head: 11 }));
    }

    #[test]
    fn availability_flapping_reaches_sockets_coalesced() {
        let hub = LiveHub::new(limits(16));
        let tenant = Uuid::new_v4();
        let mut rx = hub.subscribe(tenant, None).receiver;
        let start = Instant::now();
        let agent = Uuid::new_v4().to_string();
        for i in 0..500u64 {
            let availability = if i % 2 == 0 { 1 } else { 3 };
            let envelope = inbox_bus::new_envelope(
                format!("a{i}"),
                tenant.to_string(),
                Payload::AgentAvailabilityChanged(AgentAvailabilityChanged { agent_id: agent.clone(), availability }),
            );
            hub.accept_event(
                "events.t.routing.availability_changed",
                i + 1,
                &envelope,
                start + Duration::from_millis(i),
            );
        }
        hub.tick(start + Duration::from_secs(2));
        let received: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert!(received.len() <= 2, "{} frames for 500 changes", received.len());
        assert!(received.iter().all(|f| f.seq.is_none()));
    }
}
