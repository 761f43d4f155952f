//! The inbox's working day, end to end through the built binaries: the AI answers first and
//! asks for a person, the views count it, an agent takes over (the AI is told to stop, the
//! customer hears who is coming), filters and sorts find it, a supervisor resolves in bulk,
//! and every role is held to what it may do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use anyhow::Context;
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    PHONE_NUMBER_ID, connect_stream, customer_writes, get_json, next_frame_of_type, person_token, send_json,
    set_up_tenant, wait_until_settled,
};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_ai_asks_for_a_person_an_agent_takes_over_and_a_supervisor_resolves_in_bulk() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "workday", PHONE_NUMBER_ID)?;
    let sarah = tenant.token.clone();
    let ai = person_token(&fleet, &tenant.id, "ai@acme.test", "Acme Assistant", "ai")?;
    let lead = person_token(&fleet, &tenant.id, "lead@acme.test", "Lena", "supervisor")?;
    let admin = person_token(&fleet, &tenant.id, "admin@acme.test", "Ada", "admin")?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let mut socket = connect_stream(&fleet, &sarah).await?;

    // The tenant's settings were seeded from its creation.
    let (_, settings) = get_json(&client, format!("{gateway}/v1/settings/tenant"), &sarah).await?;
    assert_eq!(settings["time_zone"], "Europe/Paris");
    assert_eq!(settings["company_name"], "Acme Support");

    customer_writes(&client, &fleet, "wamid.W.1", "16505551234", "My order has not arrived").await?;
    let created = next_frame_of_type(&mut socket, "message.created").await?;
    let id = created["conversation"]["id"].as_str().context("conversation id")?.to_owned();
    assert_eq!(created["conversation"]["handled_by"], "ai");

    // The AI answers, unsure: the conversation needs a person, live and in the views.
    let unsure = json!({"text": "Let me check that for you.", "confidence": 0.35, "idempotency_key": "ai-1"});
    let url = format!("{gateway}/v1/conversations/{id}/ai-messages");
    let (status, sent) = send_json(&client, Method::POST, url.clone(), &ai, &unsure).await?;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["message"]["ai_confidence"].as_f64().map(|c| (c * 100.0).round()), Some(35.0));
    let flagged = next_frame_of_type(&mut socket, "conversation.needs_human").await?;
    assert_eq!(flagged["conversation"]["needs_human_reason"], "AI confidence 0.35 below 0.60");
    let (_, views) = get_json(&client, format!("{gateway}/v1/views"), &sarah).await?;
    assert_eq!(views["team"]["needs_review"], 1);
    assert_eq!(views["all"]["active"], 1);
    let (_, listed) = get_json(&client, format!("{gateway}/v1/conversations?view=team.needs_review"), &sarah).await?;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    // Only the AI account writes AI messages.
    let (status, _) = send_json(
        &client,
        Method::POST,
        url.clone(),
        &sarah,
        &json!({"text": "x", "confidence": 1.0, "idempotency_key": "s"}),
    )
    .await?;
    assert_eq!(status, 403);

    // Sarah takes over: she owns it, the AI is told to stop, the customer hears who is coming.
    let (status, taken) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/{id}/take-over"), &sarah, &json!({}))
            .await?;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken["handled_by"], "human");
    assert!(!taken["needs_human"].as_bool().unwrap());
    let stop = next_frame_of_type(&mut socket, "conversation.taken_over").await?;
    assert_eq!(stop["ai_active"], false);
    let (_, messages) = get_json(&client, format!("{gateway}/v1/conversations/{id}/messages"), &sarah).await?;
    let handoff =
        messages["items"].as_array().unwrap().iter().find(|m| m["sender_kind"] == "system").context("hand-off")?;
    assert!(handoff["content"]["text"].as_str().unwrap().contains("Let me connect you with Sarah"));
    let (status, refused) = send_json(
        &client,
        Method::POST,
        url,
        &ai,
        &json!({"text": "still me", "confidence": 0.9, "idempotency_key": "ai-2"}),
    )
    .await?;
    assert_eq!(status, 409, "the AI may not answer after a take-over: {refused}");

    // Sarah replies with a document; a file without a usable source is refused.
    let messages_url = format!("{gateway}/v1/conversations/{id}/messages");
    let label = json!({"text": "Here is your return label", "idempotency_key": "att-1",
        "attachment": {"kind": "document", "url": "https://files.acme.test/label.pdf", "mime_type": "application/pdf",
                       "filename": "label.pdf"}});
    let (status, sent) = send_json(&client, Method::POST, messages_url.clone(), &sarah, &label).await?;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["message"]["content"]["type"], "media");
    assert_eq!(sent["message"]["content"]["kind"], "document");
    assert_eq!(sent["message"]["content"]["caption"], "Here is your return label");
    let insecure = json!({"idempotency_key": "att-2",
        "attachment": {"kind": "image", "url": "http://files.acme.test/x.png", "mime_type": "image/png"}});
    let (status, refused) = send_json(&client, Method::POST, messages_url, &sarah, &insecure).await?;
    assert_eq!(status, 400);
    assert!(refused["error"]["message"].as_str().unwrap().contains("attachment.url"));

    // Filters and sorts find it as Sarah's.
    let (_, mine) = get_json(
        &client,
        format!("{gateway}/v1/conversations?assigned=me&status=active&channel=whatsapp&time=today&sort=priority"),
        &sarah,
    )
    .await?;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
    let (_, views) = get_json(&client, format!("{gateway}/v1/views"), &sarah).await?;
    assert_eq!(views["mine"]["waiting_for_customer"], 1, "{views}");
    assert_eq!(views["team"]["needs_review"], 0);
    let (status, bad) = get_json(&client, format!("{gateway}/v1/conversations?sort=loudest"), &sarah).await?;
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("sort"));

    // The summary: a fallback until the AI writes one.
    let summary_url = format!("{gateway}/v1/conversations/{id}/summary");
    let (_, summary) = get_json(&client, summary_url.clone(), &sarah).await?;
    assert_eq!(summary["source"], "fallback");
    assert!(summary["text"].as_str().unwrap().contains("My order has not arrived"));
    send_json(&client, Method::PUT, summary_url.clone(), &ai, &json!({"summary": "Late order; wants tracking."}))
        .await?;
    let (_, summary) = get_json(&client, summary_url, &sarah).await?;
    assert_eq!(
        (summary["source"].as_str(), summary["text"].as_str()),
        (Some("ai"), Some("Late order; wants tracking."))
    );

    // Bulk: agents may not; the supervisor resolves everything Sarah has; only admins delete.
    let bulk_url = format!("{gateway}/v1/conversations/bulk");
    let resolve = json!({"filter": {"status": "active"}, "action": {"type": "status", "status": "resolved"}, "reason": "end of day"});
    let (status, _) = send_json(&client, Method::POST, bulk_url.clone(), &sarah, &resolve).await?;
    assert_eq!(status, 403);
    let (status, result) = send_json(&client, Method::POST, bulk_url.clone(), &lead, &resolve).await?;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["changed"], 1);
    assert_eq!(result["results"][0]["outcome"], "changed");
    let change = next_frame_of_type(&mut socket, "conversation.status_changed").await?;
    assert_eq!(change["change"]["reason"], "end of day");
    // Everything resolved, downloaded at once by filter.
    let response = client
        .post(format!("{gateway}/v1/conversations/export"))
        .bearer_auth(&lead)
        .json(&json!({"filter": {"status": "resolved"}, "format": "csv"}))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str()?.starts_with("text/csv"));
    let csv = response.text().await?;
    assert!(csv.contains(&id) && csv.contains("My order has not arrived"), "{csv}");

    let delete = json!({"ids": [id], "action": {"type": "delete"}});
    let (status, _) = send_json(&client, Method::POST, bulk_url.clone(), &lead, &delete).await?;
    assert_eq!(status, 403);

    // Settings: read by all, changed by admins only.
    let new_settings = json!({"time_zone": "America/New_York", "company_name": "Acme", "ai_confidence_threshold": 0.5,
        "handoff_message": "{{agent_name}} will take it from here."});
    let (status, _) =
        send_json(&client, Method::PUT, format!("{gateway}/v1/settings/tenant"), &lead, &new_settings).await?;
    assert_eq!(status, 403);
    let (status, saved) =
        send_json(&client, Method::PUT, format!("{gateway}/v1/settings/tenant"), &admin, &new_settings).await?;
    assert_eq!((status, saved["time_zone"].as_str()), (200, Some("America/New_York")));
    let (status, bad) = send_json(
        &client,
        Method::PUT,
        format!("{gateway}/v1/settings/tenant"),
        &admin,
        &json!({"time_zone": "Mars/Base", "ai_confidence_threshold": 0.5, "handoff_message": "x"}),
    )
    .await?;
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("time zone"));
    let (status, rules) = send_json(
        &client,
        Method::PUT,
        format!("{gateway}/v1/settings/priority-rules"),
        &admin,
        &json!({"urgent_keywords": ["Outage", "down"], "urgent_segments": ["vip"], "first_response_target_seconds": 900}),
    )
    .await?;
    assert_eq!(status, 200, "{rules}");
    assert_eq!(rules["urgent_keywords"], json!(["outage", "down"]));

    let (status, deleted) = send_json(&client, Method::POST, bulk_url, &admin, &delete).await?;
    assert_eq!((status, deleted["changed"].as_u64()), (200, Some(1)));
    next_frame_of_type(&mut socket, "conversation.deleted").await?;
    wait_until_settled(&fleet).await?;
    let (status, _) = get_json(&client, format!("{gateway}/v1/conversations/{id}"), &sarah).await?;
    assert_eq!(status, 404);
    Ok(())
}
