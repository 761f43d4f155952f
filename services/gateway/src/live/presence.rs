//! Presence: a person's availability changes on real transitions only, not per socket.
//!
//! - Each replica counts the sockets it holds per person ([`LocalSockets`]): at most
//!   `max_sockets_per_user`; the first one here makes the replica claim the person in Redis,
//!   the last one gone lets the claim go after a grace period (a reconnect within it, to any
//!   replica, changes nothing).
//! - Claims live in Redis: per person a sorted set of the replicas holding them, scored by
//!   expiry (refreshed while they hold sockets, so a crashed replica's claims vanish), and an
//!   index of claimed people. A person entering the index is online; leaving it, offline.
//!   Scripts decide each transition atomically, so exactly one replica tells routing.
//! - A sweeper on every replica finds people whose claims all expired (a crashed replica) and
//!   takes them offline.
//! - What routing is told holds for `availability_hold` and is refreshed by one replica while
//!   the person is connected; the hub drops availability frames that change nothing.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use inbox_config::Secret;
use inbox_proto::routing::v1 as routing;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::{CallContext, Clock, Role};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::api::names::{availability_from_name, availability_name};

/// A person (or key) of a tenant.
pub type Person = (Uuid, Uuid);

/// What opening a socket meant on this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The person's first socket here: claim them.
    FirstHere,
    /// They had one here already.
    Another,
}

/// What closing a socket meant on this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Their last socket here: let the claim go after the grace period, unless a socket of
    /// theirs opens here before ([`LocalSockets::still_gone`] with this generation).
    LastHere {
        generation: u64,
    },
    StillHere,
}

#[derive(Debug, Clone, Copy)]
struct Here {
    sockets: usize,
    /// Changes with every open, so a grace period that saw a reopen does nothing.
    generation: u64,
    /// People routing routes to (not the AI, not keys): their claims make them available.
    routed: bool,
}

/// The sockets this replica holds per person. Pure bookkeeping, no I/O.
#[derive(Debug, Default)]
pub struct LocalSockets {
    people: HashMap<Person, Here>,
    generations: u64,
}

/// The person already holds the most sockets allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManySockets;

impl LocalSockets {
    pub fn open(&mut self, person: Person, routed: bool, max: usize) -> Result<Opened, TooManySockets> {
        self.generations += 1;
        let generation = self.generations;
        let here = self.people.entry(person).or_insert(Here { sockets: 0, generation, routed });
        if here.sockets >= max {
            return Err(TooManySockets);
        }
        here.generation = generation;
        here.sockets += 1;
        // A person reopening within a grace period is claimed again: harmless, the claim
        // they still have makes it no transition.
        Ok(if here.sockets == 1 { Opened::FirstHere } else { Opened::Another })
    }

    pub fn close(&mut self, person: Person) -> Closed {
        match self.people.get_mut(&person) {
            Some(here) if here.sockets > 1 => {
                here.sockets -= 1;
                Closed::StillHere
            }
            Some(here) => {
                here.sockets = 0;
                Closed::LastHere { generation: here.generation }
            }
            None => Closed::StillHere,
        }
    }

    /// After the grace period: whether the person is still gone (then forgotten here).
    pub fn still_gone(&mut self, person: Person, generation: u64) -> bool {
        match self.people.get(&person) {
            Some(here) if here.sockets == 0 && here.generation == generation => {
                self.people.remove(&person);
                true
            }
            _ => false,
        }
    }

    /// Whether the person has a socket here or is within a grace period.
    pub fn holds(&self, person: Person) -> bool {
        self.people.contains_key(&person)
    }

    /// The routed people this replica holds a claim for (sockets open or in grace).
    pub fn claimed(&self) -> Vec<Person> {
        self.people.iter().filter(|(_, here)| here.routed).map(|(person, _)| *person).collect()
    }

    pub fn sockets(&self) -> usize {
        self.people.values().map(|h| h.sockets).sum()
    }
}

/// Claims a person for a replica until `expiry`; returns 1 when they were claimed by nobody
/// (they come online). KEYS: the person's claims, the index. ARGV: replica, expiry (ms),
/// now (ms), the person's index member, ttl (ms).
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        return redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[4])
        ",
    )
});

/// Lets a replica's claim go (none: the sweeper) and drops the expired ones; returns 1 when
/// nobody claims the person any more (they go offline). KEYS: the person's claims, the index.
/// ARGV: replica or "", now (ms), index member.
static LET_GO: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        if #top == 0 then
            redis.call('DEL', KEYS[1])
            return redis.call('ZREM', KEYS[2], ARGV[3])
        end
        redis.call('ZADD', KEYS[2], top[2], ARGV[3])
        return 0
        ",
    )
});

/// Timings of presence.
#[derive(Debug, Clone, Copy)]
pub struct PresenceTimings {
    pub grace: Duration,
    pub ttl: Duration,
    pub hold: Duration,
    pub max_sockets: usize,
}

/// This replica's presence: its sockets, its claims in Redis, and what it tells routing.
pub struct Presence {
    replica: String,
    redis: redis::aio::ConnectionManager,
    prefix: String,
    clock: Clock,
    timings: PresenceTimings,
    routing: RoutingClient<Channel>,
    service_token: Secret,
    local: Mutex<LocalSockets>,
    /// When this replica last made sure routing holds each person's availability.
    held: Mutex<HashMap<Person, Instant>>,
    shutdown: CancellationToken,
}

/// A socket's place in its person's count; dropping it closes it (see [`Presence::open`]).
pub struct SocketSlot {
    presence: Arc<Presence>,
    person: Person,
    opened: Opened,
    routed: bool,
}

impl Presence {
    #[allow(clippy::too_many_arguments)] // each is a separate dependency, named at the one call site
    pub fn new(
        redis: redis::aio::ConnectionManager,
        prefix: String,
        clock: Clock,
        timings: PresenceTimings,
        routing: RoutingClient<Channel>,
        service_token: Secret,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            replica: Uuid::now_v7().to_string(),
            redis,
            prefix,
            clock,
            timings,
            routing,
            service_token,
            local: Mutex::new(LocalSockets::default()),
            held: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    fn local(&self) -> MutexGuard<'_, LocalSockets> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sockets open on this replica.
    pub fn sockets(&self) -> usize {
        self.local().sockets()
    }

    /// Counts a new socket of `person`; refused past the most sockets allowed per person.
    /// `routed`: a person routing routes to, whose presence makes them available.
    pub fn open(self: &Arc<Self>, person: Person, routed: bool) -> Result<SocketSlot, TooManySockets> {
        let opened = self.local().open(person, routed, self.timings.max_sockets)?;
        Ok(SocketSlot { presence: self.clone(), person, opened, routed })
    }

    fn claims_key(&self, (tenant, person): Person) -> String {
        format!("{}presence:{tenant}:{person}", self.prefix)
    }

    fn index_key(&self) -> String {
        format!("{}presence:index", self.prefix)
    }

    fn chosen_key(&self, (tenant, person): Person) -> String {
        format!("{}presence:chosen:{tenant}:{person}", self.prefix)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Claims `person` for this replica; true when they came online.
    async fn claim(&self, person: Person) -> Result<bool, redis::RedisError> {
        let now = self.now_ms();
        let ttl = i64::try_from(self.timings.ttl.as_millis()).unwrap_or(i64::MAX);
        let added: i64 = CLAIM
            .key(self.claims_key(person))
            .key(self.index_key())
            .arg(&self.replica)
            .arg(now + ttl)
            .arg(now)
            .arg(member(person))
            .arg(ttl)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(added == 1)
    }

    /// Lets this replica's claim on `person` go; true when they went offline.
    async fn release(&self, person: Person) -> Result<bool, redis::RedisError> {
        self.let_go(person, &self.replica).await
    }

    /// Drops `replica`'s claim (none: only the expired ones); true when nobody claims the
    /// person any more.
    async fn let_go(&self, person: Person, replica: &str) -> Result<bool, redis::RedisError> {
        let removed: i64 = LET_GO
            .key(self.claims_key(person))
            .key(self.index_key())
            .arg(replica)
            .arg(self.now_ms())
            .arg(member(person))
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(removed == 1)
    }

    /// The person came online: routing makes them available.
    async fn came_online(&self, person: Person) {
        tracing::info!(tenant_id = %person.0, agent_id = %person.1, "agent came online");
        self.tell_routing(person, routing::Availability::Online).await;
        self.held().insert(person, Instant::now());
    }

    /// Nobody holds the person any more: routing makes them unavailable.
    async fn went_offline(&self, person: Person) {
        tracing::info!(tenant_id = %person.0, agent_id = %person.1, "agent went offline");
        self.held().remove(&person);
        let _: Result<(), _> =
            redis::cmd("DEL").arg(self.chosen_key(person)).query_async(&mut self.redis.clone()).await;
        self.tell_routing(person, routing::Availability::Offline).await;
    }

    fn held(&self) -> MutexGuard<'_, HashMap<Person, Instant>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the person chose on a socket (`presence` frame): routing holds it while they are
    /// connected.
    pub async fn choose(&self, person: Person, availability: routing::Availability) {
        let hold = u64::try_from(self.timings.hold.as_millis()).unwrap_or(u64::MAX);
        let set: Result<(), _> = redis::cmd("SET")
            .arg(self.chosen_key(person))
            .arg(availability_name(availability as i32))
            .arg("PX")
            .arg(hold)
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(e) = set {
            tracing::warn!(error = %e, "chosen availability not kept");
        }
        self.tell_routing(person, availability).await;
        self.held().insert(person, Instant::now());
    }

    /// Tells routing the person's availability, held for `hold` unless refreshed.
    async fn tell_routing(&self, (tenant_id, person): Person, availability: routing::Availability) {
        // The person themself sets their availability; the gateway acts for them.
        let ctx = CallContext { tenant_id, principal: format!("user:{person}"), role: Role::Agent };
        let message = routing::SetAvailabilityRequest {
            agent_id: String::new(),
            availability: availability as i32,
            ttl_seconds: u32::try_from(self.timings.hold.as_secs()).unwrap_or(u32::MAX),
        };
        let request = match ctx.request(message, &self.service_token) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "availability request not built");
                return;
            }
        };
        if let Err(status) = self.routing.clone().set_availability(request).await {
            tracing::warn!(code = ?status.code(), message = status.message(), "availability not updated in routing");
        }
    }

    /// A socket of a routed person opened: the first one here claims them (online when
    /// nobody held them).
    async fn arrive(&self, person: Person) {
        match self.claim(person).await {
            Ok(true) => self.came_online(person).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "presence claim failed"),
        }
    }

    /// After the grace period of a person's last socket here: let the claim go unless they
    /// came back.
    async fn leave_after_grace(self: Arc<Self>, person: Person, generation: u64, routed: bool) {
        tokio::select! {
            // A replica that stops leaves its claims to expire: its people reconnect elsewhere
            // meanwhile, without going offline.
            () = self.shutdown.cancelled() => return,
            () = tokio::time::sleep(self.timings.grace) => {}
        }
        if !self.local().still_gone(person, generation) || !routed {
            return;
        }
        match self.release(person).await {
            Ok(true) => self.went_offline(person).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "presence release failed; the claim expires by itself"),
        }
    }

    /// Refreshes this replica's claims and, once per third of the hold, routing's
    /// availability of each person it holds (one replica per person does it).
    async fn refresh(&self) {
        let people = self.local().claimed();
        let refresh_hold = self.timings.hold / 3;
        for person in people {
            if self.shutdown.is_cancelled() {
                return;
            }
            match self.claim(person).await {
                // Claimed by nobody: this replica stalled past its claims' expiry and the
                // sweeper took the person offline meanwhile.
                Ok(true) => self.came_online(person).await,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "presence refresh failed");
                    return;
                }
            }
            let due = self.held().get(&person).is_none_or(|at| at.elapsed() >= refresh_hold);
            if due && self.take_hold_turn(person).await {
                let chosen: Option<String> = redis::cmd("GET")
                    .arg(self.chosen_key(person))
                    .query_async(&mut self.redis.clone())
                    .await
                    .unwrap_or(None);
                let availability =
                    chosen.as_deref().and_then(availability_from_name).unwrap_or(routing::Availability::Online);
                self.tell_routing(person, availability).await;
                self.held().insert(person, Instant::now());
            }
        }
    }

    /// Whether this replica is the one to refresh routing's hold of `person` now.
    async fn take_hold_turn(&self, (tenant, person): Person) -> bool {
        let key = format!("{}presence:held:{tenant}:{person}", self.prefix);
        let turn_ms = u64::try_from((self.timings.hold / 3).as_millis()).unwrap_or(u64::MAX);
        let taken: Result<Option<String>, _> = redis::cmd("SET")
            .arg(key)
            .arg(&self.replica)
            .arg("NX")
            .arg("PX")
            .arg(turn_ms)
            .query_async(&mut self.redis.clone())
            .await;
        matches!(taken, Ok(Some(_)))
    }

    /// Takes offline the people whose every claim expired (their replica crashed).
    async fn sweep(&self) {
        let now = self.now_ms();
        let expired = match super::upkeep::due_entries(&self.redis, &self.index_key(), now).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "presence sweep failed");
                return;
            }
        };
        for person in expired.iter().filter_map(|entry| person_of(entry)) {
            if matches!(self.let_go(person, "").await, Ok(true)) {
                self.went_offline(person).await;
            }
        }
    }
}

/// Refreshes this replica's claims and sweeps expired ones until `shutdown`.
pub async fn keep_presence(presence: Arc<Presence>, shutdown: CancellationToken) {
    let period = (presence.timings.ttl / 3).max(Duration::from_secs(1));
    super::upkeep::every(period, shutdown, || async {
        presence.refresh().await;
        presence.sweep().await;
    })
    .await;
}

/// A person's entry in the index: `<tenant>:<person>`.
fn member((tenant, person): Person) -> String {
    format!("{tenant}:{person}")
}

fn person_of(member: &str) -> Option<Person> {
    let (tenant, person) = member.split_once(':')?;
    Some((Uuid::parse_str(tenant).ok()?, Uuid::parse_str(person).ok()?))
}

impl SocketSlot {
    /// Announces the socket: a routed person's first socket here claims them (and makes
    /// them available when nobody held them).
    pub async fn arrive(&self) {
        if self.routed && self.opened == Opened::FirstHere {
            self.presence.arrive(self.person).await;
        }
    }

    pub fn person(&self) -> Person {
        self.person
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let closed = self.presence.local().close(self.person);
        if let Closed::LastHere { generation } = closed
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(self.presence.clone().leave_after_grace(self.person, generation, self.routed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Person {
        (Uuid::new_v4(), Uuid::new_v4())
    }

    #[test]
    fn only_the_first_socket_here_claims_and_only_the_last_one_lets_go() {
        let mut here = LocalSockets::default();
        let sarah = person();
        assert_eq!(here.open(sarah, true, 10), Ok(Opened::FirstHere));
        assert_eq!(here.open(sarah, true, 10), Ok(Opened::Another));
        assert_eq!(here.close(sarah), Closed::StillHere, "another tab is open");
        let Closed::LastHere { generation } = here.close(sarah) else { panic!("last socket") };
        assert!(here.still_gone(sarah, generation));
        assert!(!here.holds(sarah));
    }

    #[test]
    fn a_reconnect_within_the_grace_period_keeps_the_claim() {
        let mut here = LocalSockets::default();
        let sarah = person();
        here.open(sarah, true, 10).unwrap();
        let Closed::LastHere { generation } = here.close(sarah) else { panic!("last socket") };
        assert_eq!(here.open(sarah, true, 10), Ok(Opened::FirstHere));
        assert!(!here.still_gone(sarah, generation), "reopened during the grace period");
        assert!(here.holds(sarah));
        let Closed::LastHere { generation: later } = here.close(sarah) else { panic!("last socket") };
        assert!(!here.still_gone(sarah, generation), "an older grace period does nothing");
        assert!(here.still_gone(sarah, later));
    }

    #[test]
    fn a_person_holds_at_most_the_allowed_sockets() {
        let mut here = LocalSockets::default();
        let sarah = person();
        for _ in 0..3 {
            here.open(sarah, true, 3).unwrap();
        }
        assert_eq!(here.open(sarah, true, 3), Err(TooManySockets));
        assert_eq!(here.sockets(), 3);
        here.close(sarah);
        assert!(here.open(sarah, true, 3).is_ok(), "a closed socket frees its place");
        assert!(here.open(person(), true, 3).is_ok(), "per person");
    }

    #[test]
    fn only_routed_people_are_claimed() {
        let mut here = LocalSockets::default();
        let (sarah, ai) = (person(), person());
        here.open(sarah, true, 3).unwrap();
        here.open(ai, false, 3).unwrap();
        assert_eq!(here.claimed(), vec![sarah]);
    }

    #[test]
    fn an_index_member_names_its_tenant_and_person() {
        let p = person();
        assert_eq!(person_of(&member(p)), Some(p));
        assert_eq!(person_of("garbage"), None);
    }
}
