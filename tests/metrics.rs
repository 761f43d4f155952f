//! Metrics end to end through the built binaries: a WhatsApp conversation the AI answers, hands
//! to Sarah, who answers and resolves, moves the figures read through the gateway (JSON and
//! CSV), an agent reads only her own, an admin sets the CSAT survey, and the operator rebuilds
//! the figures from the conversation history with `inboxctl metrics rebuild` without counting
//! anything twice. The survey reaches the customer on WhatsApp, their answer is recorded for
//! Sarah, and the conversation stays resolved.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use inbox_e2e::Fleet;
use inbox_e2e::graph::{FakeGraph, GRAPH_VERSION};
use inbox_e2e::support::{
    PHONE_NUMBER_ID, customer_writes, get_json, inboxctl, person_token, send_json, set_up_tenant, wait_until_settled,
};
use inbox_testkit::{free_port, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

/// The fleet, with metrics told where the conversation service is and the gateway where
/// metrics is (the fleet does not pass these yet): both gRPC ports are chosen here; and
/// channel-ingest sending to a local Graph API that records what reaches the customer.
async fn fleet() -> anyhow::Result<(Fleet, FakeGraph)> {
    let (conversation, metrics) = (free_port(), free_port());
    let conversation_url = format!("http://127.0.0.1:{conversation}");
    let graph = FakeGraph::start().await?;
    let fleet = Fleet::start_with(&[
        ("channel-ingest", "INBOX__WHATSAPP__GRAPH_BASE_URL", graph.base_url.clone()),
        ("channel-ingest", "INBOX__WHATSAPP__GRAPH_API_VERSION", GRAPH_VERSION.to_owned()),
        ("conversation", "INBOX__GRPC__ADDR", format!("127.0.0.1:{conversation}")),
        ("gateway", "INBOX__GATEWAY__CONVERSATION_URL", conversation_url.clone()),
        ("routing", "INBOX__ROUTING__CONVERSATION_URL", conversation_url.clone()),
        ("metrics", "INBOX__GRPC__ADDR", format!("127.0.0.1:{metrics}")),
        ("metrics", "INBOX__METRICS__CONVERSATION_URL", conversation_url),
        ("gateway", "INBOX__GATEWAY__METRICS_URL", format!("http://127.0.0.1:{metrics}")),
    ])
    .await?;
    Ok((fleet, graph))
}

/// The last two days and the next one, in day buckets, grouped by `group_by`.
fn report_url(gateway: &str, path: &str, group_by: &str) -> String {
    let now = Utc::now();
    let (from, to) = ((now - chrono::Duration::days(2)).to_rfc3339(), (now + chrono::Duration::days(1)).to_rfc3339());
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &from)
        .append_pair("to", &to)
        .append_pair("bucket", "day")
        .append_pair("group_by", group_by)
        .finish();
    format!("{gateway}{path}?{query}")
}

fn total(report: &Value) -> &Value {
    &report["series"][0]["total"]
}

#[tokio::test]
async fn a_whatsapp_conversation_answered_and_resolved_moves_the_figures_read_through_the_gateway() -> anyhow::Result<()>
{
    let (fleet, graph) = fleet().await?;
    let tenant = set_up_tenant(&fleet, "metrics", PHONE_NUMBER_ID)?;
    let sarah = tenant.token.clone();
    let tom = person_token(&fleet, &tenant.id, "tom@acme.test", "Tom", "agent")?;
    let ai = person_token(&fleet, &tenant.id, "ai@acme.test", "Acme Assistant", "ai")?;
    let lead = person_token(&fleet, &tenant.id, "lead@acme.test", "Lena", "supervisor")?;
    let admin = person_token(&fleet, &tenant.id, "admin@acme.test", "Ada", "admin")?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");

    // The admin turns the survey on; an agent may not.
    let survey = json!({"enabled": true, "survey_text": "How did we do? Reply 1 to 5."});
    let (status, set) = send_json(&client, Method::PUT, format!("{gateway}/v1/settings/csat"), &admin, &survey).await?;
    assert_eq!((status, set["enabled"].as_bool()), (200, Some(true)), "{set}");
    let (status, _) = send_json(&client, Method::PUT, format!("{gateway}/v1/settings/csat"), &sarah, &survey).await?;
    assert_eq!(status, 403);

    // The customer writes; the AI answers unsure and asks for a person; Sarah takes over,
    // answers, and resolves.
    customer_writes(&client, &fleet, "wamid.METRICS.1", "16505550177", "My parcel is lost").await?;
    wait_until_settled(&fleet).await?;
    let (_, list) = get_json(&client, format!("{gateway}/v1/conversations"), &sarah).await?;
    let id = list["items"][0]["id"].as_str().context("conversation id")?.to_owned();
    let unsure = json!({"text": "Let me look.", "confidence": 0.3, "idempotency_key": "ai-1"});
    let (status, sent) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/{id}/ai-messages"), &ai, &unsure).await?;
    assert_eq!(status, 201, "{sent}");
    let (status, taken) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/{id}/take-over"), &sarah, &json!({}))
            .await?;
    assert_eq!(status, 200, "{taken}");
    let reply = json!({"text": "I found it: it arrives tomorrow.", "idempotency_key": "reply-1"});
    let (status, sent) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/{id}/messages"), &sarah, &reply).await?;
    assert_eq!(status, 201, "{sent}");
    let resolve = json!({"status": "resolved"});
    let (status, resolved) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/{id}/status"), &sarah, &resolve).await?;
    assert_eq!(status, 200, "{resolved}");

    // The figures move, read through the gateway.
    let url = report_url(&gateway, "/v1/metrics/report", "tenant");
    let (client_ref, url_ref, admin_ref) = (&client, &url, &admin);
    let report = wait_until(Duration::from_secs(30), || async move {
        let (status, report) = get_json(client_ref, url_ref.clone(), admin_ref).await.ok()?;
        (status == 200 && total(&report)["resolutions"] == 1).then_some(report)
    })
    .await
    .context("the resolution never reached the figures")?;
    assert_eq!(report["time_zone"], "Europe/Paris");
    let figures = total(&report);
    assert_eq!(figures["new_conversations"], 1, "{figures}");
    assert_eq!((figures["customer_messages"].as_u64(), figures["agent_messages"].as_u64()), (Some(1), Some(1)));
    assert_eq!(figures["ai_messages"], 1);
    assert_eq!(figures["first_response_seconds"]["count"], 1);
    assert_eq!(figures["resolution_seconds"]["count"], 1);
    assert_eq!(figures["ai"]["conversations_answered"], 1);
    assert_eq!(figures["ai"]["handoffs"], 1);
    assert_eq!(figures["ai"]["handoff_reasons"]["low_confidence"], 1);
    assert!(!report["series"][0]["points"].as_array().unwrap().is_empty());

    // Sarah sees her own figures; Tom his (none); the supervisor everyone's, by agent.
    let (_, hers) = get_json(&client, url.clone(), &sarah).await?;
    assert_eq!(hers["series"].as_array().map(Vec::len), Some(1));
    assert_eq!(hers["series"][0]["group_by"], "agent");
    assert_eq!(total(&hers)["conversations_resolved"], 1);
    assert_eq!(total(&hers)["resolution_rate"], 1.0);
    let (_, his) = get_json(&client, url.clone(), &tom).await?;
    assert_eq!(total(&his)["resolutions"], 0);
    let (_, by_agent) = get_json(&client, report_url(&gateway, "/v1/metrics/report", "agent"), &lead).await?;
    assert_eq!(by_agent["series"].as_array().map(Vec::len), Some(1), "{by_agent}");
    assert_eq!(by_agent["series"][0]["group_id"], hers["series"][0]["group_id"]);

    // The same as CSV.
    let csv = client.get(report_url(&gateway, "/v1/metrics/report.csv", "channel")).bearer_auth(&admin).send().await?;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str()?.starts_with("attachment; filename=\"metrics-"));
    let text = csv.text().await?;
    let total_row = text.lines().find(|l| l.starts_with("channel,whatsapp,total,")).context("no whatsapp total")?;
    assert!(total_row.starts_with("channel,whatsapp,total,1,1,"), "{total_row}");

    // Live: nothing open; one new and one resolved today.
    let (_, live) = get_json(&client, format!("{gateway}/v1/metrics/live"), &admin).await?;
    let today = &live["groups"][0];
    assert_eq!(
        (today["active"].as_u64(), today["new_today"].as_u64(), today["resolved_today"].as_u64()),
        (Some(0), Some(1), Some(1))
    );

    // The operator rebuilds from the history: the figures stay what they are.
    let from = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let rebuilt = inboxctl(&fleet, &["metrics", "rebuild", "--tenant", &tenant.id, "--from", &from])?;
    assert_eq!(
        (rebuilt["state"].as_str(), rebuilt["conversations_done"].as_u64()),
        (Some("done"), Some(1)),
        "{rebuilt}"
    );
    let (_, again) = get_json(&client, url.clone(), &admin).await?;
    assert_eq!(total(&again)["resolutions"], 1);
    assert_eq!(total(&again)["customer_messages"], 1);
    assert_eq!(total(&again)["first_response_seconds"], figures["first_response_seconds"]);
    let (status, _) = send_json(
        &client,
        Method::POST,
        format!("{gateway}/v1/admin/tenants/{}/metrics/rebuilds", tenant.id),
        &sarah,
        &json!({"from": from}),
    )
    .await?;
    assert_eq!(status, 403, "agents may not rebuild");

    // The survey reaches the customer on WhatsApp (reply buttons: the window is open) ...
    let graph_ref = &graph;
    let survey_sent = wait_until(Duration::from_secs(30), || async move {
        graph_ref.sends().into_iter().find(|s| s.body["interactive"]["body"]["text"] == "How did we do? Reply 1 to 5.")
    })
    .await
    .context("the survey never reached the Graph API")?;
    assert_eq!(survey_sent.body["to"], "16505550177");
    assert_eq!(survey_sent.body["interactive"]["action"]["buttons"][0]["reply"]["id"], "csat:5");
    let (_, conversation) = get_json(&client, format!("{gateway}/v1/conversations/{id}"), &sarah).await?;
    assert_eq!(conversation["status"], "resolved", "the survey does not reopen: {conversation}");

    // ... the customer answers "5": one response, scored 5, for Sarah, who resolved it. The
    // provider stamps messages in whole seconds, and an answer stamped before the survey is no
    // answer to it: the customer taps in a later second than the one the survey was stored in.
    let survey_seen = Utc::now().timestamp();
    wait_until(Duration::from_secs(2), || async move { (Utc::now().timestamp() > survey_seen).then_some(()) })
        .await
        .context("the clock did not move on")?;
    customer_writes(&client, &fleet, "wamid.METRICS.2", "16505550177", "5").await?;
    wait_until_settled(&fleet).await?;
    let answered = wait_until(Duration::from_secs(30), || async move {
        let (status, report) = get_json(client_ref, url_ref.clone(), admin_ref).await.ok()?;
        (status == 200 && total(&report)["csat"]["responses"] == 1).then_some(report)
    })
    .await;
    let Some(answered) = answered else {
        let (_, report) = get_json(&client, url.clone(), &admin).await?;
        let (_, conversation) = get_json(&client, format!("{gateway}/v1/conversations/{id}"), &sarah).await?;
        anyhow::bail!("the answer never reached the figures: {} {conversation}", total(&report));
    };
    let csat = &total(&answered)["csat"];
    assert_eq!((csat["surveys_sent"].as_u64(), csat["average"].as_f64()), (Some(1), Some(5.0)), "{csat}");
    assert_eq!(csat["by_score"], json!([0, 0, 0, 0, 1]));
    let (_, by_agent) = get_json(&client, report_url(&gateway, "/v1/metrics/report", "agent"), &lead).await?;
    assert_eq!(by_agent["series"][0]["group_id"], hers["series"][0]["group_id"], "attributed to Sarah");
    assert_eq!(total(&by_agent)["csat"]["responses"], 1, "{by_agent}");
    let (_, conversation) = get_json(&client, format!("{gateway}/v1/conversations/{id}"), &sarah).await?;
    assert_eq!(conversation["status"], "resolved", "the answer does not reopen: {conversation}");
    Ok(())
}
