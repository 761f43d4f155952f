//! Routing end to end through the built binaries: a WhatsApp customer the AI cannot help is
//! routed to an available agent of the team that takes WhatsApp hand-offs, whose WebSocket
//! receives the assignment; a supervisor reassigns with context; the history keeps it all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use anyhow::Context;
use futures::SinkExt;
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    PHONE_NUMBER_ID, connect_stream, customer_writes, get_json, inboxctl, next_frame_of_type, person_token, send_json,
    set_up_tenant,
};
use reqwest::Method;
use serde_json::{Value, json};

/// Creates a person with a routing profile; their id and token.
fn person(
    fleet: &Fleet,
    tenant: &str,
    email: &str,
    name: &str,
    role: &str,
    capacity: &str,
) -> anyhow::Result<(String, String)> {
    let created = inboxctl(
        fleet,
        &[
            "agent",
            "create",
            "--tenant",
            tenant,
            "--email",
            email,
            "--name",
            name,
            "--role",
            role,
            "--capacity",
            capacity,
        ],
    )?;
    assert_eq!(created["user"]["profile"]["capacity"].as_u64(), capacity.parse().ok(), "{created}");
    Ok((
        created["user"]["id"].as_str().context("user id")?.to_owned(),
        created["token"].as_str().context("token")?.to_owned(),
    ))
}

fn team(
    fleet: &Fleet,
    tenant: &str,
    name: &str,
    policy: &str,
    channel: &str,
    members: &[&str],
) -> anyhow::Result<Value> {
    let created = inboxctl(
        fleet,
        &["team", "create", "--tenant", tenant, "--name", name, "--policy", policy, "--handoff-channel", channel],
    )?;
    let id = created["id"].as_str().context("team id")?.to_owned();
    let mut last = created;
    for m in members {
        last = inboxctl(fleet, &["team", "add-member", "--tenant", tenant, "--team", &id, "--user", m])?;
    }
    Ok(last)
}

#[tokio::test]
async fn a_customer_the_ai_cannot_help_is_routed_to_an_available_agent_of_the_right_team() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "routing", PHONE_NUMBER_ID)?;
    let ai = person_token(&fleet, &tenant.id, "ai@acme.test", "Acme Assistant", "ai")?;
    let (tom, tom_token) = person(&fleet, &tenant.id, "tom@acme.test", "Tom", "agent", "3")?;
    let (lucy, lucy_token) = person(&fleet, &tenant.id, "lucy@acme.test", "Lucy", "agent", "3")?;
    let (nina, _) = person(&fleet, &tenant.id, "nina@acme.test", "Nina", "agent", "3")?;
    let (_, lead) = person(&fleet, &tenant.id, "lead@acme.test", "Lena", "supervisor", "5")?;
    // Support takes WhatsApp hand-offs; Sales takes web chat. Nina (Support) never connects.
    let support = team(&fleet, &tenant.id, "Support", "least_loaded", "whatsapp", &[&tom, &nina])?;
    let support_id = support["id"].as_str().unwrap().to_owned();
    assert_eq!(support["member_ids"].as_array().map(Vec::len), Some(2), "{support}");
    let sales = team(&fleet, &tenant.id, "Sales", "round_robin", "webchat", &[&lucy])?;
    let sales_id = sales["id"].as_str().unwrap().to_owned();

    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    // Tom and Lucy open the inbox: their sockets make them online.
    let mut tom_socket = connect_stream(&fleet, &tom_token).await?;
    let mut lucy_socket = connect_stream(&fleet, &lucy_token).await?;
    let (_, agents) = get_json(&client, format!("{gateway}/v1/agents"), &lead).await?;
    let availability = |id: &str| {
        agents["items"].as_array().unwrap().iter().find(|a| a["id"] == id).map(|a| a["availability"].clone())
    };
    assert_eq!(availability(&tom), Some(json!("online")), "{agents}");
    assert_eq!(availability(&nina), Some(json!("offline")));

    // The customer writes; the AI answers unsure: the conversation needs a person.
    customer_writes(&client, &fleet, "wamid.ROUTE.1", "16505550100", "My card was charged twice").await?;
    let created = next_frame_of_type(&mut tom_socket, "message.created").await?;
    let id = created["conversation"]["id"].as_str().context("conversation id")?.to_owned();
    let unsure = json!({"text": "Let me look into that.", "confidence": 0.2, "idempotency_key": "ai-route-1"});
    let (status, sent) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/{id}/ai-messages"), &ai, &unsure).await?;
    assert_eq!(status, 201, "{sent}");

    // Routing hands it to Tom (Support, online, room), never to Lucy (Sales) or Nina (offline).
    let assigned = loop {
        let frame = next_frame_of_type(&mut tom_socket, "conversation.assigned").await?;
        if frame["conversation"]["assignee_id"].is_string() {
            break frame;
        }
    };
    assert_eq!(assigned["conversation"]["id"], id.as_str());
    assert_eq!(assigned["conversation"]["assignee_id"], tom.as_str());
    assert_eq!(assigned["conversation"]["team_id"], support_id.as_str());
    assert_eq!(assigned["actor"], "service:routing");
    let (_, agents) = get_json(&client, format!("{gateway}/v1/agents"), &lead).await?;
    let tom_now = agents["items"].as_array().unwrap().iter().find(|a| a["id"] == tom.as_str()).unwrap().clone();
    assert_eq!(tom_now["load"], 1);

    // The supervisor moves it to Lucy: without context it is refused; with a note it goes.
    let url = format!("{gateway}/v1/conversations/{id}/assignment");
    let (status, refused) = send_json(&client, Method::PUT, url.clone(), &lead, &json!({"assignee_id": lucy})).await?;
    assert_eq!(status, 400, "{refused}");
    let note = "Refund question: Lucy handles billing";
    let (status, moved) =
        send_json(&client, Method::PUT, url.clone(), &lead, &json!({"assignee_id": lucy, "note": note})).await?;
    assert_eq!((status, moved["outcome"].as_str()), (200, Some("changed")), "{moved}");
    let reassigned = loop {
        let frame = next_frame_of_type(&mut lucy_socket, "conversation.assigned").await?;
        if frame["conversation"]["assignee_id"] == lucy.as_str() {
            break frame;
        }
    };
    assert_eq!(reassigned["note"], note);
    // The same request again changes nothing.
    let (_, again) = send_json(&client, Method::PUT, url, &lead, &json!({"assignee_id": lucy, "note": note})).await?;
    assert_eq!(again["outcome"], "unchanged");

    // Every change is kept: routing's choice (team and agent at once), the supervisor's move.
    let (_, history) =
        get_json(&client, format!("{gateway}/v1/conversations/{id}/assignment-history"), &lucy_token).await?;
    let items = history["items"].as_array().context("history")?;
    assert_eq!(items.len(), 2, "{history}");
    assert_eq!(items[0]["assignee_id"], tom.as_str());
    assert_eq!(items[0]["team_id"], support_id.as_str());
    assert_eq!(items[0]["reason"], "auto");
    assert_eq!(items[0]["actor"], "service:routing");
    assert_eq!(items[1]["previous_assignee_id"], tom.as_str());
    assert_eq!(items[1]["note"], note);
    assert_eq!(items[1]["reason"], "manual");

    // Bulk assignment by filter to the Sales team, supervisors only, each reported: it waits in
    // Sales and is routed at once to its online member with room, Lucy, now for Sales.
    let bulk =
        json!({"filter": {"status": "active"}, "action": {"type": "assign", "team_id": sales_id, "note": "upsell"}});
    let (status, _) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/bulk"), &tom_token, &bulk).await?;
    assert_eq!(status, 403);
    let (status, result) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/bulk"), &lead, &bulk).await?;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["results"][0]["conversation_id"], id.as_str());
    assert_eq!(result["results"][0]["outcome"], "changed", "{result}");
    assert_eq!(result["not_attempted"], 0, "all done within the deadline: {result}");
    // More ids than one bulk assignment takes: a 400 naming the limit, nothing assigned.
    let too_many: Vec<String> = (0..1001).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let bulk_too_many = json!({"ids": too_many, "action": {"type": "assign", "team_id": sales_id}});
    let (status, refused) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/bulk"), &lead, &bulk_too_many).await?;
    assert_eq!((status, &refused["error"]["code"]), (400, &json!("invalid_argument")), "{refused}");
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("at most 1000")), "{refused}");
    let routed = loop {
        let frame = next_frame_of_type(&mut lucy_socket, "conversation.assigned").await?;
        if frame["conversation"]["team_id"] == sales_id.as_str()
            && frame["conversation"]["assignee_id"] == lucy.as_str()
        {
            break frame;
        }
    };
    assert_eq!(routed["actor"], "service:routing");
    // The same bulk request again: it is with Sales already.
    let (_, again) = send_json(&client, Method::POST, format!("{gateway}/v1/conversations/bulk"), &lead, &bulk).await?;
    assert_eq!(again["unchanged"], 1, "{again}");

    // Presence: Tom's client says he is away; Lucy closes her inbox and goes offline; Tom comes
    // back over REST.
    let text = r#"{"type":"presence","availability":"away"}"#;
    tom_socket.send(tokio_tungstenite::tungstenite::Message::Text(text.into())).await?;
    lucy_socket.close(None).await?;
    // A closed socket turns its person offline only after the gateway's presence grace (10 s by
    // default, so a reload is not a sign-off): wait well past it.
    let settled = inbox_testkit::wait_until(std::time::Duration::from_secs(30), || {
        let (client, url, lead) = (client.clone(), format!("{gateway}/v1/agents"), lead.clone());
        let (tom, lucy) = (tom.clone(), lucy.clone());
        async move {
            let (_, agents) = get_json(&client, url, &lead).await.ok()?;
            let of = |id: &str| {
                agents["items"].as_array()?.iter().find(|a| a["id"] == id).map(|a| a["availability"].clone())
            };
            (of(&tom)? == "away" && of(&lucy)? == "offline").then_some(())
        }
    })
    .await;
    assert!(settled.is_some(), "presence did not reach routing");
    let (status, me) = send_json(
        &client,
        Method::PUT,
        format!("{gateway}/v1/me/availability"),
        &tom_token,
        &json!({"availability": "online", "ttl_seconds": 300}),
    )
    .await?;
    assert_eq!((status, me["availability"].as_str()), (200, Some("online")), "{me}");

    // Teams are deleted by admins, and only when nothing open is left in them: Sales holds the
    // conversation now, Support nothing.
    let delete = |team: &str| format!("{gateway}/v1/admin/tenants/{}/teams/{team}", tenant.id);
    let (status, _) = send_json(&client, Method::DELETE, delete(&support_id), &lead, &json!(null)).await?;
    assert_eq!(status, 403, "supervisors do not delete teams");
    let refused = inboxctl(&fleet, &["team", "delete", "--tenant", &tenant.id, "--team", &sales_id]);
    assert!(refused.is_err_and(|e| e.to_string().contains("1 open conversation")));
    let deleted = inboxctl(&fleet, &["team", "delete", "--tenant", &tenant.id, "--team", &support_id])?;
    assert_eq!(deleted["deleted"]["name"], "Support", "{deleted}");
    let (_, teams) = get_json(&client, format!("{gateway}/v1/teams"), &lead).await?;
    let names: Vec<&str> =
        teams["items"].as_array().context("teams")?.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["Sales"], "{teams}");
    Ok(())
}
