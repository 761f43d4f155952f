//! The customer info panel, end to end through the built binaries: a WhatsApp message creates a
//! customer; an agent reads the profile, adds contact info and attributes, an integration syncs
//! a card twice, and the team's lists show the new name live.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use anyhow::Context;
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    APP_SECRET, PHONE_NUMBER_ID, get_json, next_frame_of_type, send_json, set_up_tenant, sign, stream_request, webhook,
};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn an_agent_completes_the_profile_of_a_customer_who_wrote_on_whatsapp() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let token = set_up_tenant(&fleet, "acme", PHONE_NUMBER_ID)?.token;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let ws_url = format!("{}/v1/stream", gateway.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(stream_request(&ws_url, &token)?).await?;
    next_frame_of_type(&mut socket, "ready").await?;

    let body = webhook(
        PHONE_NUMBER_ID,
        "wamid.C.1",
        "16505551234",
        "Can I change my delivery address?",
        chrono::Utc::now().timestamp(),
    );
    let response = client
        .post(format!("{}/webhooks/whatsapp", fleet.http_url("channel-ingest")))
        .header("X-Hub-Signature-256", sign(APP_SECRET, &body))
        .body(body)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let created = next_frame_of_type(&mut socket, "message.created").await?;
    let conversation_id = created["conversation"]["id"].as_str().context("conversation id")?.to_owned();
    let customer_id = created["conversation"]["contact"]["id"].as_str().context("contact id")?.to_owned();
    let customer_url = format!("{gateway}/v1/customers/{customer_id}");

    // The right panel: the WhatsApp identity, its phone, one conversation.
    let (status, customer) = get_json(&client, customer_url.clone(), &token).await?;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["display_name"], "Sheena Nelson");
    assert_eq!(customer["identities"][0]["channel"], "whatsapp");
    assert_eq!(customer["identities"][0]["address"], "16505551234");
    assert_eq!(customer["phones"], json!(["+16505551234"]));
    assert_eq!(customer["total_conversations"], 1);

    // The agent adds an email and an attribute, and names the customer properly.
    let changes = json!({"display_name": "Sheena Nelson-Ortiz", "emails": ["Sheena@Example.com"],
                         "attributes": {"plan": "enterprise"}});
    let (status, updated) = send_json(&client, Method::PATCH, customer_url.clone(), &token, &changes).await?;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["customer"]["emails"], json!(["sheena@example.com"]));
    assert_eq!(updated["customer"]["attributes"]["plan"], "enterprise");
    assert_eq!(updated["merged_customer_ids"], json!([]));
    // Live lists show the new name.
    let frame = next_frame_of_type(&mut socket, "conversation.customer_updated").await?;
    assert_eq!(frame["conversation"]["id"], conversation_id.as_str());
    assert_eq!(frame["conversation"]["contact"]["display_name"], "Sheena Nelson-Ortiz");

    // Bad input names the field and changes nothing; the segment is for supervisors.
    let (status, refused) =
        send_json(&client, Method::PATCH, customer_url.clone(), &token, &json!({"emails": ["sheena@"]})).await?;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("invalid_argument")));
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.starts_with("emails:")), "{refused}");
    let (status, _) =
        send_json(&client, Method::PATCH, customer_url.clone(), &token, &json!({"segment": "vip"})).await?;
    assert_eq!(status, 403);

    // The CRM sync runs twice: one card, written once.
    let card = json!({"source": "hubspot", "title": "Deal: Renewal",
                      "fields": [{"key": "Stage", "value": "Negotiation"}, {"key": "Amount", "value": "$12,000"}]});
    let cards_url = format!("{customer_url}/cards");
    let (status, first) = send_json(&client, Method::PUT, cards_url.clone(), &token, &card).await?;
    assert_eq!(status, 200, "{first}");
    let (_, second) = send_json(&client, Method::PUT, cards_url.clone(), &token, &card).await?;
    assert_eq!(second["updated_at"], first["updated_at"], "the second sync wrote nothing");
    let (_, customer) = get_json(&client, customer_url.clone(), &token).await?;
    let cards = customer["cards"].as_array().context("cards")?;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0]["fields"][0], json!({"key": "Stage", "value": "Negotiation"}));
    assert_eq!(customer["emails"], json!(["sheena@example.com"]));
    assert_eq!(customer["display_name"], "Sheena Nelson-Ortiz");

    // The customer's conversations, and this conversation's related ones (none yet).
    let (_, conversations) = get_json(&client, format!("{customer_url}/conversations?limit=10"), &token).await?;
    assert_eq!(conversations["items"][0]["id"], conversation_id.as_str());
    assert_eq!(conversations["next_cursor"], Value::Null);
    let (status, related) =
        get_json(&client, format!("{gateway}/v1/conversations/{conversation_id}/related"), &token).await?;
    assert_eq!((status, related["items"].as_array().map(Vec::len)), (200, Some(0)));

    let response =
        client.delete(format!("{cards_url}?source=hubspot&title=Deal:%20Renewal")).bearer_auth(&token).send().await?;
    assert_eq!(response.json::<Value>().await?["deleted"], true);

    // Another tenant's agent: the customer does not exist for them.
    let other = set_up_tenant(&fleet, "globex", "200000000000001")?.token;
    let (status, _) = get_json(&client, customer_url.clone(), &other).await?;
    assert_eq!(status, 404);
    let (_, customer) = get_json(&client, customer_url, &token).await?;
    assert_eq!(customer["cards"], json!([]), "the deleted card is gone");
    Ok(())
}
