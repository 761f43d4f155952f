//! Saved replies and downloads, end to end through the gateway of the built fleet: an admin
//! writes a template, an agent finds it by typing, fills it in and sends it, then downloads the
//! conversation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use anyhow::Context;
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    APP_SECRET, PHONE_NUMBER_ID, get_json, person_token, post_webhook, send_json, set_up_tenant, sign, webhook,
};
use inbox_testkit::wait_until;
use reqwest::Method;
use serde_json::{Value, json};

struct Tenant {
    admin: String,
    agent: String,
}

/// A tenant with Maria (admin), Sarah (agent) and a WhatsApp number.
fn set_up(fleet: &Fleet, slug: &str) -> anyhow::Result<Tenant> {
    let tenant = set_up_tenant(fleet, slug, PHONE_NUMBER_ID)?;
    let admin = person_token(fleet, &tenant.id, "maria@acme.test", "Maria", "admin")?;
    Ok(Tenant { admin, agent: tenant.token })
}

async fn post_json(client: &reqwest::Client, url: String, token: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    send_json(client, Method::POST, url, token, &body).await
}

/// A file download: status, Content-Type, Content-Disposition and the body.
async fn download(client: &reqwest::Client, url: String, token: &str) -> anyhow::Result<(u16, String, String, String)> {
    let response = client.get(url).bearer_auth(token).send().await?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    Ok((response.status().as_u16(), content_type, disposition, response.text().await?))
}

#[tokio::test]
async fn an_agent_finds_fills_and_sends_a_saved_reply_then_downloads_the_conversation() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let tenant = set_up(&fleet, "templates")?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");

    let body = webhook(
        PHONE_NUMBER_ID,
        "wamid.T.1",
        "16505551234",
        "Can I book a fitting, please?",
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(post_webhook(&client, &fleet, &body, &sign(APP_SECRET, &body)).await?, 200);
    let conversation_id = wait_until(Duration::from_secs(15), || {
        let (client, url, token) = (client.clone(), format!("{gateway}/v1/conversations"), tenant.agent.clone());
        async move {
            let (_, list) = get_json(&client, url, &token).await.ok()?;
            list["items"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .context("the customer's conversation never appeared")?;

    // Agents use templates; they do not write them.
    let appointment = json!({
        "name": "appointment_confirmation",
        "body": "Hi {{customer_name}}, your fitting is confirmed for {{date}} at {{time}} in room {{room}}. {{ agent_name }}",
    });
    let (status, denied) =
        post_json(&client, format!("{gateway}/v1/templates"), &tenant.agent, appointment.clone()).await?;
    assert_eq!(status, 403, "{denied}");

    let (status, created) =
        post_json(&client, format!("{gateway}/v1/templates"), &tenant.admin, appointment.clone()).await?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["variables"], json!(["customer_name", "date", "time", "room", "agent_name"]));
    let template_id = created["id"].as_str().context("template id")?.to_owned();
    let (status, again) = post_json(&client, format!("{gateway}/v1/templates"), &tenant.admin, appointment).await?;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(template_id.as_str())),
        "a retried create is the same template"
    );
    let (status, _) = post_json(
        &client,
        format!("{gateway}/v1/templates"),
        &tenant.admin,
        json!({"name": "closing", "body": "Thanks for contacting us!"}),
    )
    .await?;
    assert_eq!(status, 201);

    // The agent types `/app`.
    let (status, found) = get_json(&client, format!("{gateway}/v1/templates?q=app"), &tenant.agent).await?;
    assert_eq!(status, 200);
    let names: Vec<&str> =
        found["items"].as_array().context("items")?.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["appointment_confirmation"]);

    // Sending with the room left out: refused, naming it, nothing sent.
    let send_url = format!("{gateway}/v1/conversations/{conversation_id}/template-messages");
    let send = |variables: Value| {
        client
            .post(&send_url)
            .bearer_auth(&tenant.agent)
            .header("Idempotency-Key", "tpl-7f3a")
            .json(&json!({"template_id": template_id, "variables": variables}))
            .send()
    };
    let refused = send(json!({"date": "2 December 2026", "time": "09:30"})).await?;
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await?;
    assert_eq!(refused["error"]["code"], "invalid_argument");
    assert_eq!(refused["error"]["message"], "template 'appointment_confirmation' needs a value for {{room}}");
    let messages_url = format!("{gateway}/v1/conversations/{conversation_id}/messages");
    let (_, messages) = get_json(&client, messages_url.clone(), &tenant.agent).await?;
    assert_eq!(messages["items"].as_array().map(Vec::len), Some(1), "only the customer's message");

    let filled = json!({"date": "2 December 2026", "time": "09:30", "room": "B2"});
    let rendered = "Hi Sheena Nelson, your fitting is confirmed for 2 December 2026 at 09:30 in room B2. Sarah";
    let sent = send(filled.clone()).await?;
    assert_eq!(sent.status(), 201);
    let sent: Value = sent.json().await?;
    assert_eq!(sent["message"]["content"]["text"], rendered);
    assert_eq!(sent["message"]["sender_kind"], "agent");
    let replayed = send(filled).await?;
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed.json::<Value>().await?["replayed"], true);
    let (_, messages) = get_json(&client, messages_url, &tenant.agent).await?;
    assert_eq!(messages["items"].as_array().map(Vec::len), Some(2), "sent once");

    // The agent downloads the conversation as a transcript and as CSV.
    let export_url = format!("{gateway}/v1/conversations/{conversation_id}/export");
    let (status, content_type, disposition, transcript) =
        download(&client, format!("{export_url}?format=text"), &tenant.agent).await?;
    assert_eq!(status, 200, "{transcript}");
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert_eq!(disposition, format!("attachment; filename=\"conversation-{conversation_id}.txt\""));
    assert!(transcript.starts_with("Conversation with Sheena Nelson (16505551234)\n"), "{transcript}");
    assert!(transcript.contains("] Sheena Nelson (customer, WhatsApp): Can I book a fitting, please?\n"));
    assert!(transcript.contains(&format!("] Sarah (agent): {rendered}\n")), "{transcript}");

    let (status, content_type, disposition, csv) =
        download(&client, format!("{export_url}?format=csv"), &tenant.agent).await?;
    assert_eq!((status, content_type.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(disposition, format!("attachment; filename=\"conversation-{conversation_id}.csv\""));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 2);
    assert_eq!((&rows[0][4], &rows[0][8]), ("customer", "Can I book a fitting, please?"));
    assert_eq!((&rows[1][5], &rows[1][8]), ("Sarah", rendered));

    // A format the gateway does not know is refused.
    let (status, ..) = download(&client, format!("{export_url}?format=pdf"), &tenant.agent).await?;
    assert_eq!(status, 400);
    Ok(())
}
