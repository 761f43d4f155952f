//! Agents' notification settings.

use std::collections::{BTreeMap, HashMap};

use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{NotificationStore, StoreError};
use crate::domain::{Kind, Level, Preferences, QuietHours};

/// A change to an agent's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PreferencesChange {
    /// `None` level: back to the type's default.
    pub levels: Vec<(Kind, Option<Level>)>,
    pub do_not_disturb: Option<bool>,
    /// `Some(None)` clears the quiet hours.
    pub quiet_hours: Option<Option<QuietHours>>,
}

type StoredPreferences = (Json<HashMap<String, String>>, bool, String, String);

fn from_row(levels: &HashMap<String, String>, dnd: bool, start: &str, end: &str) -> Preferences {
    let levels: BTreeMap<Kind, Level> =
        levels.iter().filter_map(|(k, l)| Some((Kind::parse(k)?, Level::parse(l)?))).collect();
    // Stored values were checked on the way in; anything unreadable counts as none.
    let quiet_hours = QuietHours::parse(start, end).ok().flatten();
    Preferences { levels, do_not_disturb: dnd, quiet_hours }
}

/// The settings of `users` (defaults for those who never changed any).
pub(crate) async fn preferences_of(
    conn: &mut PgConnection,
    keys: &[(Uuid, Uuid)],
) -> Result<HashMap<(Uuid, Uuid), Preferences>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT p.tenant_id, p.user_id, p.levels, p.do_not_disturb, p.quiet_hours_start, p.quiet_hours_end \
         FROM UNNEST($1::uuid[], $2::uuid[]) AS k(t, u) \
         JOIN preferences p ON p.tenant_id = k.t AND p.user_id = k.u",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let levels: Json<HashMap<String, String>> = row.try_get("levels")?;
        let start: String = row.try_get("quiet_hours_start")?;
        let end: String = row.try_get("quiet_hours_end")?;
        out.insert(
            (row.try_get("tenant_id")?, row.try_get("user_id")?),
            from_row(&levels.0, row.try_get("do_not_disturb")?, &start, &end),
        );
    }
    Ok(out)
}

impl NotificationStore {
    pub async fn preferences(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Preferences, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(preferences_of(&mut conn, &[(tenant_id, user_id)]).await?.remove(&(tenant_id, user_id)).unwrap_or_default())
    }

    pub async fn change_preferences(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        change: &PreferencesChange,
    ) -> Result<Preferences, StoreError> {
        let mut tx = self.pool.begin().await?;
        let current: Option<StoredPreferences> = sqlx::query_as(
            "SELECT levels, do_not_disturb, quiet_hours_start, quiet_hours_end FROM preferences \
             WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (mut levels, mut dnd, mut start, mut end) = match current {
            Some((levels, dnd, start, end)) => (levels.0, dnd, start, end),
            None => (HashMap::new(), false, String::new(), String::new()),
        };
        for (kind, level) in &change.levels {
            match level {
                Some(level) => levels.insert(kind.as_str().to_owned(), level.as_str().to_owned()),
                None => levels.remove(kind.as_str()),
            };
        }
        if let Some(d) = change.do_not_disturb {
            dnd = d;
        }
        if let Some(quiet) = change.quiet_hours {
            (start, end) = match quiet {
                Some(q) => (q.start.format("%H:%M").to_string(), q.end.format("%H:%M").to_string()),
                None => (String::new(), String::new()),
            };
        }
        sqlx::query(
            "INSERT INTO preferences (tenant_id, user_id, levels, do_not_disturb, quiet_hours_start, quiet_hours_end, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET levels = $3, do_not_disturb = $4, \
               quiet_hours_start = $5, quiet_hours_end = $6, updated_at = $7",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(Json(&levels))
        .bind(dnd)
        .bind(&start)
        .bind(&end)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(from_row(&levels, dnd, &start, &end))
    }
}
