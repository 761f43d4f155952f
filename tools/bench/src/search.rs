//! Search (`just bench search`): one tenant with `BENCH_SEARCH_MESSAGES` messages (default
//! 1,000,000) in a tenth as many conversations, plus four other tenants with a tenth of that
//! between them; text drawn from a 20,000-word vocabulary with Zipf frequencies.
//!
//! - indexing: every `message.created` event is in the stream before the search service starts;
//!   the clock runs from its start until the last event is indexed (committed), and the
//!   process's CPU time over the same span gives the cost per 1,000 events;
//! - queries: five shapes, one at a time, through gRPC (p50 / p99), each asked for one page
//!   and again for the page with its facets (total and counts per status and channel);
//!   against PostgreSQL `ILIKE` over the same messages twice: what Chatwoot does for a page
//!   (the 20 newest matching rows, which stops early when the word is common and counts
//!   nothing), and the question search answers (the 20 newest matching conversations, the
//!   total, and the counts per status and channel), each with its ratio;
//! - index lag: events published at 2,000 messages/s; for one in 100 (a message of its own
//!   conversation), the time from its publish until a query finds it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use inbox_bus::{Bus, Envelope, Payload, new_envelope, subjects};
use inbox_config::Secret;
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as conv;
use inbox_proto::events::v1::MessageCreated;
use inbox_search::proto as pb;
use inbox_search::proto::search_client::SearchClient;
use inbox_service::{CallContext, Listeners, Role, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{BENCH_SERVICE_TOKEN, Row, ms, percentile, row};

const VOCABULARY: usize = 20_000;
const OTHER_TENANTS: usize = 4;
/// Messages of each conversation.
const PER_CONVERSATION: usize = 10;
/// Every how manyth message carries one of the 100 rare words (each in a hundredth of those).
const RARE_EVERY: usize = 1_000;
const LAG_RATE: usize = 2_000;
const LAG_SECONDS: usize = 15;
/// Lag samples one poll looks for: `id:wamid.lag.N` each, within a query's 512 characters.
const LAG_IDS_PER_QUERY: usize = 20;
const SEARCH_RUNS: usize = 200;
const ILIKE_RUNS: usize = 20;

/// A deterministic stream of pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Messages like customers and agents write: Zipf-distributed words, `refund` in one message
/// of ten, "late delivery" in one of 200, one of 100 rare words in one of 1,000.
struct Corpus {
    rng: Rng,
    vocabulary: Vec<String>,
    cumulative: Vec<f64>,
}

impl Corpus {
    fn new(seed: u64) -> Self {
        let (consonants, vowels) = (b"bcdfghjklmnprstvz", b"aeiou");
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut seen = std::collections::HashSet::new();
        let mut vocabulary = Vec::with_capacity(VOCABULARY);
        while vocabulary.len() < VOCABULARY {
            let syllables = 2 + rng.below(3);
            let word: String = (0..syllables)
                .flat_map(|_| {
                    [consonants[rng.below(consonants.len())] as char, vowels[rng.below(vowels.len())] as char]
                })
                .collect();
            if seen.insert(word.clone()) {
                vocabulary.push(word);
            }
        }
        let weights: Vec<f64> = (1..=VOCABULARY).map(|rank| 1.0 / rank as f64).collect();
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let cumulative = weights.iter().map(|w| {
            running += w / total;
            running
        });
        Self { rng: Rng(seed), vocabulary, cumulative: cumulative.collect() }
    }

    fn word(&mut self) -> &str {
        let x = (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let at = self.cumulative.partition_point(|c| *c < x).min(VOCABULARY - 1);
        &self.vocabulary[at]
    }

    fn text(&mut self, i: usize) -> String {
        let words = 6 + self.rng.below(13);
        let mut text: Vec<String> = (0..words).map(|_| self.word().to_owned()).collect();
        if self.rng.chance(10) {
            let at = self.rng.below(text.len());
            text.insert(at, "refund".into());
        }
        if self.rng.chance(200) {
            let at = self.rng.below(text.len());
            text.insert(at, "late delivery".into());
        }
        if i.is_multiple_of(RARE_EVERY) {
            text.push(rare_word((i / RARE_EVERY) % 100));
        }
        text.join(" ")
    }
}

fn rare_word(k: usize) -> String {
    format!("xylo{k:03}")
}

/// The state of one synthetic conversation.
struct Synthetic {
    id: Uuid,
    contact: Uuid,
    phone: String,
    status: conv::ConversationStatus,
    channel: Channel,
    version: i64,
    /// The first message's time: when the conversation and its customer were created. The
    /// customer's profile does not change after it (the conversation service moves a
    /// contact's `updated_at` only when it is renamed or edited).
    created: Option<chrono::DateTime<chrono::Utc>>,
}

fn synthetic(tenant_seed: usize, n: usize) -> Synthetic {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((tenant_seed as u64) << 40) ^ n as u64);
    let status = match rng.below(20) {
        0..=9 => conv::ConversationStatus::Resolved,
        10..=13 => conv::ConversationStatus::Archived,
        14..=16 => conv::ConversationStatus::Active,
        _ => conv::ConversationStatus::Pending,
    };
    let channel = match rng.below(10) {
        0..=6 => Channel::Whatsapp,
        7 | 8 => Channel::Telephony,
        _ => Channel::Webchat,
    };
    Synthetic {
        id: Uuid::from_u64_pair(rng.next(), rng.next()),
        contact: Uuid::from_u64_pair(rng.next(), rng.next()),
        phone: format!("1{}{n:07}", 200 + tenant_seed),
        status,
        channel,
        version: 0,
        created: None,
    }
}

fn event(
    tenant: Uuid,
    c: &mut Synthetic,
    external_id: String,
    text: String,
    sent_at: chrono::DateTime<chrono::Utc>,
) -> (String, Envelope) {
    c.version += 1;
    let t = tenant.to_string();
    let at = Some(inbox_proto::timestamp_from(sent_at));
    let created = inbox_proto::timestamp_from(*c.created.get_or_insert(sent_at));
    let conversation = conv::Conversation {
        id: c.id.to_string(),
        tenant_id: t.clone(),
        channel: c.channel as i32,
        channel_account_id: "bench".into(),
        contact: Some(conv::Contact {
            id: c.contact.to_string(),
            tenant_id: t.clone(),
            display_name: format!("Customer {}", &c.phone[4..]),
            created_at: Some(created),
            updated_at: Some(created),
            segment: String::new(),
        }),
        customer_address: c.phone.clone(),
        status: c.status as i32,
        priority: conv::Priority::Normal as i32,
        last_message_at: at,
        created_at: Some(created),
        version: c.version,
        ..Default::default()
    };
    let sender = if c.version % 2 == 1 { conv::SenderKind::Customer } else { conv::SenderKind::Agent };
    let message = conv::Message {
        id: Uuid::now_v7().to_string(),
        tenant_id: t.clone(),
        conversation_id: c.id.to_string(),
        channel: c.channel as i32,
        external_id,
        sender_kind: sender as i32,
        content: Some(MessageContent { kind: Some(Kind::Text(TextContent { body: text })), reply_to: None }),
        sent_at: at,
        created_at: at,
        ..Default::default()
    };
    let payload = Payload::MessageCreated(MessageCreated { message: Some(message), conversation: Some(conversation) });
    (subjects::event(&t, "message.created"), new_envelope(Uuid::now_v7().to_string(), &t, payload))
}

/// One tenant's messages, as (text, conversation index, time) in order.
struct Tenant {
    id: Uuid,
    seed: usize,
    messages: usize,
}

impl Tenant {
    fn conversations(&self) -> usize {
        (self.messages / PER_CONVERSATION).max(1)
    }
}

fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(30)
}

/// Every message of `tenant`, in order: `(conversation index, text, sent at)`.
fn messages_of(tenant: &Tenant) -> impl Iterator<Item = (usize, String, chrono::DateTime<chrono::Utc>)> {
    let mut corpus = Corpus::new(0xdead_beef ^ tenant.seed as u64);
    let conversations = tenant.conversations();
    let start = start_time();
    (0..tenant.messages).map(move |i| (i % conversations, corpus.text(i), start + chrono::Duration::seconds(i as i64)))
}

fn cpu_seconds() -> f64 {
    // utime and stime, in clock ticks (100 per second on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn request<T>(tenant: Uuid, message: T) -> anyhow::Result<tonic::Request<T>> {
    let ctx = CallContext { tenant_id: tenant, principal: format!("user:{}", Uuid::nil()), role: Role::Agent };
    Ok(ctx.request(message, &Secret::new(BENCH_SERVICE_TOKEN))?)
}

async fn search(
    client: &mut SearchClient<tonic::transport::Channel>,
    tenant: Uuid,
    query: &str,
    with_facets: bool,
) -> anyhow::Result<usize> {
    let message = pb::SearchConversationsRequest { query: query.into(), with_facets, ..Default::default() };
    let response = client.search_conversations(request(tenant, message)?).await?.into_inner();
    anyhow::ensure!(
        response.facets.is_some() == with_facets,
        "facets {}asked, {}given",
        if with_facets { "" } else { "not " },
        if response.facets.is_some() { "" } else { "not " }
    );
    Ok(response.hits.len())
}

struct Shape {
    name: &'static str,
    queries: Vec<String>,
    /// Chatwoot's page: the newest matching rows.
    ilike_sql: &'static str,
    /// The question search answers: the newest matching conversations, their total and their
    /// counts per status and channel.
    ilike_facets_sql: &'static str,
    ilike_params: Vec<String>,
}

/// The page and the facets over the conversations `$hits` finds (a CTE body yielding
/// `conversation_id` and `last_at`), in one statement.
macro_rules! page_and_facets {
    ($hits:literal) => {
        concat!(
            "WITH hits AS MATERIALIZED (",
            $hits,
            "), \
             page AS (SELECT conversation_id::text AS k, 0::bigint AS n FROM hits ORDER BY last_at DESC LIMIT 20) \
             SELECT 'page' AS part, k, n FROM page \
             UNION ALL SELECT 'status', c.status, count(*) FROM hits h JOIN conversations c ON c.id = h.conversation_id GROUP BY c.status \
             UNION ALL SELECT 'channel', c.channel, count(*) FROM hits h JOIN conversations c ON c.id = h.conversation_id GROUP BY c.channel"
        )
    };
}

/// A word's page and facets, as PostgreSQL answers them.
const WORD_FACETS_SQL: &str = page_and_facets!(
    "SELECT conversation_id, max(created_at) AS last_at FROM messages WHERE tenant_id = $1 AND body ILIKE $2 \
     GROUP BY conversation_id"
);

pub async fn bench_search() -> anyhow::Result<Vec<Row>> {
    let messages: usize = std::env::var("BENCH_SEARCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let main = Tenant { id: Uuid::now_v7(), seed: 0, messages };
    let others: Vec<Tenant> = (1..=OTHER_TENANTS)
        .map(|seed| Tenant { id: Uuid::now_v7(), seed, messages: messages / 10 / OTHER_TENANTS })
        .collect();
    let total = main.messages + others.iter().map(|t| t.messages).sum::<usize>();
    let nats = TestNats::start().await?;
    let bus = Bus::connect(&nats.url(), "bench").await?;
    bus.ensure_streams().await?;

    // Every event in the stream first.
    eprintln!("search bench: publishing {total} message.created events");
    let mut states: HashMap<(usize, usize), Synthetic> = HashMap::new();
    for tenant in std::iter::once(&main).chain(&others) {
        let mut batch = Vec::with_capacity(1_000);
        for (i, (c, text, at)) in messages_of(tenant).enumerate() {
            let conversation = states.entry((tenant.seed, c)).or_insert_with(|| synthetic(tenant.seed, c));
            batch.push(event(tenant.id, conversation, format!("wamid.bench.{}.{i}", tenant.seed), text, at));
            if batch.len() == 1_000 {
                bus.publish_all(&batch).await?;
                batch.clear();
            }
        }
        bus.publish_all(&batch).await?;
    }
    drop(states);

    // Indexing from the stream.
    let data = tempfile::tempdir()?;
    let index_dir = data.path().join("search");
    let env: HashMap<String, String> = [
        ("INBOX__NATS__URL", nats.url()),
        ("INBOX__AUTH__SERVICE_TOKEN", BENCH_SERVICE_TOKEN.to_owned()),
        ("INBOX__LOG__LEVEL", "error".to_owned()),
        ("INBOX__SEARCH__INDEX_DIR", index_dir.display().to_string()),
        // No conversation service: the index's first-start rebuilds give up at once.
        ("INBOX__SEARCH__CONVERSATION_URL", "http://127.0.0.1:1".to_owned()),
        ("INBOX__SEARCH__ROUTING_URL", "http://127.0.0.1:1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(std::env::vars().filter(|(k, _)| k.starts_with("INBOX__SEARCH__")))
    .collect();
    let settings: inbox_search::Settings = inbox_config::load(inbox_search::Settings::DEFAULTS, None, &env)?;
    settings.validate()?;
    let listeners = Listeners::ephemeral().await?;
    let grpc = listeners.grpc.local_addr()?;
    let shutdown = CancellationToken::new();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let service = tokio::spawn(inbox_search::run(settings, listeners, shutdown.clone()));
    let mut client =
        wait_until(
            Duration::from_secs(30),
            || async move { SearchClient::connect(format!("http://{grpc}")).await.ok() },
        )
        .await
        .context("search did not start")?;
    let status = |client: &SearchClient<tonic::transport::Channel>| {
        let mut client = client.clone();
        async move {
            let ctx = CallContext { tenant_id: main.id, principal: "service:bench".into(), role: Role::Service };
            let r = ctx.request(pb::GetIndexStatusRequest {}, &Secret::new(BENCH_SERVICE_TOKEN)).ok()?;
            Some(client.get_index_status(r).await.ok()?.into_inner())
        }
    };
    let mut last_report = Instant::now();
    loop {
        let indexed = status(&client).await.map_or(0, |s| s.events_indexed);
        if indexed as usize >= total {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("search bench: {indexed} of {total} indexed after {:.0} s", started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1_800), "indexing took over 30 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let indexing = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let index_bytes = dir_size(&index_dir);
    eprintln!(
        "search bench: indexed in {:.1} s, {:.0} ms CPU per 1,000 events",
        indexing.as_secs_f64(),
        cpu / total as f64 * 1_000_000.0
    );

    // The five shapes, through gRPC.
    let mut rng = Rng(7);
    let conversations = main.conversations();
    let phone_of = |n: usize| synthetic(0, n).phone;
    let shapes = vec![
        Shape {
            name: "rare word (10 messages)",
            queries: (0..SEARCH_RUNS).map(|i| format!("{} ", rare_word(i % 100))).collect(),
            ilike_sql: "SELECT conversation_id FROM messages WHERE tenant_id = $1 AND body ILIKE $2 ORDER BY created_at DESC LIMIT 20",
            ilike_facets_sql: WORD_FACETS_SQL,
            ilike_params: (0..ILIKE_RUNS).map(|i| format!("%{}%", rare_word(i % 100))).collect(),
        },
        Shape {
            name: "common word (1 message in 10)",
            queries: vec!["refund ".to_owned(); SEARCH_RUNS],
            ilike_sql: "SELECT conversation_id FROM messages WHERE tenant_id = $1 AND body ILIKE $2 ORDER BY created_at DESC LIMIT 20",
            ilike_facets_sql: WORD_FACETS_SQL,
            ilike_params: vec!["%refund%".to_owned(); ILIKE_RUNS],
        },
        Shape {
            name: "phrase \"late delivery\" (1 in 200)",
            queries: vec!["\"late delivery\"".to_owned(); SEARCH_RUNS],
            ilike_sql: "SELECT conversation_id FROM messages WHERE tenant_id = $1 AND body ILIKE $2 ORDER BY created_at DESC LIMIT 20",
            ilike_facets_sql: WORD_FACETS_SQL,
            ilike_params: vec!["%late delivery%".to_owned(); ILIKE_RUNS],
        },
        Shape {
            name: "phone: (written with spaces)",
            queries: (0..SEARCH_RUNS)
                .map(|_| {
                    let p = phone_of(rng.below(conversations));
                    format!("phone:+{} {} {} {}", &p[..1], &p[1..4], &p[4..7], &p[7..])
                })
                .collect(),
            ilike_sql: "SELECT id FROM conversations WHERE tenant_id = $1 AND phone ILIKE $2 LIMIT 20",
            ilike_facets_sql: page_and_facets!(
                "SELECT id AS conversation_id, 0 AS last_at FROM conversations WHERE tenant_id = $1 AND phone ILIKE $2"
            ),
            ilike_params: (0..ILIKE_RUNS).map(|_| format!("%{}%", phone_of(rng.below(conversations)))).collect(),
        },
        Shape {
            name: "filtered: refund status:pending channel:whatsapp",
            queries: vec!["refund status:pending channel:whatsapp".to_owned(); SEARCH_RUNS],
            ilike_sql: "SELECT m.conversation_id FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                        WHERE m.tenant_id = $1 AND m.body ILIKE $2 AND c.status = 'pending' AND c.channel = 'whatsapp' \
                        ORDER BY m.created_at DESC LIMIT 20",
            ilike_facets_sql: page_and_facets!(
                "SELECT m.conversation_id, max(m.created_at) AS last_at FROM messages m \
                 JOIN conversations c ON c.id = m.conversation_id \
                 WHERE m.tenant_id = $1 AND m.body ILIKE $2 AND c.status = 'pending' AND c.channel = 'whatsapp' \
                 GROUP BY m.conversation_id"
            ),
            ilike_params: vec!["%refund%".to_owned(); ILIKE_RUNS],
        },
    ];
    // Per shape: the page alone, then the page with its facets.
    let mut search_latency: Vec<[Vec<Duration>; 2]> = Vec::new();
    for shape in &shapes {
        let mut both = [Vec::new(), Vec::new()];
        for (with_facets, latencies) in [false, true].into_iter().zip(both.iter_mut()) {
            let mut found = 0;
            for q in &shape.queries {
                let t = Instant::now();
                found += search(&mut client, main.id, q, with_facets).await?;
                latencies.push(t.elapsed());
            }
            anyhow::ensure!(found > 0, "{} found nothing", shape.name);
            latencies.sort();
        }
        search_latency.push(both);
    }

    // Index lag at a steady 2,000 messages/s.
    let lag = measure_lag(&bus, &client, main.id).await?;

    let indexed_status = status(&client).await.context("status")?;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), service).await;

    // The same questions to PostgreSQL.
    eprintln!("search bench: loading {total} messages into PostgreSQL");
    let db = TestDatabase::create("bench_search").await?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db.url()).await?;
    load_postgres(&pool, &main, &others).await?;
    let mut ilike_latency: Vec<[Vec<Duration>; 2]> = Vec::new();
    for shape in &shapes {
        let mut both = [Vec::new(), Vec::new()];
        for (sql, latencies) in [shape.ilike_sql, shape.ilike_facets_sql].into_iter().zip(both.iter_mut()) {
            for p in &shape.ilike_params {
                let t = Instant::now();
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(main.id).bind(p).fetch_all(&pool).await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(!rows.is_empty(), "{}: PostgreSQL found nothing", shape.name);
            }
            latencies.sort();
        }
        ilike_latency.push(both);
    }

    let mut rows = vec![
        row(
            format!("search: indexing {total} events from the stream"),
            format!("{:.0} msg/s", total as f64 / indexing.as_secs_f64()),
            format!("{:.1} s; one commit per batch of what queued (up to 8,192 events)", indexing.as_secs_f64()),
        ),
        row(
            "  CPU per 1,000 events indexed",
            format!("{:.1} ms", cpu / total as f64 * 1_000.0 * 1_000.0),
            "search process (user + system), NATS server not included",
        ),
        row(
            "  index on disk",
            format!("{} MiB", index_bytes / (1024 * 1024)),
            format!("{} documents", indexed_status.documents),
        ),
    ];
    let ratio = |ilike: Duration, search: Duration| {
        let r = ilike.as_secs_f64() / search.as_secs_f64().max(1e-9);
        if r >= 1.0 { format!("{r:.0}x slower") } else { format!("{:.1}x faster", 1.0 / r) }
    };
    for (i, shape) in shapes.iter().enumerate() {
        let ([page, faceted], [ilike_page, ilike_faceted]) = (&search_latency[i], &ilike_latency[i]);
        rows.push(row(
            format!("search {}: p50 / p99", shape.name),
            p50_p99(page),
            format!("{} queries through gRPC, {messages} messages in {conversations} conversations", page.len()),
        ));
        rows.push(row(
            "  with facets (total, per status and channel): p50 / p99",
            p50_p99(faceted),
            format!("{} queries", faceted.len()),
        ));
        rows.push(row(
            "  PostgreSQL ILIKE, 20 newest rows (Chatwoot): p50 / p99",
            p50_p99(ilike_page),
            format!(
                "{} at p50 than the search page; stops at 20 rows, counts nothing ({} queries)",
                ratio(percentile(ilike_page, 50.0), percentile(page, 50.0)),
                ilike_page.len()
            ),
        ));
        rows.push(row(
            "  PostgreSQL ILIKE, same answer (page + total + facets): p50 / p99",
            p50_p99(ilike_faceted),
            format!(
                "{} at p50 than search with facets ({} queries)",
                ratio(percentile(ilike_faceted, 50.0), percentile(faceted, 50.0)),
                ilike_faceted.len()
            ),
        ));
    }
    rows.push(row(
        format!("search index lag at {LAG_RATE} msg/s: p50 / p99"),
        p50_p99(&lag),
        format!("{} samples: event published → found by a query", lag.len()),
    ));
    Ok(rows)
}

/// Publishes at [`LAG_RATE`] for [`LAG_SECONDS`]; one message in 100 opens a conversation of
/// its own whose provider id a poller looks for.
async fn measure_lag(
    bus: &Bus,
    client: &SearchClient<tonic::transport::Channel>,
    tenant: Uuid,
) -> anyhow::Result<Vec<Duration>> {
    let outstanding: std::sync::Arc<tokio::sync::Mutex<Vec<(String, Uuid, Instant)>>> = Default::default();
    let done = CancellationToken::new();
    let poller = tokio::spawn({
        let (outstanding, done, mut client) = (outstanding.clone(), done.clone(), client.clone());
        async move {
            let mut lags = Vec::new();
            loop {
                let pending: Vec<(String, Uuid, Instant)> =
                    outstanding.lock().await.iter().take(LAG_IDS_PER_QUERY).cloned().collect();
                if pending.is_empty() {
                    if done.is_cancelled() {
                        return Ok::<_, anyhow::Error>(lags);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                let query = pending.iter().map(|(id, _, _)| format!("id:{id}")).collect::<Vec<_>>().join(" ");
                let message = pb::SearchConversationsRequest { query, limit: 100, ..Default::default() };
                let found = client.search_conversations(request(tenant, message)?).await?.into_inner();
                let now = Instant::now();
                let ids: std::collections::HashSet<String> =
                    found.hits.into_iter().filter_map(|h| h.conversation.map(|c| c.id)).collect();
                let mut guard = outstanding.lock().await;
                guard.retain(|(_, conversation, published)| {
                    let hit = ids.contains(&conversation.to_string());
                    if hit {
                        lags.push(now - *published);
                    }
                    !hit
                });
                drop(guard);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let mut corpus = Corpus::new(99);
    let mut background: Vec<Synthetic> = (0..1_000).map(|n| synthetic(9, n)).collect();
    let tick = Duration::from_millis(10);
    let per_tick = LAG_RATE / 100;
    let started = Instant::now();
    let mut sent = 0usize;
    for n in 0..(LAG_SECONDS * 100) {
        let due = started + tick * n as u32;
        tokio::time::sleep_until(due.into()).await;
        let mut batch = Vec::with_capacity(per_tick);
        let mut samples = Vec::new();
        for _ in 0..per_tick {
            let text = corpus.text(sent + 1);
            if sent.is_multiple_of(100) {
                let mut own = synthetic(10, sent);
                own.id = Uuid::now_v7();
                let external = format!("wamid.lag.{sent}");
                samples.push((external.clone(), own.id));
                batch.push(event(tenant, &mut own, external, text, chrono::Utc::now()));
            } else {
                let conversation = &mut background[sent % 1_000];
                batch.push(event(tenant, conversation, format!("wamid.bg.{sent}"), text, chrono::Utc::now()));
            }
            sent += 1;
        }
        let published = Instant::now();
        outstanding.lock().await.extend(samples.into_iter().map(|(e, c)| (e, c, published)));
        bus.publish_all(&batch).await?;
    }
    // Whatever is still outstanding after 30 s is reported as lost.
    let settled = wait_until(Duration::from_secs(30), || {
        let outstanding = outstanding.clone();
        async move { outstanding.lock().await.is_empty().then_some(()) }
    })
    .await;
    done.cancel();
    let mut lags = poller.await??;
    anyhow::ensure!(settled.is_some(), "some lag samples never became searchable");
    lags.sort();
    Ok(lags)
}

async fn load_postgres(pool: &sqlx::PgPool, main: &Tenant, others: &[Tenant]) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE conversations (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, status text NOT NULL, \
         channel text NOT NULL, phone text NOT NULL, name text NOT NULL)",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "CREATE TABLE messages (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, conversation_id uuid NOT NULL, \
         created_at timestamptz NOT NULL, body text NOT NULL)",
    )
    .execute(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    for tenant in std::iter::once(main).chain(others) {
        let mut copy =
            conn.copy_in_raw("COPY conversations (id, tenant_id, status, channel, phone, name) FROM STDIN").await?;
        let mut buffer = String::new();
        for n in 0..tenant.conversations() {
            let c = synthetic(tenant.seed, n);
            let status = format!("{:?}", c.status).to_lowercase();
            let channel = inbox_bus::subjects::channel_token(c.channel);
            buffer.push_str(&format!(
                "{}\t{}\t{status}\t{channel}\t+{}\tCustomer {}\n",
                c.id,
                tenant.id,
                c.phone,
                &c.phone[4..]
            ));
            if buffer.len() > 1 << 20 {
                copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
            }
        }
        copy.send(buffer.into_bytes()).await?;
        copy.finish().await?;
        let mut copy =
            conn.copy_in_raw("COPY messages (tenant_id, conversation_id, created_at, body) FROM STDIN").await?;
        let mut buffer = String::new();
        let ids: Vec<Uuid> = (0..tenant.conversations()).map(|n| synthetic(tenant.seed, n).id).collect();
        for (c, text, at) in messages_of(tenant) {
            buffer.push_str(&format!("{}\t{}\t{}\t{text}\n", tenant.id, ids[c], at.to_rfc3339()));
            if buffer.len() > 1 << 20 {
                copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
            }
        }
        copy.send(buffer.into_bytes()).await?;
        copy.finish().await?;
    }
    // Chatwoot's indexes: messages by account and time, conversations by account.
    sqlx::query("CREATE INDEX ON messages (tenant_id, created_at)").execute(pool).await?;
    sqlx::query("CREATE INDEX ON conversations (tenant_id)").execute(pool).await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

/// "p50 / p99" of sorted latencies, for a table cell.
fn p50_p99(sorted: &[Duration]) -> String {
    format!("{} / {}", ms(percentile(sorted, 50.0)), ms(percentile(sorted, 99.0)))
}
