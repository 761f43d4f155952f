//! The search service in-process, on its own JetStream server and index directory, fed with
//! the events the conversation service publishes, and asked over gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_config::Secret;
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as conv;
use inbox_proto::events::v1::{ConversationCreated, ConversationDeleted, MessageCreated, StatusChanged};
use inbox_search::Settings;
use inbox_search::proto as pb;
use inbox_search::proto::search_client::SearchClient;
use inbox_service::{CallContext, Listeners, Role, ServiceSettings, Visibility};
use inbox_testkit::service::{ServingStatus, get, grpc_health, sample};
use inbox_testkit::{TestNats, wait_until};
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TOKEN: &str = "search-test-service-token";

fn settings(nats_url: String, index_dir: &Path) -> anyhow::Result<Settings> {
    let env = HashMap::from([
        ("INBOX__NATS__URL".to_owned(), nats_url),
        ("INBOX__SEARCH__INDEX_DIR".to_owned(), index_dir.display().to_string()),
        // Nothing listens there: these tests need neither service.
        ("INBOX__SEARCH__CONVERSATION_URL".to_owned(), "http://127.0.0.1:1".to_owned()),
        ("INBOX__SEARCH__ROUTING_URL".to_owned(), "http://127.0.0.1:1".to_owned()),
        ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), TOKEN.to_owned()),
        ("INBOX__LOG__LEVEL".to_owned(), "warn".to_owned()),
        ("INBOX__LOG__FORMAT".to_owned(), "json".to_owned()),
    ]);
    let settings: Settings = inbox_config::load(Settings::DEFAULTS, None, &env)?;
    settings.validate()?;
    Ok(settings)
}

/// A running search service.
struct Search {
    http: String,
    /// The admin listener's base URL: `/metrics`.
    admin: String,
    grpc: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), inbox_service::RunError>>,
}

impl Search {
    async fn start(nats: &TestNats, index_dir: &Path) -> anyhow::Result<Search> {
        let listeners = Listeners::ephemeral().await?;
        let (http, grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
        let admin = format!("http://{}", listeners.admin.local_addr()?);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(inbox_search::run(settings(nats.url(), index_dir)?, listeners, shutdown.clone()));
        let search = Search { http: format!("http://{http}"), admin, grpc, shutdown, task };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let ready = wait_until(Duration::from_secs(30), || async {
            get(&client, format!("{}/readyz", search.http)).await.filter(|(status, _)| *status == 200)
        })
        .await;
        anyhow::ensure!(ready.is_some(), "/readyz did not answer 200 within 30 s");
        Ok(search)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .context("run did not return within 10 s")???;
        Ok(())
    }

    async fn client(&self) -> anyhow::Result<SearchClient<tonic::transport::Channel>> {
        Ok(SearchClient::connect(format!("http://{}", self.grpc)).await?)
    }
}

/// A gRPC request as the gateway sends it: the tenant, the person, their visibility.
fn request<T>(tenant: Uuid, role: Role, visibility: &Visibility, message: T) -> tonic::Request<T> {
    let ctx = CallContext { tenant_id: tenant, principal: format!("user:{}", Uuid::now_v7()), role };
    let mut request = ctx.request(message, &Secret::new(TOKEN)).expect("metadata");
    visibility.write_to(request.metadata_mut()).expect("visibility");
    request
}

/// A conversation as the conversation service would describe it in its events.
#[derive(Clone)]
struct Conversation {
    proto: conv::Conversation,
}

impl Conversation {
    fn new(tenant: Uuid, name: &str, phone: &str) -> Self {
        let now = Utc::now();
        Self {
            proto: conv::Conversation {
                id: Uuid::now_v7().to_string(),
                tenant_id: tenant.to_string(),
                channel: Channel::Whatsapp as i32,
                channel_account_id: "acc".into(),
                contact: Some(conv::Contact {
                    id: Uuid::now_v7().to_string(),
                    tenant_id: tenant.to_string(),
                    display_name: name.into(),
                    created_at: Some(inbox_proto::timestamp_from(now)),
                    updated_at: Some(inbox_proto::timestamp_from(now)),
                    segment: String::new(),
                }),
                customer_address: phone.into(),
                status: conv::ConversationStatus::Active as i32,
                priority: conv::Priority::Normal as i32,
                version: 1,
                created_at: Some(inbox_proto::timestamp_from(now)),
                last_message_at: Some(inbox_proto::timestamp_from(now)),
                ..Default::default()
            },
        }
    }

    fn id(&self) -> &str {
        &self.proto.id
    }

    fn tenant(&self) -> String {
        self.proto.tenant_id.clone()
    }

    /// The next version of the conversation.
    fn next(&mut self, edit: impl FnOnce(&mut conv::Conversation)) -> conv::Conversation {
        self.proto.version += 1;
        edit(&mut self.proto);
        self.proto.clone()
    }

    fn message(&mut self, sender: conv::SenderKind, text: &str, sent_at: DateTime<Utc>) -> (String, Payload) {
        let conversation = self.next(|c| c.last_message_at = Some(inbox_proto::timestamp_from(sent_at)));
        let message = conv::Message {
            id: Uuid::now_v7().to_string(),
            tenant_id: self.tenant(),
            conversation_id: self.id().to_owned(),
            channel: Channel::Whatsapp as i32,
            external_id: format!("wamid.{}", Uuid::new_v4().simple()),
            sender_kind: sender as i32,
            content: Some(MessageContent { kind: Some(Kind::Text(TextContent { body: text.into() })), reply_to: None }),
            sent_at: Some(inbox_proto::timestamp_from(sent_at)),
            ..Default::default()
        };
        let payload =
            Payload::MessageCreated(MessageCreated { message: Some(message), conversation: Some(conversation) });
        ("message.created".into(), payload)
    }
}

async fn publish(bus: &Bus, tenant: &str, (kind, payload): (String, Payload)) -> anyhow::Result<String> {
    let id = Uuid::now_v7().to_string();
    bus.publish(&subjects::event(tenant, &kind), &new_envelope(&id, tenant, payload)).await?;
    Ok(id)
}

fn ids_of(response: &pb::SearchConversationsResponse) -> Vec<String> {
    response.hits.iter().filter_map(|h| h.conversation.as_ref().map(|c| c.id.clone())).collect()
}

async fn search(
    client: &mut SearchClient<tonic::transport::Channel>,
    tenant: Uuid,
    visibility: &Visibility,
    query: &str,
) -> anyhow::Result<pb::SearchConversationsResponse> {
    let message = pb::SearchConversationsRequest { query: query.into(), with_facets: true, ..Default::default() };
    Ok(client.search_conversations(request(tenant, Role::Agent, visibility, message)).await?.into_inner())
}

/// Waits until `query` finds exactly `want` conversations.
async fn wait_for(
    client: &SearchClient<tonic::transport::Channel>,
    tenant: Uuid,
    query: &str,
    want: usize,
) -> Option<pb::SearchConversationsResponse> {
    wait_until(Duration::from_secs(20), || {
        let mut client = client.clone();
        async move {
            let found = search(&mut client, tenant, &Visibility::All, query).await.ok()?;
            (found.hits.len() == want).then_some(found)
        }
    })
    .await
}

#[tokio::test]
async fn events_become_searchable_once_each_and_every_operator_finds_them() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let data = tempfile::tempdir()?;
    let index_dir = data.path().join("search");
    let service = Search::start(&nats, &index_dir).await?;
    let version = format!("v{}", inbox_search::index::schema::SCHEMA_VERSION);
    assert!(index_dir.join(version).is_dir(), "the index directory is created at start");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    assert_eq!(get(&http, format!("{}/healthz", service.http)).await.map(|(s, _)| s), Some(200));
    assert_eq!(grpc_health(service.grpc).await?, ServingStatus::Serving);

    let bus = Bus::connect(&nats.url(), "search-test").await?;
    let tenant = Uuid::now_v7();
    let t = tenant.to_string();
    let now = Utc::now();
    let mut ana = Conversation::new(tenant, "Ana Souza", "15551234567");
    let mut bob = Conversation::new(tenant, "Bob Martin", "15557654321");
    publish(
        &bus,
        &t,
        (
            "conversation.created".into(),
            Payload::ConversationCreated(ConversationCreated { conversation: Some(ana.proto.clone()) }),
        ),
    )
    .await?;
    publish(
        &bus,
        &t,
        ana.message(conv::SenderKind::Customer, "My refund request was ignored, I want my money back", now),
    )
    .await?;
    publish(&bus, &t, ana.message(conv::SenderKind::Agent, "We sent the refund today", now)).await?;
    let late_delivery = bob.message(conv::SenderKind::Customer, "The delivery is late again", now);
    let event_id = publish(&bus, &t, late_delivery.clone()).await?;
    // The same event once more, after JetStream's duplicate window: indexed once all the same.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{event_id}-redelivered").as_str());
    let envelope = new_envelope(&event_id, &t, late_delivery.1.clone());
    bus.jetstream()
        .publish_with_headers(subjects::event(&t, "message.created"), headers, envelope.encode_to_vec().into())
        .await?
        .await?;
    let resolved = bob.next(|c| c.status = conv::ConversationStatus::Resolved as i32);
    publish(
        &bus,
        &t,
        (
            "conversation.status_changed".into(),
            Payload::StatusChanged(StatusChanged { conversation: Some(resolved), change: None }),
        ),
    )
    .await?;

    let client = service.client().await?;
    let refunds = wait_for(&client, tenant, "refunds ", 1).await.context("refund is searchable")?;
    assert_eq!(ids_of(&refunds), vec![ana.id().to_owned()]);
    let best = refunds.hits[0].best_message.as_ref().context("a best message")?;
    let h = best.highlight.as_ref().context("a highlight")?;
    let marked: Vec<&str> = h.ranges.iter().map(|r| &h.fragment[r.start as usize..r.end as usize]).collect();
    assert!(marked.iter().all(|m| m.eq_ignore_ascii_case("refund")), "{marked:?} in {:?}", h.fragment);
    assert_eq!(
        wait_for(&client, tenant, "status:resolved", 1).await.map(|r| ids_of(&r)),
        Some(vec![bob.id().to_owned()])
    );

    let mut c = client.clone();
    let all = Visibility::All;
    assert_eq!(ids_of(&search(&mut c, tenant, &all, "delivery ").await?), vec![bob.id().to_owned()], "once, not twice");
    assert_eq!(ids_of(&search(&mut c, tenant, &all, "\"refund request\"").await?), vec![ana.id().to_owned()]);
    assert!(search(&mut c, tenant, &all, "\"request refund\"").await?.hits.is_empty(), "a phrase keeps its order");
    assert_eq!(ids_of(&search(&mut c, tenant, &all, "phone:+1 (555) 123-4567").await?), vec![ana.id().to_owned()]);
    assert_eq!(ids_of(&search(&mut c, tenant, &all, "name:bob").await?), vec![bob.id().to_owned()]);
    assert_eq!(ids_of(&search(&mut c, tenant, &all, "money -delivery").await?), vec![ana.id().to_owned()]);
    assert_eq!(ids_of(&search(&mut c, tenant, &all, "mon").await?), vec![ana.id().to_owned()], "type-ahead");
    let open = search(&mut c, tenant, &all, "status:open channel:whatsapp").await?;
    assert_eq!(ids_of(&open), vec![ana.id().to_owned()]);
    let everything = search(&mut c, tenant, &all, "").await?;
    let facets = everything.facets.context("facets")?;
    assert_eq!(facets.total, 2);
    assert_eq!(facets.by_status.len(), 2);
    assert_eq!(everything.understood_query, "");

    // Deleted conversations leave the index, messages and all.
    publish(
        &bus,
        &t,
        (
            "conversation.deleted".into(),
            Payload::ConversationDeleted(ConversationDeleted { conversation_id: bob.id().to_owned() }),
        ),
    )
    .await?;
    assert!(wait_for(&client, tenant, "delivery ", 0).await.is_some());

    let metrics = get(&http, format!("{}/metrics", service.admin)).await.context("metrics")?.1;
    let counted = sample(&metrics, "inbox_search_events_total", &[r#"kind="message.created""#]);
    assert!(counted.is_some_and(|n| n >= 4.0), "both deliveries of the repeated event are consumed: {counted:?}");
    service.stop().await
}

#[tokio::test]
async fn bad_syntax_is_refused_naming_its_column() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let data = tempfile::tempdir()?;
    let service = Search::start(&nats, &data.path().join("search")).await?;
    let mut client = service.client().await?;
    let tenant = Uuid::now_v7();
    for (query, column) in [("refund phon:123", 8), ("\"late delivery", 1), ("status:done", 8), ("on:2026-13-01", 4)] {
        let message = pb::SearchConversationsRequest { query: query.into(), ..Default::default() };
        let status = client
            .search_conversations(request(tenant, Role::Agent, &Visibility::All, message))
            .await
            .expect_err(query);
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{query}");
        assert!(status.message().contains(&format!("column {column}:")), "{query}: {}", status.message());
    }
    let unauthenticated = client
        .search_conversations(tonic::Request::new(pb::SearchConversationsRequest::default()))
        .await
        .expect_err("no service token");
    assert_eq!(unauthenticated.code(), tonic::Code::Unauthenticated);
    service.stop().await
}

#[tokio::test]
async fn no_query_returns_another_tenants_or_another_teams_conversations() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let data = tempfile::tempdir()?;
    let service = Search::start(&nats, &data.path().join("search")).await?;
    let bus = Bus::connect(&nats.url(), "search-test").await?;
    let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let (my_team, other_team) = (Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let mut visible = Conversation::new(mine, "Same Name", "15550001111");
    let mut hidden = Conversation::new(mine, "Same Name", "15550001111");
    let mut rival = Conversation::new(theirs, "Same Name", "15550001111");
    for c in [&mut visible, &mut hidden, &mut rival] {
        let tenant = c.tenant();
        publish(&bus, &tenant, c.message(conv::SenderKind::Customer, "confidential invoice dispute", now)).await?;
    }
    let team_of_visible = visible.next(|c| c.team_id = my_team.to_string());
    let team_of_hidden = hidden.next(|c| c.team_id = other_team.to_string());
    for c in [team_of_visible, team_of_hidden] {
        publish(
            &bus,
            &mine.to_string(),
            (
                "conversation.assigned".into(),
                Payload::AssignmentChanged(inbox_proto::events::v1::AssignmentChanged {
                    conversation: Some(c),
                    ..Default::default()
                }),
            ),
        )
        .await?;
    }
    let client = service.client().await?;
    wait_for(&client, mine, &format!("team:{other_team}"), 1).await.context("assignments indexed")?;
    wait_for(&client, theirs, "invoice ", 1).await.context("the other tenant indexed")?;

    let scoped = Visibility::Teams { team_ids: vec![my_team], assignee: None };
    let mut c = client.clone();
    let queries = vec![
        "invoice ".to_owned(),
        "\"invoice dispute\"".into(),
        "phone:15550001111".into(),
        "name:\"same name\"".into(),
        "".into(),
        "conf".into(),
        format!("id:{}", rival.id()),
        format!("id:{}", hidden.id()),
        rival.id().to_owned(),
        format!("team:{other_team}"),
        format!("{theirs}"),
        "status:active,pending,resolved,archived".into(),
        "-nothing".into(),
    ];
    for q in &queries {
        let found = ids_of(&search(&mut c, mine, &scoped, q).await?);
        assert!(found.iter().all(|id| id == visible.id()), "{q:?} leaked {found:?}");
        let everyone = ids_of(&search(&mut c, mine, &Visibility::All, q).await?);
        assert!(!everyone.contains(&rival.id().to_owned()), "{q:?} crossed tenants");
    }
    assert_eq!(ids_of(&search(&mut c, mine, &scoped, "invoice ").await?), vec![visible.id().to_owned()]);
    assert_eq!(ids_of(&search(&mut c, theirs, &Visibility::All, "invoice ").await?), vec![rival.id().to_owned()]);
    service.stop().await
}

#[tokio::test]
async fn the_index_survives_a_restart_and_a_late_older_event_changes_nothing() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let data = tempfile::tempdir()?;
    let dir = data.path().join("search");
    let service = Search::start(&nats, &dir).await?;
    let bus = Bus::connect(&nats.url(), "search-test").await?;
    let tenant = Uuid::now_v7();
    let t = tenant.to_string();
    let mut c = Conversation::new(tenant, "Ana", "15551234567");
    let message = c.message(conv::SenderKind::Customer, "parcel missing", Utc::now());
    let archived = c.next(|c| c.status = conv::ConversationStatus::Archived as i32);
    // The newer state arrives first, then the older one.
    publish(
        &bus,
        &t,
        (
            "conversation.status_changed".into(),
            Payload::StatusChanged(StatusChanged { conversation: Some(archived), change: None }),
        ),
    )
    .await?;
    publish(&bus, &t, message).await?;
    let client = service.client().await?;
    wait_for(&client, tenant, "parcel status:archived", 1).await.context("archived and searchable")?;
    service.stop().await?;

    let service = Search::start(&nats, &dir).await?;
    let mut client = service.client().await?;
    let found = search(&mut client, tenant, &Visibility::All, "parcel status:archived").await?;
    assert_eq!(ids_of(&found), vec![c.id().to_owned()], "archived conversations stay searchable after a restart");
    service.stop().await
}
