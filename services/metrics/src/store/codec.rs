//! How timelines, contributions and rollup figures are written in `bytea` columns: protobuf
//! messages private to this store (prost, no schema file), compact and fast to read back.

use chrono::{DateTime, Utc};
use prost::Message as _;
use uuid::Uuid;

use super::StoreError;
use crate::domain::figures::{Contribution, Counter, Figures, Measure, Metric};
use crate::domain::sketch::Sketch;
use crate::domain::timeline::{Actor, HandoffReason, Point, PointKind, SlaOutcome, Status, Timeline};

#[derive(Clone, PartialEq, prost::Message)]
struct StoredTimeline {
    #[prost(int64, optional, tag = "1")]
    opened_at: Option<i64>,
    #[prost(bytes = "vec", tag = "2")]
    opened_team: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    points: Vec<StoredPoint>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredPoint {
    /// Microseconds since the epoch.
    #[prost(int64, tag = "1")]
    at: i64,
    #[prost(bytes = "vec", tag = "2")]
    id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    kind: u32,
    /// Status from, hand-off reason, SLA outcome or rating, by kind.
    #[prost(uint32, tag = "4")]
    a: u32,
    /// Status to.
    #[prost(uint32, tag = "5")]
    b: u32,
    /// The person (agent, actor), when there is one.
    #[prost(bytes = "vec", tag = "6")]
    person: Vec<u8>,
    /// 0 none, 1 person, 2 customer, 3 other.
    #[prost(uint32, tag = "7")]
    actor: u32,
    #[prost(float, optional, tag = "8")]
    confidence: Option<f32>,
    #[prost(bytes = "vec", tag = "9")]
    team: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    assignee: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredContributions {
    #[prost(message, repeated, tag = "1")]
    items: Vec<StoredContribution>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredContribution {
    #[prost(int64, tag = "1")]
    at: i64,
    /// A counter's position, or 1000 + a measure's.
    #[prost(uint32, tag = "2")]
    metric: u32,
    #[prost(sint64, tag = "3")]
    value_milli: i64,
    #[prost(bytes = "vec", tag = "4")]
    agent: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    team: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredFigures {
    #[prost(sint64, repeated, tag = "1")]
    counters: Vec<i64>,
    #[prost(message, repeated, tag = "2")]
    sketches: Vec<StoredSketch>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredSketch {
    #[prost(sint64, tag = "1")]
    count: i64,
    #[prost(sint64, tag = "2")]
    sum_milli: i64,
    #[prost(sint64, tag = "3")]
    zero: i64,
    #[prost(sint32, tag = "4")]
    offset: i32,
    #[prost(sint64, repeated, tag = "5")]
    bins: Vec<i64>,
}

const MEASURE_BASE: u32 = 1000;

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

fn id_bytes(id: Option<Uuid>) -> Vec<u8> {
    id.map(|id| id.as_bytes().to_vec()).unwrap_or_default()
}

fn id_of(bytes: &[u8]) -> Result<Option<Uuid>, StoreError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    Uuid::from_slice(bytes).map(Some).map_err(|_| StoreError::Corrupt("an id is not 16 bytes".into()))
}

fn status_code(s: Status) -> u32 {
    match s {
        Status::Active => 1,
        Status::Pending => 2,
        Status::Resolved => 3,
        Status::Archived => 4,
    }
}

fn status_of(code: u32) -> Result<Status, StoreError> {
    Ok(match code {
        1 => Status::Active,
        2 => Status::Pending,
        3 => Status::Resolved,
        4 => Status::Archived,
        other => return Err(StoreError::Corrupt(format!("status {other}"))),
    })
}

const REASONS: [HandoffReason; 5] = [
    HandoffReason::LowConfidence,
    HandoffReason::CustomerAsked,
    HandoffReason::ComplexIssue,
    HandoffReason::TakenOver,
    HandoffReason::Other,
];
const OUTCOMES: [SlaOutcome; 3] = [SlaOutcome::Warning, SlaOutcome::Breached, SlaOutcome::Met];

fn store_point(p: &Point) -> StoredPoint {
    let mut s = StoredPoint {
        at: micros(p.at),
        id: if p.id.is_nil() { Vec::new() } else { p.id.as_bytes().to_vec() },
        team: id_bytes(p.team),
        assignee: id_bytes(p.assignee),
        ..Default::default()
    };
    match p.kind {
        PointKind::Status { from, to, actor } => {
            s.kind = 1;
            s.a = status_code(from);
            s.b = status_code(to);
            (s.actor, s.person) = match actor {
                Actor::Person(id) => (1, id.as_bytes().to_vec()),
                Actor::Customer => (2, Vec::new()),
                Actor::Other => (3, Vec::new()),
            };
        }
        PointKind::NeedsHuman { reason } => {
            s.kind = 2;
            s.a = REASONS.iter().position(|r| *r == reason).unwrap_or(4) as u32;
        }
        PointKind::Assigned { agent } => {
            s.kind = 3;
            s.person = id_bytes(agent);
        }
        PointKind::TakenOver { agent } => {
            s.kind = 4;
            s.person = id_bytes(agent);
        }
        PointKind::ReleasedToAi => s.kind = 5,
        PointKind::CustomerMessage { rating } => {
            s.kind = 6;
            s.a = u32::from(rating.unwrap_or(0));
        }
        PointKind::AiReply { confidence } => {
            s.kind = 7;
            s.confidence = confidence;
        }
        PointKind::PersonReply { agent } => {
            s.kind = 8;
            s.person = agent.as_bytes().to_vec();
        }
        PointKind::SurveySent => s.kind = 9,
        PointKind::Sla { outcome } => {
            s.kind = 10;
            s.a = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(0) as u32;
        }
    }
    s
}

fn load_point(s: &StoredPoint) -> Result<Point, StoreError> {
    let person = id_of(&s.person)?;
    let required = |id: Option<Uuid>| id.ok_or_else(|| StoreError::Corrupt("a point lacks its person".into()));
    let kind = match s.kind {
        1 => PointKind::Status {
            from: status_of(s.a)?,
            to: status_of(s.b)?,
            actor: match s.actor {
                1 => Actor::Person(required(person)?),
                2 => Actor::Customer,
                _ => Actor::Other,
            },
        },
        2 => PointKind::NeedsHuman { reason: REASONS.get(s.a as usize).copied().unwrap_or(HandoffReason::Other) },
        3 => PointKind::Assigned { agent: person },
        4 => PointKind::TakenOver { agent: person },
        5 => PointKind::ReleasedToAi,
        6 => PointKind::CustomerMessage { rating: u8::try_from(s.a).ok().filter(|r| (1..=5).contains(r)) },
        7 => PointKind::AiReply { confidence: s.confidence },
        8 => PointKind::PersonReply { agent: required(person)? },
        9 => PointKind::SurveySent,
        10 => PointKind::Sla { outcome: OUTCOMES.get(s.a as usize).copied().unwrap_or(SlaOutcome::Warning) },
        other => return Err(StoreError::Corrupt(format!("point kind {other}"))),
    };
    Ok(Point {
        at: from_micros(s.at)?,
        id: id_of(&s.id)?.unwrap_or_else(Uuid::nil),
        kind,
        team: id_of(&s.team)?,
        assignee: id_of(&s.assignee)?,
    })
}

pub fn encode_timeline(t: &Timeline) -> Vec<u8> {
    StoredTimeline {
        opened_at: t.opened_at.map(micros),
        opened_team: id_bytes(t.opened_team),
        points: t.points().iter().map(store_point).collect(),
    }
    .encode_to_vec()
}

pub fn decode_timeline(bytes: &[u8]) -> Result<Timeline, StoreError> {
    let s = StoredTimeline::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let points = s.points.iter().map(load_point).collect::<Result<Vec<_>, _>>()?;
    Ok(Timeline::new(s.opened_at.map(from_micros).transpose()?, id_of(&s.opened_team)?, points))
}

pub fn encode_contributions(items: &[Contribution]) -> Vec<u8> {
    StoredContributions {
        items: items
            .iter()
            .map(|c| {
                let (metric, value_milli) = match c.metric {
                    Metric::Count(counter) => (counter.index() as u32, 0),
                    Metric::Sample(measure, v) => (MEASURE_BASE + measure.index() as u32, v),
                };
                StoredContribution {
                    at: micros(c.at),
                    metric,
                    value_milli,
                    agent: id_bytes(c.agent),
                    team: id_bytes(c.team),
                }
            })
            .collect(),
    }
    .encode_to_vec()
}

pub fn decode_contributions(bytes: &[u8]) -> Result<Vec<Contribution>, StoreError> {
    let s = StoredContributions::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    s.items
        .iter()
        .map(|c| {
            let metric = if c.metric >= MEASURE_BASE {
                let m = Measure::ALL
                    .get((c.metric - MEASURE_BASE) as usize)
                    .ok_or_else(|| StoreError::Corrupt(format!("measure {}", c.metric)))?;
                Metric::Sample(*m, c.value_milli)
            } else {
                let counter = Counter::ALL
                    .get(c.metric as usize)
                    .ok_or_else(|| StoreError::Corrupt(format!("counter {}", c.metric)))?;
                Metric::Count(*counter)
            };
            Ok(Contribution { at: from_micros(c.at)?, metric, agent: id_of(&c.agent)?, team: id_of(&c.team)? })
        })
        .collect()
}

pub fn encode_figures(f: &Figures) -> Vec<u8> {
    let mut counters = f.counters().to_vec();
    while counters.last() == Some(&0) {
        counters.pop();
    }
    let mut sketches: Vec<StoredSketch> = f
        .sketches()
        .iter()
        .map(|s| StoredSketch {
            count: s.count,
            sum_milli: s.sum_milli,
            zero: s.zero,
            offset: s.offset,
            bins: s.bins.clone(),
        })
        .collect();
    while sketches.last().is_some_and(|s| s.count == 0 && s.zero == 0 && s.bins.is_empty() && s.sum_milli == 0) {
        sketches.pop();
    }
    StoredFigures { counters, sketches }.encode_to_vec()
}

pub fn decode_figures(bytes: &[u8]) -> Result<Figures, StoreError> {
    let s = StoredFigures::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if s.counters.len() > Counter::COUNT || s.sketches.len() > Measure::COUNT {
        return Err(StoreError::Corrupt("more figures than this version knows".into()));
    }
    Ok(Figures::from_parts(
        s.counters,
        s.sketches
            .into_iter()
            .map(|s| Sketch { count: s.count, sum_milli: s.sum_milli, zero: s.zero, offset: s.offset, bins: s.bins })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn every_kind_of_point_survives_the_round_trip() {
        let at = Utc.with_ymd_and_hms(2031, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::microseconds(678);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let kinds = [
            PointKind::Status { from: Status::Resolved, to: Status::Active, actor: Actor::Person(a) },
            PointKind::Status { from: Status::Active, to: Status::Pending, actor: Actor::Other },
            PointKind::Status { from: Status::Pending, to: Status::Active, actor: Actor::Customer },
            PointKind::NeedsHuman { reason: HandoffReason::ComplexIssue },
            PointKind::Assigned { agent: Some(a) },
            PointKind::Assigned { agent: None },
            PointKind::TakenOver { agent: Some(b) },
            PointKind::ReleasedToAi,
            PointKind::CustomerMessage { rating: Some(4) },
            PointKind::CustomerMessage { rating: None },
            PointKind::AiReply { confidence: Some(0.25) },
            PointKind::AiReply { confidence: None },
            PointKind::PersonReply { agent: b },
            PointKind::SurveySent,
            PointKind::Sla { outcome: SlaOutcome::Breached },
        ];
        let points: Vec<Point> = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| Point {
                at: at + chrono::Duration::seconds(i as i64),
                id: if i % 2 == 0 { Uuid::now_v7() } else { Uuid::nil() },
                kind: *kind,
                team: (i % 3 == 0).then_some(a),
                assignee: (i % 4 == 0).then_some(b),
            })
            .collect();
        let timeline = Timeline::new(Some(at), Some(b), points);
        assert_eq!(decode_timeline(&encode_timeline(&timeline)).unwrap(), timeline);
    }

    #[test]
    fn contributions_and_figures_survive_the_round_trip() {
        let at = Utc.with_ymd_and_hms(2031, 1, 2, 3, 4, 5).unwrap();
        let items = vec![
            Contribution { at, metric: Metric::Count(Counter::Csat5), agent: Some(Uuid::now_v7()), team: None },
            Contribution {
                at,
                metric: Metric::sample(Measure::FirstResponse, 12.345),
                agent: None,
                team: Some(Uuid::now_v7()),
            },
        ];
        assert_eq!(decode_contributions(&encode_contributions(&items)).unwrap(), items);
        let mut f = Figures::default();
        for c in &items {
            f.apply(c.metric, 3);
        }
        let back = decode_figures(&encode_figures(&f)).unwrap();
        assert_eq!(back.count(Counter::Csat5), 3);
        assert_eq!(back.sketch(Measure::FirstResponse), f.sketch(Measure::FirstResponse));
        assert!(decode_timeline(b"\xff\xff").is_err(), "garbage is refused, not misread");
    }
}
