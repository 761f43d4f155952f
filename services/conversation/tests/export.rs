//! Downloading conversation history, from conversations stored in a real PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::StreamExt;
use inbox_conversation::api::{ExportsApi, MAX_EXPORTS_AT_ONCE};
use inbox_conversation::domain::TenantSettings;
use inbox_conversation::store::{Appended, ConversationRow, ConversationStore, NewReply};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::export_conversations_response::Part;
use inbox_proto::conversation::v1::exports_client::ExportsClient;
use inbox_proto::conversation::v1::exports_server::{Exports, ExportsServer};
use inbox_service::{CallContext, Role};
use inbox_testkit::{TestDatabase, wait_until};
use tonic::{Code, Request};
use uuid::Uuid;

mod common;
use common::{export_file, text, whatsapp_at};

fn as_role<T>(tenant: Uuid, role: Role, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(CallContext { tenant_id: tenant, principal: "user:sarah".into(), role });
    request
}

/// When Ana writes: 13:05 UTC on 24 November 2026 (14:05 in Paris).
fn ana_writes_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 13, 5, 0).unwrap()
}

/// A store whose clock stands a quarter of an hour after Ana wrote: the agents answer within
/// WhatsApp's 24-hour window whatever the date the test runs.
async fn store() -> (TestDatabase, ConversationStore) {
    common::store_at(ana_writes_at() + Duration::minutes(15)).await
}

/// Ana writes at [`ana_writes_at`].
async fn ana_writes(store: &ConversationStore, tenant: Uuid, from: &str, wamid: &str, body: &str) -> ConversationRow {
    let inbound = whatsapp_at(tenant, from, wamid, body, ana_writes_at());
    match store.append_inbound_message(tenant, &inbound).await.unwrap() {
        Appended::Stored { conversation, .. } => conversation,
        Appended::Duplicate => panic!("unexpected duplicate"),
    }
}

async fn agent_sends(store: &ConversationStore, tenant: Uuid, conversation: Uuid, body: &str, note: bool, key: &str) {
    let content = text(body);
    let reply = NewReply {
        conversation_id: conversation,
        author: "user:sarah",
        content: &content,
        internal_note: note,
        idempotency_key: key,
        last_seen: None,
    };
    store.send_reply(tenant, &reply).await.unwrap().expect("conversation exists");
}

fn export(tenant: Uuid, role: Role, ids: &[Uuid], format: pb::ExportFormat) -> Request<pb::ExportConversationsRequest> {
    as_role(
        tenant,
        role,
        pb::ExportConversationsRequest {
            conversation_ids: ids.iter().map(Uuid::to_string).collect(),
            format: format as i32,
            sender_names: HashMap::from([("user:sarah".to_owned(), "Sarah".to_owned())]),
        },
    )
}

#[tokio::test]
async fn a_stored_conversation_downloads_as_a_transcript_csv_and_json_in_the_tenant_zone() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    store
        .set_tenant_settings(tenant, &TenantSettings::parse("Europe/Paris", "Acme", 0.6, "One moment").unwrap())
        .await
        .unwrap();
    let conversation = ana_writes(&store, tenant, "15551230001", "w1", "Hello, my order has not arrived").await;
    agent_sends(&store, tenant, conversation.id, "Check the order in the CRM", true, "n1").await;
    agent_sends(&store, tenant, conversation.id, "It ships today, sorry!\nTracking: \"XY-1\"", false, "r1").await;
    let api = ExportsApi::new(store.clone());

    let file =
        export_file(&api, export(tenant, Role::Agent, &[conversation.id], pb::ExportFormat::Text)).await.unwrap();
    assert_eq!(file.content_type, "text/plain; charset=utf-8");
    assert_eq!(file.filename, format!("conversation-{}.txt", conversation.id));
    let transcript = String::from_utf8(file.content).unwrap();
    assert!(transcript.starts_with("Conversation with Ana (15551230001)\n"), "{transcript}");
    assert!(transcript.contains("Channel: WhatsApp | Status: active"));
    assert!(transcript.contains("Time zone: Europe/Paris"));
    assert!(transcript.contains("[2026-11-24 14:05] Ana (customer, WhatsApp): Hello, my order has not arrived\n"));
    assert!(transcript.contains("] Sarah (agent) [internal note]: Check the order in the CRM\n"));
    assert!(transcript.contains("] Sarah (agent): It ships today, sorry!\n    Tracking: \"XY-1\"\n"));

    let csv = export_file(&api, export(tenant, Role::Agent, &[conversation.id], pb::ExportFormat::Csv)).await.unwrap();
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(csv.content.as_slice());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "one row per message, notes included");
    assert_eq!(&rows[0][0], conversation.id.to_string().as_str());
    assert_eq!(&rows[0][3], "2026-11-24T14:05:00+01:00");
    assert_eq!((&rows[1][5], &rows[1][6]), ("Sarah", "true"));
    assert_eq!(&rows[2][8], "It ships today, sorry!\nTracking: \"XY-1\"");

    let json =
        export_file(&api, export(tenant, Role::Agent, &[conversation.id], pb::ExportFormat::Json)).await.unwrap();
    assert_eq!(json.content_type, "application/json");
    let value: serde_json::Value = serde_json::from_slice(&json.content).unwrap();
    assert_eq!(value["customer"]["name"], "Ana");
    assert_eq!(value["status"], "active");
    assert_eq!(value["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(value["messages"][0]["sent_at"], "2026-11-24T14:05:00+01:00");
    assert!(value["messages"][2]["sent_at"].as_str().unwrap().ends_with("+01:00"), "in the tenant's zone");
}

#[tokio::test]
async fn a_long_conversation_is_exported_whole_and_in_order() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = ana_writes(&store, tenant, "15551230001", "w0", "first").await;
    for i in 1..=250 {
        agent_sends(&store, tenant, conversation.id, &format!("reply {i}"), false, &format!("k{i}")).await;
    }
    let api = ExportsApi::new(store.clone());
    let csv = export_file(&api, export(tenant, Role::Agent, &[conversation.id], pb::ExportFormat::Csv)).await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.content.as_slice());
    let texts: Vec<String> = reader.records().map(|r| r.unwrap()[8].to_owned()).collect();
    let expected: Vec<String> =
        std::iter::once("first".to_owned()).chain((1..=250).map(|i| format!("reply {i}"))).collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn an_agent_exports_one_conversation_and_bulk_exports_need_a_supervisor() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let first = ana_writes(&store, tenant, "15551230001", "w1", "Hello").await;
    let second = ana_writes(&store, tenant, "15551230002", "w2", "Hi there").await;
    let api = ExportsApi::new(store.clone());

    let denied = export_file(&api, export(tenant, Role::Agent, &[first.id, second.id], pb::ExportFormat::Json))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let file =
        export_file(&api, export(tenant, Role::Supervisor, &[second.id, first.id, second.id], pb::ExportFormat::Json))
            .await
            .unwrap();
    assert!(file.filename.starts_with("conversations-") && file.filename.ends_with(".json"));
    let value: serde_json::Value = serde_json::from_slice(&file.content).unwrap();
    let ids: Vec<&str> = value.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.id.to_string(), first.id.to_string()], "in the order asked, each once");
}

#[tokio::test]
async fn an_unknown_or_another_tenants_conversation_is_not_found_naming_it() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let ours = ana_writes(&store, tenant, "15551230001", "w1", "Hello").await;
    let theirs = ana_writes(&store, Uuid::new_v4(), "15551230009", "w9", "Secret").await;
    let api = ExportsApi::new(store.clone());

    let err = export_file(&api, export(tenant, Role::Admin, &[ours.id, theirs.id], pb::ExportFormat::Text))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains(&theirs.id.to_string()), "{}", err.message());

    let bad = export_file(
        &api,
        as_role(
            tenant,
            Role::Agent,
            pb::ExportConversationsRequest {
                conversation_ids: vec![ours.id.to_string()],
                format: pb::ExportFormat::Unspecified as i32,
                sender_names: HashMap::new(),
            },
        ),
    )
    .await
    .unwrap_err();
    assert_eq!((bad.code(), bad.message()), (Code::InvalidArgument, "format must be json, csv or text"));
    let too_many: Vec<Uuid> = (0..1001).map(|_| Uuid::new_v4()).collect();
    let err = export_file(&api, export(tenant, Role::Admin, &too_many, pb::ExportFormat::Csv)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("1000"));
}

/// The text of Ana's `i`th reply in a long conversation: about three kilobytes.
fn long_reply(i: usize) -> String {
    format!("reply {i} {}", "x".repeat(3000))
}

/// A conversation of 1,101 messages of about three kilobytes each (Ana's first, then the
/// replies): more than a page of messages, and a file of over 3 MB, far more than an export
/// holds in flight or HTTP/2 buffers between a gRPC server and its client.
async fn long_conversation(store: &ConversationStore, tenant: Uuid) -> ConversationRow {
    let conversation = ana_writes(store, tenant, "15551230000", "w-long", "first").await;
    for i in 1..=1100 {
        agent_sends(store, tenant, conversation.id, &long_reply(i), false, &format!("long-{i}")).await;
    }
    conversation
}

#[tokio::test]
async fn a_large_export_arrives_complete_and_in_order_in_bounded_chunks() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let long = long_conversation(&store, tenant).await;
    // More conversations than one page of them, asked for out of creation order.
    let mut short = Vec::new();
    for n in 0..120 {
        let from = format!("1555124{n:04}");
        short.push(ana_writes(&store, tenant, &from, &format!("w-{n}"), &format!("hello from {n}")).await);
    }
    let mut ids: Vec<Uuid> = short.iter().rev().map(|c| c.id).collect();
    ids.insert(60, long.id);
    let api = ExportsApi::new(store.clone());

    let file = export_file(&api, export(tenant, Role::Supervisor, &ids, pb::ExportFormat::Csv)).await.unwrap();
    assert!(file.chunks > 10, "streamed in {} chunks", file.chunks);
    let mut reader = csv::Reader::from_reader(file.content.as_slice());
    let rows: Vec<(String, String)> =
        reader.records().map(Result::unwrap).map(|r| (r[0].to_owned(), r[8].to_owned())).collect();
    let expected: Vec<(String, String)> = ids
        .iter()
        .flat_map(|id| -> Vec<(String, String)> {
            if *id == long.id {
                std::iter::once("first".to_owned())
                    .chain((1..=1100).map(long_reply))
                    .map(|t| (id.to_string(), t))
                    .collect()
            } else {
                let n = short.iter().position(|c| c.id == *id).unwrap();
                vec![(id.to_string(), format!("hello from {n}"))]
            }
        })
        .collect();
    assert_eq!(rows.len(), expected.len());
    assert!(rows == expected, "every message of every conversation, in the order asked and sent");

    let json = export_file(&api, export(tenant, Role::Supervisor, &ids, pb::ExportFormat::Json)).await.unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.content).unwrap();
    let conversations = value.as_array().unwrap();
    assert_eq!(conversations.len(), 121);
    assert_eq!(conversations[60]["messages"].as_array().map(Vec::len), Some(1101));
    assert_eq!(conversations[60]["messages"][1100]["text"], long_reply(1100));
}

#[tokio::test]
async fn an_export_that_fails_midway_ends_with_an_error_not_a_shorter_file() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let long = long_conversation(&store, tenant).await;
    // Over real gRPC, as the gateway receives it.
    let caller = CallContext { tenant_id: tenant, principal: "user:sarah".into(), role: Role::Agent };
    let server = ExportsServer::with_interceptor(ExportsApi::new(store.clone()), move |mut request: Request<()>| {
        request.extensions_mut().insert(caller.clone());
        Ok(request)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(tonic::transport::Server::builder().add_service(server).serve_with_incoming(incoming));
    let mut client = ExportsClient::connect(format!("http://{address}")).await.unwrap();
    let request = pb::ExportConversationsRequest {
        conversation_ids: vec![long.id.to_string()],
        format: pb::ExportFormat::Text as i32,
        sender_names: HashMap::new(),
    };
    let mut parts = client.export_conversations(request).await.unwrap().into_inner();
    let mut received = 0;
    for _ in 0..2 {
        match parts.next().await.unwrap().unwrap().part {
            Some(Part::Start(_)) => {}
            Some(Part::Chunk(chunk)) => received += chunk.len(),
            other => panic!("{other:?}"),
        }
    }

    // The export waits for its client with its snapshot open; the database drops it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'idle in transaction'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        if ended.contains(&true) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the export never waited for its client");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let mut failure = None;
    while let Some(part) = parts.next().await {
        match part {
            Ok(pb::ExportConversationsResponse { part: Some(Part::Chunk(chunk)) }) => received += chunk.len(),
            Ok(other) => panic!("only chunks before the failure, not {other:?}"),
            Err(status) => {
                failure = Some(status);
                break;
            }
        }
    }
    let failure = failure.expect("the stream ends with an error");
    assert!(matches!(failure.code(), Code::Internal | Code::Unavailable), "{failure:?}");
    assert!(parts.next().await.is_none(), "nothing after the error");
    assert!(received < 1100 * 3000, "only part of the file came: {received} bytes");
}

#[tokio::test]
async fn at_most_four_exports_run_at_once_and_another_starts_once_one_ends() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let long = long_conversation(&store, tenant).await;
    let api = ExportsApi::new(store.clone());
    let request = || export(tenant, Role::Agent, &[long.id], pb::ExportFormat::Csv);
    // Four clients that read nothing yet: each export waits for its client.
    let mut running = Vec::new();
    for _ in 0..MAX_EXPORTS_AT_ONCE {
        running.push(api.export_conversations(request()).await.unwrap().into_inner());
    }
    match api.export_conversations(request()).await {
        Err(refused) => assert_eq!(refused.code(), Code::Unavailable, "{refused:?}"),
        Ok(_) => panic!("a fifth export at once is refused"),
    }
    // A client that goes away ends its export, and another can start.
    drop(running.pop());
    let started =
        wait_until(std::time::Duration::from_secs(10), || async { api.export_conversations(request()).await.ok() })
            .await;
    assert!(started.is_some(), "an export starts once one of the four ended");
}
