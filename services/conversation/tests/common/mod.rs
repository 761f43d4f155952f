//! What the conversation store's tests share: a migrated store on a fresh database with a
//! manual clock, and a customer writing on WhatsApp. Nothing here reads the machine's clock:
//! a test runs the same on any date.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses a part

use chrono::{DateTime, TimeZone, Utc};
use inbox_config::PostgresSettings;
use inbox_conversation::store::{Appended, ConversationRow, ConversationStore, MIGRATOR};
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_service::Clock;
use inbox_testkit::TestDatabase;
use uuid::Uuid;

/// When the tests' clock starts: a weekday afternoon, away from midnight in every zone the
/// tests use.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 4, 12, 30, 0).unwrap()
}

/// A store whose clock stands at [`start`] until the test moves it (`store.clock()`).
pub async fn store() -> (TestDatabase, ConversationStore) {
    store_at(start()).await
}

/// A store whose clock stands at `at` until the test moves it.
pub async fn store_at(at: DateTime<Utc>) -> (TestDatabase, ConversationStore) {
    let db = TestDatabase::create("conv").await.unwrap();
    let settings = PostgresSettings { url: db.url(), max_connections: 8 };
    let pool = inbox_service::postgres::connect_and_migrate(&settings, &MIGRATOR).await.unwrap();
    (db, ConversationStore::with_clock(pool, Clock::manual(at)))
}

pub fn text(body: &str) -> MessageContent {
    MessageContent { kind: Some(Kind::Text(TextContent { body: body.into() })), reply_to: None }
}

/// A WhatsApp message from `from`, sent now by the store's clock.
pub fn whatsapp_now(store: &ConversationStore, tenant: Uuid, from: &str, wamid: &str, body: &str) -> InboundMessage {
    whatsapp_at(tenant, from, wamid, body, store.now())
}

/// A WhatsApp message from `from`, sent at `sent_at`.
pub fn whatsapp_at(tenant: Uuid, from: &str, wamid: &str, body: &str, sent_at: DateTime<Utc>) -> InboundMessage {
    InboundMessage {
        tenant_id: tenant.to_string(),
        channel: Channel::Whatsapp as i32,
        channel_account_id: "acc".into(),
        external_id: wamid.into(),
        sent_at: Some(inbox_proto::timestamp_from(sent_at)),
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
    match store.append_inbound_message(tenant, &whatsapp_now(store, tenant, from, wamid, body)).await.unwrap() {
        Appended::Stored { conversation, .. } => conversation,
        Appended::Duplicate => panic!("unexpected duplicate"),
    }
}

/// Seeds `n` conversations (each with its contact and one customer message) straight in SQL,
/// fast enough for bulk tests; activity one second apart, the newest now by the store's clock.
pub async fn seed_conversations(store: &ConversationStore, tenant: Uuid, n: i64) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "WITH s AS (SELECT i, ids[i] AS id, gen_random_uuid() AS contact FROM \
           (SELECT $2::uuid[] AS ids) a, generate_series(1, $3) AS i), \
         k AS (INSERT INTO contacts (tenant_id, id, display_name, created_at, updated_at) \
               SELECT $1, contact, 'Customer ' || i, $4, $4 FROM s), \
         c AS (INSERT INTO conversations (tenant_id, id, contact_id, channel, channel_account_id, customer_address, \
                 last_message_at, last_message_preview, last_customer_message_at, waiting_since, \
                 created_at, updated_at, status_changed_at) \
               SELECT $1, id, contact, 'whatsapp', 'acc', '1555' || lpad(i::text, 7, '0'), \
                 $4 - make_interval(secs => $3 - i), 'hello', $4 - make_interval(secs => $3 - i), NULL, $4, $4, $4 \
               FROM s) \
         INSERT INTO messages (tenant_id, id, conversation_id, channel, external_id, sender_kind, sender_id, content, body, \
           sent_at, created_at) \
         SELECT $1, gen_random_uuid(), id, 'whatsapp', 'seed-' || id, 'customer', 'x', ''::bytea, 'hello', $4, $4 FROM s",
    )
    .bind(tenant)
    .bind(&ids)
    .bind(n)
    .bind(store.now())
    .execute(store.pool())
    .await
    .unwrap();
    ids
}

/// A viewer who is the user `me`.
pub fn viewer(me: Uuid) -> inbox_conversation::store::Viewer {
    inbox_conversation::store::Viewer::person(me)
}

/// A gRPC request as the interceptor hands it to a handler: `user` acting with `role`, seeing
/// what `visibility` allows.
pub fn call<T>(
    tenant: Uuid,
    role: inbox_service::Role,
    user: Uuid,
    visibility: inbox_service::Visibility,
    message: T,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(inbox_service::CallContext {
        tenant_id: tenant,
        principal: format!("user:{user}"),
        role,
    });
    request.extensions_mut().insert(visibility);
    request
}

/// Stores an agent's reply (or note) by `author` (`user:<id>`) at the store's clock, with the
/// send guard `last_seen` when given.
pub async fn reply(
    store: &ConversationStore,
    tenant: Uuid,
    conversation: Uuid,
    author: &str,
    body: &str,
    note: bool,
    last_seen: Option<Uuid>,
) -> Result<inbox_conversation::store::SentReply, inbox_conversation::store::StoreError> {
    let (content, key) = (text(body), Uuid::now_v7().to_string());
    let reply = inbox_conversation::store::NewReply {
        conversation_id: conversation,
        author,
        content: &content,
        internal_note: note,
        idempotency_key: &key,
        last_seen,
    };
    Ok(store.send_reply(tenant, &reply).await?.expect("the conversation exists"))
}

/// Stores a customer message that must be new; returns it (and its conversation).
pub async fn customer_message(
    store: &ConversationStore,
    tenant: Uuid,
    from: &str,
    body: &str,
) -> (ConversationRow, inbox_conversation::store::MessageRow) {
    let inbound = whatsapp_now(store, tenant, from, &format!("wamid.{}", Uuid::now_v7()), body);
    match store.append_inbound_message(tenant, &inbound).await.unwrap() {
        Appended::Stored { conversation, message, .. } => (conversation, message),
        Appended::Duplicate => panic!("unexpected duplicate"),
    }
}

/// An export as a client receives it whole.
#[derive(Debug)]
pub struct ExportedFile {
    pub content_type: String,
    pub filename: String,
    pub content: Vec<u8>,
    /// How many chunks carried it.
    pub chunks: usize,
}

/// Downloads an export: its start, every chunk in order, and its end, whose size must match.
/// `Err` for a refusal, or for a stream that fails before its end.
pub async fn export_file(
    api: &inbox_conversation::api::ExportsApi,
    request: tonic::Request<inbox_proto::conversation::v1::ExportConversationsRequest>,
) -> Result<ExportedFile, tonic::Status> {
    use futures::StreamExt;
    use inbox_proto::conversation::v1::export_conversations_response::Part;
    use inbox_proto::conversation::v1::exports_server::Exports;

    let mut parts = api.export_conversations(request).await?.into_inner();
    let start = match parts.next().await.map(|p| p.map(|p| p.part)) {
        Some(Ok(Some(Part::Start(start)))) => start,
        other => panic!("an export starts with its name and type, not {other:?}"),
    };
    let mut file =
        ExportedFile { content_type: start.content_type, filename: start.filename, content: Vec::new(), chunks: 0 };
    while let Some(part) = parts.next().await {
        match part?.part {
            Some(Part::Chunk(chunk)) => {
                assert!(!chunk.is_empty() && chunk.len() <= 64 * 1024, "a chunk of {} bytes", chunk.len());
                file.content.extend(chunk);
                file.chunks += 1;
            }
            Some(Part::End(end)) => {
                assert_eq!(end.size_bytes, file.content.len() as u64, "the end names the file's size");
                assert!(parts.next().await.is_none(), "nothing follows the end");
                return Ok(file);
            }
            other => panic!("unexpected part {other:?}"),
        }
    }
    panic!("the stream stopped without an error and without its end")
}
