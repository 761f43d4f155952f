//! The records every request is judged by (users, sessions, API keys), read through a small
//! in-process cache. An entry lives a short TTL at most, and is dropped at once when a
//! revocation arrives (from this replica or another over NATS). A read that raced with a
//! revocation is not cached: each revocation moves an epoch, and a read that began in an
//! older epoch returns its answer without keeping it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::revocation::Revocation;
use crate::store::GatewayStore;
use crate::store::api_keys::ApiKeyRecord;
use crate::store::credentials::UserRecord;
use crate::store::sessions::SessionRecord;

/// Entries kept per kind before the stale ones are swept (and all, if none were).
const MAX_ENTRIES: usize = 100_000;

struct Table<T> {
    entries: HashMap<Uuid, (Option<T>, Instant)>,
}

impl<T: Clone> Table<T> {
    fn new() -> Self {
        Self { entries: HashMap::new() }
    }

    fn fresh(&self, id: Uuid, ttl: Duration, now: Instant) -> Option<Option<T>> {
        let (value, read_at) = self.entries.get(&id)?;
        (now.duration_since(*read_at) < ttl).then(|| value.clone())
    }

    fn keep(&mut self, id: Uuid, value: Option<T>, ttl: Duration, now: Instant) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, (_, read_at)| now.duration_since(*read_at) < ttl);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries.insert(id, (value, now));
    }
}

struct Tables {
    epoch: u64,
    users: Table<UserRecord>,
    sessions: Table<SessionRecord>,
    keys: Table<ApiKeyRecord>,
}

/// Users, sessions and keys by id, cached for `ttl` (zero: not cached).
pub struct RecordCache {
    store: GatewayStore,
    ttl: Duration,
    tables: Mutex<Tables>,
}

impl RecordCache {
    pub fn new(store: GatewayStore, ttl: Duration) -> Self {
        let tables = Tables { epoch: 0, users: Table::new(), sessions: Table::new(), keys: Table::new() };
        Self { store, ttl, tables: Mutex::new(tables) }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets what the revocation affects, so the next request reads the store.
    pub fn forget(&self, revocation: &Revocation) {
        let mut tables = self.tables();
        tables.epoch += 1;
        match revocation {
            Revocation::User(id) => {
                tables.users.entries.remove(id);
            }
            Revocation::Session(id) => {
                tables.sessions.entries.remove(id);
            }
            Revocation::Key(id) => {
                tables.keys.entries.remove(id);
            }
        }
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, sqlx::Error> {
        self.read(id, |t| &mut t.users, || self.store.user_record(id)).await
    }

    pub async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, sqlx::Error> {
        self.read(id, |t| &mut t.sessions, || self.store.session_record(id)).await
    }

    pub async fn key(&self, id: Uuid) -> Result<Option<ApiKeyRecord>, sqlx::Error> {
        self.read(id, |t| &mut t.keys, || self.store.api_key_record(id)).await
    }

    async fn read<T, Fut>(
        &self,
        id: Uuid,
        table: fn(&mut Tables) -> &mut Table<T>,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<T>, sqlx::Error>
    where
        T: Clone,
        Fut: Future<Output = Result<Option<T>, sqlx::Error>>,
    {
        let epoch = {
            let mut tables = self.tables();
            if let Some(cached) = table(&mut tables).fresh(id, self.ttl, Instant::now()) {
                return Ok(cached);
            }
            tables.epoch
        };
        let loaded = load().await?;
        if !self.ttl.is_zero() {
            let mut tables = self.tables();
            if tables.epoch == epoch {
                table(&mut tables).keep(id, loaded.clone(), self.ttl, Instant::now());
            }
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_fresh_for_its_ttl_only() {
        let mut table = Table::new();
        let id = Uuid::new_v4();
        let t0 = Instant::now();
        table.keep(id, Some(7), Duration::from_secs(5), t0);
        assert_eq!(table.fresh(id, Duration::from_secs(5), t0 + Duration::from_secs(4)), Some(Some(7)));
        assert_eq!(table.fresh(id, Duration::from_secs(5), t0 + Duration::from_secs(5)), None);
        assert_eq!(table.fresh(Uuid::new_v4(), Duration::from_secs(5), t0), None);
    }

    #[test]
    fn a_full_table_sweeps_stale_entries_before_taking_a_new_one() {
        let mut table = Table::new();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(5);
        for _ in 0..MAX_ENTRIES {
            table.keep(Uuid::new_v4(), Some(1), ttl, t0);
        }
        let later = t0 + Duration::from_secs(6);
        let id = Uuid::new_v4();
        table.keep(id, Some(2), ttl, later);
        assert_eq!(table.entries.len(), 1);
        assert_eq!(table.fresh(id, ttl, later), Some(Some(2)));
    }
}
