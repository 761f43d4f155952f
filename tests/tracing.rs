//! One trace runs through the fleet: a REST call that carries a W3C `traceparent` continues in
//! the gateway, in the routing service it calls over gRPC, and in the conversation service that
//! follows routing's decision over NATS; each logs with the same trace id.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use anyhow::Context;
use inbox_e2e::Fleet;
use inbox_e2e::support::{PHONE_NUMBER_ID, customer_writes, get_json, inboxctl, person_token, set_up_tenant};
use serde_json::json;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn a_rest_call_is_one_trace_across_gateway_routing_and_conversation() -> anyhow::Result<()> {
    // Request and event logs are debug lines of the HTTP edge, tower-http (gRPC) and the bus.
    let level = "info,inbox_http=debug,tower_http=debug,inbox_bus=debug".to_owned();
    let env: Vec<(&str, &str, String)> =
        ["gateway", "routing", "conversation"].iter().map(|s| (*s, "INBOX__LOG__LEVEL", level.clone())).collect();
    let fleet = Fleet::start_with(&env).await?;
    let tenant = set_up_tenant(&fleet, "traced", PHONE_NUMBER_ID)?;
    let lead = person_token(&fleet, &tenant.id, "lead@acme.test", "Lena", "supervisor")?;
    let agent = inboxctl(
        &fleet,
        &["agent", "create", "--tenant", &tenant.id, "--email", "tom@acme.test", "--name", "Tom", "--role", "agent"],
    )?;
    let tom = agent["user"]["id"].as_str().context("user id")?.to_owned();

    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    customer_writes(&client, &fleet, "wamid.TRACE.1", "16505550111", "Hello?").await?;
    let listed = inbox_testkit::wait_until(std::time::Duration::from_secs(10), || {
        let (client, url, lead) = (client.clone(), format!("{gateway}/v1/conversations"), lead.clone());
        async move {
            let (_, list) = get_json(&client, url, &lead).await.ok()?;
            list["items"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await;
    let id = listed.context("the conversation was not listed")?;

    let answer = client
        .put(format!("{gateway}/v1/conversations/{id}/assignment"))
        .bearer_auth(&lead)
        .header("traceparent", format!("00-{TRACE_ID}-b7ad6b7169203331-01"))
        .json(&json!({"assignee_id": tom}))
        .send()
        .await?;
    assert_eq!(answer.status(), 200, "{}", answer.text().await?);

    // The conversation service follows routing's decision asynchronously: wait for its line.
    let all_traced = inbox_testkit::wait_until(std::time::Duration::from_secs(10), || {
        let traced = ["gateway", "routing", "conversation"]
            .iter()
            .all(|service| fleet.log_text(service).lines().any(|line| line.contains(TRACE_ID)));
        async move { traced.then_some(()) }
    })
    .await;
    for service in ["gateway", "routing", "conversation"] {
        let lines = fleet.log_text(service).lines().filter(|line| line.contains(TRACE_ID)).count();
        eprintln!("inbox-{service}: {lines} lines of trace {TRACE_ID}");
    }
    assert!(all_traced.is_some(), "every service of the call logs under the caller's trace id");
    Ok(())
}
