//! One run of traffic against a fleet: a tenant with its channels, watcher sockets, agents
//! replying, customers writing at a rate; then the proofs: every accepted message stored once
//! in provider order, seen once on every watcher socket, every reply sent to the provider once,
//! search and metrics agreeing with the store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::agents::{Replies, SocketStats, reply_as_agent, watch_socket};
use crate::fleet::{OPERATOR_TOKEN, TWILIO_PUBLIC_BASE_URL};
use crate::http1::{Connection, post_request};
use crate::provider::{ACCESS_TOKEN, GraphStub};
use crate::traffic::{self, Channel, Ledger, Mix, Numbers, SHOP_ORIGIN, send_until_accepted};

/// A tenant set up through the gateway's admin API, as an operator would.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: String,
    /// Admins' tokens: one per watcher socket.
    pub watcher_tokens: Vec<String>,
    pub widget_key: String,
    pub numbers: Numbers,
}

async fn call(client: &reqwest::Client, gateway: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{gateway}{path}"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "POST {path} answered {status}: {value}");
    Ok(value)
}

/// A tenant with `watchers` admins, a WhatsApp number and a Twilio number (both on `numbers`'s
/// line, which no other tenant of the run may use) and a web chat widget.
pub async fn set_up_tenant(gateway: &str, slug: &str, watchers: usize, numbers: Numbers) -> anyhow::Result<Tenant> {
    let client = reqwest::Client::new();
    // The gateway answers 503 until its API state is set, a moment after /readyz.
    let deadline = Instant::now() + Duration::from_secs(60);
    let tenant = loop {
        match call(
            &client,
            gateway,
            "/v1/admin/tenants",
            json!({"slug": slug, "name": "Load Test Co", "time_zone": "UTC"}),
        )
        .await
        {
            Ok(t) => break t,
            Err(e) if Instant::now() < deadline => {
                tracing_note(&format!("tenant not created yet: {e:#}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let id = tenant["id"].as_str().context("tenant id")?.to_owned();
    let mut watcher_tokens = Vec::new();
    for w in 0..watchers {
        let user = call(
            &client,
            gateway,
            &format!("/v1/admin/tenants/{id}/users"),
            json!({"email": format!("watcher{w}@{slug}.test"), "name": format!("Watcher {w}"), "role": "admin"}),
        )
        .await?;
        let user_id = user["id"].as_str().context("user id")?;
        let token =
            call(&client, gateway, &format!("/v1/admin/tenants/{id}/users/{user_id}/tokens"), json!({"ttl_hours": 48}))
                .await?;
        watcher_tokens.push(token["token"].as_str().context("token")?.to_owned());
    }
    call(
        &client,
        gateway,
        &format!("/v1/admin/tenants/{id}/channels/whatsapp"),
        json!({"phone_number_id": numbers.phone_number_id(), "display_phone_number": numbers.display_digits(),
               "app_secret": traffic::APP_SECRET, "verify_token": "load-verify", "access_token": ACCESS_TOKEN,
               "business_account_id": numbers.business_account_id()}),
    )
    .await?;
    call(
        &client,
        gateway,
        &format!("/v1/admin/tenants/{id}/channels/twilio"),
        json!({"account_sid": traffic::TWILIO_ACCOUNT_SID, "auth_token": traffic::TWILIO_AUTH_TOKEN,
               "phone_number": numbers.twilio_number(), "agent_numbers": ["+15550000999"], "ring_timeout_seconds": 20,
               "voicemail": true, "voicemail_greeting": "Please leave a message.", "voicemail_max_seconds": 60,
               "record_calls": false, "transcribe": true}),
    )
    .await?;
    let widget = call(
        &client,
        gateway,
        &format!("/v1/admin/tenants/{id}/channels/webchat"),
        json!({"name": "Load shop", "allowed_origins": [SHOP_ORIGIN], "greeting": "Hi!"}),
    )
    .await?;
    let widget_key = widget["widget_key"].as_str().context("widget_key")?.to_owned();
    Ok(Tenant { id, watcher_tokens, widget_key, numbers })
}

pub fn tracing_note(note: &str) {
    if std::env::var_os("LOAD_VERBOSE").is_some() {
        eprintln!("  . {note}");
    }
}

/// The shape of one run.
/// The first reply marker of the next run.
static REPLY_MARKERS: AtomicU64 = AtomicU64::new(0);
/// More replies than any run makes (one per `reply_every` messages).
const REPLY_MARKERS_PER_RUN: u64 = 10_000_000;

#[derive(Debug, Clone)]

pub struct RunSpec {
    /// Names the run's provider ids (`wamid.<run>.<i>`): unique per tenant.
    pub run: String,
    pub rate: f64,
    pub seconds: f64,
    pub mix: Mix,
    /// WhatsApp keep-alive connections.
    pub connections: usize,
    /// One agent reply per this many WhatsApp messages.
    pub reply_every: u64,
    /// How long after the last send to wait for arrivals.
    pub settle: Duration,
    pub watchers: usize,
}

/// A run in flight.
pub struct Running {
    pub spec: RunSpec,
    pub ledger: Arc<Ledger>,
    pub sockets: Vec<Arc<SocketStats>>,
    pub replies: Arc<Replies>,
    stop: watch::Sender<bool>,
    senders: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    /// Provider timestamps start here (seconds).
    pub base: i64,
    pub send_deadline: Instant,
}

/// Starts sockets, agents and customers; returns at once.
pub async fn start(spec: RunSpec, tenant: &Tenant, gateway: &str, ingest: Vec<SocketAddr>) -> anyhow::Result<Running> {
    let count = (spec.rate * spec.seconds).round() as u64;
    let plan = spec.mix.plan(count);
    let (stop, stop_rx) = watch::channel(false);
    let ws_base = gateway.replace("http://", "ws://");
    // The provider keeps retrying after the traffic window, as Meta and Twilio do.
    let send_deadline = Instant::now() + Duration::from_secs_f64(spec.seconds) + spec.settle;
    let base = chrono::Utc::now().timestamp() - 2 * 3600;

    // Sockets first, so that they see everything from the first message on.
    let origin = Instant::now() + Duration::from_millis(1500);
    let ledger = Ledger::new(plan, spec.rate, spec.watchers, origin);
    let mut sockets = Vec::new();
    let mut background = Vec::new();
    // Reply markers count on from the last run's: the local Graph API counts sends by marker
    // over the whole process, and a marker reused by the next run read as a reply sent twice.
    let first_reply = REPLY_MARKERS.fetch_add(REPLY_MARKERS_PER_RUN, Ordering::Relaxed);
    let replies = Arc::new(Replies { markers: first_reply..first_reply + REPLY_MARKERS_PER_RUN, ..Replies::default() });
    let (reply_tx, reply_rx) = mpsc::channel(10_000);
    let reply_rx = Arc::new(tokio::sync::Mutex::new(reply_rx));
    for w in 0..spec.watchers {
        let stats = Arc::new(SocketStats::default());
        sockets.push(stats.clone());
        let replies_to = (w == 0 && spec.reply_every > 0).then(|| (reply_tx.clone(), spec.reply_every));
        background.push(tokio::spawn(watch_socket(
            w,
            ws_base.clone(),
            tenant.watcher_tokens[w].clone(),
            ledger.clone(),
            stats,
            replies_to,
            stop_rx.clone(),
        )));
    }
    drop(reply_tx);
    // Four agents reply, sharing the queue.
    let next_reply = Arc::new(AtomicU64::new(first_reply));
    for _ in 0..4 {
        let (tx, rx) = mpsc::channel(1_000);
        let shared = reply_rx.clone();
        background.push(tokio::spawn(async move {
            loop {
                let next = shared.lock().await.recv().await;
                match next {
                    Some(wanted) => {
                        if tx.send(wanted).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                }
            }
        }));
        background.push(tokio::spawn(reply_as_agent(
            gateway.to_owned(),
            tenant.watcher_tokens[0].clone(),
            spec.run.clone(),
            rx,
            replies.clone(),
            next_reply.clone(),
            send_deadline,
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while sockets.iter().any(|s| s.connects.load(Ordering::Relaxed) == 0) {
        anyhow::ensure!(Instant::now() < deadline, "watcher sockets did not open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut senders = Vec::new();
    // WhatsApp: customer c always on connection c % connections, in order.
    let connections = spec.connections.max(1);
    let mut per_connection: Vec<Vec<usize>> = vec![Vec::new(); connections];
    let mut per_visitor: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut per_caller: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, p) in ledger.plan.iter().enumerate() {
        match p.channel {
            Channel::WhatsApp => per_connection[p.customer as usize % connections].push(i),
            Channel::Webchat => per_visitor.entry(p.customer).or_default().push(i),
            Channel::Call => per_caller.entry(p.customer).or_default().push(i),
        }
    }
    for (n, indices) in per_connection.into_iter().enumerate() {
        let (ledger, ingest, run, numbers) = (ledger.clone(), ingest.clone(), spec.run.clone(), tenant.numbers);
        senders.push(tokio::spawn(async move {
            let mut connection: Option<Connection> = None;
            let mut next_address = n;
            for i in indices {
                tokio::time::sleep_until(ledger.origin + ledger.due(i)).await;
                let body = traffic::whatsapp_webhook(numbers, &run, i as u64, &ledger.plan[i], base);
                let signature = traffic::hub_signature(&body);
                let request = post_request(
                    "ingest",
                    "/webhooks/whatsapp",
                    "application/json",
                    &[("x-hub-signature-256", &signature)],
                    body.as_bytes(),
                );
                if send_until_accepted(&ledger, &mut connection, &ingest, &mut next_address, &request, send_deadline)
                    .await
                {
                    ledger.accepted(i);
                }
            }
        }));
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    for (visitor, indices) in per_visitor {
        let (ledger, ingest, client, key, run) =
            (ledger.clone(), ingest.clone(), client.clone(), tenant.widget_key.clone(), spec.run.clone());
        senders.push(tokio::spawn(async move {
            let mut token = None;
            let mut n = visitor as usize;
            for i in indices {
                tokio::time::sleep_until(ledger.origin + ledger.due(i)).await;
                let mut backoff = Duration::from_millis(50);
                loop {
                    let base_url = format!("http://{}", ingest[n % ingest.len()]);
                    if token.is_none() {
                        token = traffic::visitor_session(&client, &base_url, &key, visitor).await.ok();
                    }
                    if let Some(t) = &token {
                        let answer = client
                            .post(format!("{base_url}/webchat/v1/widgets/{key}/messages"))
                            .header("Origin", SHOP_ORIGIN)
                            .bearer_auth(t)
                            .json(&json!({"client_message_id": format!("{run}-{i}"),
                                          "text": format!("is this in stock? {} {}", ledger.plan[i].k, traffic::marker(i as u64))}))
                            .timeout(Duration::from_secs(10))
                            .send()
                            .await;
                        match answer {
                            Ok(r) if r.status().is_success() => {
                                ledger.accepted(i);
                                break;
                            }
                            Ok(_) => {
                                ledger.refused.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => {
                                ledger.send_errors.fetch_add(1, Ordering::Relaxed);
                                n += 1;
                            }
                        }
                    } else {
                        ledger.send_errors.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                    if Instant::now() + backoff > send_deadline {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }));
    }
    for (caller, indices) in per_caller {
        let (ledger, ingest, run, numbers) = (ledger.clone(), ingest.clone(), spec.run.clone(), tenant.numbers);
        senders.push(tokio::spawn(async move {
            let mut connection: Option<Connection> = None;
            let mut next_address = caller as usize;
            for i in indices {
                tokio::time::sleep_until(ledger.origin + ledger.due(i)).await;
                let mut all = true;
                for (path, params) in traffic::call_callbacks(numbers, &run, i as u64, &ledger.plan[i]) {
                    let signature = traffic::twilio_signature(&format!("{TWILIO_PUBLIC_BASE_URL}{path}"), &params);
                    let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
                    let request = post_request(
                        "ingest",
                        &path,
                        "application/x-www-form-urlencoded",
                        &[("x-twilio-signature", &signature)],
                        form.as_bytes(),
                    );
                    all &= send_until_accepted(
                        &ledger,
                        &mut connection,
                        &ingest,
                        &mut next_address,
                        &request,
                        send_deadline,
                    )
                    .await;
                }
                if all {
                    ledger.accepted(i);
                }
            }
        }));
    }
    Ok(Running { spec, ledger, sockets, replies, stop, senders, background, base, send_deadline })
}

impl Running {
    /// Waits for every sender, then until every accepted message reached every watcher (or
    /// the settle time passed), then stops sockets and agents.
    pub async fn finish(self) -> anyhow::Result<Finished> {
        for sender in self.senders {
            let _ = sender.await;
        }
        let sent_done = Instant::now();
        let deadline = sent_done + self.spec.settle;
        let ledger = self.ledger.clone();
        loop {
            let n = ledger.len();
            let all = (0..n)
                .filter(|i| ledger.is_accepted(*i))
                .all(|i| (0..ledger.watchers).all(|w| ledger.arrivals[w * n + i].load(Ordering::Relaxed) > 0));
            if all || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Replies in flight finish (or give up at their deadline).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = self.stop.send(true);
        for task in self.background {
            task.abort();
        }
        Ok(Finished {
            spec: self.spec,
            ledger: self.ledger,
            sockets: self.sockets,
            replies: self.replies,
            base: self.base,
        })
    }
}

pub struct Finished {
    pub spec: RunSpec,
    pub ledger: Arc<Ledger>,
    pub sockets: Vec<Arc<SocketStats>>,
    pub replies: Arc<Replies>,
    pub base: i64,
}

/// Percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// What the sockets and the senders saw.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    pub planned: usize,
    pub accepted: usize,
    pub accept: Vec<Duration>,
    pub end_to_end: Vec<Duration>,
    /// Accepted but never seen on some watcher socket.
    pub missing: usize,
    /// Seen more than once on some watcher socket.
    pub doubled: usize,
    pub out_of_order: u64,
    pub resyncs: u64,
    pub reconnects: u64,
    pub achieved_per_second: f64,
    pub refused: u64,
    pub send_errors: u64,
}

impl Finished {
    pub fn delivery(&self) -> Delivery {
        let ledger = &self.ledger;
        let n = ledger.len();
        let mut d = Delivery { planned: n, ..Default::default() };
        let mut last_accept = 0u64;
        for i in 0..n {
            let accepted = ledger.accepted_at[i].load(Ordering::Relaxed);
            if accepted == 0 {
                continue;
            }
            d.accepted += 1;
            last_accept = last_accept.max(accepted);
            let due = u64::try_from(ledger.due(i).as_micros()).unwrap_or(0);
            if ledger.plan[i].channel == Channel::WhatsApp {
                d.accept.push(Duration::from_micros(accepted.saturating_sub(due)));
                let arrived = ledger.arrived_at[i].load(Ordering::Relaxed);
                if arrived != 0 {
                    d.end_to_end.push(Duration::from_micros(arrived.saturating_sub(due)));
                }
            }
            let counts: Vec<u32> =
                (0..ledger.watchers).map(|w| ledger.arrivals[w * n + i].load(Ordering::Relaxed)).collect();
            if counts.contains(&0) {
                d.missing += 1;
            }
            if counts.iter().any(|c| *c > 1) {
                d.doubled += 1;
            }
        }
        d.accept.sort();
        d.end_to_end.sort();
        d.out_of_order = self.sockets.iter().map(|s| s.out_of_order.load(Ordering::Relaxed)).sum();
        d.resyncs = self.sockets.iter().map(|s| s.resyncs.load(Ordering::Relaxed)).sum();
        d.reconnects = self.sockets.iter().map(|s| s.connects.load(Ordering::Relaxed).saturating_sub(1)).sum();
        d.achieved_per_second = d.accepted as f64 / (last_accept.max(1) as f64 / 1e6);
        d.refused = ledger.refused.load(Ordering::Relaxed);
        d.send_errors = ledger.send_errors.load(Ordering::Relaxed);
        d
    }

    /// Which accepted messages the watcher socket `w` never saw (for the report).
    pub fn missing_on(&self, w: usize) -> Vec<usize> {
        let n = self.ledger.len();
        (0..n)
            .filter(|i| self.ledger.is_accepted(*i) && self.ledger.arrivals[w * n + i].load(Ordering::Relaxed) == 0)
            .collect()
    }
}

/// The conversation store's view: each accepted message stored once, in provider order.
#[derive(Debug, Default, Clone)]
pub struct Stored {
    pub lost: usize,
    pub doubled: usize,
    pub out_of_order: usize,
    /// Customer messages stored in the tenant (all runs), for metrics.
    pub customer_messages: u64,
    pub conversations: u64,
}

/// Each run has a tenant of its own, so markers name messages of that run only.
pub async fn check_store(postgres_url: &str, tenant: &Tenant, f: &Finished) -> anyhow::Result<Stored> {
    let pool = sqlx::PgPool::connect(&format!("{postgres_url}/inbox_conversation")).await?;
    let tenant_id = uuid::Uuid::parse_str(&tenant.id)?;
    let rows: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
        "SELECT conversation_id, body, sender_kind FROM messages WHERE tenant_id = $1 ORDER BY conversation_id, sent_at, id",
    )
    .bind(tenant_id)
    .fetch_all(&pool)
    .await?;
    let customer_messages: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE tenant_id = $1 AND sender_kind = 'customer'")
            .bind(tenant_id)
            .fetch_one(&pool)
            .await?;
    let conversations: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&pool)
        .await?;
    let mut stored = Stored {
        customer_messages: customer_messages as u64,
        conversations: conversations as u64,
        ..Default::default()
    };
    {
        let n = f.ledger.len();
        let mut counts = vec![0u32; n];
        let mut last: HashMap<uuid::Uuid, u32> = HashMap::new();
        for (conversation, body, sender) in &rows {
            if sender == "agent" {
                continue;
            }
            let Some(i) = traffic::message_marker(body).and_then(|i| usize::try_from(i).ok()) else { continue };
            if i >= n {
                continue;
            }
            counts[i] += 1;
            if f.ledger.plan[i].channel != Channel::Call {
                let k = f.ledger.plan[i].k;
                if let Some(previous) = last.insert(*conversation, k)
                    && previous > k
                {
                    stored.out_of_order += 1;
                }
            }
        }
        for (i, count) in counts.iter().enumerate() {
            if f.ledger.is_accepted(i) && *count == 0 {
                stored.lost += 1;
            }
            if *count > 1 {
                stored.doubled += 1;
            }
        }
    }
    pool.close().await;
    Ok(stored)
}

/// The agents' replies at the provider.
pub struct RepliesAtProvider {
    pub accepted: usize,
    /// Accepted, never sent, and not shown as failed either: silently lost.
    pub lost: usize,
    pub doubled: usize,
    /// Accepted, never sent, and failed in plain sight: a send cut by a crash of channel-ingest
    /// mid-request is marked failed (its outcome unknown) rather than sent a second time, and
    /// the agent sees it failed.
    pub failed_visibly: usize,
}

/// How long a reply may still be on its way when the traffic has settled: one in a consumer's
/// redelivery after a crash waits out the outbound sender's send lease (over 30 s) on a loaded
/// machine.
const REPLIES_SETTLE: Duration = Duration::from_secs(60);

/// Checks every accepted reply against the Graph API stub's sends; one not sent is looked up in
/// channel-ingest's delivery log (`postgres_url`'s `inbox_ingest`). Replies neither sent nor
/// failed are waited for up to [`REPLIES_SETTLE`] before they count as lost.
pub async fn check_replies(graph: &GraphStub, finished: &Finished, postgres_url: &str) -> RepliesAtProvider {
    let deadline = tokio::time::Instant::now() + REPLIES_SETTLE;
    loop {
        let sends = graph.sends();
        let accepted = finished.replies.accepted.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let unsent: Vec<u64> = accepted.iter().copied().filter(|j| !sends.contains_key(j)).collect();
        let markers = &finished.replies.markers;
        let doubled = sends.iter().filter(|(j, c)| markers.contains(j) && **c > 1).count();
        let ids: Vec<uuid::Uuid> = {
            let known = finished.replies.message_ids.lock().unwrap_or_else(|p| p.into_inner());
            unsent.iter().filter_map(|j| known.get(j)).filter_map(|id| uuid::Uuid::parse_str(id).ok()).collect()
        };
        let failed_visibly = if ids.is_empty() { 0 } else { failed_deliveries(postgres_url, &ids).await.unwrap_or(0) };
        let lost = unsent.len() - failed_visibly.min(unsent.len());
        if lost == 0 || tokio::time::Instant::now() >= deadline {
            return RepliesAtProvider { accepted: accepted.len(), lost, doubled, failed_visibly };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn failed_deliveries(postgres_url: &str, ids: &[uuid::Uuid]) -> anyhow::Result<usize> {
    let pool = sqlx::PgPool::connect(&format!("{postgres_url}/inbox_ingest")).await?;
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbound_deliveries WHERE message_id = ANY($1) AND state = 'failed'")
            .bind(ids)
            .fetch_one(&pool)
            .await?;
    pool.close().await;
    Ok(usize::try_from(failed).unwrap_or(0))
}

/// The metrics service's count of customer messages for the tenant, from the gateway.
pub async fn metrics_customer_messages(gateway: &str, token: &str, base: i64) -> anyhow::Result<u64> {
    let from = chrono::DateTime::from_timestamp(base - 86_400, 0).context("time")?.format("%Y-%m-%dT00:00:00Z");
    let to = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%dT00:00:00Z");
    let url = format!("{gateway}/v1/metrics/report?from={from}&to={to}&bucket=day&group_by=tenant&totals_only=true");
    let answer: Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(30))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["series"][0]["total"]["customer_messages"]
        .as_u64()
        .with_context(|| format!("no customer_messages in {answer}"))
}

/// Searches `marker` in the tenant over the search service's gRPC API: the conversations found.
pub async fn search_hits(search_grpc: &str, tenant: &str, marker: &str) -> anyhow::Result<usize> {
    use inbox_proto::search::v1::SearchConversationsRequest;
    use inbox_proto::search::v1::search_client::SearchClient;
    let channel = tonic::transport::Endpoint::from_shared(search_grpc.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let mut client = SearchClient::new(channel);
    let mut request =
        tonic::Request::new(SearchConversationsRequest { query: marker.to_owned(), limit: 10, ..Default::default() });
    let m = request.metadata_mut();
    m.insert("authorization", format!("Bearer {}", crate::fleet::SERVICE_TOKEN).parse()?);
    m.insert("x-inbox-tenant", tenant.parse()?);
    m.insert("x-inbox-principal", "operator".parse()?);
    m.insert("x-inbox-role", "admin".parse()?);
    request.set_timeout(Duration::from_secs(10));
    Ok(client.search_conversations(request).await?.into_inner().hits.len())
}
