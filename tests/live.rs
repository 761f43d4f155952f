//! The live stream end to end through the built binaries: a socket that reconnects gets what it
//! missed, in order, once; a crash of the conversation service doubles no frame; in a team-scoped
//! tenant an agent's socket carries only their teams' conversations; two agents viewing one
//! conversation see each other; a storm of one agent's sockets makes a handful of availability
//! frames; a web chat customer's typing reaches the agent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    PHONE_NUMBER_ID, SHOP_ORIGIN, Socket, add_webchat_widget, conversation_with, customer_writes, get_json, inboxctl,
    send_json, set_up_tenant, stream_request, wait_until_settled,
};
use inbox_testkit::wait_until;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A fleet whose gateway answers its API (its readiness can come a moment before).
async fn fleet_with(settings: &[(&str, &str, String)]) -> anyhow::Result<Fleet> {
    let fleet = Fleet::start_with(settings).await?;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/admin/tenants/{}/settings/access", fleet.http_url("gateway"), uuid::Uuid::nil());
    wait_until(Duration::from_secs(30), || async {
        let status = client.get(&url).bearer_auth(inbox_e2e::OPERATOR_TOKEN).send().await.ok()?.status();
        (status != 503).then_some(())
    })
    .await
    .context("the gateway never served its API")?;
    Ok(fleet)
}

/// The live socket of `token`, replaying after `after` when given, past its `ready` frame.
async fn open_socket(fleet: &Fleet, token: &str, after: Option<u64>) -> anyhow::Result<Socket> {
    let after = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let url = format!("{}/v1/stream{after}", fleet.http_url("gateway").replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(stream_request(&url, token)?).await?;
    let ready = next_frame(&mut socket, Duration::from_secs(10)).await?.context("no ready frame")?;
    anyhow::ensure!(ready["type"] == "ready", "first frame {ready}");
    Ok(socket)
}

/// The next text frame within `wait`; `None` when none came.
async fn next_frame(socket: &mut Socket, wait: Duration) -> anyhow::Result<Option<Value>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let Ok(next) = tokio::time::timeout_at(deadline, socket.next()).await else { return Ok(None) };
        match next.context("socket closed")?? {
            Message::Text(text) => return Ok(Some(serde_json::from_str(text.as_str())?)),
            Message::Close(close) => anyhow::bail!("socket closed by the gateway: {close:?}"),
            _ => {}
        }
    }
}

/// Every frame that arrives until `quiet` passes without one.
async fn frames_until_quiet(socket: &mut Socket, quiet: Duration) -> anyhow::Result<Vec<Value>> {
    let mut frames = Vec::new();
    while let Some(frame) = next_frame(socket, quiet).await? {
        frames.push(frame);
    }
    Ok(frames)
}

/// Frames until one of type `kind` for which `wanted` holds (15 s at most); all of them.
async fn frames_until(socket: &mut Socket, kind: &str, wanted: impl Fn(&Value) -> bool) -> anyhow::Result<Vec<Value>> {
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = next_frame(socket, left).await?.with_context(|| format!("no {kind} frame; saw {frames:?}"))?;
        let done = frame["type"] == kind && wanted(&frame);
        frames.push(frame);
        if done {
            return Ok(frames);
        }
    }
}

fn of_type<'a>(frames: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    frames.iter().filter(move |f| f["type"] == kind)
}

/// Sequences must only grow on one socket: in order, nothing twice.
fn assert_strictly_increasing(frames: &[Value]) {
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequences out of order or repeated: {seqs:?}");
}

/// A person of the tenant (created with inboxctl): their id and token.
fn person(fleet: &Fleet, tenant: &str, email: &str, name: &str, role: &str) -> anyhow::Result<(String, String)> {
    let created =
        inboxctl(fleet, &["agent", "create", "--tenant", tenant, "--email", email, "--name", name, "--role", role])?;
    Ok((
        created["user"]["id"].as_str().context("user id")?.to_owned(),
        created["token"].as_str().context("token")?.to_owned(),
    ))
}

fn team(fleet: &Fleet, tenant: &str, name: &str, members: &[&str]) -> anyhow::Result<String> {
    let created = inboxctl(fleet, &["team", "create", "--tenant", tenant, "--name", name])?;
    let id = created["id"].as_str().context("team id")?.to_owned();
    for member in members {
        inboxctl(fleet, &["team", "add-member", "--tenant", tenant, "--team", &id, "--user", member])?;
    }
    Ok(id)
}

#[tokio::test]
async fn a_reconnecting_socket_gets_what_it_missed_in_order_and_a_crash_upstream_doubles_nothing() -> anyhow::Result<()>
{
    // Little kept in memory, so the replay of 100 messages reads the EVENTS stream.
    let mut fleet = fleet_with(&[("gateway", "INBOX__LIVE__REPLAY_MEMORY_FRAMES", "16".into())]).await?;
    let tenant = set_up_tenant(&fleet, "live-replay", PHONE_NUMBER_ID)?;
    let client = reqwest::Client::new();

    let mut socket = open_socket(&fleet, &tenant.token, None).await?;
    customer_writes(&client, &fleet, "wamid.first", "15551230000", "first").await?;
    let seen = frames_until(&mut socket, "message.created", |f| f["message"]["external_id"] == "wamid.first").await?;
    let last_seen = seen.iter().filter_map(|f| f["seq"].as_u64()).max().context("frames carry seq")?;
    drop(socket);

    // 100 messages while the agent is away.
    for i in 0..100 {
        customer_writes(&client, &fleet, &format!("wamid.missed.{i}"), "15551230000", &format!("missed {i}")).await?;
    }
    wait_until_settled(&fleet).await?;

    let mut socket = open_socket(&fleet, &tenant.token, Some(last_seen)).await?;
    let replayed = frames_until_quiet(&mut socket, Duration::from_secs(3)).await?;
    assert_strictly_increasing(&replayed);
    assert!(replayed.iter().all(|f| f["seq"].as_u64().is_none_or(|s| s > last_seen)), "nothing seen before");
    // In the order the stream holds them (the sequences only grow), each once.
    let mut texts: Vec<&str> =
        of_type(&replayed, "message.created").filter_map(|f| f["message"]["content"]["text"].as_str()).collect();
    assert_eq!(texts.len(), 100, "{texts:?}");
    texts.sort_by_key(|t| t.trim_start_matches("missed ").parse::<u32>().unwrap_or(u32::MAX));
    let expected: Vec<String> = (0..100).map(|i| format!("missed {i}")).collect();
    assert_eq!(texts, expected, "all 100, once");

    // Then live again, without a gap or a copy.
    customer_writes(&client, &fleet, "wamid.after", "15551230000", "after").await?;
    let live = frames_until(&mut socket, "message.created", |f| f["message"]["external_id"] == "wamid.after").await?;
    let mut whole = replayed.clone();
    whole.extend(live);
    assert_strictly_increasing(&whole);

    // A crash of the conversation service (kill -9) while messages flow: its outbox relay
    // publishes again what it had not marked, and no frame reaches the socket twice.
    let sender = {
        let client = client.clone();
        let url = fleet.http_url("channel-ingest");
        async move {
            let mut sent = 0;
            for i in 0..300 {
                let body = inbox_e2e::support::webhook(
                    PHONE_NUMBER_ID,
                    &format!("wamid.flow.{i}"),
                    &format!("1555999{:04}", i % 20),
                    &format!("flow {i}"),
                    chrono::Utc::now().timestamp(),
                );
                let signature = inbox_e2e::support::sign(inbox_e2e::support::APP_SECRET, &body);
                let response = client
                    .post(format!("{url}/webhooks/whatsapp"))
                    .header("X-Hub-Signature-256", signature)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await;
                sent += usize::from(response.is_ok_and(|r| r.status().is_success()));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sent
        }
    };
    let flow = tokio::spawn(sender);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    fleet.kill("conversation")?;
    fleet.restart("conversation").await?;
    assert_eq!(flow.await?, 300, "channel-ingest took every webhook");
    wait_until_settled(&fleet).await?;
    let frames = frames_until_quiet(&mut socket, Duration::from_secs(4)).await?;
    assert_strictly_increasing(&frames);
    let mut events = HashSet::new();
    for frame in frames.iter().filter(|f| f["event_id"].is_string()) {
        assert!(events.insert(frame["event_id"].as_str().unwrap()), "event pushed twice: {frame}");
    }
    let mut messages: HashMap<&str, usize> = HashMap::new();
    for frame in of_type(&frames, "message.created") {
        *messages.entry(frame["message"]["external_id"].as_str().unwrap_or_default()).or_default() += 1;
    }
    assert_eq!(messages.len(), 300, "every message of the flow, live");
    assert!(messages.values().all(|n| *n == 1), "a message pushed twice: {messages:?}");
    Ok(())
}

#[tokio::test]
async fn in_a_team_scoped_tenant_an_agent_gets_only_their_teams_live_events_and_a_supervisor_all() -> anyhow::Result<()>
{
    let fleet = fleet_with(&[]).await?;
    let tenant = set_up_tenant(&fleet, "live-teams", PHONE_NUMBER_ID)?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let (alice, alice_token) = person(&fleet, &tenant.id, "alice@acme.test", "Alice", "agent")?;
    let (bob, _) = person(&fleet, &tenant.id, "bob@acme.test", "Bob", "agent")?;
    let (_, lead_token) = person(&fleet, &tenant.id, "lead@acme.test", "Lead", "supervisor")?;
    let (_, admin_token) = person(&fleet, &tenant.id, "admin@acme.test", "Ada", "admin")?;
    let team_a = team(&fleet, &tenant.id, "Billing", &[&alice])?;
    let team_b = team(&fleet, &tenant.id, "Returns", &[&bob])?;

    // The setting: all by default; admins (and the operator, with inboxctl) change it.
    let url = format!("{gateway}/v1/settings/access");
    assert_eq!(get_json(&client, url.clone(), &admin_token).await?, (200, json!({"visibility": "all"})));
    assert_eq!(get_json(&client, url.clone(), &alice_token).await?.0, 403);
    let refused = send_json(&client, Method::PUT, url.clone(), &admin_token, &json!({"visibility": "teams"})).await?;
    assert_eq!(refused.0, 400, "{}", refused.1);
    let set = inboxctl(&fleet, &["tenant", "set-visibility", "--tenant", &tenant.id, "--visibility", "team"])?;
    assert_eq!(set, json!({"visibility": "team"}));
    assert_eq!(get_json(&client, url, &admin_token).await?, (200, json!({"visibility": "team"})));

    // Two customers; their conversations go to team A and team B.
    customer_writes(&client, &fleet, "wamid.a1", "15550000001", "invoice question").await?;
    customer_writes(&client, &fleet, "wamid.b1", "15550000002", "return question").await?;
    wait_until_settled(&fleet).await?;
    let of_a = conversation_with(&client, &fleet, &lead_token, "15550000001").await?;
    let of_b = conversation_with(&client, &fleet, &lead_token, "15550000002").await?;
    for (conversation, team) in [(&of_a, &team_a), (&of_b, &team_b)] {
        let url = format!("{gateway}/v1/conversations/{}/assignment", conversation["id"].as_str().unwrap());
        let (status, body) = send_json(&client, Method::PUT, url, &lead_token, &json!({"team_id": team})).await?;
        assert_eq!(status, 200, "{body}");
    }
    wait_until_settled(&fleet).await?;
    // The visibility cache holds for a few seconds after the setting changed.
    tokio::time::sleep(Duration::from_secs(6)).await;

    let mut alice_socket = open_socket(&fleet, &alice_token, None).await?;
    let mut lead_socket = open_socket(&fleet, &lead_token, None).await?;
    customer_writes(&client, &fleet, "wamid.b2", "15550000002", "still waiting for my return").await?;
    customer_writes(&client, &fleet, "wamid.a2", "15550000001", "and the invoice?").await?;
    // The two conversations' messages are stored side by side: either may be pushed first.
    let mut lead_frames =
        frames_until(&mut lead_socket, "message.created", |f| f["message"]["external_id"] == "wamid.a2").await?;
    if !of_type(&lead_frames, "message.created").any(|f| f["message"]["external_id"] == "wamid.b2") {
        lead_frames.extend(
            frames_until(&mut lead_socket, "message.created", |f| f["message"]["external_id"] == "wamid.b2").await?,
        );
    }
    let lead_saw: HashSet<&str> =
        of_type(&lead_frames, "message.created").filter_map(|f| f["message"]["external_id"].as_str()).collect();
    assert!(lead_saw.contains("wamid.b2"), "the supervisor sees team B's conversation");
    let alice_frames =
        frames_until(&mut alice_socket, "message.created", |f| f["message"]["external_id"] == "wamid.a2").await?;
    let mut alice_frames = alice_frames;
    alice_frames.extend(frames_until_quiet(&mut alice_socket, Duration::from_secs(2)).await?);
    let b_id = of_b["id"].as_str().unwrap();
    let leaked: Vec<&Value> = alice_frames
        .iter()
        .filter(|f| {
            f["conversation"]["id"] == b_id || f["conversation_id"] == b_id || f["message"]["conversation_id"] == b_id
        })
        .collect();
    assert!(leaked.is_empty(), "team B's events reached an agent of team A: {leaked:?}");
    Ok(())
}

#[tokio::test]
async fn agents_viewing_one_conversation_see_each_other_and_customer_typing_reaches_them() -> anyhow::Result<()> {
    let fleet = fleet_with(&[]).await?;
    let tenant = set_up_tenant(&fleet, "live-viewers", PHONE_NUMBER_ID)?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let (sarah, sarah_token) = person(&fleet, &tenant.id, "sarah@acme.test", "Sarah", "agent")?;
    let (tom, tom_token) = person(&fleet, &tenant.id, "tom@acme.test", "Tom", "agent")?;

    // A web chat visitor writes: the conversation the agents open.
    let key = add_webchat_widget(&fleet, &tenant.id, &[SHOP_ORIGIN])?;
    let widget = format!("{}/webchat/v1/widgets/{key}", fleet.http_url("channel-ingest"));
    let visitor_call = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client
            .post(format!("{widget}{path}"))
            .header("Origin", SHOP_ORIGIN)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let session: Value = visitor_call("/sessions", None, json!({"name": "Ana"})).await?.json().await?;
    let visitor_token = session["visitor_token"].as_str().context("visitor token")?.to_owned();
    let visitor = session["visitor_id"].as_str().context("visitor id")?.to_owned();
    let sent =
        visitor_call("/messages", Some(&visitor_token), json!({"client_message_id": "m-1", "text": "Hello?"})).await?;
    assert!(sent.status().is_success());
    wait_until_settled(&fleet).await?;
    let conversation = conversation_with(&client, &fleet, &sarah_token, &visitor).await?;
    let id = conversation["id"].as_str().unwrap().to_owned();

    let mut sarah_socket = open_socket(&fleet, &sarah_token, None).await?;
    let mut tom_socket = open_socket(&fleet, &tom_token, None).await?;
    let viewing =
        |id: Option<&str>| Message::Text(json!({"type": "viewing", "conversation_id": id}).to_string().into());
    let viewers = |f: &Value| -> Vec<String> {
        f["viewers"]
            .as_array()
            .map(|v| v.iter().filter_map(|v| v["agent_id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };

    sarah_socket.send(viewing(Some(&id))).await?;
    let seen = frames_until(&mut tom_socket, "conversation.viewers", |f| viewers(f) == [sarah.clone()]).await?;
    let frame = seen.last().unwrap();
    assert_eq!(frame["conversation_id"], id.as_str());
    assert_eq!(frame["viewers"][0]["name"], "Sarah");
    assert!(frame.get("seq").is_none(), "viewers are ephemeral");
    tom_socket.send(viewing(Some(&id))).await?;
    frames_until(&mut sarah_socket, "conversation.viewers", |f| viewers(f) == [sarah.clone(), tom.clone()]).await?;
    let (status, rest) = get_json(&client, format!("{gateway}/v1/conversations/{id}/viewers"), &tom_token).await?;
    assert_eq!(status, 200, "{rest}");
    let listed: Vec<&str> = rest["viewers"].as_array().unwrap().iter().filter_map(|v| v["agent_id"].as_str()).collect();
    assert_eq!(listed, [sarah.as_str(), tom.as_str()]);

    // The customer types in the widget: the agents see it.
    let ticket: Value = visitor_call("/socket-tickets", Some(&visitor_token), json!({})).await?.json().await?;
    let url =
        format!("{widget}/socket?ticket={}", ticket["ticket"].as_str().context("ticket")?).replace("http://", "ws://");
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("Origin", SHOP_ORIGIN.parse()?);
    let (mut visitor_socket, _) = tokio_tungstenite::connect_async(request).await?;
    visitor_socket.send(Message::Text(json!({"type": "typing", "typing": true}).to_string().into())).await?;
    let typing = frames_until(&mut sarah_socket, "conversation.typing", |f| f["customer"] == true).await?;
    assert_eq!(
        typing.last().unwrap(),
        &json!({"type": "conversation.typing", "conversation_id": id, "customer": true, "typing": true})
    );

    // Sarah closes her socket: Tom sees her go.
    drop(sarah_socket);
    frames_until(&mut tom_socket, "conversation.viewers", |f| viewers(f) == [tom.clone()]).await?;
    let (_, rest) = get_json(&client, format!("{gateway}/v1/conversations/{id}/viewers"), &tom_token).await?;
    assert_eq!(rest["viewers"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn a_storm_of_one_agents_sockets_makes_a_handful_of_availability_frames() -> anyhow::Result<()> {
    let fleet = fleet_with(&[("gateway", "INBOX__LIVE__PRESENCE_GRACE_SECONDS", "2".into())]).await?;
    let tenant = set_up_tenant(&fleet, "live-presence", PHONE_NUMBER_ID)?;
    let (sarah, sarah_token) = person(&fleet, &tenant.id, "sarah@acme.test", "Sarah", "agent")?;
    let (_, lead_token) = person(&fleet, &tenant.id, "lead@acme.test", "Lead", "supervisor")?;
    let (_, tom_token) = person(&fleet, &tenant.id, "tom@acme.test", "Tom", "agent")?;
    let mut lead_socket = open_socket(&fleet, &lead_token, None).await?;
    let mut tom_socket = open_socket(&fleet, &tom_token, None).await?;
    let of_sarah = |frames: &[Value]| -> Vec<String> {
        of_type(frames, "routing.availability_changed")
            .filter(|f| f["agent_id"] == sarah.as_str())
            .map(|f| f["availability"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // 200 sockets in waves of 20 (the most one person may hold), each opened and closed.
    // A socket closed by the client frees its place a moment later on the gateway: a client
    // refused meanwhile (429) tries again.
    let reopen = || async {
        let socket =
            wait_until(Duration::from_secs(5), || async { open_socket(&fleet, &sarah_token, None).await.ok() });
        socket.await.context("no place freed for a new socket")
    };
    for _ in 0..10 {
        let mut wave = Vec::new();
        for _ in 0..20 {
            wave.push(reopen().await?);
        }
        drop(wave);
    }
    // A 21st at once is refused.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(reopen().await?);
    }
    assert!(open_socket(&fleet, &sarah_token, None).await.is_err(), "past the most sockets per person");
    // Closing tabs while one stays open: still online after the grace period.
    held.truncate(1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = frames_until_quiet(&mut lead_socket, Duration::from_secs(1)).await?;
    assert_eq!(of_sarah(&during), ["online"], "one change for 221 sockets: {during:?}");
    drop(held);
    let after =
        frames_until(&mut lead_socket, "routing.availability_changed", |f| f["agent_id"] == sarah.as_str()).await?;
    assert_eq!(of_sarah(&after), ["offline"], "offline once the last socket is gone");
    let agents = wait_until(Duration::from_secs(5), || {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/agents", fleet.http_url("gateway"));
        let token = lead_token.clone();
        let sarah = sarah.clone();
        async move {
            let (_, agents) = get_json(&client, url, &token).await.ok()?;
            let her = agents["items"].as_array()?.iter().find(|a| a["id"] == sarah.as_str())?.clone();
            (her["availability"] == "offline").then_some(her)
        }
    })
    .await;
    assert!(agents.is_some(), "routing has her offline");
    // Another agent's socket carries nobody's availability but their own.
    let tom_frames = frames_until_quiet(&mut tom_socket, Duration::from_millis(500)).await?;
    assert!(of_sarah(&tom_frames).is_empty(), "an agent received another agent's availability: {tom_frames:?}");
    Ok(())
}
