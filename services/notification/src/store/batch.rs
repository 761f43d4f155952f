//! One batch of the conversation service's events, in one transaction: the event ids
//! remembered, the conversations' state moved on, their SLA clocks re-planned, the
//! notifications stored under each person's preferences and the webhook deliveries queued.
//! A redelivered event (its id already remembered) changes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::conversations::{lock_conversations, save_conversations, serialize_conversations};
use super::notifications::{NotificationRow, store_drafts};
use super::sla::{TimerRow, lock_timers, save_timers, sla_configs};
use super::webhooks::{WebhookEvent, queue_deliveries};
use super::{NotificationStore, StoreError};
use crate::domain::Directory;
use crate::domain::facts::{ConversationState, Draft, Fact, What, drafts};
use crate::domain::sla::reconcile;

/// One event of the batch.
#[derive(Debug, Clone)]
pub struct EventItem {
    pub tenant_id: Uuid,
    pub event_id: String,
    pub subject: String,
    /// What it says about a conversation, if anything.
    pub fact: Option<Fact>,
    /// What it makes webhook endpoints receive.
    pub webhooks: Vec<WebhookEvent>,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Ids seen for the first time (the others were redeliveries).
    pub first_seen: HashSet<String>,
    /// Notifications stored, for the live push.
    pub stored: Vec<NotificationRow>,
}

impl NotificationStore {
    /// Applies a batch of events in one transaction. `directories` holds the people of every
    /// tenant in the batch (looked up before, so no lock waits on routing).
    pub async fn apply_events(
        &self,
        items: &[EventItem],
        directories: &HashMap<Uuid, Arc<Directory>>,
    ) -> Result<BatchReport, StoreError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let first_seen: HashSet<String> = sqlx::query_scalar(
            "INSERT INTO processed_events (event_id, tenant_id, subject, processed_at) \
             SELECT e, t, s, $4 FROM UNNEST($1::text[], $2::uuid[], $3::text[]) AS u(e, t, s) \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        .bind(items.iter().map(|i| i.event_id.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.tenant_id).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.subject.as_str()).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        // Only the first copy of an event delivered twice into this batch counts.
        let mut taken = HashSet::new();
        let fresh: Vec<&EventItem> =
            items.iter().filter(|i| first_seen.contains(&i.event_id) && taken.insert(i.event_id.as_str())).collect();

        let keys: Vec<(Uuid, Uuid)> = fresh
            .iter()
            .filter_map(|i| Some((i.tenant_id, i.fact.as_ref()?.conversation_id)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        serialize_conversations(&mut tx, &keys).await?;
        let mut states = lock_conversations(&mut tx, &keys).await?;
        let mut clocks = lock_timers(&mut tx, &keys).await?;
        let tenants: Vec<Uuid> = keys.iter().map(|k| k.0).collect::<BTreeSet<_>>().into_iter().collect();
        let configs = sla_configs(&mut tx, &tenants).await?;

        let empty = Arc::new(Directory::default());
        let mut notes: Vec<(Uuid, Draft)> = Vec::new();
        let mut changed: BTreeSet<(Uuid, Uuid)> = BTreeSet::new();
        let mut deleted: BTreeSet<(Uuid, Uuid)> = BTreeSet::new();
        for item in &fresh {
            let Some(fact) = &item.fact else { continue };
            let key = (item.tenant_id, fact.conversation_id);
            if fact.what == What::Deleted {
                states.remove(&key);
                clocks.remove(&key);
                changed.remove(&key);
                deleted.insert(key);
                continue;
            }
            let before = states.get(&key);
            let Some(after) = ConversationState::after(before, fact) else { continue };
            let directory = directories.get(&item.tenant_id).unwrap_or(&empty);
            notes.extend(drafts(fact, before, &after, directory).into_iter().map(|d| (item.tenant_id, d)));
            let config = configs.get(&item.tenant_id).cloned().unwrap_or_default();
            let entry = clocks.entry(key).or_default();
            // A fact is dated by its event, but never later than now (a clock running ahead).
            reconcile(entry, &after.standing(), &config.policy(after.priority), &config.schedule, fact.at.min(now));
            states.insert(key, after);
            changed.insert(key);
        }

        let to_save: Vec<((Uuid, Uuid), &ConversationState)> =
            changed.iter().filter_map(|k| Some((*k, states.get(k)?))).collect();
        save_conversations(&mut tx, &to_save).await?;
        let mut timers = Vec::new();
        for key in &changed {
            let config = configs.get(&key.0).cloned().unwrap_or_default();
            for clock in clocks.get(key).into_iter().flat_map(|c| c.values()) {
                timers.push(TimerRow::of(key.0, key.1, clock, clock.plan(&config.schedule, config.warning_percent)));
            }
        }
        save_timers(&mut tx, &timers).await?;
        if !deleted.is_empty() {
            let (t, c): (Vec<Uuid>, Vec<Uuid>) = deleted.iter().copied().unzip();
            sqlx::query(
                "DELETE FROM sla_timers USING UNNEST($1::uuid[], $2::uuid[]) AS k(t, c) \
                 WHERE sla_timers.tenant_id = k.t AND sla_timers.conversation_id = k.c",
            )
            .bind(&t)
            .bind(&c)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM conversations USING UNNEST($1::uuid[], $2::uuid[]) AS k(t, c) \
                 WHERE conversations.tenant_id = k.t AND conversations.id = k.c",
            )
            .bind(&t)
            .bind(&c)
            .execute(&mut *tx)
            .await?;
        }
        let stored = store_drafts(&mut tx, &notes, directories, now).await?;
        let webhooks: Vec<(Uuid, &WebhookEvent)> =
            fresh.iter().flat_map(|i| i.webhooks.iter().map(|w| (i.tenant_id, w))).collect();
        queue_deliveries(&mut tx, &webhooks, now, self.webhook_retry_window()).await?;
        tx.commit().await?;
        Ok(BatchReport { first_seen, stored })
    }
}
