//! Search with the real conversation service (in-process, its own database): history the
//! stream no longer holds comes back by a reindex while live traffic flows, customers' whole
//! profiles follow their updates, and a customer merged away leaves the index.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use inbox_bus::{Bus, Payload, Stream, new_envelope, subjects};
use inbox_config::Secret;
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as conv;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::conversation::v1::customers_client::CustomersClient;
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_search::proto as pb;
use inbox_search::proto::search_client::SearchClient;
use inbox_service::{CallContext, Listeners, Role, ServiceSettings, Visibility};
use inbox_testkit::service::get;
use inbox_testkit::{TestDatabase, TestNats, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TOKEN: &str = "search-rebuild-service-token";

struct Running {
    grpc: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), inbox_service::RunError>>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

async fn wait_ready(http: std::net::SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let ready = wait_until(Duration::from_secs(60), || async {
        get(&client, format!("http://{http}/readyz")).await.filter(|(s, _)| *s == 200)
    })
    .await;
    anyhow::ensure!(ready.is_some(), "not ready within 60 s");
    Ok(())
}

fn env(pairs: &[(&str, String)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    env.insert("INBOX__AUTH__SERVICE_TOKEN".into(), TOKEN.into());
    env.insert("INBOX__LOG__LEVEL".into(), "warn".into());
    env
}

async fn start_conversation(db: &TestDatabase, nats: &TestNats) -> anyhow::Result<Running> {
    let settings: inbox_conversation::Settings = inbox_config::load(
        inbox_conversation::Settings::DEFAULTS,
        None,
        &env(&[("INBOX__POSTGRES__URL", db.url()), ("INBOX__NATS__URL", nats.url())]),
    )?;
    settings.validate()?;
    let listeners = Listeners::ephemeral().await?;
    let (http, grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(inbox_conversation::run(settings, listeners, shutdown.clone()));
    wait_ready(http).await?;
    Ok(Running { grpc, shutdown, task })
}

async fn start_search(
    nats: &TestNats,
    dir: &std::path::Path,
    conversation: std::net::SocketAddr,
) -> anyhow::Result<Running> {
    let settings: inbox_search::Settings = inbox_config::load(
        inbox_search::Settings::DEFAULTS,
        None,
        &env(&[
            ("INBOX__NATS__URL", nats.url()),
            ("INBOX__SEARCH__INDEX_DIR", dir.display().to_string()),
            ("INBOX__SEARCH__CONVERSATION_URL", format!("http://{conversation}")),
            ("INBOX__SEARCH__ROUTING_URL", "http://127.0.0.1:1".into()),
        ]),
    )?;
    settings.validate()?;
    let listeners = Listeners::ephemeral().await?;
    let (http, grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(inbox_search::run(settings, listeners, shutdown.clone()));
    wait_ready(http).await?;
    Ok(Running { grpc, shutdown, task })
}

fn request<T>(tenant: Uuid, role: Role, message: T) -> tonic::Request<T> {
    let principal = if role == Role::Operator { "operator".to_owned() } else { format!("user:{}", Uuid::now_v7()) };
    let ctx = CallContext { tenant_id: tenant, principal, role };
    let mut request = ctx.request(message, &Secret::new(TOKEN)).unwrap();
    Visibility::All.write_to(request.metadata_mut()).unwrap();
    request
}

/// The customer at `phone` writes `text` (a message the conversation service stores once).
async fn customer_writes(bus: &Bus, tenant: Uuid, phone: &str, name: &str, text: &str) -> anyhow::Result<()> {
    let external_id = format!("wamid.{}", Uuid::new_v4().simple());
    let inbound = InboundMessage {
        tenant_id: tenant.to_string(),
        channel: Channel::Whatsapp as i32,
        channel_account_id: "acc".into(),
        external_id: external_id.clone(),
        sent_at: Some(inbox_proto::timestamp_from(chrono::Utc::now())),
        sender: Some(Sender { address: phone.into(), display_name: name.into() }),
        content: Some(MessageContent { kind: Some(Kind::Text(TextContent { body: text.into() })), reply_to: None }),
        raw_payload_id: String::new(),
        visitor: None,
    };
    let envelope = new_envelope(external_id, tenant.to_string(), Payload::InboundMessage(inbound));
    bus.publish(&subjects::ingest(Channel::Whatsapp, &tenant.to_string()), &envelope).await?;
    Ok(())
}

async fn hits(
    search: &mut SearchClient<tonic::transport::Channel>,
    tenant: Uuid,
    query: &str,
) -> anyhow::Result<Vec<String>> {
    let message = pb::SearchConversationsRequest { query: query.into(), limit: 100, ..Default::default() };
    let response = search.search_conversations(request(tenant, Role::Agent, message)).await?.into_inner();
    Ok(response.hits.into_iter().filter_map(|h| h.conversation.map(|c| c.id)).collect())
}

/// Waits until `query` finds `want` conversations.
async fn wait_for(search: &SearchClient<tonic::transport::Channel>, tenant: Uuid, query: &str, want: usize) -> bool {
    wait_until(Duration::from_secs(60), || {
        let mut search = search.clone();
        async move { (hits(&mut search, tenant, query).await.ok()?.len() == want).then_some(()) }
    })
    .await
    .is_some()
}

#[tokio::test]
async fn a_reindex_under_live_traffic_brings_back_what_the_stream_lost_and_profiles_follow() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let db = TestDatabase::create("search_rebuild").await?;
    let conversation = start_conversation(&db, &nats).await?;
    let bus = Bus::connect(&nats.url(), "rebuild-test").await?;
    bus.ensure_streams().await?;
    let tenant = Uuid::now_v7();

    // History: 30 customers, two messages each, stored before any search replica existed...
    let phones: Vec<String> = (0..30).map(|i| format!("1555300{i:04}")).collect();
    for (i, phone) in phones.iter().enumerate() {
        customer_writes(&bus, tenant, phone, &format!("Customer {i}"), &format!("old question token{i}a")).await?;
        customer_writes(&bus, tenant, phone, &format!("Customer {i}"), &format!("old question token{i}b")).await?;
    }
    let conversations = ConversationsClient::new(inbox_service::grpc::client_channel(
        &format!("http://{}", conversation.grpc),
        &inbox_service::grpc::ClientTls::default(),
    )?);
    let stored = wait_until(Duration::from_secs(60), || {
        let mut c = conversations.clone();
        async move {
            let list = conv::ListConversationsRequest {
                page: Some(inbox_proto::common::v1::PageRequest { limit: 200, cursor: String::new() }),
                ..Default::default()
            };
            let page = c.list_conversations(request(tenant, Role::Admin, list)).await.ok()?.into_inner();
            (page.conversations.len() == 30 && page.conversations.iter().all(|c| c.last_message_preview.ends_with('b')))
                .then_some(page.conversations)
        }
    })
    .await
    .context("the conversation service stored the history")?;
    // ...and the stream no longer holds (its retention passed).
    tokio::time::sleep(Duration::from_secs(1)).await; // let the outbox relay publish everything first
    bus.jetstream().get_stream(Stream::Events.name()).await?.purge().await?;

    let dir = tempfile::tempdir()?;
    let search_service = start_search(&nats, &dir.path().join("search"), conversation.grpc).await?;
    let mut search = SearchClient::connect(format!("http://{}", search_service.grpc)).await?;
    assert!(hits(&mut search, tenant, "token0a ").await?.is_empty(), "the history is not in the new index");

    // Live traffic keeps flowing during the reindex.
    let live = Arc::new(AtomicUsize::new(0));
    let stop_live = CancellationToken::new();
    let traffic = tokio::spawn({
        let (bus, phones, live, stop) = (bus.clone(), phones.clone(), live.clone(), stop_live.clone());
        async move {
            while !stop.is_cancelled() {
                let n = live.load(Ordering::SeqCst);
                let phone = &phones[n % phones.len()];
                customer_writes(&bus, tenant, phone, "Customer", &format!("live message livetoken{n}")).await?;
                live.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    let response = search.reindex(request(tenant, Role::Operator, pb::ReindexRequest { all_tenants: false })).await?;
    assert_eq!(response.into_inner().tenant_ids, vec![tenant.to_string()]);
    let done = wait_until(Duration::from_secs(90), || {
        let mut s = search.clone();
        async move {
            let status = s.get_index_status(request(tenant, Role::Admin, pb::GetIndexStatusRequest {})).await.ok()?;
            status.into_inner().rebuilds.into_iter().find(|r| r.state == "done")
        }
    })
    .await
    .context("the rebuild finished")?;
    assert_eq!(done.conversations, 30);
    assert!(done.messages >= 60, "{done:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_live.cancel();
    traffic.await??;
    let sent_live = live.load(Ordering::SeqCst);
    assert!(sent_live > 10, "traffic flowed during the rebuild ({sent_live} messages)");

    // Everything is there once: the history, and every live message.
    assert!(wait_for(&search, tenant, &format!("livetoken{} ", sent_live - 1), 1).await, "the last live message");
    for i in 0..30 {
        for part in ["a", "b"] {
            assert_eq!(hits(&mut search, tenant, &format!("token{i}{part} ")).await?.len(), 1, "token{i}{part}");
        }
    }
    for n in 0..sent_live {
        assert_eq!(hits(&mut search, tenant, &format!("livetoken{n} ")).await?.len(), 1, "livetoken{n}");
    }
    assert_eq!(hits(&mut search, tenant, "question ").await?.len(), 30);

    // A customer's whole profile follows its update: an email added by an agent is searchable.
    let mut customers = CustomersClient::new(inbox_service::grpc::client_channel(
        &format!("http://{}", conversation.grpc),
        &inbox_service::grpc::ClientTls::default(),
    )?);
    let first = &stored[0];
    let first_customer = first.contact.as_ref().context("contact")?.id.clone();
    customers
        .update_customer(request(
            tenant,
            Role::Admin,
            conv::UpdateCustomerRequest {
                customer_id: first_customer.clone(),
                emails: Some(conv::EmailAddressList { values: vec!["ana@example.com".into()] }),
                ..Default::default()
            },
        ))
        .await?;
    assert!(wait_for(&search, tenant, "email:ana@example.com", 1).await, "the email is searchable");
    assert_eq!(hits(&mut search, tenant, "email:ana@example.com").await?, vec![first.id.clone()]);

    // Giving that customer another's phone merges the other into them: the other leaves the
    // customer index, and both conversations are found by the merged customer's email.
    let second = &stored[1];
    let second_phone = format!("+{}", second.customer_address);
    customers
        .update_customer(request(
            tenant,
            Role::Admin,
            conv::UpdateCustomerRequest {
                customer_id: first_customer.clone(),
                phones: Some(conv::PhoneNumberList {
                    values: vec![format!("+{}", first.customer_address), second_phone.clone()],
                }),
                ..Default::default()
            },
        ))
        .await?;
    assert!(
        wait_for(&search, tenant, "email:ana@example.com", 2).await,
        "both conversations are the merged customer's"
    );
    let found = wait_until(Duration::from_secs(30), || {
        let mut s = search.clone();
        let phone = second_phone.clone();
        async move {
            let message = pb::SearchCustomersRequest { query: format!("phone:{phone}"), ..Default::default() };
            let hits = s.search_customers(request(tenant, Role::Agent, message)).await.ok()?.into_inner().hits;
            (hits.len() == 1).then_some(hits)
        }
    })
    .await
    .context("one customer has the phone")?;
    assert_eq!(found[0].customer_id, first_customer);

    search_service.stop().await;
    conversation.stop().await;
    Ok(())
}
