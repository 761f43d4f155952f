//! What the index knows of every conversation and customer, in memory: the newest version
//! indexed (for the version checks that make event order irrelevant), and each conversation's
//! filterable state (tenant, status, priority, channel, team, assignee, customer), which
//! queries test for every candidate document. Rebuilt from the index's fast fields on start;
//! about 150 bytes per conversation and 40 per customer.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use uuid::Uuid;

/// A conversation's 64-bit key in the index: the two halves of its id xor-ed. Ids are random
/// in at least 62 bits, so two conversations share a key with odds of about n²/2⁶⁵.
pub fn conv_key(id: &Uuid) -> u64 {
    let (hi, lo) = id.as_u64_pair();
    hi ^ lo
}

/// The key of a conversation's contact document, derived from the conversation's key: its
/// halves swapped and a constant mixed in, so that it is as random as the key and differs
/// from it.
pub fn contact_key(conversation: u64) -> u64 {
    conversation.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15
}

/// Hashes keys that are already random by taking them as they are.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// A conversation as the index holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    pub id: Uuid,
    pub tenant: Uuid,
    /// `i64::MAX` once deleted.
    pub version: i64,
    pub deleted: bool,
    /// Codes as in the index (0 = unknown).
    pub status: u8,
    pub priority: u8,
    pub channel: u8,
    pub team: Option<Uuid>,
    pub assignee: Option<Uuid>,
    pub contact: Option<Uuid>,
    /// Micros: the newest message.
    pub last_message_at: i64,
    /// Micros: the customer's first message; `i64::MAX` before any.
    pub first_customer_at: i64,
}

impl ConversationState {
    /// A conversation only known from a message so far.
    pub fn unknown(id: Uuid, tenant: Uuid) -> Self {
        Self {
            id,
            tenant,
            version: i64::MIN,
            deleted: false,
            status: 0,
            priority: 0,
            channel: 0,
            team: None,
            assignee: None,
            contact: None,
            last_message_at: 0,
            first_customer_at: i64::MAX,
        }
    }
}

/// A customer as the index holds it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerState {
    /// Micros of the profile's last change; `i64::MAX` once merged away.
    pub version: i64,
    /// Hash of the name and phones indexed.
    pub fingerprint: u64,
    /// The whole profile was indexed (emails, attributes), not only what conversations show.
    pub profile: bool,
    pub deleted: bool,
}

/// Every conversation the index knows, each under a dense ordinal given when it is first
/// seen and never reused (conversations are never removed, only marked deleted), so that a
/// query can keep per-conversation flags in a vector rather than a hash set, and reach a
/// conversation from a document without hashing (`SearchIndex::segment_ordinals`).
#[derive(Debug, Default)]
pub struct ConversationTable {
    ordinals: KeyMap<u32>,
    states: Vec<ConversationState>,
}

impl ConversationTable {
    pub fn get(&self, key: &u64) -> Option<&ConversationState> {
        self.ordinals.get(key).map(|ord| &self.states[*ord as usize])
    }

    pub fn get_mut(&mut self, key: &u64) -> Option<&mut ConversationState> {
        self.ordinals.get(key).map(|ord| &mut self.states[*ord as usize])
    }

    pub fn insert(&mut self, key: u64, state: ConversationState) {
        match self.ordinals.get(&key) {
            Some(ord) => self.states[*ord as usize] = state,
            None => {
                self.ordinals.insert(key, self.states.len() as u32);
                self.states.push(state);
            }
        }
    }

    pub fn ordinal(&self, key: &u64) -> Option<u32> {
        self.ordinals.get(key).copied()
    }

    /// The conversation of `ordinal` (one given by [`Self::ordinal`]).
    pub fn by_ordinal(&self, ordinal: u32) -> &ConversationState {
        &self.states[ordinal as usize]
    }

    /// Ordinals run from 0 to this, exclusive.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &ConversationState> {
        self.states.iter()
    }
}

/// Every conversation and customer of the index.
#[derive(Debug, Default)]
pub struct Tables {
    pub conversations: ConversationTable,
    pub customers: HashMap<Uuid, CustomerState>,
    /// Every tenant with a conversation in the index.
    pub tenants: HashSet<Uuid>,
    /// For each conversation with messages in the index, the latest send time (micros) among
    /// them. A message sent after it cannot be in the index yet, so it is added without first
    /// deleting its id, which costs a term lookup in every segment at the commit.
    pub newest_messages: KeyMap<i64>,
    /// For each conversation with a contact document, the hash of the customer, name and phone
    /// it holds: a new version of the conversation rewrites it only when they change.
    pub contacts: KeyMap<u64>,
}

impl Tables {
    pub fn conversation(&self, id: &Uuid) -> Option<&ConversationState> {
        self.conversations.get(&conv_key(id)).filter(|c| c.id == *id)
    }

    /// The tenants with at least one conversation, in id order.
    pub fn tenant_list(&self) -> Vec<Uuid> {
        let mut tenants: Vec<Uuid> = self.tenants.iter().copied().collect();
        tenants.sort_unstable();
        tenants
    }

    pub fn live_conversations(&self) -> usize {
        self.conversations.values().filter(|c| !c.deleted).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_like_the_ids_they_come_from() {
        let keys: std::collections::HashSet<u64> = (0..100_000).map(|_| conv_key(&Uuid::now_v7())).collect();
        assert_eq!(keys.len(), 100_000);
        let keys: std::collections::HashSet<u64> = (0..100_000).map(|_| conv_key(&Uuid::new_v4())).collect();
        assert_eq!(keys.len(), 100_000);
    }

    #[test]
    fn a_contact_key_is_neither_its_conversation_key_nor_another_conversation_key() {
        let keys: std::collections::HashSet<u64> = (0..100_000).map(|_| conv_key(&Uuid::now_v7())).collect();
        let contacts: std::collections::HashSet<u64> = keys.iter().map(|k| contact_key(*k)).collect();
        assert_eq!(contacts.len(), keys.len());
        assert!(contacts.is_disjoint(&keys));
    }

    #[test]
    fn a_lookup_by_id_refuses_another_conversation_on_the_same_key() {
        let mut tables = Tables::default();
        let id = Uuid::now_v7();
        let tenant = Uuid::now_v7();
        tables.conversations.insert(conv_key(&id), ConversationState::unknown(id, tenant));
        assert!(tables.conversation(&id).is_some());
        let stranger = Uuid::now_v7();
        tables.conversations.insert(conv_key(&stranger), ConversationState::unknown(id, tenant));
        assert!(tables.conversation(&stranger).is_none());
    }

    #[test]
    fn conversations_keep_their_ordinal_when_rewritten() {
        let mut table = ConversationTable::default();
        let (a, b, tenant) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        table.insert(conv_key(&a), ConversationState::unknown(a, tenant));
        table.insert(conv_key(&b), ConversationState::unknown(b, tenant));
        let ord = table.ordinal(&conv_key(&a));
        table.insert(conv_key(&a), ConversationState { status: 3, ..ConversationState::unknown(a, tenant) });
        assert_eq!(table.ordinal(&conv_key(&a)), ord);
        assert_eq!(table.len(), 2);
        assert_eq!(table.by_ordinal(ord.unwrap_or(u32::MAX)).status, 3);
        assert_eq!(table.get(&conv_key(&b)).map(|c| c.id), Some(b));
    }
}
