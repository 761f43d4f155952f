//! The index schema: one tantivy index holds three kinds of documents, all carrying their
//! tenant.
//!
//! - a **conversation** (one per conversation, rewritten when a newer version arrives, that is
//!   with every message): its filters as fast fields, the whole conversation as stored
//!   protobuf for the result list;
//! - a **conversation contact** (one per conversation with a customer or a phone, rewritten
//!   only when they change): the customer, name and phone a conversation is found by. Apart from the
//!   conversation's own document, so that a message does not write them again: a phone is
//!   indexed with each of its trailing parts, and these unique terms were most of what every
//!   message cost the term dictionaries, at each segment write and each merge;
//! - a **message** (one per message, never rewritten): its text (stemmed for words, folded
//!   with positions for phrases and prefixes), its provider id, sender, note flag and time;
//! - a **customer** (one per customer): name, phones, emails, custom attributes, and the
//!   profile as stored protobuf.
//!
//! Deleted conversations and merged-away customers leave a tombstone (the id, the tenant, the
//! highest version) so that a late event cannot bring them back.

use tantivy::schema::{
    FAST, Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::domain::text::{FOLDED, STEMMED};

/// Bumped whenever the schema or what is indexed changes: an index of another version is
/// rebuilt on start (in a directory of its own, while the old one is left alone).
pub const SCHEMA_VERSION: u32 = 5;

/// The kind of a document (`kind` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Conversation = 0,
    Message = 1,
    Customer = 2,
    ConversationTombstone = 3,
    CustomerTombstone = 4,
    ConversationContact = 5,
}

impl DocKind {
    pub fn code(self) -> u64 {
        self as u64
    }

    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => DocKind::Conversation,
            1 => DocKind::Message,
            2 => DocKind::Customer,
            3 => DocKind::ConversationTombstone,
            4 => DocKind::CustomerTombstone,
            5 => DocKind::ConversationContact,
            _ => return None,
        })
    }
}

/// What a message's text is (`text_field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSource {
    /// What the sender wrote (or the caption, location, contact card...).
    Body = 0,
    /// A call transcript.
    Transcript = 1,
}

impl TextSource {
    pub fn name(self) -> &'static str {
        match self {
            TextSource::Body => "body",
            TextSource::Transcript => "transcript",
        }
    }

    pub fn from_code(code: u64) -> Self {
        if code == 1 { TextSource::Transcript } else { TextSource::Body }
    }
}

/// The fields, resolved once.
#[derive(Debug, Clone)]
pub struct Fields {
    /// The upsert key: the 64-bit key of the conversation's, message's or customer's id.
    pub key: Field,
    pub kind: Field,
    /// Indexed with its frequency (always 1), so that a word's query (this tenant and the word)
    /// is an intersection of terms that read frequencies, which tantivy prunes by block maxima.
    pub tenant: Field,
    /// The conversation's id, on conversations (and their tombstones) only.
    pub conv_id: Field,
    /// The conversation as a 64-bit key (both halves of its id xor-ed): groups results,
    /// deletes a conversation with its messages, finds it by id.
    pub conv_key: Field,
    /// The message's id, stored (a message is found by id through its `key`).
    pub msg_id: Field,
    /// The provider's message id (a wamid, a call sid item).
    pub external_id: Field,
    pub body: Field,
    pub body_exact: Field,
    /// The message text as written (stored for highlights).
    pub text: Field,
    pub text_source: Field,
    pub name: Field,
    pub phone: Field,
    pub phone_suffix: Field,
    pub email: Field,
    pub attributes: Field,
    pub contact: Field,
    pub status: Field,
    pub priority: Field,
    pub channel: Field,
    pub team: Field,
    pub assignee: Field,
    pub version: Field,
    /// Micros since the epoch: a message's send time, a conversation's last activity, a
    /// customer's last change.
    pub at: Field,
    pub created_at: Field,
    pub sender: Field,
    pub note: Field,
    /// The protobuf of a conversation or customer.
    pub proto: Field,
    /// A hash of the address a customer was last seen writing from, to skip rewriting a
    /// customer each time a conversation shows them unchanged; on a conversation contact, a
    /// hash of the name and phone it holds.
    pub fingerprint: Field,
    /// 1 when a customer document holds the whole profile (emails, attributes).
    pub profile: Field,
}

/// The schema and its fields.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let raw_fast = STRING | FAST;
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(STEMMED).set_index_option(IndexRecordOption::WithFreqs),
    );
    let folded_positions = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(FOLDED).set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let code = NumericOptions::default().set_indexed().set_fast();
    let fields = Fields {
        key: b.add_u64_field("key", NumericOptions::default().set_indexed()),
        kind: b.add_u64_field("kind", code.clone()),
        tenant: b.add_text_field(
            "tenant",
            TextOptions::default()
                .set_indexing_options(
                    TextFieldIndexing::default().set_tokenizer("raw").set_index_option(IndexRecordOption::WithFreqs),
                )
                .set_fast("raw"),
        ),
        conv_id: b.add_text_field("conv_id", TextOptions::default().set_stored().set_fast("raw")),
        conv_key: b.add_u64_field("conv_key", code.clone()),
        msg_id: b.add_text_field("msg_id", STORED),
        external_id: b.add_text_field("external_id", STRING),
        body: b.add_text_field("body", stemmed.clone()),
        body_exact: b.add_text_field("body_exact", folded_positions.clone()),
        text: b.add_text_field("text", STORED),
        text_source: b.add_u64_field("text_source", STORED),
        name: b.add_text_field("name", folded_positions),
        phone: b.add_text_field("phone", raw_fast.clone()),
        phone_suffix: b.add_text_field("phone_suffix", STRING),
        email: b.add_text_field("email", STRING),
        attributes: b.add_text_field("attributes", stemmed),
        contact: b.add_text_field("contact", raw_fast.clone()),
        status: b.add_u64_field("status", code.clone()),
        priority: b.add_u64_field("priority", code.clone()),
        channel: b.add_u64_field("channel", code.clone()),
        team: b.add_text_field("team", raw_fast.clone()),
        assignee: b.add_text_field("assignee", raw_fast),
        version: b.add_i64_field("version", FAST),
        at: b.add_i64_field("at", FAST | STORED),
        created_at: b.add_i64_field("created_at", FAST),
        sender: b.add_u64_field("sender", FAST | STORED),
        note: b.add_u64_field("note", code | STORED),
        proto: b.add_bytes_field("proto", STORED),
        fingerprint: b.add_u64_field("fingerprint", FAST),
        profile: b.add_u64_field("profile", FAST),
    };
    (b.build(), fields)
}
