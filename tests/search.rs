//! Search end to end through the built binaries: WhatsApp webhooks → channel-ingest →
//! conversation → `events.>` → search, asked as clients ask it, through the gateway
//! (`GET /v1/search`, `/v1/search/customers`, `/v1/search/top-questions`, `/v1/search/status`,
//! `POST /v1/search/reindex`, the operator's `inboxctl search status`), and over gRPC as the
//! gateway asks it (the tenant, the person and their visibility in metadata). Operators,
//! highlights, phrases, phones in any writing, bad syntax answered with its column, tenant and
//! team isolation, search down answered 503, a `kill -9` of search while a burst is being
//! indexed (nothing lost, nothing doubled after the restart), and a reindex while live traffic
//! flows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use anyhow::Context;
use inbox_config::Secret;
use inbox_e2e::support::{
    APP_SECRET, PHONE_NUMBER_ID, customer_writes, get_json, inboxctl, person_token, post_webhook, send_json,
    set_up_tenant, sign, webhook,
};
use inbox_e2e::{Fleet, service_token};
use inbox_proto::search::v1 as pb;
use inbox_proto::search::v1::search_client::SearchClient;
use inbox_service::{CallContext, Role, Visibility};
use inbox_testkit::wait_until;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

type Client = SearchClient<tonic::transport::Channel>;

/// The fleet, with WhatsApp numbers connected without asking Meta (the numbers are made up).
async fn start_fleet() -> anyhow::Result<Fleet> {
    Fleet::start_with(&[("channel-ingest", "INBOX__WHATSAPP__VERIFY_NUMBERS", "false".to_owned())]).await
}

/// The fleet's search service, as the gateway reaches it.
async fn search_client(fleet: &Fleet) -> anyhow::Result<Client> {
    Ok(SearchClient::connect(format!("http://127.0.0.1:{}", fleet.grpc_port("search"))).await?)
}

/// A request as the gateway makes it for a person of `tenant` who may see `visibility`.
fn request<T>(tenant: &str, role: Role, visibility: &Visibility, message: T) -> tonic::Request<T> {
    let principal = if role == Role::Operator { "operator".to_owned() } else { format!("user:{}", Uuid::now_v7()) };
    let ctx = CallContext { tenant_id: Uuid::parse_str(tenant).unwrap(), principal, role };
    let mut request = ctx.request(message, &Secret::new(service_token("gateway"))).unwrap();
    visibility.write_to(request.metadata_mut()).unwrap();
    request
}

async fn find(
    client: &mut Client,
    tenant: &str,
    visibility: &Visibility,
    query: &str,
) -> anyhow::Result<pb::SearchConversationsResponse> {
    let message =
        pb::SearchConversationsRequest { query: query.into(), limit: 100, with_facets: true, ..Default::default() };
    Ok(client.search_conversations(request(tenant, Role::Agent, visibility, message)).await?.into_inner())
}

fn ids(response: &pb::SearchConversationsResponse) -> Vec<String> {
    response.hits.iter().filter_map(|h| h.conversation.as_ref().map(|c| c.id.clone())).collect()
}

/// Waits until `query` finds `want` conversations.
async fn found(client: &Client, tenant: &str, query: &str, want: usize) -> Option<pb::SearchConversationsResponse> {
    wait_until(Duration::from_secs(60), || {
        let mut client = client.clone();
        async move {
            let r = find(&mut client, tenant, &Visibility::All, query).await.ok()?;
            (r.hits.len() == want).then_some(r)
        }
    })
    .await
}

/// Waits until each `<word><i>` is found (indexing catches up), then checks none is found twice
/// and none is missing.
async fn every_word_found_once(
    client: &Client,
    tenant: &str,
    word: &str,
    range: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let missing = || {
        let (client, range) = (client.clone(), range.clone());
        async move {
            let mut missing = Vec::new();
            for i in range {
                let r = find(&mut client.clone(), tenant, &Visibility::All, &format!("{word}{i} ")).await?;
                anyhow::ensure!(r.hits.len() <= 1, "{word}{i} is found {} times", r.hits.len());
                if r.hits.is_empty() {
                    missing.push(i);
                }
            }
            Ok(missing)
        }
    };
    let none_missing =
        wait_until(Duration::from_secs(60), || async { missing().await.ok().filter(Vec::is_empty) }).await;
    if none_missing.is_none() {
        anyhow::bail!("{word}: never found: {:?}", missing().await?);
    }
    Ok(())
}

/// `GET <path>?<params>` on the gateway with a person's token: the status and the JSON answer.
async fn get(
    http: &reqwest::Client,
    fleet: &Fleet,
    token: &str,
    path: &str,
    params: &[(&str, &str)],
) -> anyhow::Result<(u16, Value)> {
    let url = reqwest::Url::parse_with_params(&format!("{}{path}", fleet.http_url("gateway")), params)?;
    let response = http.get(url).bearer_auth(token).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// `GET /v1/search?q=` as the web inbox's palette asks it.
async fn search(http: &reqwest::Client, fleet: &Fleet, token: &str, q: &str) -> anyhow::Result<(u16, Value)> {
    get(http, fleet, token, "/v1/search", &[("q", q), ("limit", "100")]).await
}

/// The ids of the conversations a gateway search answered.
fn hit_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["conversation"]["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Waits until the gateway's search for `q` answers exactly the conversations `want`.
async fn gateway_finds(http: &reqwest::Client, fleet: &Fleet, token: &str, q: &str, want: &[&str]) -> Option<Value> {
    wait_until(Duration::from_secs(60), || async move {
        let (status, page) = search(http, fleet, token, q).await.ok()?;
        (status == 200 && hit_ids(&page) == want).then_some(page)
    })
    .await
}

/// A person of the tenant: their user id and token.
fn person(fleet: &Fleet, tenant: &str, email: &str, name: &str, role: &str) -> anyhow::Result<(String, String)> {
    let created =
        inboxctl(fleet, &["agent", "create", "--tenant", tenant, "--email", email, "--name", name, "--role", role])?;
    Ok((
        created["user"]["id"].as_str().context("user id")?.to_owned(),
        created["token"].as_str().context("token")?.to_owned(),
    ))
}

#[tokio::test]
async fn customers_messages_are_found_by_every_operator_in_their_tenant_and_team_only() -> anyhow::Result<()> {
    let fleet = start_fleet().await?;
    let acme = set_up_tenant(&fleet, "acme-search", PHONE_NUMBER_ID)?;
    let rival_number = "106540352299999";
    let rival = set_up_tenant(&fleet, "rival-search", rival_number)?;
    let http = reqwest::Client::new();

    customer_writes(&http, &fleet, "wamid.s1", "15551234567", "Bonjour, my refund request for the crème brûlée order")
        .await?;
    customer_writes(&http, &fleet, "wamid.s2", "15557654321", "The delivery is late, where is my parcel?").await?;
    let body =
        webhook(rival_number, "wamid.r1", "15551234567", "my refund request is secret", chrono::Utc::now().timestamp());
    assert_eq!(post_webhook(&http, &fleet, &body, &sign(APP_SECRET, &body)).await?, 200);

    let client = search_client(&fleet).await?;
    let refund = found(&client, &acme.id, "refunds ", 1).await.context("the refund is searchable")?;
    let hit = &refund.hits[0];
    let highlight = hit.best_message.as_ref().and_then(|m| m.highlight.as_ref()).context("highlight")?;
    let marked: Vec<&str> =
        highlight.ranges.iter().map(|r| &highlight.fragment[r.start as usize..r.end as usize]).collect();
    assert_eq!(marked, vec!["refund"], "{:?}", highlight.fragment);
    let refund_conversation = ids(&refund)[0].clone();
    let parcel = found(&client, &acme.id, "parcel ", 1).await.context("the parcel is searchable")?;
    let parcel_conversation = ids(&parcel)[0].clone();

    let mut c = client.clone();
    let all = Visibility::All;
    let one = |r: pb::SearchConversationsResponse| ids(&r);
    assert_eq!(one(find(&mut c, &acme.id, &all, "\"refund request\"").await?), vec![refund_conversation.clone()]);
    assert_eq!(one(find(&mut c, &acme.id, &all, "creme brulee ").await?), vec![refund_conversation.clone()], "accents");
    assert_eq!(one(find(&mut c, &acme.id, &all, "phone:+1 (555) 123-4567").await?), vec![refund_conversation.clone()]);
    assert_eq!(one(find(&mut c, &acme.id, &all, "deliv").await?).len(), 1, "type-ahead");
    assert_eq!(one(find(&mut c, &acme.id, &all, "my -parcel ").await?), vec![refund_conversation.clone()]);
    assert_eq!(one(find(&mut c, &acme.id, &all, "status:active channel:whatsapp").await?).len(), 2);
    assert_eq!(one(find(&mut c, &acme.id, &all, "assigned:none priority:normal,high,urgent,low").await?).len(), 2);
    assert_eq!(
        one(find(&mut c, &acme.id, &all, "name:sheena after:today").await?).len(),
        2,
        "names, dates in the tenant zone"
    );
    assert_eq!(
        one(find(&mut c, &acme.id, &all, &format!("id:{refund_conversation}")).await?),
        vec![refund_conversation.clone()]
    );
    assert_eq!(one(find(&mut c, &acme.id, &all, "id:wamid.s1").await?), vec![refund_conversation.clone()]);
    assert_eq!(
        one(find(&mut c, &acme.id, &all, "assigned:sarah@acme.test").await?),
        Vec::<String>::new(),
        "emails resolve"
    );
    let bad = c
        .search_conversations(request(
            &acme.id,
            Role::Agent,
            &all,
            pb::SearchConversationsRequest { query: "refund statu:open".into(), ..Default::default() },
        ))
        .await
        .expect_err("bad syntax");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("column 8"), "{}", bad.message());

    // Through the gateway, as the web inbox's search palette asks: Sarah, an agent of acme.
    let page = gateway_finds(&http, &fleet, &acme.token, "refunds ", &[&refund_conversation])
        .await
        .context("the gateway finds the refund")?;
    assert_eq!(page["next_cursor"], Value::Null);
    let item = &page["items"][0];
    let fragment = item["highlights"][0]["fragment"].as_str().context("a fragment")?;
    let range = &item["highlights"][0]["ranges"][0];
    let (start, end) = (range["start"].as_u64().unwrap() as usize, range["end"].as_u64().unwrap() as usize);
    assert_eq!(&fragment[start..end], "refund", "{fragment:?}");
    assert_eq!(item["highlights"][0]["field"], "body");
    assert_eq!(item["message"]["sender_kind"], "customer");
    // The conversation is the one the conversation list shows, field for field, once the index
    // has its latest version (the list adds what the reader has read).
    let same = wait_until(Duration::from_secs(30), || {
        let (http, fleet, token, id) = (&http, &fleet, &acme.token, &refund_conversation);
        async move {
            let without_reader = |c: &Value| {
                let mut c = c.as_object()?.clone();
                c.remove("unread");
                c.remove("last_read_message_id");
                Some(Value::Object(c))
            };
            let (_, page) = search(http, fleet, token, "refunds ").await.ok()?;
            let searched = without_reader(&page["items"][0]["conversation"])?;
            let (_, list) =
                get_json(http, format!("{}/v1/conversations", fleet.http_url("gateway")), token).await.ok()?;
            let listed = list["items"].as_array()?.iter().find(|c| c["id"] == id.as_str()).and_then(without_reader)?;
            (searched == listed).then_some(())
        }
    })
    .await;
    assert!(same.is_some(), "a hit's conversation is the list's JSON");

    let gateway_ids = |page: (u16, Value)| {
        assert_eq!(page.0, 200, "{}", page.1);
        hit_ids(&page.1)
    };
    let refund_only = vec![refund_conversation.clone()];
    for q in [
        "\"refund request\"",
        "creme brulee ",
        "phone:+1 (555) 123-4567",
        "phone:0015551234567",
        "15551234567",
        "my -parcel ",
        "id:wamid.s1",
    ] {
        assert_eq!(gateway_ids(search(&http, &fleet, &acme.token, q).await?), refund_only, "{q:?}");
    }
    assert_eq!(gateway_ids(search(&http, &fleet, &acme.token, "status:active channel:whatsapp").await?).len(), 2);
    let (status, recent) =
        get(&http, &fleet, &acme.token, "/v1/search", &[("q", "my "), ("order", "recent"), ("facets", "true")]).await?;
    assert_eq!(status, 200, "{recent}");
    let mut found_ids = hit_ids(&recent);
    found_ids.sort();
    let mut both_ids = vec![parcel_conversation.clone(), refund_conversation.clone()];
    both_ids.sort();
    assert_eq!(found_ids, both_ids);
    let sent: Vec<&str> =
        recent["items"].as_array().unwrap().iter().filter_map(|i| i["message"]["sent_at"].as_str()).collect();
    assert_eq!(sent.len(), 2, "{recent}");
    assert!(sent[0] >= sent[1], "newest matching message first: {sent:?}");
    assert_eq!(recent["facets"]["total"], 2);
    assert_eq!(recent["facets"]["by_status"], json!({"active": 2}));
    assert_eq!(recent["facets"]["by_channel"], json!({"whatsapp": 2}));
    let (status, first) = get(&http, &fleet, &acme.token, "/v1/search", &[("q", "my "), ("limit", "1")]).await?;
    assert_eq!(status, 200);
    let cursor = first["next_cursor"].as_str().context("a next page")?.to_owned();
    let (status, second) =
        get(&http, &fleet, &acme.token, "/v1/search", &[("q", "my "), ("limit", "1"), ("cursor", &cursor)]).await?;
    assert_eq!(status, 200);
    let mut both = [hit_ids(&first), hit_ids(&second)].concat();
    both.sort();
    let mut want = vec![parcel_conversation.clone(), refund_conversation.clone()];
    want.sort();
    assert_eq!(both, want, "two pages, no gap, no repeat");

    // Refusals: bad syntax with its column, too long, limits.
    let (status, refused) = search(&http, &fleet, &acme.token, "refund statu:open").await?;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_argument");
    assert_eq!(refused["error"]["details"]["column"], 8, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("column 8"), "{refused}");
    let (status, refused) = search(&http, &fleet, &acme.token, "\"late delivery").await?;
    assert_eq!((status, &refused["error"]["details"]["column"]), (400, &json!(1)), "{refused}");
    let (status, refused) = search(&http, &fleet, &acme.token, &"a".repeat(1001)).await?;
    assert_eq!((status, &refused["error"]["details"]["column"]), (400, &json!(1001)), "{refused}");
    let (status, refused) = search(&http, &fleet, &acme.token, &"b ".repeat(400)).await?;
    assert_eq!(status, 400, "over the search service's own limit: {refused}");
    assert_eq!(search(&http, &fleet, &acme.token, "refund\0").await?.0, 400, "NUL");
    for limit in ["0", "101", "-1", "many"] {
        let (status, _) = get(&http, &fleet, &acme.token, "/v1/search", &[("q", "refund"), ("limit", limit)]).await?;
        assert_eq!(status, 400, "limit={limit}");
    }
    assert_eq!(get(&http, &fleet, &acme.token, "/v1/search", &[("order", "best")]).await?.0, 400);
    assert_eq!(get(&http, &fleet, &acme.token, "/v1/search", &[("cursor", "nonsense")]).await?.0, 400);
    assert_eq!(
        http.get(format!("{}/v1/search?q=refund", fleet.http_url("gateway"))).send().await?.status(),
        401,
        "no credential"
    );

    // Customers, by phone in another writing; only the caller's tenant's.
    let customers = wait_until(Duration::from_secs(60), || {
        let (http, fleet, token) = (&http, &fleet, &acme.token);
        async move {
            let (status, page) =
                get(http, fleet, token, "/v1/search/customers", &[("q", "phone:+1 555 123 4567")]).await.ok()?;
            (status == 200 && page["items"].as_array().is_some_and(|i| !i.is_empty())).then_some(page)
        }
    })
    .await
    .context("the customer is searchable")?;
    assert_eq!(customers["items"].as_array().unwrap().len(), 1, "{customers}");
    assert_eq!(customers["items"][0]["phones"], json!(["+15551234567"]));
    let (status, refused) = get(&http, &fleet, &acme.token, "/v1/search/customers", &[("q", "status:open")]).await?;
    assert_eq!((status, &refused["error"]["details"]["column"]), (400, &json!(1)), "{refused}");

    // Frequent questions: supervisors and admins, not agents.
    let (_, admin) = person(&fleet, &acme.id, "ada@acme.test", "Ada", "admin")?;
    let (status, questions) = get(&http, &fleet, &admin, "/v1/search/top-questions", &[("period", "24h")]).await?;
    assert_eq!(status, 200, "{questions}");
    assert_eq!(questions["messages_considered"], 2, "{questions}");
    assert!(questions["items"].is_array());
    assert_eq!(get(&http, &fleet, &acme.token, "/v1/search/top-questions", &[]).await?.0, 403);
    assert_eq!(get(&http, &fleet, &admin, "/v1/search/top-questions", &[("period", "1y")]).await?.0, 400);

    // The other tenant's identical message never shows, however the query is written.
    let rival_found = found(&client, &rival.id, "secret ", 1).await.context("rival indexed")?;
    let rival_conversation = ids(&rival_found)[0].clone();
    for q in ["secret ", "refund ", "phone:15551234567", "", &format!("id:{rival_conversation}"), &rival_conversation] {
        assert!(!one(find(&mut c, &acme.id, &all, q).await?).contains(&rival_conversation), "{q:?} crossed tenants");
        let (status, page) = search(&http, &fleet, &acme.token, q).await?;
        assert_eq!(status, 200, "{q:?}: {page}");
        assert!(!hit_ids(&page).contains(&rival_conversation), "{q:?} crossed tenants through the gateway");
    }
    assert_eq!(gateway_ids(search(&http, &fleet, &rival.token, "refund ").await?), vec![rival_conversation.clone()]);

    // A team the caller is not in hides its conversation from a team-scoped person.
    let team = inboxctl(&fleet, &["team", "create", "--tenant", &acme.id, "--name", "Billing"])?;
    let team_id = team["id"].as_str().context("team id")?.to_owned();
    let (status, _) = send_json(
        &http,
        Method::PUT,
        format!("{}/v1/conversations/{refund_conversation}/assignment", fleet.http_url("gateway")),
        &acme.token,
        &json!({"team_id": team_id}),
    )
    .await?;
    assert_eq!(status, 200);
    found(&client, &acme.id, &format!("team:{team_id}"), 1).await.context("the assignment is indexed")?;
    assert_eq!(
        one(find(&mut c, &acme.id, &all, "team:billing").await?),
        vec![refund_conversation.clone()],
        "team names resolve"
    );
    let outsider = Visibility::Teams { team_ids: vec![Uuid::now_v7()], assignee: None };
    for q in ["refund ", "\"refund request\"", "phone:15551234567", "", "team:billing", &refund_conversation] {
        assert!(
            !one(find(&mut c, &acme.id, &outsider, q).await?).contains(&refund_conversation),
            "{q:?} crossed teams"
        );
    }
    let member = Visibility::Teams { team_ids: vec![Uuid::parse_str(&team_id)?], assignee: None };
    assert_eq!(one(find(&mut c, &acme.id, &member, "refund ").await?), vec![refund_conversation.clone()]);

    // The same through the gateway: the tenant sees by team; Bob is in Sales, Carol in Billing.
    let sales = inboxctl(&fleet, &["team", "create", "--tenant", &acme.id, "--name", "Sales"])?;
    let sales_id = sales["id"].as_str().context("team id")?.to_owned();
    let (bob_id, bob) = person(&fleet, &acme.id, "bob@acme.test", "Bob", "agent")?;
    let (carol_id, carol) = person(&fleet, &acme.id, "carol@acme.test", "Carol", "agent")?;
    inboxctl(&fleet, &["team", "add-member", "--tenant", &acme.id, "--team", &sales_id, "--user", &bob_id])?;
    inboxctl(&fleet, &["team", "add-member", "--tenant", &acme.id, "--team", &team_id, "--user", &carol_id])?;
    let (status, setting) = send_json(
        &http,
        Method::PUT,
        format!("{}/v1/settings/access", fleet.http_url("gateway")),
        &admin,
        &json!({"visibility": "team"}),
    )
    .await?;
    assert_eq!(status, 200, "{setting}");
    // Once the conversation list hides Billing's conversation from Bob, the setting applies.
    let hidden = wait_until(Duration::from_secs(30), || {
        let (http, url, bob, id) =
            (&http, format!("{}/v1/conversations", fleet.http_url("gateway")), &bob, &refund_conversation);
        async move {
            let (status, list) = get_json(http, url, bob).await.ok()?;
            (status == 200 && !list["items"].as_array()?.iter().any(|c| c["id"] == id.as_str())).then_some(())
        }
    })
    .await;
    assert!(hidden.is_some(), "team visibility applies to Bob");
    for q in ["refund ", "\"refund request\"", "phone:15551234567", "", "team:billing", &refund_conversation] {
        let (status, page) = search(&http, &fleet, &bob, q).await?;
        assert_eq!(status, 200, "{q:?}: {page}");
        assert!(!hit_ids(&page).contains(&refund_conversation), "{q:?} crossed teams through the gateway");
    }
    assert_eq!(gateway_ids(search(&http, &fleet, &bob, "parcel ").await?), vec![parcel_conversation], "unassigned");
    assert_eq!(gateway_ids(search(&http, &fleet, &carol, "refund ").await?), vec![refund_conversation.clone()]);
    assert_eq!(gateway_ids(search(&http, &fleet, &admin, "refund ").await?), vec![refund_conversation]);
    Ok(())
}

#[tokio::test]
async fn a_crash_while_indexing_loses_and_doubles_nothing_and_a_reindex_under_traffic_leaves_no_gap()
-> anyhow::Result<()> {
    let mut fleet = start_fleet().await?;
    let acme = set_up_tenant(&fleet, "acme-crash", PHONE_NUMBER_ID)?;
    let admin = person_token(&fleet, &acme.id, "ada@acme.test", "Ada", "admin")?;
    let http = reqwest::Client::new();
    let client = search_client(&fleet).await?;

    // A burst of 300 messages from 30 customers; search is killed as soon as the first are found.
    let burst = 300;
    let sender = tokio::spawn({
        let http = http.clone();
        let fleet_ingest = fleet.http_url("channel-ingest");
        async move {
            for i in 0..burst {
                let body = webhook(
                    PHONE_NUMBER_ID,
                    &format!("wamid.burst.{i}"),
                    &format!("1555400{:04}", i % 30),
                    &format!("burst word{i} here"),
                    chrono::Utc::now().timestamp(),
                );
                let response = http
                    .post(format!("{fleet_ingest}/webhooks/whatsapp"))
                    .header("X-Hub-Signature-256", sign(APP_SECRET, &body))
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(response.status() == 200, "webhook {i}: {}", response.status());
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    let some = wait_until(Duration::from_secs(60), || {
        let mut c = client.clone();
        let tenant = acme.id.clone();
        async move { (!find(&mut c, &tenant, &Visibility::All, "burst ").await.ok()?.hits.is_empty()).then_some(()) }
    })
    .await;
    assert!(some.is_some(), "the burst started to be indexed");
    fleet.kill("search")?;

    // Search down: the gateway says so with a 503 (the palette reads a 404 as "no search here").
    let (status, down) = search(&http, &fleet, &acme.token, "burst ").await?;
    assert_eq!(status, 503, "{down}");
    assert_eq!(down["error"]["code"], "unavailable");

    sender.await??;
    fleet.restart("search").await?;
    let client = search_client(&fleet).await?;
    let all = found(&client, &acme.id, "burst ", 30).await.context("every customer's conversation")?;
    assert_eq!(all.facets.as_ref().map(|f| f.total), Some(30));
    // The restarted replica catches up on what it had not committed.
    every_word_found_once(&client, &acme.id, "word", 0..burst).await?;
    let (status, facets) =
        get(&http, &fleet, &acme.token, "/v1/search", &[("q", "burst "), ("facets", "true"), ("limit", "1")]).await?;
    assert_eq!(status, 200, "{facets}");
    assert_eq!(facets["facets"]["total"], 30, "through the gateway too");

    // A reindex while messages keep arriving: afterwards, every message is found, once.
    let traffic = tokio::spawn({
        let http = http.clone();
        let ingest = fleet.http_url("channel-ingest");
        async move {
            for i in 0..150 {
                let body = webhook(
                    PHONE_NUMBER_ID,
                    &format!("wamid.live.{i}"),
                    &format!("1555500{:04}", i % 15),
                    &format!("live token{i}"),
                    chrono::Utc::now().timestamp(),
                );
                let response = http
                    .post(format!("{ingest}/webhooks/whatsapp"))
                    .header("X-Hub-Signature-256", sign(APP_SECRET, &body))
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(response.status() == 200, "webhook {i}: {}", response.status());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reindex_url = format!("{}/v1/search/reindex", fleet.http_url("gateway"));
    let (status, refused) = send_json(&http, Method::POST, reindex_url.clone(), &acme.token, &json!({})).await?;
    assert_eq!(status, 403, "agents do not reindex: {refused}");
    let (status, reindex) = send_json(&http, Method::POST, reindex_url, &admin, &json!({})).await?;
    assert_eq!(status, 202, "{reindex}");
    assert_eq!(reindex["tenant_ids"], json!([acme.id]));
    traffic.await??;
    let rebuilt = wait_until(Duration::from_secs(60), || {
        let (http, fleet, admin) = (&http, &fleet, &admin);
        async move {
            let (status, index) = get(http, fleet, admin, "/v1/search/status", &[]).await.ok()?;
            (status == 200).then_some(())?;
            index["rebuilds"].as_array()?.iter().find(|r| r["state"] == "done").cloned()
        }
    })
    .await
    .context("the rebuild finished")?;
    assert!(rebuilt["conversations"].as_u64().unwrap() >= 30, "{rebuilt}");
    assert_eq!(rebuilt["tenant_id"], acme.id.as_str());
    assert_eq!(get(&http, &fleet, &acme.token, "/v1/search/status", &[]).await?.0, 403, "admins only");
    // The operator reads the same through inboxctl.
    let status = inboxctl(&fleet, &["search", "status", "--tenant", &acme.id])?;
    assert!(status["rebuilds"].as_array().is_some_and(|r| r.iter().all(|r| r["tenant_id"] == acme.id.as_str())));
    assert!(status["schema_version"].as_u64().is_some_and(|v| v >= 1), "{status}");

    found(&client, &acme.id, "live ", 15).await.context("the live conversations")?;
    every_word_found_once(&client, &acme.id, "token", 0..150).await?;
    let mut c = client.clone();
    for i in (0..burst).step_by(7) {
        let r = find(&mut c, &acme.id, &Visibility::All, &format!("word{i} ")).await?;
        assert_eq!(r.hits.len(), 1, "word{i} is still found once");
    }
    Ok(())
}
