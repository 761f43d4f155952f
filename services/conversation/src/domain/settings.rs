//! The tenant's settings used across the inbox: time zone, company name, AI threshold and the
//! hand-off message.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Longest company name and hand-off message, in characters.
pub const MAX_COMPANY_NAME_CHARS: usize = 200;
pub const MAX_HANDOFF_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct TenantSettings {
    pub time_zone: Tz,
    pub company_name: String,
    /// AI messages below this confidence set "needs human".
    pub ai_confidence_threshold: f32,
    /// Sent to the customer when an agent takes over; `{{agent_name}}` is filled in.
    pub handoff_message: String,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            time_zone: Tz::UTC,
            company_name: String::new(),
            ai_confidence_threshold: 0.6,
            handoff_message: "Let me connect you with {{agent_name}} from our team who can better assist you. \
                              One moment..."
                .into(),
        }
    }
}

impl TenantSettings {
    /// Settings as a client gave them; the error says which field is wrong.
    pub fn parse(
        time_zone: &str,
        company_name: &str,
        ai_confidence_threshold: f32,
        handoff_message: &str,
    ) -> Result<Self, String> {
        let time_zone: Tz =
            time_zone.trim().parse().map_err(|_| format!("unknown time zone {time_zone:?} (use an IANA name)"))?;
        if !(0.0..=1.0).contains(&ai_confidence_threshold) {
            return Err("ai_confidence_threshold must be between 0 and 1".into());
        }
        let company_name = company_name.trim();
        if company_name.chars().count() > MAX_COMPANY_NAME_CHARS {
            return Err(format!("company_name must be at most {MAX_COMPANY_NAME_CHARS} characters"));
        }
        let handoff_message = handoff_message.trim();
        if handoff_message.is_empty() || handoff_message.chars().count() > MAX_HANDOFF_CHARS {
            return Err(format!("handoff_message must have 1 to {MAX_HANDOFF_CHARS} characters"));
        }
        Ok(Self {
            time_zone,
            company_name: company_name.into(),
            ai_confidence_threshold,
            handoff_message: handoff_message.into(),
        })
    }

    /// Midnight today in the tenant's zone, as an instant.
    pub fn start_of_today(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.time_zone).date_naive();
        self.local_midnight(local)
    }

    /// Midnight of the Monday of this week in the tenant's zone.
    pub fn start_of_week(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.time_zone).date_naive();
        let monday = local - Duration::days(i64::from(local.weekday().num_days_from_monday()));
        self.local_midnight(monday)
    }

    /// Midnight of the first of this month in the tenant's zone.
    pub fn start_of_month(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.time_zone).date_naive();
        self.local_midnight(local.with_day(1).unwrap_or(local))
    }

    /// `when` in the tenant's zone.
    pub fn local(&self, when: DateTime<Utc>) -> DateTime<Tz> {
        when.with_timezone(&self.time_zone)
    }

    /// The first instant of `day` in the tenant's zone. Where a DST jump skips midnight, the
    /// first instant after the gap.
    fn local_midnight(&self, day: chrono::NaiveDate) -> DateTime<Utc> {
        let mut at = day.and_time(NaiveTime::MIN);
        for _ in 0..4 {
            if let Some(t) = self.time_zone.from_local_datetime(&at).earliest() {
                return t.with_timezone(&Utc);
            }
            at += Duration::minutes(30);
        }
        // No zone skips more than two hours; fall back to UTC midnight.
        Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn today_starts_at_midnight_in_the_tenant_zone() {
        let paris = TenantSettings::parse("Europe/Paris", "", 0.6, "x").unwrap();
        // 23:30 UTC on the 24th is already the 25th in Paris (UTC+1 in November).
        assert_eq!(paris.start_of_today(at("2026-11-24T23:30:00Z")), at("2026-11-24T23:00:00Z"));
        let la = TenantSettings::parse("America/Los_Angeles", "", 0.6, "x").unwrap();
        assert_eq!(la.start_of_today(at("2026-11-24T05:00:00Z")), at("2026-11-23T08:00:00Z"));
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let utc = TenantSettings::default();
        // 2026-11-26 is a Thursday.
        assert_eq!(utc.start_of_week(at("2026-11-26T10:00:00Z")), at("2026-11-23T00:00:00Z"));
        assert_eq!(utc.start_of_month(at("2026-11-26T10:00:00Z")), at("2026-11-01T00:00:00Z"));
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_after_the_gap() {
        // Santiago moved clocks from 00:00 to 01:00 on 2026-09-06.
        let santiago = TenantSettings::parse("America/Santiago", "", 0.6, "x").unwrap();
        let start = santiago.start_of_today(at("2026-09-06T12:00:00Z"));
        assert_eq!(santiago.local(start).format("%H:%M").to_string(), "01:00");
    }

    #[test]
    fn bad_settings_are_refused_with_the_field_named() {
        assert!(TenantSettings::parse("Mars/Olympus", "", 0.6, "x").unwrap_err().contains("time zone"));
        assert!(TenantSettings::parse("UTC", "", 1.5, "x").unwrap_err().contains("ai_confidence_threshold"));
        assert!(TenantSettings::parse("UTC", "", 0.5, " ").unwrap_err().contains("handoff_message"));
    }
}
