//! SLA clocks: how long a conversation has waited against its targets, paused while it waits
//! for the customer (Pending), counted only inside the tenant's business hours when it has
//! some, with a warning at a share of the target and a breach at the target. Each fires once.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The three targets of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Opening → the first reply by an agent or the AI.
    FirstResponse,
    /// A customer message that waits for us → our next reply.
    NextResponse,
    /// Opening (or reopening) → Resolved.
    Resolution,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::FirstResponse, Target::NextResponse, Target::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::NextResponse => "next_response",
            Target::Resolution => "resolution",
        }
    }

    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Targets of one priority, in seconds; `None` for no target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub first_response: Option<i64>,
    pub next_response: Option<i64>,
    pub resolution: Option<i64>,
}

impl Policy {
    pub fn seconds(&self, target: Target) -> Option<i64> {
        match target {
            Target::FirstResponse => self.first_response,
            Target::NextResponse => self.next_response,
            Target::Resolution => self.resolution,
        }
        .filter(|s| *s > 0)
    }
}

/// When SLA clocks run: weekly intervals in a time zone; none at all means around the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub time_zone: Tz,
    /// Monday first; each day's `[start, end)` in seconds after local midnight, sorted, disjoint.
    days: [Vec<(u32, u32)>; 7],
}

/// Longest stretch a computation walks looking for business time (ten years of days).
const MAX_DAYS: i64 = 3_660;

impl Schedule {
    /// Around the clock.
    pub fn always() -> Schedule {
        Schedule { time_zone: Tz::UTC, days: Default::default() }
    }

    /// From `(weekday 1..=7, "HH:MM", "HH:MM")` intervals; `24:00` may end a day.
    pub fn new(time_zone: Tz, hours: &[(u32, String, String)]) -> Result<Schedule, String> {
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for (weekday, start, end) in hours {
            if !(1..=7).contains(weekday) {
                return Err(format!("weekday must be 1 (Monday) to 7 (Sunday), not {weekday}"));
            }
            let (s, e) = (seconds_of_day(start)?, seconds_of_day(end)?);
            if s >= e {
                return Err(format!("business hours {start}–{end} must start before they end"));
            }
            days[*weekday as usize - 1].push((s, e));
        }
        for day in &mut days {
            day.sort_unstable();
            let mut merged: Vec<(u32, u32)> = Vec::with_capacity(day.len());
            for (s, e) in day.drain(..) {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            *day = merged;
        }
        Ok(Schedule { time_zone, days })
    }

    pub fn is_always(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    /// The open intervals of one local date, in UTC. A local time skipped by a clock change
    /// counts from the moment after the gap.
    fn intervals_on(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let day = &self.days[date.weekday().num_days_from_monday() as usize];
        day.iter().filter_map(move |(s, e)| Some((self.instant(date, *s)?, self.instant(date, *e)?)))
    }

    fn instant(&self, date: NaiveDate, seconds: u32) -> Option<DateTime<Utc>> {
        let local = date.and_time(NaiveTime::MIN) + Duration::seconds(i64::from(seconds));
        let resolved = self.time_zone.from_local_datetime(&local);
        resolved
            .earliest()
            .or_else(|| self.time_zone.from_local_datetime(&(local + Duration::hours(1))).earliest())
            .map(|t| t.with_timezone(&Utc))
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    /// Business seconds in `[from, to)`.
    pub fn business_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        if self.is_always() {
            return (to - from).num_seconds();
        }
        let mut total = 0;
        let (first, last) = (self.local_date(from).pred_opt(), self.local_date(to).succ_opt());
        let (Some(mut date), Some(last)) = (first, last) else { return 0 };
        let mut walked = 0;
        while date <= last && walked <= MAX_DAYS {
            for (a, b) in self.intervals_on(date) {
                let (a, b) = (a.max(from), b.min(to));
                if b > a {
                    total += (b - a).num_seconds();
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
            walked += 1;
        }
        total
    }

    /// The instant `seconds` of business time after `from` (`from` itself for 0 or less).
    /// `None` only when the schedule has no open time within ten years.
    pub fn add_business_seconds(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        if seconds <= 0 {
            return Some(from);
        }
        if self.is_always() {
            return Some(from + Duration::seconds(seconds));
        }
        let mut remaining = seconds;
        let mut date = self.local_date(from).pred_opt()?;
        for _ in 0..MAX_DAYS {
            for (a, b) in self.intervals_on(date) {
                let a = a.max(from);
                if b <= a {
                    continue;
                }
                let open = (b - a).num_seconds();
                if remaining <= open {
                    return Some(a + Duration::seconds(remaining));
                }
                remaining -= open;
            }
            date = date.succ_opt()?;
        }
        None
    }
}

fn seconds_of_day(text: &str) -> Result<u32, String> {
    let bad = || format!("business hours must be HH:MM (00:00 to 24:00), not {text:?}");
    if text.trim() == "24:00" {
        return Ok(86_400);
    }
    let time = NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| bad())?;
    Ok(time.signed_duration_since(NaiveTime::MIN).num_seconds() as u32)
}

/// What a clock reported when it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    Warning,
    Breached,
}

/// One running (or paused, or stopped) clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClock {
    pub target: Target,
    pub target_seconds: i64,
    pub started_at: DateTime<Utc>,
    /// Business seconds counted before `running_since`.
    pub elapsed_seconds: i64,
    /// Set while running.
    pub running_since: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

/// When a clock will warn, breach, and which of those comes next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    pub warning_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    /// The earlier of the two that has not fired yet.
    pub next_fire_at: Option<DateTime<Utc>>,
}

impl SlaClock {
    /// A clock of `target_seconds` from `started_at`, running from then or paused.
    pub fn start(target: Target, target_seconds: i64, started_at: DateTime<Utc>, running: bool) -> SlaClock {
        SlaClock {
            target,
            target_seconds,
            started_at,
            elapsed_seconds: 0,
            running_since: running.then_some(started_at),
            warned_at: None,
            breached_at: None,
            stopped_at: None,
        }
    }

    pub fn elapsed_at(&self, schedule: &Schedule, now: DateTime<Utc>) -> i64 {
        self.elapsed_seconds + self.running_since.map_or(0, |since| schedule.business_seconds(since, now))
    }

    pub fn pause(&mut self, schedule: &Schedule, at: DateTime<Utc>) {
        if let Some(since) = self.running_since.take() {
            self.elapsed_seconds += schedule.business_seconds(since, at);
        }
    }

    pub fn resume(&mut self, at: DateTime<Utc>) {
        if self.running_since.is_none() && self.stopped_at.is_none() {
            self.running_since = Some(at);
        }
    }

    pub fn stop(&mut self, schedule: &Schedule, at: DateTime<Utc>) {
        if self.stopped_at.is_none() {
            self.pause(schedule, at);
            self.stopped_at = Some(at);
        }
    }

    /// Warning at `warning_percent` of the target, breach at the target; nothing while paused
    /// or stopped.
    pub fn plan(&self, schedule: &Schedule, warning_percent: u32) -> Plan {
        let Some(since) = self.running_since.filter(|_| self.stopped_at.is_none()) else { return Plan::default() };
        let warn_seconds = self.target_seconds * i64::from(warning_percent.clamp(1, 99)) / 100;
        let warning_at = schedule.add_business_seconds(since, warn_seconds - self.elapsed_seconds);
        let due_at = schedule.add_business_seconds(since, self.target_seconds - self.elapsed_seconds);
        let pending = [warning_at.filter(|_| self.warned_at.is_none()), due_at.filter(|_| self.breached_at.is_none())];
        Plan { warning_at, due_at, next_fire_at: pending.into_iter().flatten().min() }
    }

    /// Fires what is due at `now`, once: the breach (which also counts as the warning when
    /// both are due), else the warning.
    pub fn fire(&mut self, schedule: &Schedule, warning_percent: u32, now: DateTime<Utc>) -> Option<Alert> {
        let plan = self.plan(schedule, warning_percent);
        if self.breached_at.is_none() && plan.due_at.is_some_and(|due| due <= now) {
            self.breached_at = Some(now);
            self.warned_at.get_or_insert(now);
            return Some(Alert::Breached);
        }
        if self.warned_at.is_none() && plan.warning_at.is_some_and(|warn| warn <= now) {
            self.warned_at = Some(now);
            return Some(Alert::Warning);
        }
        None
    }
}

/// Where a conversation stands, as far as its clocks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Active or Pending.
    pub open: bool,
    /// Pending: waiting for the customer; every clock pauses.
    pub waiting_for_customer: bool,
    /// When the status last changed: a clock first planned while Pending ran until then.
    pub paused_since: DateTime<Utc>,
    /// Start of the current open cycle (creation or reopening).
    pub opened_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    /// The oldest customer message not answered yet.
    pub awaiting_since: Option<DateTime<Utc>>,
}

impl Standing {
    /// The clocks a conversation should have: each target's start and whether it runs.
    pub fn wanted(&self) -> BTreeMap<Target, DateTime<Utc>> {
        let mut wanted = BTreeMap::new();
        if !self.open {
            return wanted;
        }
        wanted.insert(Target::Resolution, self.opened_at);
        match (self.first_response_at, self.awaiting_since) {
            (None, _) => {
                wanted.insert(Target::FirstResponse, self.created_at);
            }
            (Some(_), Some(since)) => {
                wanted.insert(Target::NextResponse, since);
            }
            (Some(_), None) => {}
        }
        wanted
    }
}

/// Brings a conversation's clocks in line with its standing and policy at `at`: starts the
/// wanted ones (a new start is a new cycle), pauses or resumes them, re-targets them, and
/// stops the others. Returns the targets whose clock changed.
pub fn reconcile(
    clocks: &mut BTreeMap<Target, SlaClock>,
    standing: &Standing,
    policy: &Policy,
    schedule: &Schedule,
    at: DateTime<Utc>,
) -> Vec<Target> {
    let wanted = standing.wanted();
    let running = !standing.waiting_for_customer;
    let mut changed = Vec::new();
    for target in Target::ALL {
        let before = clocks.get(&target).cloned();
        match (wanted.get(&target), policy.seconds(target)) {
            (Some(start), Some(seconds)) => {
                let fresh = || {
                    let mut clock = SlaClock::start(target, seconds, *start, running);
                    if !running {
                        clock.elapsed_seconds = schedule.business_seconds(*start, standing.paused_since);
                    }
                    clock
                };
                let clock = clocks.entry(target).or_insert_with(fresh);
                if clock.started_at != *start {
                    *clock = fresh();
                }
                clock.target_seconds = seconds;
                if clock.stopped_at.is_some() {
                    clock.stopped_at = None;
                }
                if running {
                    clock.resume(at.max(*start));
                } else {
                    clock.pause(schedule, at);
                }
            }
            _ => {
                if let Some(clock) = clocks.get_mut(&target) {
                    clock.stop(schedule, at);
                }
            }
        }
        if clocks.get(&target) != before.as_ref() {
            changed.push(target);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use chrono_tz::Europe::Paris;

    use super::*;

    fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        // January 2031: the 6th is a Monday.
        Utc.with_ymd_and_hms(2031, 1, d, h, m, 0).unwrap()
    }

    fn office() -> Schedule {
        let hours: Vec<(u32, String, String)> = (1..=5).map(|d| (d, "09:00".to_owned(), "17:00".to_owned())).collect();
        Schedule::new(Paris, &hours).unwrap()
    }

    #[test]
    fn around_the_clock_every_second_counts() {
        let s = Schedule::always();
        assert_eq!(s.business_seconds(utc(6, 10, 0), utc(6, 11, 0)), 3600);
        assert_eq!(s.add_business_seconds(utc(6, 10, 0), 90), Some(utc(6, 10, 0) + Duration::seconds(90)));
    }

    #[test]
    fn business_hours_count_only_open_time_in_the_tenants_zone() {
        let s = office();
        // Friday 16:00 Paris (15:00 UTC) to Monday 10:00 Paris (09:00 UTC): one hour Friday, one Monday.
        assert_eq!(s.business_seconds(utc(10, 15, 0), utc(13, 9, 0)), 2 * 3600);
        // Two business hours after Friday 16:00 Paris is Monday 10:00 Paris.
        assert_eq!(s.add_business_seconds(utc(10, 15, 0), 2 * 3600), Some(utc(13, 9, 0)));
        // From Saturday, the clock starts on Monday at opening.
        assert_eq!(s.add_business_seconds(utc(11, 12, 0), 60), Some(utc(13, 8, 1)));
    }

    #[test]
    fn business_hours_follow_a_clock_change() {
        let s = office();
        // Monday 30 March 2031, the day after Paris moved to summer time: 09:00 is 07:00 UTC.
        let monday = Utc.with_ymd_and_hms(2031, 3, 31, 7, 0, 0).unwrap();
        assert_eq!(
            s.add_business_seconds(Utc.with_ymd_and_hms(2031, 3, 29, 12, 0, 0).unwrap(), 1),
            Some(monday + Duration::seconds(1))
        );
    }

    #[test]
    fn nonsense_hours_are_refused() {
        assert!(Schedule::new(Paris, &[(8, "09:00".into(), "17:00".into())]).is_err());
        assert!(Schedule::new(Paris, &[(1, "17:00".into(), "09:00".into())]).is_err());
        assert!(Schedule::new(Paris, &[(1, "9am".into(), "17:00".into())]).is_err());
        assert!(Schedule::new(Paris, &[(1, "00:00".into(), "24:00".into())]).is_ok());
    }

    #[test]
    fn a_clock_warns_at_its_share_then_breaches_each_once() {
        let s = Schedule::always();
        let mut c = SlaClock::start(Target::FirstResponse, 600, utc(6, 10, 0), true);
        let plan = c.plan(&s, 80);
        assert_eq!(plan.warning_at, Some(utc(6, 10, 8)));
        assert_eq!(plan.due_at, Some(utc(6, 10, 10)));
        assert_eq!(plan.next_fire_at, Some(utc(6, 10, 8)));
        assert_eq!(c.fire(&s, 80, utc(6, 10, 7)), None);
        assert_eq!(c.fire(&s, 80, utc(6, 10, 8)), Some(Alert::Warning));
        assert_eq!(c.fire(&s, 80, utc(6, 10, 9)), None, "the warning fires once");
        assert_eq!(c.plan(&s, 80).next_fire_at, Some(utc(6, 10, 10)));
        assert_eq!(c.fire(&s, 80, utc(6, 10, 10)), Some(Alert::Breached));
        assert_eq!(c.fire(&s, 80, utc(6, 11, 0)), None, "the breach fires once");
        assert_eq!(c.plan(&s, 80).next_fire_at, None);
    }

    #[test]
    fn a_clock_found_long_overdue_breaches_without_a_late_warning() {
        let s = Schedule::always();
        let mut c = SlaClock::start(Target::Resolution, 600, utc(6, 10, 0), true);
        assert_eq!(c.fire(&s, 80, utc(6, 12, 0)), Some(Alert::Breached));
        assert_eq!(c.fire(&s, 80, utc(6, 12, 0)), None);
    }

    #[test]
    fn pending_pauses_every_clock_and_activity_resumes_it() {
        let s = Schedule::always();
        let standing = |pending: bool| Standing {
            open: true,
            waiting_for_customer: pending,
            paused_since: utc(6, 10, 5),
            opened_at: utc(6, 10, 0),
            created_at: utc(6, 10, 0),
            first_response_at: None,
            awaiting_since: Some(utc(6, 10, 0)),
        };
        let policy = Policy { first_response: Some(600), next_response: None, resolution: Some(3600) };
        let mut clocks = BTreeMap::new();
        reconcile(&mut clocks, &standing(false), &policy, &s, utc(6, 10, 0));
        assert_eq!(clocks.len(), 2);
        // Pending at 10:05 for an hour: the first response is then due at 11:10.
        reconcile(&mut clocks, &standing(true), &policy, &s, utc(6, 10, 5));
        assert_eq!(clocks[&Target::FirstResponse].plan(&s, 80).due_at, None, "paused: nothing due");
        reconcile(&mut clocks, &standing(false), &policy, &s, utc(6, 11, 5));
        assert_eq!(clocks[&Target::FirstResponse].plan(&s, 80).due_at, Some(utc(6, 11, 10)));
        assert_eq!(clocks[&Target::FirstResponse].elapsed_at(&s, utc(6, 11, 6)), 360);
    }

    #[test]
    fn a_clock_first_planned_while_pending_counts_the_time_before_the_pause() {
        let s = Schedule::always();
        let standing = Standing {
            open: true,
            waiting_for_customer: true,
            paused_since: utc(6, 10, 4),
            opened_at: utc(6, 10, 0),
            created_at: utc(6, 10, 0),
            first_response_at: None,
            awaiting_since: None,
        };
        let mut clocks = BTreeMap::new();
        reconcile(
            &mut clocks,
            &standing,
            &Policy { first_response: Some(600), ..Default::default() },
            &s,
            utc(6, 10, 9),
        );
        assert_eq!(clocks[&Target::FirstResponse].elapsed_seconds, 240);
        assert_eq!(clocks[&Target::FirstResponse].running_since, None);
    }

    #[test]
    fn a_reply_stops_the_response_clock_and_the_next_customer_message_starts_the_next() {
        let s = Schedule::always();
        let policy = Policy { first_response: Some(600), next_response: Some(300), resolution: None };
        let mut standing = Standing {
            open: true,
            waiting_for_customer: false,
            paused_since: utc(6, 10, 0),
            opened_at: utc(6, 10, 0),
            created_at: utc(6, 10, 0),
            first_response_at: None,
            awaiting_since: Some(utc(6, 10, 0)),
        };
        let mut clocks = BTreeMap::new();
        reconcile(&mut clocks, &standing, &policy, &s, utc(6, 10, 0));
        standing.first_response_at = Some(utc(6, 10, 3));
        standing.awaiting_since = None;
        let changed = reconcile(&mut clocks, &standing, &policy, &s, utc(6, 10, 3));
        assert_eq!(changed, vec![Target::FirstResponse]);
        assert_eq!(clocks[&Target::FirstResponse].stopped_at, Some(utc(6, 10, 3)));
        standing.awaiting_since = Some(utc(6, 10, 20));
        reconcile(&mut clocks, &standing, &policy, &s, utc(6, 10, 20));
        assert_eq!(clocks[&Target::NextResponse].plan(&s, 80).due_at, Some(utc(6, 10, 25)));
    }

    #[test]
    fn a_higher_priority_replans_with_its_shorter_target() {
        let s = Schedule::always();
        let standing = Standing {
            open: true,
            waiting_for_customer: false,
            paused_since: utc(6, 10, 0),
            opened_at: utc(6, 10, 0),
            created_at: utc(6, 10, 0),
            first_response_at: Some(utc(6, 10, 1)),
            awaiting_since: None,
        };
        let mut clocks = BTreeMap::new();
        reconcile(&mut clocks, &standing, &Policy { resolution: Some(7200), ..Default::default() }, &s, utc(6, 10, 0));
        reconcile(&mut clocks, &standing, &Policy { resolution: Some(1800), ..Default::default() }, &s, utc(6, 10, 10));
        assert_eq!(clocks[&Target::Resolution].plan(&s, 80).due_at, Some(utc(6, 10, 30)));
    }

    #[test]
    fn resolving_stops_every_clock_and_reopening_starts_a_new_resolution_cycle() {
        let s = Schedule::always();
        let policy = Policy { resolution: Some(3600), ..Default::default() };
        let mut standing = Standing {
            open: true,
            waiting_for_customer: false,
            paused_since: utc(6, 10, 0),
            opened_at: utc(6, 10, 0),
            created_at: utc(6, 10, 0),
            first_response_at: Some(utc(6, 10, 1)),
            awaiting_since: None,
        };
        let mut clocks = BTreeMap::new();
        reconcile(&mut clocks, &standing, &policy, &s, utc(6, 10, 0));
        standing.open = false;
        reconcile(&mut clocks, &standing, &policy, &s, utc(6, 10, 30));
        assert_eq!(clocks[&Target::Resolution].stopped_at, Some(utc(6, 10, 30)));
        standing.open = true;
        standing.opened_at = utc(6, 14, 0);
        reconcile(&mut clocks, &standing, &policy, &s, utc(6, 14, 0));
        let c = &clocks[&Target::Resolution];
        assert_eq!((c.started_at, c.stopped_at, c.elapsed_seconds), (utc(6, 14, 0), None, 0));
    }
}
