//! Who is viewing each conversation. A socket says `{"type":"viewing","conversation_id":...}`
//! (`null` to stop); its mark lives in Redis with an expiry its socket keeps refreshing, so a
//! vanished socket or replica stops counting by itself. After every change the replica that saw
//! it publishes the whole list on core NATS `presence.<tenant>` (protobuf); every replica pushes
//! `conversation.viewers` to the sockets that may see the conversation.
//!
//! Redis: per conversation a sorted set of marks (one per socket) scored by expiry, and an index
//! of conversations scored by their earliest expiry, which the sweeper on every replica reads to
//! announce marks that expired (scripts make exactly one replica announce each change).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use inbox_bus::{Envelope, Payload, new_envelope};
use inbox_proto::events::v1::{ConversationViewer, ConversationViewers};
use inbox_service::Clock;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::directory::Whereabouts;
use super::frame::{Audience, LiveFrame, frame_text};

/// Core-NATS subject of viewer changes: `presence.<tenant>` (never on a stream).
pub fn presence_subject(tenant_id: Uuid) -> String {
    format!("presence.{tenant_id}")
}

/// Every tenant's viewer changes.
pub const PRESENCE: &str = "presence.>";

/// One socket viewing one conversation, as stored in Redis (the member of the sorted set:
/// it stays the same for the socket's refreshes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    #[serde(rename = "a")]
    pub agent_id: Uuid,
    #[serde(rename = "n")]
    pub name: String,
    /// The socket (unique across replicas).
    #[serde(rename = "s")]
    pub socket: String,
    /// Milliseconds since the epoch, by the gateway's clock.
    #[serde(rename = "t")]
    pub since_ms: i64,
    /// Where the conversation was when the mark was made.
    #[serde(rename = "team", default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Uuid>,
}

impl Mark {
    fn member(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The viewers of a conversation from its marks: one per person, since their earliest mark,
/// earliest first; and where the conversation is (by the newest mark).
pub fn viewers_of(marks: &[Mark]) -> (Vec<ConversationViewer>, Whereabouts) {
    let mut people: BTreeMap<Uuid, (i64, String)> = BTreeMap::new();
    for mark in marks {
        let entry = people.entry(mark.agent_id).or_insert((mark.since_ms, mark.name.clone()));
        entry.0 = entry.0.min(mark.since_ms);
    }
    let mut viewers: Vec<(i64, Uuid, String)> =
        people.into_iter().map(|(id, (since, name))| (since, id, name)).collect();
    viewers.sort();
    let place = marks
        .iter()
        .max_by_key(|m| m.since_ms)
        .map(|m| Whereabouts { team_id: m.team_id, assignee_id: m.assignee_id })
        .unwrap_or_default();
    let viewers = viewers
        .into_iter()
        .map(|(since, id, name)| ConversationViewer {
            agent_id: id.to_string(),
            name,
            since: Utc.timestamp_millis_opt(since).single().map(inbox_proto::timestamp_from),
        })
        .collect();
    (viewers, place)
}

/// The JSON list of viewers clients read.
pub fn viewers_json(viewers: &[ConversationViewer]) -> Value {
    Value::Array(
        viewers
            .iter()
            .map(|v| {
                let since =
                    v.since.as_ref().and_then(inbox_proto::timestamp_to_utc).map(|t: DateTime<Utc>| t.to_rfc3339());
                json!({"agent_id": v.agent_id, "name": v.name, "since": since})
            })
            .collect(),
    )
}

/// The `conversation.viewers` frame of a viewers change, for those who may see the
/// conversation (anyone, once nobody views it: an empty list reveals nothing).
pub fn viewers_frame(envelope: &Envelope) -> Option<LiveFrame> {
    let Payload::ConversationViewers(change) = envelope.payload.as_ref()? else { return None };
    let audience = if change.viewers.is_empty() {
        Audience::Tenant
    } else {
        Audience::of_conversation(Some(Whereabouts::of(&change.team_id, &change.assignee_id)))
    };
    Some(LiveFrame {
        seq: None,
        audience,
        text: frame_text(
            "conversation.viewers",
            None,
            None,
            json!({"conversation_id": change.conversation_id, "viewers": viewers_json(&change.viewers)}),
        ),
    })
}

/// Marks a socket as viewing (replacing its previous mark in the same conversation) and
/// returns the conversation's marks. KEYS: the marks, the index. ARGV: mark, expiry (ms),
/// now (ms), index member, ttl (ms), previous mark or "".
static VIEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if ARGV[6] ~= '' then redis.call('ZREM', KEYS[1], ARGV[6]) end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        redis.call('ZADD', KEYS[2], first[2], ARGV[4])
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        ",
    )
});

/// Removes a socket's mark (none: the sweeper) and the expired ones; the marks left when any
/// went, else nil. KEYS: the marks, the index. ARGV: mark or "", now (ms), index member.
static UNVIEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local removed = 0
        if ARGV[1] ~= '' then removed = redis.call('ZREM', KEYS[1], ARGV[1]) end
        removed = removed + redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        if #first == 0 then
            redis.call('ZREM', KEYS[2], ARGV[3])
            redis.call('DEL', KEYS[1])
        else
            redis.call('ZADD', KEYS[2], first[2], ARGV[3])
        end
        if removed == 0 then return false end
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        ",
    )
});

/// The viewer book in Redis, and the announcements of its changes.
pub struct Viewers {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    clock: Clock,
    ttl: Duration,
    nats: async_nats::Client,
}

impl Viewers {
    pub fn new(
        redis: redis::aio::ConnectionManager,
        prefix: String,
        clock: Clock,
        ttl: Duration,
        nats: async_nats::Client,
    ) -> Self {
        Self { redis, prefix, clock, ttl, nats }
    }

    /// How often a socket refreshes its mark.
    pub fn refresh_every(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_secs(1))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    fn marks_key(&self, tenant_id: Uuid, conversation_id: Uuid) -> String {
        format!("{}viewers:{tenant_id}:{conversation_id}", self.prefix)
    }

    fn index_key(&self) -> String {
        format!("{}viewers:index", self.prefix)
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Marks (or refreshes) `mark` viewing the conversation; `previous` is the socket's
    /// earlier mark in the same conversation. Announces the list unless `quiet` (a refresh).
    pub async fn view(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        mark: &Mark,
        previous: Option<&Mark>,
        quiet: bool,
    ) -> Result<(), redis::RedisError> {
        let now = self.now_ms();
        let members: Vec<String> = VIEW
            .key(self.marks_key(tenant_id, conversation_id))
            .key(self.index_key())
            .arg(mark.member())
            .arg(now + self.ttl_ms())
            .arg(now)
            .arg(index_member(tenant_id, conversation_id))
            .arg(self.ttl_ms())
            .arg(previous.map(Mark::member).unwrap_or_default())
            .invoke_async(&mut self.redis.clone())
            .await?;
        if !quiet {
            self.announce(tenant_id, conversation_id, &members).await;
        }
        Ok(())
    }

    /// Removes the socket's mark and announces the list left.
    pub async fn unview(&self, tenant_id: Uuid, conversation_id: Uuid, mark: &Mark) -> Result<(), redis::RedisError> {
        self.drop_marks(tenant_id, conversation_id, Some(mark)).await
    }

    /// Drops `mark` (none: only the expired ones) and announces the marks left when any went.
    async fn drop_marks(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        mark: Option<&Mark>,
    ) -> Result<(), redis::RedisError> {
        let members: Option<Vec<String>> = UNVIEW
            .key(self.marks_key(tenant_id, conversation_id))
            .key(self.index_key())
            .arg(mark.map(Mark::member).unwrap_or_default())
            .arg(self.now_ms())
            .arg(index_member(tenant_id, conversation_id))
            .invoke_async(&mut self.redis.clone())
            .await?;
        if let Some(members) = members {
            self.announce(tenant_id, conversation_id, &members).await;
        }
        Ok(())
    }

    /// The conversation's marks now.
    pub async fn marks(&self, tenant_id: Uuid, conversation_id: Uuid) -> Result<Vec<Mark>, redis::RedisError> {
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.marks_key(tenant_id, conversation_id))
            .arg(format!("({}", self.now_ms()))
            .arg("+inf")
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(parse_marks(&members))
    }

    async fn announce(&self, tenant_id: Uuid, conversation_id: Uuid, members: &[String]) {
        let (viewers, place) = viewers_of(&parse_marks(members));
        let tenant = tenant_id.to_string();
        let envelope = new_envelope(
            format!("viewers:{conversation_id}:{}", Uuid::now_v7()),
            &tenant,
            Payload::ConversationViewers(ConversationViewers {
                conversation_id: conversation_id.to_string(),
                team_id: place.team_id.map(|t| t.to_string()).unwrap_or_default(),
                assignee_id: place.assignee_id.map(|a| a.to_string()).unwrap_or_default(),
                viewers,
            }),
        );
        if let Err(e) = self.nats.publish(presence_subject(tenant_id), envelope.encode_to_vec().into()).await {
            tracing::warn!(error = %e, %conversation_id, "viewers change not announced");
        }
    }

    /// Announces the conversations whose marks expired (a socket or replica that vanished).
    async fn sweep(&self) {
        let now = self.now_ms();
        let due = match super::upkeep::due_entries(&self.redis, &self.index_key(), now).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "viewers sweep failed");
                return;
            }
        };
        for (tenant_id, conversation_id) in due.iter().filter_map(|entry| parse_index_member(entry)) {
            if let Err(e) = self.drop_marks(tenant_id, conversation_id, None).await {
                tracing::warn!(error = %e, %conversation_id, "expired viewers not swept");
            }
        }
    }
}

/// Announces expired marks every second until `shutdown`.
pub async fn sweep_viewers(viewers: std::sync::Arc<Viewers>, shutdown: CancellationToken) {
    super::upkeep::every(Duration::from_secs(1), shutdown, || viewers.sweep()).await;
}

fn parse_marks(members: &[String]) -> Vec<Mark> {
    members.iter().filter_map(|m| serde_json::from_str(m).ok()).collect()
}

fn index_member(tenant_id: Uuid, conversation_id: Uuid) -> String {
    format!("{tenant_id}|{conversation_id}")
}

fn parse_index_member(member: &str) -> Option<(Uuid, Uuid)> {
    let (tenant, conversation) = member.split_once('|')?;
    Some((Uuid::parse_str(tenant).ok()?, Uuid::parse_str(conversation).ok()?))
}

/// What a client's `viewing` frame asks: `Some(Some(id))` to view, `Some(None)` to stop;
/// `None` when the frame is not a viewing frame (or names no valid id).
pub fn viewing_frame(frame: &Value) -> Option<Option<Uuid>> {
    if frame["type"] != "viewing" {
        return None;
    }
    match &frame["conversation_id"] {
        Value::Null => Some(None),
        Value::String(id) => Uuid::parse_str(id).ok().map(Some),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(agent: Uuid, socket: &str, since_ms: i64) -> Mark {
        Mark {
            agent_id: agent,
            name: format!("agent {}", &agent.to_string()[..4]),
            socket: socket.into(),
            since_ms,
            team_id: None,
            assignee_id: None,
        }
    }

    #[test]
    fn a_person_with_two_tabs_on_one_conversation_is_one_viewer_since_the_earliest() {
        let (sarah, tom) = (Uuid::new_v4(), Uuid::new_v4());
        let marks = vec![mark(sarah, "s2", 2_000), mark(tom, "t1", 1_500), mark(sarah, "s1", 1_000)];
        let (viewers, _) = viewers_of(&marks);
        let ids: Vec<_> = viewers.iter().map(|v| v.agent_id.clone()).collect();
        assert_eq!(ids, vec![sarah.to_string(), tom.to_string()], "earliest first");
        let json = viewers_json(&viewers);
        assert_eq!(json[0]["since"], Utc.timestamp_millis_opt(1_000).unwrap().to_rfc3339());
        assert_eq!(json[0]["name"], format!("agent {}", &sarah.to_string()[..4]));
    }

    #[test]
    fn a_mark_round_trips_through_its_redis_member() {
        let m = Mark { team_id: Some(Uuid::new_v4()), ..mark(Uuid::new_v4(), "s|1", 5) };
        assert_eq!(parse_marks(&[m.member(), "garbage".into()]), vec![m]);
        let (tenant, conversation) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(parse_index_member(&index_member(tenant, conversation)), Some((tenant, conversation)));
    }

    #[test]
    fn a_viewers_frame_goes_to_those_who_may_see_the_conversation_and_an_empty_one_to_all() {
        let team = Uuid::new_v4();
        let change = |viewers| {
            inbox_bus::new_envelope(
                "v",
                "t",
                Payload::ConversationViewers(ConversationViewers {
                    conversation_id: "c1".into(),
                    team_id: team.to_string(),
                    assignee_id: String::new(),
                    viewers,
                }),
            )
        };
        let frame =
            viewers_frame(&change(vec![ConversationViewer { agent_id: "a".into(), ..Default::default() }])).unwrap();
        assert_eq!(
            frame.audience,
            Audience::of_conversation(Some(Whereabouts { team_id: Some(team), assignee_id: None }))
        );
        let parsed: Value = serde_json::from_str(frame.text.as_str()).unwrap();
        assert_eq!(parsed["type"], "conversation.viewers");
        assert_eq!(parsed["viewers"][0]["agent_id"], "a");
        assert_eq!(viewers_frame(&change(vec![])).unwrap().audience, Audience::Tenant);
    }

    #[test]
    fn a_viewing_frame_names_a_conversation_or_null() {
        let id = Uuid::new_v4();
        assert_eq!(viewing_frame(&json!({"type": "viewing", "conversation_id": id.to_string()})), Some(Some(id)));
        assert_eq!(viewing_frame(&json!({"type": "viewing", "conversation_id": null})), Some(None));
        assert_eq!(viewing_frame(&json!({"type": "viewing", "conversation_id": "nope"})), None);
        assert_eq!(viewing_frame(&json!({"type": "presence"})), None);
    }
}
