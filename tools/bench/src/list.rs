//! The conversation list through gRPC over a tenant of 100,000 conversations and 1,000,000
//! messages: filter by status, channel and assignee, most recent activity first, pages of 50.

use std::time::{Duration, Instant};

use anyhow::Context;
use inbox_config::Secret;
use inbox_proto::common::v1::{Channel, PageRequest};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_service::{CallContext, Listeners, Role, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{BENCH_SERVICE_TOKEN, Row, ms, percentile, row, service_env};

const CONVERSATIONS: i64 = 100_000;
const MESSAGES_PER_CONVERSATION: i64 = 10;
const AGENTS: usize = 20;
const REQUESTS: usize = 3_000;

pub async fn bench_list() -> anyhow::Result<Vec<Row>> {
    let nats = TestNats::start().await?;
    let db = TestDatabase::create("bench_list").await?;
    let env = service_env(db.url(), nats.url(), &[], None);
    let settings: inbox_conversation::Settings =
        inbox_config::load(inbox_conversation::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let http = format!("http://{}/readyz", listeners.http.local_addr()?);
    let grpc = format!("http://{}", listeners.grpc.local_addr()?);
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(inbox_conversation::run(settings, listeners, shutdown.clone()));
    let client = reqwest::Client::new();
    wait_until(Duration::from_secs(60), || {
        let r = client.get(&http);
        async move { r.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await
    .context("conversation service not ready")?;

    let tenant = Uuid::now_v7();
    let agents: Vec<Uuid> = (0..AGENTS).map(|_| Uuid::now_v7()).collect();
    let pool = sqlx::PgPool::connect(&db.url()).await?;
    let seeding = Instant::now();
    seed(&pool, tenant, &agents).await?;
    let seeded_in = seeding.elapsed();

    let mut api = ConversationsClient::new(inbox_service::grpc::client_channel(
        &grpc,
        &inbox_service::grpc::ClientTls::default(),
    )?);
    let secret = Secret::new(BENCH_SERVICE_TOKEN);
    let mut latencies = Vec::with_capacity(REQUESTS);
    let mut returned = 0usize;
    for i in 0..REQUESTS {
        let agent = agents[i % AGENTS];
        let ctx = CallContext { tenant_id: tenant, principal: format!("user:{agent}"), role: Role::Agent };
        let filter = pb::ConversationFilter {
            statuses: vec![pb::ConversationStatus::Active as i32],
            channels: vec![Channel::Whatsapp as i32],
            assignment: pb::AssignmentFilter::Me as i32,
            ..Default::default()
        };
        // Every third request reads the next page, as a scrolling agent does.
        let mut cursor = String::new();
        for page in 0..=(i % 3) {
            let request = pb::ListConversationsRequest {
                page: Some(PageRequest { limit: 50, cursor: cursor.clone() }),
                filter: Some(filter.clone()),
                sort: pb::SortOrder::Recent as i32,
            };
            let started = Instant::now();
            let response = api.list_conversations(ctx.request(request, &secret)?).await?.into_inner();
            if page == i % 3 {
                latencies.push(started.elapsed());
                returned += response.conversations.len();
            }
            cursor = response.next_cursor;
        }
    }
    latencies.sort();
    shutdown.cancel();
    let _ = service.await;
    Ok(vec![
        row(
            "conversation list via gRPC, p50 / p99",
            format!("{} / {}", ms(percentile(&latencies, 50.0)), ms(percentile(&latencies, 99.0))),
            format!(
                "{CONVERSATIONS} conversations, {} messages; status+channel+assignee, recent first, 50/page, {REQUESTS} requests, {:.1} rows/page",
                CONVERSATIONS * MESSAGES_PER_CONVERSATION,
                returned as f64 / REQUESTS as f64
            ),
        ),
        row("  seeding that tenant", format!("{:.1} s", seeded_in.as_secs_f64()), "SQL bulk insert + ANALYZE"),
    ])
}

/// 100k conversations over 30 days: 40 % active, 20 % pending, 20 % resolved, 20 % archived;
/// 60 % WhatsApp, 20 % telephony, 20 % web chat; 20 agents and 1 in 7 unassigned; ten messages
/// each. The attributes vary independently, so every agent has every kind of conversation.
async fn seed(pool: &sqlx::PgPool, tenant: Uuid, agents: &[Uuid]) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO contacts (tenant_id, id, display_name) \
         SELECT $1, ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Customer ' || i \
         FROM generate_series(1, $2) AS i",
    )
    .bind(tenant)
    .bind(CONVERSATIONS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO conversations (tenant_id, id, contact_id, channel, channel_account_id, customer_address, status, \
           last_message_at, last_message_preview, last_message_sender_kind, assignee_id) \
         SELECT $1, gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, \
           (ARRAY['whatsapp','whatsapp','whatsapp','telephony','webchat'])[1 + i % 5], 'acc', 'addr-' || i, \
           (ARRAY['active','active','pending','resolved','archived'])[1 + (i / 3) % 5], \
           now() - make_interval(secs => (i * 26)::double precision), 'hello', 'customer', \
           CASE WHEN i % 7 = 3 THEN NULL ELSE ($3::uuid[])[1 + (i / 11) % array_length($3::uuid[], 1)] END \
         FROM generate_series(1, $2) AS i",
    )
    .bind(tenant)
    .bind(CONVERSATIONS)
    .bind(agents)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO messages (tenant_id, id, conversation_id, channel, external_id, sender_kind, sender_id, content, body, sent_at) \
         SELECT $1, gen_random_uuid(), c.id, c.channel, c.id::text || '-' || n, \
           CASE WHEN n % 2 = 0 THEN 'customer' ELSE 'agent' END, 'x', ''::bytea, 'message ' || n, \
           c.last_message_at - make_interval(mins => ($2 - n)::int) \
         FROM conversations c, generate_series(1, $2) AS n WHERE c.tenant_id = $1",
    )
    .bind(tenant)
    .bind(MESSAGES_PER_CONVERSATION)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}
