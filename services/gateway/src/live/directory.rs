//! Where each conversation is (its team and assignee), learned from the events that pass
//! through the hub, for frames that name a conversation without saying where it is (delivery
//! updates, typing, a web chat customer typing, which names only the channel account and the
//! customer's address). Bounded: two generations of at most `capacity` conversations each;
//! when the newer one fills, the older is forgotten.

use std::collections::HashMap;

use uuid::Uuid;

/// A conversation's team and assignee (`None`: no team, nobody).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Whereabouts {
    pub team_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
}

impl Whereabouts {
    /// From the proto's strings (empty: none; not a uuid: none).
    pub fn of(team_id: &str, assignee_id: &str) -> Whereabouts {
        Whereabouts { team_id: Uuid::parse_str(team_id).ok(), assignee_id: Uuid::parse_str(assignee_id).ok() }
    }
}

/// The channel account and customer address of a conversation: one thread per customer per
/// account.
type Thread = (String, String);

#[derive(Default)]
struct Generation {
    places: HashMap<Uuid, Whereabouts>,
    threads: HashMap<Thread, Uuid>,
}

pub struct Directory {
    capacity: usize,
    newer: Generation,
    older: Generation,
}

/// Conversations remembered per generation by default.
const DEFAULT_CAPACITY: usize = 50_000;

impl Default for Directory {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl Directory {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), newer: Generation::default(), older: Generation::default() }
    }

    /// Remembers where conversation `id` (of `account` and customer `address`) is now.
    pub fn learn(&mut self, id: Uuid, whereabouts: Whereabouts, account: &str, address: &str) {
        if self.newer.places.len() >= self.capacity && !self.newer.places.contains_key(&id) {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.places.insert(id, whereabouts);
        if !account.is_empty() && !address.is_empty() {
            self.newer.threads.insert((account.to_owned(), address.to_owned()), id);
        }
    }

    /// Where conversation `id` is, if known.
    pub fn place(&self, id: Uuid) -> Option<Whereabouts> {
        self.newer.places.get(&id).or_else(|| self.older.places.get(&id)).copied()
    }

    /// Like [`Directory::place`] for an id as the proto spells it.
    pub fn place_of(&self, id: &str) -> Option<Whereabouts> {
        Uuid::parse_str(id).ok().and_then(|id| self.place(id))
    }

    /// Forgets a deleted conversation, returning where it was.
    pub fn forget(&mut self, id: Uuid) -> Option<Whereabouts> {
        let newer = self.newer.places.remove(&id);
        let older = self.older.places.remove(&id);
        newer.or(older)
    }

    /// The conversation of `account` with the customer at `address`, and where it is.
    pub fn conversation_at(&self, account: &str, address: &str) -> Option<(Uuid, Whereabouts)> {
        let thread = (account.to_owned(), address.to_owned());
        let id = self.newer.threads.get(&thread).or_else(|| self.older.threads.get(&thread)).copied()?;
        Some((id, self.place(id)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_answers_with_the_latest_place_and_forgets_the_oldest_generation_when_full() {
        let mut directory = Directory::with_capacity(2);
        let (a, b, c, team) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        directory.learn(a, Whereabouts::default(), "acct", "ana");
        directory.learn(a, Whereabouts { team_id: Some(team), assignee_id: None }, "acct", "ana");
        assert_eq!(directory.place(a).unwrap().team_id, Some(team), "the latest place");
        directory.learn(b, Whereabouts::default(), "acct", "bob");
        directory.learn(c, Whereabouts::default(), "acct", "cid");
        assert!(directory.place(a).is_some(), "still in the older generation");
        assert_eq!(directory.conversation_at("acct", "ana").map(|(id, _)| id), Some(a));
        let d = Uuid::new_v4();
        directory.learn(d, Whereabouts::default(), "acct", "dan");
        directory.learn(Uuid::new_v4(), Whereabouts::default(), "acct", "eve");
        assert!(directory.place(a).is_none(), "forgotten two generations later");
        assert!(directory.place(d).is_some());
    }

    #[test]
    fn a_deleted_conversation_is_forgotten_and_its_place_returned() {
        let mut directory = Directory::default();
        let id = Uuid::new_v4();
        let team = Some(Uuid::new_v4());
        directory.learn(id, Whereabouts { team_id: team, assignee_id: None }, "", "");
        assert_eq!(directory.forget(id).unwrap().team_id, team);
        assert!(directory.place(id).is_none());
        assert!(directory.place_of("not-a-uuid").is_none());
    }
}
