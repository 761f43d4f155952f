//! The metrics service in-process beside the real conversation service, on their own
//! databases and one JetStream server: a WhatsApp customer writes, an agent answers and
//! resolves, and the figures move; a redelivered event changes nothing; agents see their own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_config::Secret;
use inbox_metrics::proto as pb;
use inbox_metrics::proto::metrics_client::MetricsClient;
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as conv;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_service::{CallContext, Listeners, Role, ServiceSettings};
use inbox_testkit::service::{get, sample};
use inbox_testkit::{TestDatabase, TestNats, wait_until};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel as GrpcChannel;
use uuid::Uuid;

const TOKEN: &str = "metrics-test-service-token";

fn env(db: &TestDatabase, nats: &TestNats, extra: &[(&str, String)]) -> HashMap<String, String> {
    let mut env = HashMap::from([
        ("INBOX__POSTGRES__URL".to_owned(), db.url()),
        ("INBOX__POSTGRES__MAX_CONNECTIONS".to_owned(), "4".to_owned()),
        ("INBOX__NATS__URL".to_owned(), nats.url()),
        ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), TOKEN.to_owned()),
        ("INBOX__LOG__LEVEL".to_owned(), "warn".to_owned()),
        ("INBOX__LOG__FORMAT".to_owned(), "json".to_owned()),
    ]);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

async fn ready(http: &reqwest::Client, addr: std::net::SocketAddr) {
    let ready = wait_until(Duration::from_secs(30), || async {
        get(http, format!("http://{addr}/readyz")).await.filter(|(status, _)| *status == 200)
    })
    .await;
    assert!(ready.is_some(), "{addr}/readyz did not answer 200 within 30 s");
}

fn ctx(tenant: Uuid, principal: &str, role: Role) -> CallContext {
    CallContext { tenant_id: tenant, principal: principal.into(), role }
}

fn text(body: &str) -> Option<MessageContent> {
    Some(MessageContent { kind: Some(Kind::Text(TextContent { body: body.into() })), reply_to: None })
}

async fn report(
    metrics: &MetricsClient<GrpcChannel>,
    who: &CallContext,
    group_by: pb::Grouping,
) -> Result<pb::Report, tonic::Status> {
    let now = Utc::now();
    let request = pb::ReportRequest {
        from: Some(inbox_proto::timestamp_from(now - chrono::Duration::days(2))),
        to: Some(inbox_proto::timestamp_from(now + chrono::Duration::days(2))),
        bucket: pb::Bucket::Day as i32,
        group_by: group_by as i32,
        group_ids: vec![],
        totals_only: true,
    };
    Ok(metrics.clone().get_report(who.request(request, &Secret::new(TOKEN))?).await?.into_inner())
}

fn total(report: &pb::Report) -> pb::Figures {
    report.series.first().and_then(|s| s.total.clone()).unwrap_or_default()
}

/// The conversation service (on `conversation_nats`) and metrics (on `metrics_nats`, told where
/// the conversation service is) running in-process on fresh databases, both ready.
struct Services {
    metrics_db: TestDatabase,
    _conversation_db: TestDatabase,
    conversation_grpc: std::net::SocketAddr,
    /// The metrics service's admin listener: `/metrics`.
    metrics_admin: std::net::SocketAddr,
    metrics_grpc: std::net::SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Result<(), inbox_service::RunError>>>,
}

impl Services {
    async fn start(conversation_nats: &TestNats, metrics_nats: &TestNats) -> anyhow::Result<Services> {
        let (conversation_db, metrics_db) =
            (TestDatabase::create("conv").await?, TestDatabase::create("metrics").await?);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let shutdown = CancellationToken::new();
        let listeners = Listeners::ephemeral().await?;
        let (conversation_http, conversation_grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
        let settings: inbox_conversation::Settings = inbox_config::load(
            inbox_conversation::Settings::DEFAULTS,
            None,
            &env(
                &conversation_db,
                conversation_nats,
                &[("INBOX__CONVERSATION__SWEEP_INTERVAL_SECONDS", "3600".into())],
            ),
        )?;
        let conversation = tokio::spawn(inbox_conversation::run(settings, listeners, shutdown.clone()));
        let listeners = Listeners::ephemeral().await?;
        let (metrics_http, metrics_grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
        let metrics_admin = listeners.admin.local_addr()?;
        let settings: inbox_metrics::Settings = inbox_config::load(
            inbox_metrics::Settings::DEFAULTS,
            None,
            &env(
                &metrics_db,
                metrics_nats,
                &[
                    ("INBOX__METRICS__CONVERSATION_URL", format!("http://{conversation_grpc}")),
                    ("INBOX__METRICS__SURVEY_INTERVAL_MS", "100".into()),
                ],
            ),
        )?;
        settings.validate()?;
        let metrics = tokio::spawn(inbox_metrics::run(settings, listeners, shutdown.clone()));
        ready(&http, conversation_http).await;
        ready(&http, metrics_http).await;
        Ok(Services {
            metrics_db,
            _conversation_db: conversation_db,
            conversation_grpc,
            metrics_admin,
            metrics_grpc,
            shutdown,
            tasks: vec![metrics, conversation],
        })
    }

    async fn clients(&self) -> anyhow::Result<(ConversationsClient<GrpcChannel>, MetricsClient<GrpcChannel>)> {
        Ok((
            ConversationsClient::connect(format!("http://{}", self.conversation_grpc)).await?,
            MetricsClient::connect(format!("http://{}", self.metrics_grpc)).await?,
        ))
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), task).await.context("a service did not stop")???;
        }
        Ok(())
    }
}

/// A customer's WhatsApp text as channel-ingest publishes it.
async fn customer_writes(bus: &Bus, tenant: Uuid, wamid: &str, from: &str, body: &str) -> anyhow::Result<()> {
    let inbound = InboundMessage {
        tenant_id: tenant.to_string(),
        channel: Channel::Whatsapp as i32,
        channel_account_id: "acc".into(),
        external_id: wamid.into(),
        sent_at: Some(inbox_proto::timestamp_from(Utc::now())),
        sender: Some(Sender { address: from.into(), display_name: String::new() }),
        content: text(body),
        raw_payload_id: String::new(),
        visitor: None,
    };
    let envelope = new_envelope(format!("ingest-{wamid}"), tenant.to_string(), Payload::InboundMessage(inbound));
    bus.publish(&subjects::ingest(Channel::Whatsapp, &tenant.to_string()), &envelope).await?;
    Ok(())
}

#[tokio::test]
async fn a_whatsapp_conversation_answered_and_resolved_moves_the_figures_once() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let services = Services::start(&nats, &nats).await?;
    let (metrics_db, metrics_admin) = (&services.metrics_db, services.metrics_admin);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let token = Secret::new(TOKEN);
    let (conversations, metrics) = services.clients().await?;
    let tenant = Uuid::now_v7();
    let (sarah, tom) = (Uuid::now_v7(), Uuid::now_v7());
    let admin = ctx(tenant, &format!("user:{}", Uuid::now_v7()), Role::Admin);
    let as_sarah = ctx(tenant, &format!("user:{sarah}"), Role::Agent);
    let as_tom = ctx(tenant, &format!("user:{tom}"), Role::Agent);

    // The tenant works from Paris and surveys its customers.
    let current = conversations
        .clone()
        .get_tenant_settings(admin.request(conv::GetTenantSettingsRequest {}, &token)?)
        .await?
        .into_inner();
    let paris = conv::TenantSettings { time_zone: "Europe/Paris".into(), ..current };
    conversations
        .clone()
        .set_tenant_settings(admin.request(conv::SetTenantSettingsRequest { settings: Some(paris) }, &token)?)
        .await?;
    let surveying = pb::CsatSettings { enabled: true, survey_text: "How did we do? 1 to 5".into() };
    metrics
        .clone()
        .set_csat_settings(admin.request(pb::SetCsatSettingsRequest { settings: Some(surveying) }, &token)?)
        .await?;
    let refused = metrics
        .clone()
        .set_csat_settings(as_sarah.request(pb::SetCsatSettingsRequest { settings: None }, &token)?)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    // The customer writes on WhatsApp.
    let bus = Bus::connect(&nats.url(), "metrics-test").await?;
    customer_writes(&bus, tenant, "wamid.METRICS.1", "16505550100", "Where is my order?").await?;
    let (conversations, admin_ref, token_ref) = (&conversations, &admin, &token);
    let id = wait_until(Duration::from_secs(20), || async move {
        let request = admin_ref.request(conv::ListConversationsRequest::default(), token_ref).ok()?;
        let listed = conversations.clone().list_conversations(request).await.ok()?.into_inner();
        listed.conversations.first().map(|c| c.id.clone())
    })
    .await
    .context("the conversation was not stored")?;

    // Sarah answers, then resolves.
    let reply = conv::SendMessageRequest {
        conversation_id: id.clone(),
        content: text("It ships today."),
        internal_note: false,
        idempotency_key: "reply-1".into(),
    };
    conversations.clone().send_message(as_sarah.request(reply, &token)?).await?;
    let resolve = conv::SetStatusRequest {
        conversation_id: id.clone(),
        status: conv::ConversationStatus::Resolved as i32,
        reason: String::new(),
    };
    conversations.clone().set_status(as_sarah.request(resolve, &token)?).await?;

    let metrics_ref = &metrics;
    let figures = wait_until(Duration::from_secs(20), || async move {
        let f = total(&report(metrics_ref, admin_ref, pb::Grouping::Tenant).await.ok()?);
        (f.resolutions == 1).then_some(f)
    })
    .await
    .context("the resolution did not reach the figures")?;
    assert_eq!((figures.new_conversations, figures.customer_messages, figures.agent_messages), (1, 1, 1));
    let first = figures.first_response.unwrap();
    assert_eq!(first.count, 1);
    assert!(first.mean >= 0.0 && first.mean < 60.0, "{first:?}");
    assert_eq!(figures.resolution.unwrap().count, 1);
    assert_eq!(figures.conversations_handled, 1);

    // Agents see their own figures, whatever they ask for.
    let hers = report(&metrics, &as_sarah, pb::Grouping::Tenant).await?;
    assert_eq!(hers.series.len(), 1);
    assert_eq!(hers.series[0].group_id, sarah.to_string());
    assert_eq!(hers.time_zone, "Europe/Paris");
    let her_total = total(&hers);
    assert_eq!((her_total.resolutions, her_total.conversations_resolved, her_total.resolution_rate), (1, 1, 1.0));
    assert_eq!(total(&report(&metrics, &as_tom, pb::Grouping::Tenant).await?).resolutions, 0);
    let by_channel = report(&metrics, &admin, pb::Grouping::Channel).await?;
    assert_eq!(by_channel.series.iter().map(|s| s.group_id.as_str()).collect::<Vec<_>>(), ["whatsapp"]);

    // Live: nothing open; one new and one resolved today in Paris.
    let live = metrics
        .clone()
        .get_live(admin.request(pb::LiveRequest { group_by: pb::Grouping::Tenant as i32, group_ids: vec![] }, &token)?)
        .await?
        .into_inner();
    let today = &live.groups[0];
    assert_eq!((today.active, today.pending, today.backlog, today.new_today, today.resolved_today), (0, 0, 0, 1, 1));

    // The resolution event delivered again: recognised, nothing moves.
    let status_subject = subjects::event(&tenant.to_string(), "conversation.status_changed");
    let events = bus.jetstream().get_stream("EVENTS").await?;
    let stored = events.get_last_raw_message_by_subject(&status_subject).await?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "status-changed-again");
    bus.jetstream().publish_with_headers(status_subject, headers, stored.payload).await?.await?;
    let repeated = wait_until(Duration::from_secs(10), || async {
        let text = get(&http, format!("http://{metrics_admin}/metrics")).await?.1;
        sample(&text, "inbox_metrics_events_total", &[r#"kind="conversation.status_changed""#, r#"outcome="repeat""#])
            .filter(|n| *n >= 1.0)
    })
    .await;
    assert!(repeated.is_some(), "the copy was not recognised as a repeat");
    assert_eq!(total(&report(&metrics, &admin, pb::Grouping::Tenant).await?).resolutions, 1);

    // The CSAT survey went out through the conversation service, stored in the conversation as
    // the system's message (docs/metrics.md, "The conversation service's part").
    let pool = sqlx::PgPool::connect(&metrics_db.url()).await?;
    let pool_ref = &pool;
    let (state, outcome): (String, String) = wait_until(Duration::from_secs(20), || async move {
        let row: (String, String) = sqlx::query_as("SELECT state, outcome FROM csat_surveys WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(pool_ref)
            .await
            .ok()??;
        (row.0 != "pending").then_some(row)
    })
    .await
    .context("the survey was never attempted")?;
    assert_eq!(state, "sent", "{outcome}");
    let request = admin.request(conv::ListMessagesRequest { conversation_id: id.clone(), page: None }, &token)?;
    let messages = conversations.clone().list_messages(request).await?.into_inner().messages;
    let survey = messages.iter().find(|m| m.idempotency_key.starts_with("csat-survey:")).context("no survey")?;
    assert_eq!((survey.sender_kind, survey.sender_id.as_str()), (conv::SenderKind::System as i32, "service:metrics"));
    pool.close().await;
    services.stop().await
}

#[tokio::test]
async fn a_rebuild_recomputes_the_figures_from_the_conversation_history_once() -> anyhow::Result<()> {
    // The conversation service works on one bus; metrics listens on another and never hears
    // of it: all it learns comes from the rebuild.
    let (conversation_nats, metrics_nats) = (TestNats::start().await?, TestNats::start().await?);
    let services = Services::start(&conversation_nats, &metrics_nats).await?;
    let token = Secret::new(TOKEN);
    let (conversations, metrics) = services.clients().await?;
    let tenant = Uuid::now_v7();
    let sarah = Uuid::now_v7();
    let admin = ctx(tenant, "operator", Role::Operator);
    let as_sarah = ctx(tenant, &format!("user:{sarah}"), Role::Agent);

    // Two customers write; Sarah answers both and resolves one.
    let bus = Bus::connect(&conversation_nats.url(), "metrics-test").await?;
    for (i, from) in ["16505550101", "16505550102"].iter().enumerate() {
        customer_writes(&bus, tenant, &format!("wamid.REBUILD.{i}"), from, "Hello?").await?;
    }
    let (conversations_ref, admin_ref, token_ref) = (&conversations, &admin, &token);
    let ids = wait_until(Duration::from_secs(20), || async move {
        let request = admin_ref.request(conv::ListConversationsRequest::default(), token_ref).ok()?;
        let listed = conversations_ref.clone().list_conversations(request).await.ok()?.into_inner();
        (listed.conversations.len() == 2).then(|| listed.conversations.iter().map(|c| c.id.clone()).collect::<Vec<_>>())
    })
    .await
    .context("the conversations were not stored")?;
    for (i, id) in ids.iter().enumerate() {
        let reply = conv::SendMessageRequest {
            conversation_id: id.clone(),
            content: text("On it."),
            internal_note: false,
            idempotency_key: format!("reply-{i}"),
        };
        conversations.clone().send_message(as_sarah.request(reply, &token)?).await?;
    }
    let resolve = conv::SetStatusRequest {
        conversation_id: ids[0].clone(),
        status: conv::ConversationStatus::Resolved as i32,
        reason: String::new(),
    };
    conversations.clone().set_status(as_sarah.request(resolve, &token)?).await?;
    assert_eq!(
        total(&report(&metrics, &admin, pb::Grouping::Tenant).await?).new_conversations,
        0,
        "metrics heard nothing"
    );

    // Agents may not rebuild; the operator rebuilds twice: the figures are counted once.
    let from = Some(inbox_proto::timestamp_from(Utc::now() - chrono::Duration::hours(1)));
    let refused = metrics.clone().start_rebuild(as_sarah.request(pb::StartRebuildRequest { from }, &token)?).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
    for _ in 0..2 {
        let started =
            metrics.clone().start_rebuild(admin.request(pb::StartRebuildRequest { from }, &token)?).await?.into_inner();
        let (metrics_ref, id) = (&metrics, started.rebuild_id.clone());
        let done = wait_until(Duration::from_secs(20), || {
            let id = id.clone();
            async move {
                let request = admin_ref.request(pb::GetRebuildRequest { rebuild_id: id }, token_ref).ok()?;
                let status = metrics_ref.clone().get_rebuild(request).await.ok()?.into_inner();
                (status.state != "running").then_some(status)
            }
        })
        .await
        .context("the rebuild did not finish")?;
        assert_eq!((done.state.as_str(), done.conversations_done, done.error.as_str()), ("done", 2, ""));
    }
    let f = total(&report(&metrics, &admin, pb::Grouping::Tenant).await?);
    assert_eq!((f.new_conversations, f.customer_messages, f.agent_messages, f.resolutions), (2, 2, 2, 1));
    assert_eq!(f.first_response.unwrap().count, 2);
    let live = metrics
        .clone()
        .get_live(admin.request(pb::LiveRequest { group_by: pb::Grouping::Tenant as i32, group_ids: vec![] }, &token)?)
        .await?
        .into_inner();
    assert_eq!((live.groups[0].active, live.groups[0].backlog), (1, 0), "one open, answered last by Sarah");
    services.stop().await
}
