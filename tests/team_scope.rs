//! Team-scoped visibility and the send guard, end to end through the built binaries: in a
//! tenant set to team visibility, an agent of Support neither lists, opens, reads, exports nor
//! bulk-changes a conversation of Billing, while a supervisor does; two people answering one
//! customer on the same view: the second reply is refused naming the first, and goes with
//! `force`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use anyhow::Context;
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    PHONE_NUMBER_ID, conversation_with, customer_writes, get_json, inboxctl, person_token, send_json, set_up_tenant,
    wait_until_settled,
};
use inbox_testkit::wait_until;
use reqwest::Method;
use serde_json::{Value, json};

/// A person of the tenant: their user id and token.
fn person(fleet: &Fleet, tenant: &str, email: &str, name: &str, role: &str) -> anyhow::Result<(String, String)> {
    let created =
        inboxctl(fleet, &["agent", "create", "--tenant", tenant, "--email", email, "--name", name, "--role", role])?;
    Ok((
        created["user"]["id"].as_str().context("user id")?.to_owned(),
        created["token"].as_str().context("token")?.to_owned(),
    ))
}

/// A team with its members; its id.
fn team(fleet: &Fleet, tenant: &str, name: &str, members: &[&str]) -> anyhow::Result<String> {
    let created = inboxctl(fleet, &["team", "create", "--tenant", tenant, "--name", name, "--policy", "least_loaded"])?;
    let id = created["id"].as_str().context("team id")?.to_owned();
    for member in members {
        inboxctl(fleet, &["team", "add-member", "--tenant", tenant, "--team", &id, "--user", member])?;
    }
    Ok(id)
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_agent_of_one_team_cannot_reach_another_teams_conversation_and_a_stale_reply_is_refused()
-> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "team-scope", PHONE_NUMBER_ID)?;
    let admin = person_token(&fleet, &tenant.id, "maria@acme.test", "Maria", "admin")?;
    let (_, lead) = person(&fleet, &tenant.id, "lena@acme.test", "Lena", "supervisor")?;
    let (sarah_id, sarah) = person(&fleet, &tenant.id, "sarah.s@acme.test", "Sarah S", "agent")?;
    let (tom_id, tom) = person(&fleet, &tenant.id, "tom@acme.test", "Tom", "agent")?;
    let (bob_id, _) = person(&fleet, &tenant.id, "bob@acme.test", "Bob", "agent")?;
    let support = team(&fleet, &tenant.id, "Support", &[&sarah_id, &tom_id])?;
    let billing = team(&fleet, &tenant.id, "Billing", &[&bob_id])?;

    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let (status, set) = send_json(
        &client,
        Method::PUT,
        format!("{gateway}/v1/settings/access"),
        &admin,
        &json!({"visibility": "team"}),
    )
    .await?;
    assert_eq!((status, &set["visibility"]), (200, &json!("team")), "{set}");

    // Two customers write; the supervisor gives one to Support, the other to Bob in Billing.
    customer_writes(&client, &fleet, "wamid.SCOPE.1", "16505550101", "Where is my parcel?").await?;
    customer_writes(&client, &fleet, "wamid.SCOPE.2", "16505550102", "I was charged twice").await?;
    wait_until_settled(&fleet).await?;
    let ours = conversation_with(&client, &fleet, &lead, "16505550101").await?["id"].as_str().unwrap().to_owned();
    let theirs = conversation_with(&client, &fleet, &lead, "16505550102").await?["id"].as_str().unwrap().to_owned();
    for (id, assignment) in [
        (&ours, json!({"team_id": support, "note": "parcel question"})),
        (&theirs, json!({"assignee_id": bob_id, "team_id": billing, "note": "refund for Bob"})),
    ] {
        let url = format!("{gateway}/v1/conversations/{id}/assignment");
        let (status, decided) = send_json(&client, Method::PUT, url, &lead, &assignment).await?;
        assert_eq!(status, 200, "{decided}");
    }
    // The read model follows routing's decision; the gateway's view of the setting and teams
    // may lag a few seconds.
    let url = format!("{gateway}/v1/conversations?limit=100");
    let listed = wait_until(Duration::from_secs(30), || {
        let (client, url, sarah) = (client.clone(), url.clone(), sarah.clone());
        let (ours, theirs) = (ours.clone(), theirs.clone());
        async move {
            let (_, list) = get_json(&client, url, &sarah).await.ok()?;
            let seen = ids(&list);
            (seen.contains(&ours) && !seen.contains(&theirs)).then_some(list)
        }
    })
    .await
    .context("Sarah (Support) still lists Billing's conversation, or not Support's")?;
    assert_eq!(listed["items"][0]["team_id"], support.as_str());

    // Sarah can neither open, read, export nor bulk-change Billing's conversation: 404, as for
    // a conversation that does not exist.
    let (status, missing) = get_json(&client, format!("{gateway}/v1/conversations/{theirs}"), &sarah).await?;
    assert_eq!((status, &missing["error"]["code"]), (404, &json!("not_found")), "{missing}");
    let (_, unknown) =
        get_json(&client, format!("{gateway}/v1/conversations/0190a000-0000-7000-8000-000000000000"), &sarah).await?;
    assert_eq!(missing, unknown, "the same answer as for a conversation that does not exist");
    for path in ["messages", "messages?before=latest", "export", "related", "status-history"] {
        let (status, body) = get_json(&client, format!("{gateway}/v1/conversations/{theirs}/{path}"), &sarah).await?;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (_, views) = get_json(&client, format!("{gateway}/v1/views"), &sarah).await?;
    assert_eq!(views["all"]["active"], 1, "{views}");
    let bulk = json!({"ids": [theirs], "action": {"type": "priority", "priority": "urgent"}});
    let (status, refused) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/bulk"), &sarah, &bulk).await?;
    assert_eq!(status, 403, "agents run no bulk actions: {refused}");
    let reply = json!({"text": "Hello", "idempotency_key": "scope-intrusion"});
    let url = format!("{gateway}/v1/conversations/{theirs}/messages");
    let (status, _) = send_json(&client, Method::POST, url, &sarah, &reply).await?;
    assert_eq!(status, 404, "no answering a conversation one cannot see");

    // Lena, a supervisor, sees and does all of it.
    let (_, all) = get_json(&client, format!("{gateway}/v1/conversations?limit=100"), &lead).await?;
    assert!(ids(&all).contains(&theirs));
    let (status, opened) = get_json(&client, format!("{gateway}/v1/conversations/{theirs}"), &lead).await?;
    assert_eq!((status, &opened["team_id"]), (200, &json!(billing)), "{opened}");
    let (status, page) =
        get_json(&client, format!("{gateway}/v1/conversations/{theirs}/messages?before=latest"), &lead).await?;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (200, Some(1)), "{page}");
    let response = client.get(format!("{gateway}/v1/conversations/{theirs}/export")).bearer_auth(&lead).send().await?;
    assert_eq!(response.status().as_u16(), 200);
    let (status, changed) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/bulk"), &lead, &bulk).await?;
    assert_eq!(status, 200, "{changed}");
    assert_eq!((&changed["changed"], &changed["results"][0]["outcome"]), (&json!(1), &json!("changed")), "{changed}");

    // The send guard: Sarah and Tom (both Support) read the customer's question; Tom answers
    // first; Sarah's reply on her stale view is refused naming Tom's, then goes with force.
    let url = format!("{gateway}/v1/conversations/{ours}/messages?before=latest");
    let (_, history) = get_json(&client, url, &sarah).await?;
    let question = history["items"].as_array().and_then(|m| m.last()).context("the question")?["id"].clone();
    let url = format!("{gateway}/v1/conversations/{ours}/messages");
    let toms = json!({"text": "It ships today.", "idempotency_key": "tom-1", "last_seen_message_id": question});
    let (status, sent) = send_json(&client, Method::POST, url.clone(), &tom, &toms).await?;
    assert_eq!(status, 201, "{sent}");
    let toms_id = sent["message"]["id"].clone();
    let sarahs = json!({"text": "Let me check.", "idempotency_key": "sarah-1", "last_seen_message_id": question});
    let (status, refused) = send_json(&client, Method::POST, url.clone(), &sarah, &sarahs).await?;
    assert_eq!((status, &refused["error"]["code"]), (409, &json!("conflict")), "{refused}");
    assert_eq!(refused["error"]["details"]["newer_message_id"], toms_id, "{refused}");
    let forced = json!({"text": "Let me check.", "idempotency_key": "sarah-1", "last_seen_message_id": question,
                        "force": true});
    let (status, sent) = send_json(&client, Method::POST, url.clone(), &sarah, &forced).await?;
    assert_eq!(status, 201, "{sent}");
    let (status, replayed) = send_json(&client, Method::POST, url, &sarah, &sarahs).await?;
    assert_eq!((status, &replayed["replayed"]), (200, &json!(true)), "a retry replays, never 409: {replayed}");

    // Sarah marks the conversation read up to the newest message.
    let newest = sent["message"]["id"].clone();
    let url = format!("{gateway}/v1/conversations/{ours}/read");
    let (status, read) = send_json(&client, Method::PUT, url, &sarah, &json!({"last_read_message_id": newest})).await?;
    assert_eq!((status, &read["unread"]), (200, &json!(0)), "{read}");
    let (_, opened) = get_json(&client, format!("{gateway}/v1/conversations/{ours}"), &sarah).await?;
    assert_eq!((&opened["unread"], &opened["last_read_message_id"]), (&json!(0), &newest), "{opened}");
    Ok(())
}
