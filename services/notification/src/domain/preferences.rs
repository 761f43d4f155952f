//! An agent's notification settings and what they make of one notification.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use super::{Kind, Level};

/// Daily quiet hours in the agent's time zone: `[start, end)`, wrapping midnight when the end
/// comes before the start (22:00 to 07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// From two `HH:MM` texts; both empty is `Ok(None)`. Equal times are refused (they would
    /// mean nothing or all day).
    pub fn parse(start: &str, end: &str) -> Result<Option<QuietHours>, String> {
        let (start, end) = (start.trim(), end.trim());
        if start.is_empty() && end.is_empty() {
            return Ok(None);
        }
        let time = |text: &str, what: &str| {
            NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| format!("{what} must be HH:MM, not {text:?}"))
        };
        let (start, end) = (time(start, "quiet_hours_start")?, time(end, "quiet_hours_end")?);
        if start == end {
            return Err("quiet hours must start and end at different times".into());
        }
        Ok(Some(QuietHours { start, end }))
    }

    pub fn contains(&self, local: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }
}

/// An agent's settings; types not set take their default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub levels: BTreeMap<Kind, Level>,
    pub do_not_disturb: bool,
    pub quiet_hours: Option<QuietHours>,
}

/// How one notification reaches one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The level it is delivered at (the agent's, lowered to visual while quiet).
    pub level: Level,
    pub sound: bool,
    /// A browser notification, and a push message to the agent's subscriptions.
    pub browser: bool,
}

impl Preferences {
    pub fn level(&self, kind: Kind) -> Level {
        self.levels.get(&kind).copied().unwrap_or(kind.default_level())
    }

    /// Whether do-not-disturb or the quiet hours (read in `time_zone`) hold at `now`.
    pub fn is_quiet(&self, now: DateTime<Utc>, time_zone: Tz) -> bool {
        self.do_not_disturb || self.quiet_hours.is_some_and(|q| q.contains(now.with_timezone(&time_zone).time()))
    }

    /// What a notification of `kind` does at `now`: `None` when the agent turned the type off.
    /// While quiet it is still kept in the centre and shown, without sound or browser push.
    pub fn decide(&self, kind: Kind, now: DateTime<Utc>, time_zone: Tz) -> Option<Decision> {
        let level = self.level(kind);
        if level == Level::None {
            return None;
        }
        let level = if self.is_quiet(now, time_zone) { Level::Visual } else { level };
        Some(Decision { level, sound: level >= Level::SoundVisual, browser: level == Level::All })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 1, 15, h, m, 0).unwrap()
    }

    #[test]
    fn each_type_is_delivered_at_its_level_by_default() {
        let p = Preferences::default();
        let d = |k| p.decide(k, at(12, 0), Tz::UTC);
        assert_eq!(d(Kind::Assigned), Some(Decision { level: Level::All, sound: true, browser: true }));
        assert_eq!(d(Kind::NewConversation), Some(Decision { level: Level::SoundVisual, sound: true, browser: false }));
        assert_eq!(d(Kind::CustomerReplied), Some(Decision { level: Level::Visual, sound: false, browser: false }));
        assert_eq!(d(Kind::StatusChanged), None, "status changes are off by default");
    }

    #[test]
    fn an_agent_turns_a_type_off_or_up() {
        let mut p = Preferences::default();
        p.levels.insert(Kind::Assigned, Level::None);
        p.levels.insert(Kind::StatusChanged, Level::All);
        assert_eq!(p.decide(Kind::Assigned, at(12, 0), Tz::UTC), None);
        assert!(p.decide(Kind::StatusChanged, at(12, 0), Tz::UTC).unwrap().browser);
    }

    #[test]
    fn do_not_disturb_keeps_notifications_visible_but_silent() {
        let p = Preferences { do_not_disturb: true, ..Default::default() };
        assert_eq!(
            p.decide(Kind::Assigned, at(12, 0), Tz::UTC),
            Some(Decision { level: Level::Visual, sound: false, browser: false })
        );
    }

    #[test]
    fn quiet_hours_are_read_in_the_agents_time_zone_and_may_wrap_midnight() {
        let p = Preferences { quiet_hours: QuietHours::parse("22:00", "07:00").unwrap(), ..Default::default() };
        // 21:30 UTC is 22:30 in Paris (winter): quiet there, not in UTC.
        assert!(p.is_quiet(at(21, 30), chrono_tz::Europe::Paris));
        assert!(!p.is_quiet(at(21, 30), Tz::UTC));
        assert!(p.is_quiet(at(6, 59), Tz::UTC));
        assert!(!p.is_quiet(at(7, 0), Tz::UTC));
        let day = Preferences { quiet_hours: QuietHours::parse("12:00", "13:00").unwrap(), ..Default::default() };
        assert!(day.is_quiet(at(12, 30), Tz::UTC));
        assert!(!day.is_quiet(at(13, 0), Tz::UTC));
    }

    #[test]
    fn quiet_hours_are_both_set_or_both_empty() {
        assert_eq!(QuietHours::parse("", ""), Ok(None));
        assert!(QuietHours::parse("22:00", "").is_err());
        assert!(QuietHours::parse("25:00", "07:00").is_err());
        assert!(QuietHours::parse("07:00", "07:00").is_err());
    }
}
