//! What the metrics store's tests share: a migrated store on a fresh database with a manual
//! clock, and conversations told as the facts their events state. Nothing here reads the
//! machine's clock: a test runs the same on any date.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses a part

use chrono::{DateTime, Duration, TimeZone, Utc};
use inbox_config::PostgresSettings;
use inbox_metrics::domain::fact::Fact;
use inbox_metrics::domain::live::Snapshot;
use inbox_metrics::domain::timeline::{Actor, HandoffReason, Point, PointKind, SlaOutcome, Status};
use inbox_metrics::store::{MIGRATOR, MetricsStore};
use inbox_service::Clock;
use inbox_testkit::TestDatabase;
use uuid::Uuid;

/// 09:00 UTC on a Tuesday (10:00 in Paris).
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 4, 9, 0, 0).unwrap()
}

pub fn minute(m: i64) -> DateTime<Utc> {
    start() + Duration::minutes(m)
}

/// A store whose clock stands at `at` until the test moves it.
pub async fn store_at(at: DateTime<Utc>) -> (TestDatabase, MetricsStore) {
    let db = TestDatabase::create("metrics").await.unwrap();
    let settings = PostgresSettings { url: db.url(), max_connections: 4 };
    let pool = inbox_service::postgres::connect_and_migrate(&settings, &MIGRATOR).await.unwrap();
    (db, MetricsStore::new(pool, Clock::manual(at)))
}

/// The same facts under new event ids (event ids are unique across tenants: a second tenant
/// told the same story needs its own), copies of one fact getting the same new id.
pub fn renamed(facts: &[Fact]) -> Vec<Fact> {
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    facts
        .iter()
        .map(|f| {
            let id = names.entry(f.event_id.clone()).or_insert_with(|| Uuid::now_v7().to_string()).clone();
            Fact { event_id: id, ..f.clone() }
        })
        .collect()
}

/// One conversation told fact by fact, each fact as the event that states it (with the
/// conversation's snapshot after it, version increasing).
pub struct Story {
    pub conversation_id: Uuid,
    pub channel: &'static str,
    pub facts: Vec<Fact>,
    pub snapshot: Snapshot,
}

impl Story {
    pub fn new(channel: &'static str, opened: DateTime<Utc>) -> Self {
        let snapshot = Snapshot {
            version: 0,
            channel: channel.into(),
            status: Status::Active,
            assignee: None,
            team: None,
            person_handles: false,
            needs_human: false,
            customer_wrote_last: false,
            created_at: Some(opened),
        };
        Story { conversation_id: Uuid::now_v7(), channel, facts: Vec::new(), snapshot }
    }

    fn push(&mut self, kind: &str, point: Option<Point>) -> &mut Self {
        self.snapshot.version += 1;
        self.facts.push(Fact {
            event_id: Uuid::now_v7().to_string(),
            subject: format!("events.t.{kind}"),
            conversation_id: self.conversation_id,
            snapshot: Some(self.snapshot.clone()),
            opened: self.snapshot.created_at.map(|at| (at, None)),
            point,
            deleted: false,
        });
        self
    }

    fn point(&self, at: DateTime<Utc>, id: Uuid, kind: PointKind) -> Option<Point> {
        Some(Point { at, id, kind, team: self.snapshot.team, assignee: self.snapshot.assignee })
    }

    pub fn created(&mut self) -> &mut Self {
        self.push("conversation.created", None)
    }

    pub fn customer(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.customer_says(at, None)
    }

    pub fn customer_says(&mut self, at: DateTime<Utc>, rating: Option<u8>) -> &mut Self {
        self.snapshot.customer_wrote_last = true;
        let p = self.point(at, Uuid::now_v7(), PointKind::CustomerMessage { rating });
        self.push("message.created", p)
    }

    pub fn person(&mut self, at: DateTime<Utc>, agent: Uuid) -> &mut Self {
        self.snapshot.customer_wrote_last = false;
        let p = self.point(at, Uuid::now_v7(), PointKind::PersonReply { agent });
        self.push("message.created", p)
    }

    pub fn ai(&mut self, at: DateTime<Utc>, confidence: f32) -> &mut Self {
        self.snapshot.customer_wrote_last = false;
        let p = self.point(at, Uuid::now_v7(), PointKind::AiReply { confidence: Some(confidence) });
        self.push("message.created", p)
    }

    pub fn needs_human(&mut self, at: DateTime<Utc>, reason: HandoffReason) -> &mut Self {
        self.snapshot.needs_human = true;
        let p = self.point(at, Uuid::nil(), PointKind::NeedsHuman { reason });
        self.push("conversation.needs_human", p)
    }

    pub fn take_over(&mut self, at: DateTime<Utc>, agent: Uuid) -> &mut Self {
        self.snapshot.needs_human = false;
        self.snapshot.person_handles = true;
        self.snapshot.assignee = Some(agent);
        self.snapshot.customer_wrote_last = false;
        let p = self.point(at, Uuid::now_v7(), PointKind::TakenOver { agent: Some(agent) });
        self.push("message.created", p)
    }

    pub fn assign(&mut self, at: DateTime<Utc>, agent: Option<Uuid>, team: Option<Uuid>) -> &mut Self {
        self.snapshot.assignee = agent;
        self.snapshot.team = team;
        let p = self.point(at, Uuid::nil(), PointKind::Assigned { agent });
        self.push("conversation.assigned", p)
    }

    pub fn status(&mut self, at: DateTime<Utc>, to: Status, actor: Actor) -> &mut Self {
        let from = self.snapshot.status;
        self.snapshot.status = to;
        let p = self.point(at, Uuid::nil(), PointKind::Status { from, to, actor });
        self.push("conversation.status_changed", p)
    }

    /// An SLA alert of the notification service, which carries no conversation snapshot.
    pub fn sla(&mut self, at: DateTime<Utc>, outcome: SlaOutcome, target: u128) -> &mut Self {
        let mut provisional = self.snapshot.clone();
        provisional.version = -1;
        self.facts.push(Fact {
            event_id: Uuid::now_v7().to_string(),
            subject: "events.t.sla.breached".into(),
            conversation_id: self.conversation_id,
            snapshot: Some(provisional),
            opened: None,
            point: Some(Point {
                at,
                id: Uuid::from_u128(target),
                kind: PointKind::Sla { outcome },
                team: self.snapshot.team,
                assignee: self.snapshot.assignee,
            }),
            deleted: false,
        });
        self
    }

    pub fn survey(&mut self, at: DateTime<Utc>) -> &mut Self {
        let p = self.point(at, Uuid::now_v7(), PointKind::SurveySent);
        self.push("message.created", p)
    }
}
