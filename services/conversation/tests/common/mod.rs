//! What the conversation store's tests share: a migrated store on a fresh database, and a
//! customer writing on WhatsApp.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses a part

use chrono::Utc;
use inbox_config::PostgresSettings;
use inbox_conversation::store::{Appended, ConversationRow, ConversationStore, MIGRATOR};
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_testkit::TestDatabase;
use uuid::Uuid;

pub async fn store() -> (TestDatabase, ConversationStore) {
    let db = TestDatabase::create("conv").await.unwrap();
    let settings = PostgresSettings { url: db.url(), max_connections: 8 };
    let pool = inbox_service::postgres::connect_and_migrate(&settings, &MIGRATOR).await.unwrap();
    (db, ConversationStore::new(pool))
}

pub fn text(body: &str) -> MessageContent {
    MessageContent { kind: Some(Kind::Text(TextContent { body: body.into() })), reply_to: None }
}

/// A WhatsApp message from `from`, sent now.
pub fn whatsapp_now(tenant: Uuid, from: &str, wamid: &str, body: &str) -> InboundMessage {
    InboundMessage {
        tenant_id: tenant.to_string(),
        channel: Channel::Whatsapp as i32,
        channel_account_id: "acc".into(),
        external_id: wamid.into(),
        sent_at: Some(inbox_proto::timestamp_from(Utc::now())),
        sender: Some(Sender { address: from.into(), display_name: "Ana".into() }),
        content: Some(text(body)),
        raw_payload_id: String::new(),
        visitor: None,
    }
}

/// Stores a customer message that must be new; returns its conversation.
pub async fn customer_writes(
    store: &ConversationStore,
    tenant: Uuid,
    from: &str,
    wamid: &str,
    body: &str,
) -> ConversationRow {
    match store.append_inbound_message(tenant, &whatsapp_now(tenant, from, wamid, body)).await.unwrap() {
        Appended::Stored { conversation, .. } => conversation,
        Appended::Duplicate => panic!("unexpected duplicate"),
    }
}

/// Seeds `n` conversations (each with its contact and one customer message) straight in SQL,
/// fast enough for bulk tests; activity one second apart, newest last.
pub async fn seed_conversations(store: &ConversationStore, tenant: Uuid, n: i64) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "WITH s AS (SELECT i, ids[i] AS id, gen_random_uuid() AS contact FROM \
           (SELECT $2::uuid[] AS ids) a, generate_series(1, $3) AS i), \
         k AS (INSERT INTO contacts (tenant_id, id, display_name) SELECT $1, contact, 'Customer ' || i FROM s), \
         c AS (INSERT INTO conversations (tenant_id, id, contact_id, channel, channel_account_id, customer_address, \
                 last_message_at, last_message_preview, last_customer_message_at, waiting_since) \
               SELECT $1, id, contact, 'whatsapp', 'acc', '1555' || lpad(i::text, 7, '0'), \
                 now() - make_interval(secs => $3 - i), 'hello', now() - make_interval(secs => $3 - i), NULL FROM s) \
         INSERT INTO messages (tenant_id, id, conversation_id, channel, external_id, sender_kind, sender_id, content, body, sent_at) \
         SELECT $1, gen_random_uuid(), id, 'whatsapp', 'seed-' || id, 'customer', 'x', ''::bytea, 'hello', now() FROM s",
    )
    .bind(tenant)
    .bind(&ids)
    .bind(n)
    .execute(store.pool())
    .await
    .unwrap();
    ids
}

/// A viewer who is the user `me`, now.
pub fn viewer(me: Uuid) -> inbox_conversation::store::Viewer {
    inbox_conversation::store::Viewer { user_id: Some(me), now: Utc::now() }
}
