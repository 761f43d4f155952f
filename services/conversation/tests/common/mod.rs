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
    MessageContent { kind: Some(Kind::Text(TextContent { body: body.into() })) }
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
