//! SLA settings and timers. Timers live here and survive restarts; due ones are fired under
//! `FOR UPDATE SKIP LOCKED`, so with several replicas each fires exactly once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use inbox_bus::{Envelope, Payload, new_envelope, subjects};
use inbox_proto::events::v1::SlaAlert;
use prost::Message as _;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::notifications::{NotificationRow, store_drafts};
use super::{NotificationStore, OUTBOX_CHANNEL, StoreError};
use crate::domain::facts::{Draft, Priority};
use crate::domain::sla::{Alert, Plan, Policy, Schedule, SlaClock, Target, reconcile};
use crate::domain::{Directory, Kind, Seen};

/// A tenant's SLA settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaConfig {
    pub warning_percent: u32,
    pub time_zone: String,
    /// `(weekday 1..=7, "HH:MM", "HH:MM")`.
    pub business_hours: Vec<(u32, String, String)>,
    pub policies: BTreeMap<&'static str, Policy>,
    pub schedule: Schedule,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            warning_percent: 80,
            time_zone: "UTC".into(),
            business_hours: Vec::new(),
            policies: BTreeMap::new(),
            schedule: Schedule::always(),
        }
    }
}

impl SlaConfig {
    /// Checks and builds settings; refuses what makes no sense, naming it.
    pub fn new(
        warning_percent: u32,
        time_zone: &str,
        business_hours: Vec<(u32, String, String)>,
        policies: BTreeMap<&'static str, Policy>,
    ) -> Result<SlaConfig, String> {
        let warning_percent = if warning_percent == 0 { 80 } else { warning_percent };
        if !(1..=99).contains(&warning_percent) {
            return Err("warning_percent must be between 1 and 99".into());
        }
        let time_zone = if time_zone.trim().is_empty() { "UTC" } else { time_zone.trim() };
        let tz: Tz = time_zone.parse().map_err(|_| format!("unknown time zone {time_zone:?}"))?;
        for policy in policies.values() {
            for s in [policy.first_response, policy.next_response, policy.resolution].into_iter().flatten() {
                if !(0..=365 * 86_400).contains(&s) {
                    return Err("targets must be between 0 and 365 days".into());
                }
            }
        }
        let schedule = Schedule::new(tz, &business_hours)?;
        Ok(SlaConfig { warning_percent, time_zone: time_zone.to_owned(), business_hours, policies, schedule })
    }

    pub fn policy(&self, priority: Priority) -> Policy {
        self.policies.get(priority.as_str()).copied().unwrap_or_default()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Hours {
    weekday: u32,
    start: String,
    end: String,
}

/// The settings of `tenants` (defaults for those without any).
pub(crate) async fn sla_configs(
    conn: &mut PgConnection,
    tenants: &[Uuid],
) -> Result<HashMap<Uuid, Arc<SlaConfig>>, StoreError> {
    let mut out: HashMap<Uuid, SlaConfig> = tenants.iter().map(|t| (*t, SlaConfig::default())).collect();
    let rows = sqlx::query(
        "SELECT tenant_id, warning_percent, time_zone, business_hours FROM sla_settings WHERE tenant_id = ANY($1)",
    )
    .bind(tenants)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let tenant: Uuid = row.try_get("tenant_id")?;
        let hours: Json<Vec<Hours>> = row.try_get("business_hours")?;
        let percent: i32 = row.try_get("warning_percent")?;
        let zone: String = row.try_get("time_zone")?;
        let hours = hours.0.into_iter().map(|h| (h.weekday, h.start, h.end)).collect();
        // Stored settings were checked on the way in.
        if let Ok(config) = SlaConfig::new(percent as u32, &zone, hours, BTreeMap::new()) {
            out.insert(tenant, config);
        }
    }
    let policies: Vec<(Uuid, String, i32, i32, i32)> = sqlx::query_as(
        "SELECT tenant_id, priority, first_response_seconds, next_response_seconds, resolution_seconds \
         FROM sla_policies WHERE tenant_id = ANY($1)",
    )
    .bind(tenants)
    .fetch_all(&mut *conn)
    .await?;
    for (tenant, priority, first, next, resolution) in policies {
        let (Some(config), Some(priority)) = (out.get_mut(&tenant), Priority::parse(&priority)) else { continue };
        let target = |s: i32| (s > 0).then_some(i64::from(s));
        config.policies.insert(
            priority.as_str(),
            Policy { first_response: target(first), next_response: target(next), resolution: target(resolution) },
        );
    }
    Ok(out.into_iter().map(|(t, c)| (t, Arc::new(c))).collect())
}

/// One timer as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TimerRow {
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub target: String,
    pub target_seconds: i32,
    pub started_at: DateTime<Utc>,
    pub elapsed_seconds: i64,
    pub running_since: Option<DateTime<Utc>>,
    pub warning_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub next_fire_at: Option<DateTime<Utc>>,
}

const TIMER_COLUMNS: &str = "tenant_id, conversation_id, target, target_seconds, started_at, elapsed_seconds, \
    running_since, warning_at, due_at, warned_at, breached_at, stopped_at, next_fire_at";

impl TimerRow {
    pub fn clock(&self) -> Option<SlaClock> {
        Some(SlaClock {
            target: Target::parse(&self.target)?,
            target_seconds: i64::from(self.target_seconds),
            started_at: self.started_at,
            elapsed_seconds: self.elapsed_seconds,
            running_since: self.running_since,
            warned_at: self.warned_at,
            breached_at: self.breached_at,
            stopped_at: self.stopped_at,
        })
    }

    pub fn of(tenant_id: Uuid, conversation_id: Uuid, clock: &SlaClock, plan: Plan) -> TimerRow {
        TimerRow {
            tenant_id,
            conversation_id,
            target: clock.target.as_str().to_owned(),
            target_seconds: i32::try_from(clock.target_seconds).unwrap_or(i32::MAX),
            started_at: clock.started_at,
            elapsed_seconds: clock.elapsed_seconds,
            running_since: clock.running_since,
            warning_at: plan.warning_at,
            due_at: plan.due_at,
            warned_at: clock.warned_at,
            breached_at: clock.breached_at,
            stopped_at: clock.stopped_at,
            next_fire_at: plan.next_fire_at,
        }
    }
}

pub(crate) type Clocks = HashMap<(Uuid, Uuid), BTreeMap<Target, SlaClock>>;

/// The clocks of these conversations, locked.
pub(crate) async fn lock_timers(conn: &mut PgConnection, keys: &[(Uuid, Uuid)]) -> Result<Clocks, StoreError> {
    let mut out: Clocks = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let rows: Vec<TimerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TIMER_COLUMNS} FROM sla_timers t \
         JOIN UNNEST($1::uuid[], $2::uuid[]) AS k(tn, c) ON t.tenant_id = k.tn AND t.conversation_id = k.c \
         ORDER BY t.tenant_id, t.conversation_id, t.target FOR UPDATE OF t"
    )))
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        if let Some(clock) = row.clock() {
            out.entry((row.tenant_id, row.conversation_id)).or_default().insert(clock.target, clock);
        }
    }
    Ok(out)
}

/// Writes timers (inserted or replaced).
pub(crate) async fn save_timers(conn: &mut PgConnection, rows: &[TimerRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO sla_timers (tenant_id, conversation_id, target, target_seconds, started_at, elapsed_seconds, \
           running_since, warning_at, due_at, warned_at, breached_at, stopped_at, next_fire_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::timestamptz[], $6::bigint[], \
           $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], \
           $12::timestamptz[], $13::timestamptz[]) \
         ON CONFLICT (tenant_id, conversation_id, target) DO UPDATE SET target_seconds = EXCLUDED.target_seconds, \
           started_at = EXCLUDED.started_at, elapsed_seconds = EXCLUDED.elapsed_seconds, \
           running_since = EXCLUDED.running_since, warning_at = EXCLUDED.warning_at, due_at = EXCLUDED.due_at, \
           warned_at = EXCLUDED.warned_at, breached_at = EXCLUDED.breached_at, stopped_at = EXCLUDED.stopped_at, \
           next_fire_at = EXCLUDED.next_fire_at",
    )
    .bind(rows.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.conversation_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.target.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.target_seconds).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.started_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.elapsed_seconds).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.running_since).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.warning_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.due_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.warned_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.breached_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.stopped_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.next_fire_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes events into the outbox of the open transaction and wakes the relay once.
pub(crate) async fn enqueue(conn: &mut PgConnection, events: &[(String, Envelope)]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let subjects: Vec<&str> = events.iter().map(|(s, _)| s.as_str()).collect();
    let envelopes: Vec<Vec<u8>> = events.iter().map(|(_, e)| e.encode_to_vec()).collect();
    sqlx::query("INSERT INTO outbox (subject, envelope) SELECT * FROM UNNEST($1::text[], $2::bytea[])")
        .bind(&subjects)
        .bind(&envelopes)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(&mut *conn).await?;
    Ok(())
}

/// What one round of firing did.
#[derive(Debug, Default)]
pub struct Fired {
    /// Timers taken (some may have had nothing left to fire).
    pub timers: usize,
    pub alerts: Vec<FiredAlert>,
    pub stored: Vec<NotificationRow>,
}

/// One alert fired by [`NotificationStore::fire_due_timers`].
#[derive(Debug, Clone, PartialEq)]
pub struct FiredAlert {
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub target: Target,
    pub alert: Alert,
    /// When it was planned to fire (for measuring lateness).
    pub planned_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct DueTimer {
    #[sqlx(flatten)]
    timer: TimerRow,
    priority: String,
    channel: String,
    assignee_id: Option<Uuid>,
    team_id: Option<Uuid>,
    customer_name: String,
}

fn channel_of(name: &str) -> inbox_proto::common::v1::Channel {
    inbox_bus::subjects::channel_from_token(name).unwrap_or(inbox_proto::common::v1::Channel::Unspecified)
}

fn priority_to_proto(p: Option<Priority>) -> inbox_proto::conversation::v1::Priority {
    use inbox_proto::conversation::v1::Priority as P;
    match p {
        Some(Priority::Urgent) => P::Urgent,
        Some(Priority::High) => P::High,
        Some(Priority::Normal) => P::Normal,
        Some(Priority::Low) => P::Low,
        None => P::Unspecified,
    }
}

impl NotificationStore {
    /// Tenants with timers due at `now` (the first `limit`), to look their people up before
    /// firing.
    pub async fn tenants_with_due_timers(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM (SELECT tenant_id FROM sla_timers WHERE next_fire_at <= $1 \
             ORDER BY next_fire_at LIMIT $2) due",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The earliest time a timer will fire, if any.
    pub async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT min(next_fire_at) FROM sla_timers WHERE next_fire_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Fires up to `limit` timers due at `now`: each warning or breach once (rows another
    /// replica holds are skipped), with its notifications and its `sla.*` event committed
    /// together.
    pub async fn fire_due_timers(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        directories: &HashMap<Uuid, Arc<Directory>>,
    ) -> Result<Fired, StoreError> {
        let mut tx = self.pool.begin().await?;
        let due: Vec<DueTimer> = sqlx::query_as(
            "SELECT t.tenant_id, t.conversation_id, t.target, t.target_seconds, t.started_at, t.elapsed_seconds, \
               t.running_since, t.warning_at, t.due_at, t.warned_at, t.breached_at, t.stopped_at, t.next_fire_at, \
               c.priority, c.channel, c.assignee_id, c.team_id, c.customer_name \
             FROM sla_timers t JOIN conversations c ON c.tenant_id = t.tenant_id AND c.id = t.conversation_id \
             WHERE t.next_fire_at <= $1 ORDER BY t.next_fire_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            tx.commit().await?;
            return Ok(Fired::default());
        }
        let timers = due.len();
        let tenants: Vec<Uuid> = due.iter().map(|d| d.timer.tenant_id).collect::<BTreeSet<_>>().into_iter().collect();
        let configs = sla_configs(&mut tx, &tenants).await?;
        let (mut rows, mut alerts, mut drafts, mut events) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let empty = Arc::new(Directory::default());
        for d in due {
            let t = &d.timer;
            let Some(mut clock) = t.clock() else { continue };
            let config = configs.get(&t.tenant_id).cloned().unwrap_or_default();
            let planned_at = t.next_fire_at.unwrap_or(now);
            let fired = clock.fire(&config.schedule, config.warning_percent, now);
            let plan = clock.plan(&config.schedule, config.warning_percent);
            rows.push(TimerRow::of(t.tenant_id, t.conversation_id, &clock, plan));
            let Some(alert) = fired else { continue };
            let (kind, subject_kind) = match alert {
                Alert::Warning => (Kind::SlaWarning, "sla.warning"),
                Alert::Breached => (Kind::SlaBreached, "sla.breached"),
            };
            let seen = Seen { team_id: d.team_id, assignee_id: d.assignee_id };
            let directory = directories.get(&t.tenant_id).unwrap_or(&empty);
            let key =
                format!("sla:{}:{}:{}:{}", t.conversation_id, t.target, t.started_at.timestamp_micros(), subject_kind);
            let who = if d.customer_name.is_empty() { "A customer" } else { d.customer_name.as_str() };
            let verb = if alert == Alert::Warning { "due" } else { "was due" };
            let due_text = plan.due_at.or(t.due_at).map(|due| due.format(" %H:%M UTC").to_string()).unwrap_or_default();
            for user_id in directory.recipients(kind, seen, None) {
                drafts.push((
                    t.tenant_id,
                    Draft {
                        user_id,
                        kind,
                        conversation_id: Some(t.conversation_id),
                        title: format!("{}: {}", kind.title(), clock.target.as_str().replace('_', " ")),
                        body: format!("{who}: {} {verb}{due_text}", clock.target.as_str().replace('_', " ")),
                        dedupe_key: key.clone(),
                        sla_target: clock.target.as_str().to_owned(),
                        due_at: plan.due_at.or(t.due_at),
                    },
                ));
            }
            let tenant = t.tenant_id.to_string();
            let payload = SlaAlert {
                conversation_id: t.conversation_id.to_string(),
                target: clock.target.as_str().to_owned(),
                priority: priority_to_proto(Priority::parse(&d.priority)) as i32,
                target_seconds: u32::try_from(clock.target_seconds).unwrap_or(u32::MAX),
                started_at: Some(inbox_proto::timestamp_from(clock.started_at)),
                due_at: plan.due_at.or(t.due_at).map(inbox_proto::timestamp_from),
                assignee_id: d.assignee_id.map(|a| a.to_string()).unwrap_or_default(),
                team_id: d.team_id.map(|a| a.to_string()).unwrap_or_default(),
                channel: channel_of(&d.channel) as i32,
            };
            let mut envelope = new_envelope(
                format!("{tenant}:{key}"),
                &tenant,
                match alert {
                    Alert::Warning => Payload::SlaWarning(payload),
                    Alert::Breached => Payload::SlaBreached(payload),
                },
            );
            envelope.occurred_at = Some(inbox_proto::timestamp_from(now));
            events.push((subjects::event(&tenant, subject_kind), envelope));
            alerts.push(FiredAlert {
                tenant_id: t.tenant_id,
                conversation_id: t.conversation_id,
                target: clock.target,
                alert,
                planned_at,
            });
        }
        save_timers(&mut tx, &rows).await?;
        let stored = store_drafts(&mut tx, &drafts, directories, now).await?;
        enqueue(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(Fired { timers, alerts, stored })
    }

    /// A tenant's SLA settings (defaults when never set).
    pub async fn sla_config(&self, tenant_id: Uuid) -> Result<Arc<SlaConfig>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(sla_configs(&mut conn, &[tenant_id]).await?.remove(&tenant_id).unwrap_or_default())
    }

    /// Replaces a tenant's SLA settings and re-plans every clock of its open conversations.
    pub async fn put_sla_config(&self, tenant_id: Uuid, config: &SlaConfig) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let hours: Vec<Hours> = config
            .business_hours
            .iter()
            .map(|(weekday, start, end)| Hours { weekday: *weekday, start: start.clone(), end: end.clone() })
            .collect();
        sqlx::query(
            "INSERT INTO sla_settings (tenant_id, warning_percent, time_zone, business_hours) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET warning_percent = $2, time_zone = $3, business_hours = $4",
        )
        .bind(tenant_id)
        .bind(config.warning_percent as i32)
        .bind(&config.time_zone)
        .bind(Json(&hours))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sla_policies WHERE tenant_id = $1").bind(tenant_id).execute(&mut *tx).await?;
        for (priority, policy) in &config.policies {
            sqlx::query(
                "INSERT INTO sla_policies (tenant_id, priority, first_response_seconds, next_response_seconds, \
                   resolution_seconds) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tenant_id)
            .bind(*priority)
            .bind(policy.first_response.unwrap_or(0) as i32)
            .bind(policy.next_response.unwrap_or(0) as i32)
            .bind(policy.resolution.unwrap_or(0) as i32)
            .execute(&mut *tx)
            .await?;
        }
        // Every open conversation of the tenant, re-planned under the new settings.
        let open: Vec<super::conversations::SnapshotRow> =
            super::conversations::lock_open_conversations(&mut tx, tenant_id).await?;
        let keys: Vec<(Uuid, Uuid)> = open.iter().map(|c| (tenant_id, c.id)).collect();
        let mut clocks = lock_timers(&mut tx, &keys).await?;
        let mut rows = Vec::new();
        for conversation in &open {
            let Some(state) = conversation.state() else { continue };
            let entry = clocks.entry((tenant_id, conversation.id)).or_default();
            reconcile(entry, &state.standing(), &config.policy(state.priority), &config.schedule, now);
            for clock in entry.values() {
                rows.push(TimerRow::of(
                    tenant_id,
                    conversation.id,
                    clock,
                    clock.plan(&config.schedule, config.warning_percent),
                ));
            }
        }
        save_timers(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The clocks of one conversation.
    pub async fn timers_of(&self, tenant_id: Uuid, conversation_id: Uuid) -> Result<Vec<TimerRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TIMER_COLUMNS} FROM sla_timers WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY target"
        )))
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
