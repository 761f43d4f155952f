//! Folding facts into conversations' timelines and the rollups: one transaction per batch.
//!
//! For each conversation the batch touches: add the new facts to its timeline, recompute what
//! the timeline contributes, and apply the difference from what it contributed before (taken
//! back from the cells it was added to, in the zone it was bucketed in). A fact arriving late
//! or out of order therefore lands exactly where a recount from scratch would put it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::codec::{
    decode_contributions, decode_figures, decode_timeline, encode_contributions, encode_figures, encode_timeline,
};
use super::{MetricsStore, StoreError, lock_tenant};
use crate::domain::buckets::{CellId, CellKey, Dim, Grain, cells_of};
use crate::domain::fact::Fact;
use crate::domain::figures::{Contribution, Figures};
use crate::domain::fold::{FoldRules, ai_answered, contributions};
use crate::domain::live::{Snapshot, waiting_for_person};
use crate::domain::timeline::{Status, Timeline};

/// A resolution older than this when its event arrives (a replay, a backlog drained after an
/// outage) gets no survey: the customer has moved on.
pub const SURVEY_MAX_AGE: Duration = Duration::hours(1);

/// What a batch did.
#[derive(Debug, Default)]
pub struct FoldReport {
    /// Event ids seen for the first time (the others were redeliveries).
    pub first_seen: HashSet<String>,
    pub conversations: usize,
    /// Rollup cells written or deleted.
    pub cells: usize,
    /// Surveys queued.
    pub surveys: usize,
}

/// What a conversation gets from a batch, or from its history in a rebuild.
#[derive(Debug, Clone, Default)]
pub struct ConversationChange {
    pub snapshot: Option<Snapshot>,
    /// Facts (and opening) to add to the stored timeline.
    pub additions: Timeline,
    pub deleted: bool,
}

impl ConversationChange {
    fn add(&mut self, fact: &Fact) {
        if let Some(snapshot) = &fact.snapshot {
            self.snapshot = Some(match self.snapshot.take() {
                Some(known) => known.newer(snapshot.clone()),
                None => snapshot.clone(),
            });
        }
        if let Some((at, team)) = fact.opened {
            self.additions.set_opened(at, team);
        }
        if let Some(point) = fact.point {
            self.additions.insert(point);
        }
        self.deleted |= fact.deleted;
    }
}

/// A conversation's stored state.
#[derive(sqlx::FromRow)]
struct StateRow {
    conversation_id: Uuid,
    version: i64,
    channel: String,
    status: String,
    team_id: Option<Uuid>,
    assignee_id: Option<Uuid>,
    person_handles: bool,
    needs_human: bool,
    customer_wrote_last: bool,
    created_at: Option<DateTime<Utc>>,
    deleted: bool,
    time_zone: String,
    timeline: Vec<u8>,
    contributions: Vec<u8>,
}

impl StateRow {
    fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            version: self.version,
            channel: self.channel.clone(),
            status: Status::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("status {}", self.status)))?,
            assignee: self.assignee_id,
            team: self.team_id,
            person_handles: self.person_handles,
            needs_human: self.needs_human,
            customer_wrote_last: self.customer_wrote_last,
            created_at: self.created_at,
        })
    }
}

/// Where each conversation stands after a fold.
type Folded = HashMap<Uuid, Snapshot>;

impl MetricsStore {
    /// Folds a batch of one tenant's facts, bucketed in `zone`: event ids are remembered in the
    /// same transaction, so a redelivered event changes nothing. Queues a CSAT survey for each
    /// fresh resolution by a person (if the tenant surveys).
    pub async fn apply_facts(&self, tenant_id: Uuid, zone: Tz, facts: &[Fact]) -> Result<FoldReport, StoreError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        lock_tenant(&mut tx, tenant_id).await?;

        let mut ids: Vec<&str> = Vec::with_capacity(facts.len());
        let mut subjects: Vec<&str> = Vec::with_capacity(facts.len());
        let mut listed = HashSet::with_capacity(facts.len());
        for fact in facts {
            if listed.insert(fact.event_id.as_str()) {
                ids.push(&fact.event_id);
                subjects.push(&fact.subject);
            }
        }
        let fresh: Vec<String> = sqlx::query_scalar(
            "INSERT INTO processed_events (event_id, tenant_id, subject, processed_at) \
             SELECT e, $1, s, $4 FROM UNNEST($2::text[], $3::text[]) AS u(e, s) \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        .bind(tenant_id)
        .bind(&ids)
        .bind(&subjects)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let first_seen: HashSet<String> = fresh.into_iter().collect();

        let mut changes: BTreeMap<Uuid, ConversationChange> = BTreeMap::new();
        let mut applied = HashSet::with_capacity(first_seen.len());
        let mut resolutions = Vec::new();
        for fact in facts {
            if !first_seen.contains(&fact.event_id) || !applied.insert(fact.event_id.as_str()) {
                continue;
            }
            changes.entry(fact.conversation_id).or_default().add(fact);
            if let Some((at, person)) = fact.resolved_by_person()
                && now - at <= SURVEY_MAX_AGE
            {
                resolutions.push((fact.conversation_id, at, person));
            }
        }
        let conversations = changes.len();
        let (folded, cells) = fold_changes(&mut tx, tenant_id, zone, changes, &self.rules).await?;
        let surveys = queue_surveys(&mut tx, tenant_id, &resolutions, &folded, now).await?;
        tx.commit().await?;
        Ok(FoldReport { first_seen, conversations, cells, surveys })
    }

    /// Adds what the conversation service's history says to these conversations' timelines
    /// (what they had stays: facts are identified, so nothing counts twice) and recomputes
    /// their contributions. Used by rebuilds; queues no surveys.
    pub async fn absorb_histories(
        &self,
        tenant_id: Uuid,
        zone: Tz,
        histories: BTreeMap<Uuid, ConversationChange>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_tenant(&mut tx, tenant_id).await?;
        let (folded, _) = fold_changes(&mut tx, tenant_id, zone, histories, &self.rules).await?;
        tx.commit().await?;
        Ok(folded.len())
    }
}

async fn fold_changes(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    zone: Tz,
    changes: BTreeMap<Uuid, ConversationChange>,
    rules: &FoldRules,
) -> Result<(Folded, usize), StoreError> {
    if changes.is_empty() {
        return Ok((Folded::new(), 0));
    }
    let ids: Vec<Uuid> = changes.keys().copied().collect();
    let rows: Vec<StateRow> = sqlx::query_as(
        "SELECT conversation_id, version, channel, status, team_id, assignee_id, person_handles, needs_human, \
           customer_wrote_last, created_at, deleted, time_zone, timeline, contributions \
         FROM conversation_states WHERE tenant_id = $1 AND conversation_id = ANY($2)",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut stored: HashMap<Uuid, StateRow> = rows.into_iter().map(|r| (r.conversation_id, r)).collect();

    let mut deltas: HashMap<CellKey, Figures> = HashMap::new();
    let mut out = StateArrays::default();
    let mut folded = Folded::with_capacity(changes.len());
    for (id, change) in changes {
        let (snapshot, mut timeline, old, old_zone, deleted) = match stored.remove(&id) {
            Some(row) => {
                let snapshot = match change.snapshot {
                    Some(new) => row.snapshot()?.newer(new),
                    None => row.snapshot()?,
                };
                let old_zone: Tz =
                    row.time_zone.parse().map_err(|_| StoreError::Corrupt(format!("time zone {}", row.time_zone)))?;
                (
                    snapshot,
                    decode_timeline(&row.timeline)?,
                    decode_contributions(&row.contributions)?,
                    old_zone,
                    row.deleted,
                )
            }
            // A conversation first met through a deletion has nothing to count.
            None => match change.snapshot {
                Some(snapshot) => (snapshot, Timeline::default(), Vec::new(), zone, false),
                None => continue,
            },
        };
        timeline.absorb(&change.additions);
        if let Some(created) = snapshot.created_at {
            timeline.set_opened(created, None);
        }
        let new = contributions(&timeline, rules);
        let channel = CellId::channel(&snapshot.channel);
        if old_zone == zone {
            let (removed, added) = difference(&old, &new);
            spread(&mut deltas, removed, channel, zone, -1);
            spread(&mut deltas, added, channel, zone, 1);
        } else {
            spread(&mut deltas, old.iter(), channel, old_zone, -1);
            spread(&mut deltas, new.iter(), channel, zone, 1);
        }
        let waiting = waiting_for_person(&snapshot, ai_answered(&timeline));
        out.push(id, &snapshot, waiting, deleted || change.deleted, zone, &timeline, &new);
        folded.insert(id, snapshot);
    }
    out.write(tx, tenant_id).await?;
    let cells = write_cells(tx, tenant_id, deltas).await?;
    Ok((folded, cells))
}

/// What `old` has that `new` lacks, and what `new` has that `old` lacks (both sorted; as
/// multisets).
fn difference<'a>(old: &'a [Contribution], new: &'a [Contribution]) -> (Vec<&'a Contribution>, Vec<&'a Contribution>) {
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o == n => {
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o < n => {
                removed.push(o);
                i += 1;
            }
            (Some(_), Some(n)) => {
                added.push(n);
                j += 1;
            }
            (Some(o), None) => {
                removed.push(o);
                i += 1;
            }
            (None, Some(n)) => {
                added.push(n);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (removed, added)
}

fn spread<'a>(
    deltas: &mut HashMap<CellKey, Figures>,
    items: impl IntoIterator<Item = &'a Contribution>,
    channel: CellId,
    zone: Tz,
    sign: i64,
) {
    for c in items {
        for cell in cells_of(c, channel, zone) {
            deltas.entry(cell).or_default().apply(c.metric, sign);
        }
    }
}

/// Conversation states to upsert, as arrays for one `UNNEST`.
#[derive(Default)]
struct StateArrays {
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    channels: Vec<String>,
    statuses: Vec<&'static str>,
    teams: Vec<Option<Uuid>>,
    assignees: Vec<Option<Uuid>>,
    person_handles: Vec<bool>,
    needs_human: Vec<bool>,
    customer_last: Vec<bool>,
    created: Vec<Option<DateTime<Utc>>>,
    waiting: Vec<bool>,
    deleted: Vec<bool>,
    zones: Vec<&'static str>,
    timelines: Vec<Vec<u8>>,
    contributions: Vec<Vec<u8>>,
}

impl StateArrays {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: Uuid,
        s: &Snapshot,
        waiting: bool,
        deleted: bool,
        zone: Tz,
        timeline: &Timeline,
        contributions: &[Contribution],
    ) {
        self.ids.push(id);
        self.versions.push(s.version);
        self.channels.push(s.channel.clone());
        self.statuses.push(s.status.as_str());
        self.teams.push(s.team);
        self.assignees.push(s.assignee);
        self.person_handles.push(s.person_handles);
        self.needs_human.push(s.needs_human);
        self.customer_last.push(s.customer_wrote_last);
        self.created.push(s.created_at);
        self.waiting.push(waiting);
        self.deleted.push(deleted);
        self.zones.push(zone.name());
        self.timelines.push(encode_timeline(timeline));
        self.contributions.push(encode_contributions(contributions));
    }

    async fn write(self, tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, tenant_id: Uuid) -> Result<(), StoreError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO conversation_states (tenant_id, conversation_id, version, channel, status, team_id, \
               assignee_id, person_handles, needs_human, customer_wrote_last, created_at, waiting_for_person, \
               deleted, time_zone, timeline, contributions) \
             SELECT $1, * FROM UNNEST($2::uuid[], $3::int8[], $4::text[], $5::text[], $6::uuid[], $7::uuid[], \
               $8::bool[], $9::bool[], $10::bool[], $11::timestamptz[], $12::bool[], $13::bool[], $14::text[], \
               $15::bytea[], $16::bytea[]) \
             ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET version = excluded.version, \
               channel = excluded.channel, status = excluded.status, team_id = excluded.team_id, \
               assignee_id = excluded.assignee_id, person_handles = excluded.person_handles, \
               needs_human = excluded.needs_human, customer_wrote_last = excluded.customer_wrote_last, \
               created_at = excluded.created_at, waiting_for_person = excluded.waiting_for_person, \
               deleted = excluded.deleted, time_zone = excluded.time_zone, timeline = excluded.timeline, \
               contributions = excluded.contributions",
        )
        .bind(tenant_id)
        .bind(&self.ids)
        .bind(&self.versions)
        .bind(&self.channels)
        .bind(&self.statuses)
        .bind(&self.teams)
        .bind(&self.assignees)
        .bind(&self.person_handles)
        .bind(&self.needs_human)
        .bind(&self.customer_last)
        .bind(&self.created)
        .bind(&self.waiting)
        .bind(&self.deleted)
        .bind(&self.zones)
        .bind(&self.timelines)
        .bind(&self.contributions)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct CellRow {
    grain: i16,
    dim: i16,
    key: String,
    bucket_start: DateTime<Utc>,
    figures: Vec<u8>,
}

fn grain_of(code: i16) -> Result<Grain, StoreError> {
    Grain::ALL.into_iter().find(|g| g.code() == code).ok_or_else(|| StoreError::Corrupt(format!("grain {code}")))
}

pub(super) fn dim_of(code: i16) -> Result<Dim, StoreError> {
    [Dim::Tenant, Dim::Channel, Dim::Team, Dim::Agent]
        .into_iter()
        .find(|d| d.code() == code)
        .ok_or_else(|| StoreError::Corrupt(format!("dimension {code}")))
}

/// Adds the deltas to their cells: read, merge, write back (cells left empty are deleted).
async fn write_cells(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    deltas: HashMap<CellKey, Figures>,
) -> Result<usize, StoreError> {
    let mut deltas: Vec<(CellKey, Figures)> = deltas.into_iter().filter(|(_, f)| !f.is_empty()).collect();
    if deltas.is_empty() {
        return Ok(0);
    }
    deltas.sort_by_key(|(key, _)| *key);
    let grains: Vec<i16> = deltas.iter().map(|(k, _)| k.grain.code()).collect();
    let dims: Vec<i16> = deltas.iter().map(|(k, _)| k.dim.code()).collect();
    let keys: Vec<String> = deltas.iter().map(|(k, _)| k.key.text()).collect();
    let starts: Vec<DateTime<Utc>> = deltas.iter().map(|(k, _)| k.bucket_start).collect();
    let existing: Vec<CellRow> = sqlx::query_as(
        "SELECT r.grain, r.dim, r.key, r.bucket_start, r.figures \
         FROM UNNEST($2::int2[], $3::int2[], $4::text[], $5::timestamptz[]) AS u(grain, dim, key, bucket_start) \
         JOIN rollups r ON r.tenant_id = $1 AND r.grain = u.grain AND r.dim = u.dim AND r.key = u.key \
           AND r.bucket_start = u.bucket_start",
    )
    .bind(tenant_id)
    .bind(&grains)
    .bind(&dims)
    .bind(&keys)
    .bind(&starts)
    .fetch_all(&mut **tx)
    .await?;
    let mut current: HashMap<CellKey, Figures> = HashMap::with_capacity(existing.len());
    for row in existing {
        let dim = dim_of(row.dim)?;
        let key = CellKey {
            grain: grain_of(row.grain)?,
            dim,
            key: CellId::parse(dim, &row.key).ok_or_else(|| StoreError::Corrupt(format!("cell key {}", row.key)))?,
            bucket_start: row.bucket_start,
        };
        current.insert(key, decode_figures(&row.figures)?);
    }

    let mut upsert = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut delete = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((key, delta), text) in deltas.iter().zip(&keys) {
        let mut figures = current.remove(key).unwrap_or_default();
        figures.merge(delta, 1);
        if figures.is_empty() {
            delete.0.push(key.grain.code());
            delete.1.push(key.dim.code());
            delete.2.push(text.as_str());
            delete.3.push(key.bucket_start);
        } else {
            upsert.0.push(key.grain.code());
            upsert.1.push(key.dim.code());
            upsert.2.push(text.as_str());
            upsert.3.push(key.bucket_start);
            upsert.4.push(encode_figures(&figures));
        }
    }
    if !upsert.0.is_empty() {
        sqlx::query(
            "INSERT INTO rollups (tenant_id, grain, dim, key, bucket_start, figures) \
             SELECT $1, * FROM UNNEST($2::int2[], $3::int2[], $4::text[], $5::timestamptz[], $6::bytea[]) \
             ON CONFLICT (tenant_id, grain, dim, key, bucket_start) DO UPDATE SET figures = excluded.figures",
        )
        .bind(tenant_id)
        .bind(&upsert.0)
        .bind(&upsert.1)
        .bind(&upsert.2)
        .bind(&upsert.3)
        .bind(&upsert.4)
        .execute(&mut **tx)
        .await?;
    }
    if !delete.0.is_empty() {
        sqlx::query(
            "DELETE FROM rollups r USING UNNEST($2::int2[], $3::int2[], $4::text[], $5::timestamptz[]) \
               AS u(grain, dim, key, bucket_start) \
             WHERE r.tenant_id = $1 AND r.grain = u.grain AND r.dim = u.dim AND r.key = u.key \
               AND r.bucket_start = u.bucket_start",
        )
        .bind(tenant_id)
        .bind(&delete.0)
        .bind(&delete.1)
        .bind(&delete.2)
        .bind(&delete.3)
        .execute(&mut **tx)
        .await?;
    }
    Ok(deltas.len())
}

/// Queues a survey for each fresh resolution by a person of a conversation that is still
/// resolved, on a channel that carries messages, when the tenant surveys.
async fn queue_surveys(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    resolutions: &[(Uuid, DateTime<Utc>, Uuid)],
    folded: &Folded,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let due: Vec<&(Uuid, DateTime<Utc>, Uuid)> = resolutions
        .iter()
        .filter(|(conversation, _, _)| {
            folded.get(conversation).is_some_and(|s| s.status == Status::Resolved && s.channel != "telephony")
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let conversations: Vec<Uuid> = due.iter().map(|d| d.0).collect();
    let resolved: Vec<DateTime<Utc>> = due.iter().map(|d| d.1).collect();
    let agents: Vec<Uuid> = due.iter().map(|d| d.2).collect();
    let queued = sqlx::query(
        "INSERT INTO csat_surveys (tenant_id, conversation_id, resolved_at, agent_id, state, next_attempt_at, updated_at) \
         SELECT $1, u.c, u.r, u.a, 'pending', $5, $5 FROM UNNEST($2::uuid[], $3::timestamptz[], $4::uuid[]) AS u(c, r, a) \
         WHERE EXISTS (SELECT 1 FROM csat_settings WHERE tenant_id = $1 AND enabled) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&conversations)
    .bind(&resolved)
    .bind(&agents)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(queued.rows_affected() as usize)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::figures::{Counter, Metric};

    #[test]
    fn the_difference_of_two_contribution_lists_is_what_to_take_back_and_what_to_add() {
        let at = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
        let c = |counter: Counter, minute: i64| Contribution {
            at: at + Duration::minutes(minute),
            metric: Metric::Count(counter),
            agent: None,
            team: None,
        };
        let mut old =
            vec![c(Counter::CustomerMessages, 0), c(Counter::CustomerMessages, 0), c(Counter::Resolutions, 5)];
        let mut new = vec![c(Counter::CustomerMessages, 0), c(Counter::Resolutions, 9), c(Counter::Reopened, 7)];
        old.sort();
        new.sort();
        let (removed, added) = difference(&old, &new);
        assert_eq!(removed, vec![&c(Counter::CustomerMessages, 0), &c(Counter::Resolutions, 5)]);
        let mut added: Vec<Contribution> = added.into_iter().copied().collect();
        added.sort();
        let mut expected = vec![c(Counter::Reopened, 7), c(Counter::Resolutions, 9)];
        expected.sort();
        assert_eq!(added, expected);
        assert_eq!(difference(&new, &new), (vec![], vec![]));
    }
}
