//! Where a contribution lands: hour and day buckets in the tenant's time zone, for the tenant,
//! the conversation's channel, its team and the agent.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::figures::Contribution;

/// Bucket sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i16)]
pub enum Grain {
    Hour = 0,
    Day = 1,
}

impl Grain {
    pub const ALL: [Grain; 2] = [Grain::Hour, Grain::Day];

    pub fn code(self) -> i16 {
        self as i16
    }
}

/// What a cell is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i16)]
pub enum Dim {
    Tenant = 0,
    Channel = 1,
    Team = 2,
    Agent = 3,
}

impl Dim {
    pub fn code(self) -> i16 {
        self as i16
    }
}

/// Which group of its dimension a cell is about. Stored as text: empty for the tenant, the
/// channel token, or the team or agent id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CellId {
    Tenant,
    Channel(&'static str),
    Id(Uuid),
}

/// The channel tokens a cell may name; anything else is `unspecified`.
const CHANNELS: [&str; 4] = ["whatsapp", "telephony", "webchat", "unspecified"];

impl CellId {
    pub fn channel(token: &str) -> CellId {
        CellId::Channel(CHANNELS.iter().find(|c| **c == token).copied().unwrap_or("unspecified"))
    }

    /// The key as stored.
    pub fn text(&self) -> String {
        match self {
            CellId::Tenant => String::new(),
            CellId::Channel(token) => (*token).to_owned(),
            CellId::Id(id) => key_of(*id),
        }
    }

    /// A stored key of `dim`; `None` for one this version cannot read.
    pub fn parse(dim: Dim, text: &str) -> Option<CellId> {
        match dim {
            Dim::Tenant => text.is_empty().then_some(CellId::Tenant),
            Dim::Channel => Some(CellId::channel(text)),
            Dim::Team | Dim::Agent => Uuid::parse_str(text).ok().map(CellId::Id),
        }
    }
}

/// One rollup cell of a tenant: a bucket of one grain for one group of a dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub grain: Grain,
    pub dim: Dim,
    pub key: CellId,
    pub bucket_start: DateTime<Utc>,
}

/// Start of the bucket of `grain` holding `at`, in `zone`: the local hour (an hour repeated by
/// a DST change is two buckets) or local midnight (the first instant of the local date).
pub fn bucket_start(at: DateTime<Utc>, zone: Tz, grain: Grain) -> DateTime<Utc> {
    let local = at.with_timezone(&zone);
    match grain {
        Grain::Hour => {
            let into_hour = Duration::seconds(i64::from(local.minute()) * 60 + i64::from(local.second()))
                + Duration::nanoseconds(i64::from(local.nanosecond()));
            at - into_hour
        }
        Grain::Day => local_midnight(local.date_naive(), zone).unwrap_or(at),
    }
}

/// The first instant of `date` in `zone` (where midnight is skipped by a DST change, the first
/// valid hour after it).
pub fn local_midnight(date: chrono::NaiveDate, zone: Tz) -> Option<DateTime<Utc>> {
    (0..4).find_map(|hour| {
        let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
        zone.from_local_datetime(&date.and_time(time)).earliest().map(|t| t.with_timezone(&Utc))
    })
}

/// The cells a contribution of a conversation on `channel` (a [`CellId::channel`]) adds to,
/// in `zone`.
pub fn cells_of(contribution: &Contribution, channel: CellId, zone: Tz) -> Vec<CellKey> {
    let groups = [
        Some((Dim::Tenant, CellId::Tenant)),
        Some((Dim::Channel, channel)),
        contribution.team.map(|team| (Dim::Team, CellId::Id(team))),
        contribution.agent.map(|agent| (Dim::Agent, CellId::Id(agent))),
    ];
    let mut cells = Vec::with_capacity(8);
    for grain in Grain::ALL {
        let bucket_start = bucket_start(contribution.at, zone, grain);
        for (dim, key) in groups.iter().flatten() {
            cells.push(CellKey { grain, dim: *dim, key: *key, bucket_start });
        }
    }
    cells
}

/// How an id is written in a cell key.
pub fn key_of(id: Uuid) -> String {
    id.to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::figures::{Counter, Metric};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn a_day_starts_at_midnight_in_the_tenant_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // 23:30 UTC on 14 January is 00:30 on the 15th in Paris.
        assert_eq!(bucket_start(utc(2031, 1, 14, 23, 30), paris, Grain::Day), utc(2031, 1, 14, 23, 0));
        assert_eq!(bucket_start(utc(2031, 1, 14, 22, 30), paris, Grain::Day), utc(2031, 1, 13, 23, 0));
        // Summer time: midnight is 22:00 UTC.
        assert_eq!(bucket_start(utc(2031, 7, 1, 12, 0), paris, Grain::Day), utc(2031, 6, 30, 22, 0));
    }

    #[test]
    fn hours_follow_half_hour_zones_and_a_repeated_hour_is_two_buckets() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap(); // UTC+05:30
        assert_eq!(bucket_start(utc(2031, 3, 1, 10, 10), kolkata, Grain::Hour), utc(2031, 3, 1, 9, 30));
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // 26 October 2031: 02:00–03:00 local happens twice (00:00–01:00 and 01:00–02:00 UTC).
        let first = bucket_start(utc(2031, 10, 26, 0, 30), paris, Grain::Hour);
        let second = bucket_start(utc(2031, 10, 26, 1, 30), paris, Grain::Hour);
        assert_eq!((first, second), (utc(2031, 10, 26, 0, 0), utc(2031, 10, 26, 1, 0)));
        // That day has 25 hours: midnight to midnight.
        let day = bucket_start(utc(2031, 10, 26, 12, 0), paris, Grain::Day);
        let next = bucket_start(utc(2031, 10, 27, 12, 0), paris, Grain::Day);
        assert_eq!(next - day, Duration::hours(25));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_first_valid_hour() {
        // Santiago moved its clocks from 00:00 to 01:00 on 7 September 2031.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2031, 9, 7).unwrap();
        let start = local_midnight(date, santiago).unwrap();
        assert_eq!(start.with_timezone(&santiago).date_naive(), date);
        assert!(start.with_timezone(&santiago).hour() <= 1);
    }

    #[test]
    fn a_contribution_lands_in_the_tenant_channel_team_and_agent_cells_of_both_grains() {
        let (team, agent) = (Uuid::new_v4(), Uuid::new_v4());
        let c = Contribution {
            at: utc(2031, 5, 2, 10, 45),
            metric: Metric::Count(Counter::AgentMessages),
            agent: Some(agent),
            team: Some(team),
        };
        let cells = cells_of(&c, CellId::channel("whatsapp"), chrono_tz::UTC);
        assert_eq!(cells.len(), 8);
        assert!(cells.contains(&CellKey {
            grain: Grain::Hour,
            dim: Dim::Agent,
            key: CellId::Id(agent),
            bucket_start: utc(2031, 5, 2, 10, 0)
        }));
        assert!(cells.contains(&CellKey {
            grain: Grain::Day,
            dim: Dim::Channel,
            key: CellId::Channel("whatsapp"),
            bucket_start: utc(2031, 5, 2, 0, 0)
        }));
        let bare = Contribution { agent: None, team: None, ..c };
        assert_eq!(cells_of(&bare, CellId::channel("webchat"), chrono_tz::UTC).len(), 4);
    }

    #[test]
    fn cell_ids_are_stored_as_text_and_read_back() {
        let id = Uuid::new_v4();
        for (dim, key) in
            [(Dim::Tenant, CellId::Tenant), (Dim::Channel, CellId::channel("webchat")), (Dim::Agent, CellId::Id(id))]
        {
            assert_eq!(CellId::parse(dim, &key.text()), Some(key));
        }
        assert_eq!(CellId::channel("sms"), CellId::Channel("unspecified"));
        assert_eq!(CellId::parse(Dim::Team, "sales"), None);
    }
}
