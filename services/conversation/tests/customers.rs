//! Customer profiles: one customer across channels, merges, attributes, integration cards and
//! the people allowed to change them; real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use chrono::{DateTime, Utc};
use inbox_conversation::api::CustomersApi;
use inbox_conversation::domain::customers::{EmailAddress, IntegrationCard, PhoneNumber, ProfileUpdate};
use inbox_conversation::store::{Appended, ConversationRow, ConversationStore, Viewer};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::customers_server::Customers as _;
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_service::{CallContext, Role};
use uuid::Uuid;

mod common;
use common::{customer_writes, store, text};

/// A message from `address` on `channel`, sent at `sent_at`.
fn inbound(tenant: Uuid, channel: Channel, address: &str, external_id: &str, sent_at: DateTime<Utc>) -> InboundMessage {
    InboundMessage {
        tenant_id: tenant.to_string(),
        channel: channel as i32,
        channel_account_id: "acc".into(),
        external_id: external_id.into(),
        sent_at: Some(inbox_proto::timestamp_from(sent_at)),
        sender: Some(Sender { address: address.into(), display_name: "Ana".into() }),
        content: Some(text("hello")),
        raw_payload_id: String::new(),
        visitor: None,
    }
}

/// The customer writes from `address` on `channel`, a second after whatever happened before.
async fn writes_on(
    store: &ConversationStore,
    tenant: Uuid,
    channel: Channel,
    address: &str,
    id: &str,
) -> ConversationRow {
    store.clock().advance(chrono::Duration::seconds(1));
    match store.append_inbound_message(tenant, &inbound(tenant, channel, address, id, store.now())).await.unwrap() {
        Appended::Stored { conversation, .. } => conversation,
        Appended::Duplicate => panic!("unexpected duplicate"),
    }
}

fn emails(values: &[&str]) -> Option<Vec<EmailAddress>> {
    Some(values.iter().map(|v| EmailAddress::parse(v).unwrap()).collect())
}

async fn outbox_subjects(store: &ConversationStore) -> Vec<String> {
    sqlx::query_scalar("SELECT subject FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap()
}

fn as_person<T>(message: T, tenant: Uuid, role: Role) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(CallContext { tenant_id: tenant, principal: "user:sarah".into(), role });
    request
}

#[tokio::test]
async fn the_same_phone_on_whatsapp_and_telephony_is_one_customer() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let chat = writes_on(&store, tenant, Channel::Whatsapp, "15551230001", "wamid.1").await;
    let call = writes_on(&store, tenant, Channel::Telephony, "+15551230001", "CA1").await;
    assert_ne!(chat.id, call.id, "one conversation per channel");
    assert_eq!(chat.contact_id, call.contact_id);

    let customer = store.get_customer(tenant, chat.contact_id).await.unwrap().unwrap();
    let identities: Vec<(&str, &str)> =
        customer.identities.iter().map(|i| (i.channel.as_str(), i.address.as_str())).collect();
    assert_eq!(identities, [("whatsapp", "15551230001"), ("telephony", "+15551230001")]);
    assert_eq!(customer.phones, ["+15551230001"]);
    assert_eq!(customer.total_conversations, 2);

    let related = store.list_related_conversations(tenant, chat.id, &Viewer::default()).await.unwrap().unwrap();
    assert_eq!(related.iter().map(|c| c.id).collect::<Vec<_>>(), [call.id]);
}

#[tokio::test]
async fn a_phone_a_person_added_joins_the_next_channel_the_customer_writes_from() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let web = writes_on(&store, tenant, Channel::Webchat, "visitor-7", "web.1").await;
    let update =
        ProfileUpdate { phones: Some(vec![PhoneNumber::parse("+44 20 7946 0000").unwrap()]), ..Default::default() };
    store.update_customer(tenant, web.contact_id, &update).await.unwrap().unwrap();
    let chat = writes_on(&store, tenant, Channel::Whatsapp, "442079460000", "wamid.1").await;
    assert_eq!(chat.contact_id, web.contact_id);
}

#[tokio::test]
async fn adding_another_customers_email_merges_them_and_a_retry_changes_nothing() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let ana = writes_on(&store, tenant, Channel::Whatsapp, "15551230001", "wamid.1").await;
    let visitor = writes_on(&store, tenant, Channel::Webchat, "visitor-42", "web.1").await;
    // The web chat visitor left an email and a few attributes; a CRM card was synced.
    let visitor_profile = ProfileUpdate {
        emails: emails(&["ana@example.com"]),
        attributes: Some([("plan".into(), "free".into()), ("city".into(), "Lisbon".into())].into()),
        ..Default::default()
    };
    store.update_customer(tenant, visitor.contact_id, &visitor_profile).await.unwrap().unwrap();
    let card = IntegrationCard::parse("hubspot", "Contact", vec![("Owner".into(), "Sam".into())]).unwrap();
    store.upsert_integration_card(tenant, visitor.contact_id, &card).await.unwrap().unwrap();
    store.set_contact_segment(tenant, visitor.contact_id, "vip").await.unwrap();

    let plan = ProfileUpdate { attributes: Some([("plan".into(), "pro".into())].into()), ..Default::default() };
    store.update_customer(tenant, ana.contact_id, &plan).await.unwrap().unwrap();

    let edit = ProfileUpdate { emails: emails(&["Ana@Example.com"]), ..Default::default() };
    let merged = store.update_customer(tenant, ana.contact_id, &edit).await.unwrap().unwrap();
    assert_eq!(merged.merged, [visitor.contact_id]);
    let profile = &merged.profile;
    assert_eq!(profile.emails, ["ana@example.com"]);
    assert_eq!(profile.phones, ["+15551230001"]);
    assert_eq!(profile.identities.len(), 2);
    assert_eq!(profile.total_conversations, 2);
    assert_eq!(profile.fields.attributes["plan"], "pro", "the edited profile wins");
    assert_eq!(profile.fields.attributes["city"], "Lisbon");
    assert_eq!(profile.fields.segment, "vip");
    assert_eq!(profile.cards.len(), 1);
    assert!(store.get_customer(tenant, visitor.contact_id).await.unwrap().is_none(), "the other customer is gone");
    let web = store.get_conversation(tenant, visitor.id).await.unwrap().unwrap();
    assert_eq!(web.contact_id, ana.contact_id, "the conversation moved");

    let events = outbox_subjects(&store).await.len();
    let retry = store.update_customer(tenant, ana.contact_id, &edit).await.unwrap().unwrap();
    assert!(retry.merged.is_empty());
    assert_eq!(&retry.profile, profile);
    assert_eq!(outbox_subjects(&store).await.len(), events, "a retry announces nothing");

    // The visitor writes again: the moved identity leads to the merged customer.
    let again = writes_on(&store, tenant, Channel::Webchat, "visitor-42", "web.2").await;
    assert_eq!(again.contact_id, ana.contact_id);
}

#[tokio::test]
async fn fields_given_with_a_merge_are_exactly_what_the_person_asked_for() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let ana = writes_on(&store, tenant, Channel::Whatsapp, "15551230001", "wamid.1").await;
    let visitor = writes_on(&store, tenant, Channel::Webchat, "visitor-42", "web.1").await;
    let visitor_profile = ProfileUpdate {
        emails: emails(&["ana@example.com", "ana.old@example.com"]),
        attributes: Some([("city".into(), "Lisbon".into())].into()),
        ..Default::default()
    };
    store.update_customer(tenant, visitor.contact_id, &visitor_profile).await.unwrap().unwrap();
    let edit = ProfileUpdate {
        emails: emails(&["ana@example.com"]),
        attributes: Some([("plan".into(), "pro".into())].into()),
        ..Default::default()
    };
    let merged = store.update_customer(tenant, ana.contact_id, &edit).await.unwrap().unwrap();
    assert_eq!(merged.merged, [visitor.contact_id]);
    assert_eq!(merged.profile.emails, ["ana@example.com"]);
    assert_eq!(merged.profile.fields.attributes, [("plan".to_owned(), "pro".to_owned())].into());
    let retry = store.update_customer(tenant, ana.contact_id, &edit).await.unwrap().unwrap();
    assert_eq!(retry.profile, merged.profile);
}

#[tokio::test]
async fn two_first_messages_from_one_phone_on_two_channels_at_once_make_one_customer() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    for i in 0..25 {
        let wa_id = format!("1555987{i:04}");
        let chat = inbound(tenant, Channel::Whatsapp, &wa_id, &format!("wamid.{i}"), store.now());
        let call = inbound(tenant, Channel::Telephony, &format!("+{wa_id}"), &format!("CA{i}"), store.now());
        let (a, b) =
            tokio::join!(store.append_inbound_message(tenant, &chat), store.append_inbound_message(tenant, &call));
        let (Appended::Stored { conversation: a, .. }, Appended::Stored { conversation: b, .. }) =
            (a.unwrap(), b.unwrap())
        else {
            panic!("both messages are new");
        };
        assert_eq!(a.contact_id, b.contact_id, "round {i}");
        let customer = store.get_customer(tenant, a.contact_id).await.unwrap().unwrap();
        assert_eq!((customer.identities.len(), customer.total_conversations), (2, 2), "round {i}");
    }
    let contacts: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(contacts, 25);
}

#[tokio::test]
async fn a_crm_card_is_upserted_by_source_and_title() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let ana = customer_writes(&store, tenant, "15551230001", "wamid.1", "hi").await;
    let deal = |stage: &str| {
        IntegrationCard::parse(
            "hubspot",
            "Deal: Renewal",
            vec![("Stage".into(), stage.into()), ("Amount".into(), "$12,000".into())],
        )
        .unwrap()
    };
    let first = store.upsert_integration_card(tenant, ana.contact_id, &deal("Proposal")).await.unwrap().unwrap();
    let again = store.upsert_integration_card(tenant, ana.contact_id, &deal("Proposal")).await.unwrap().unwrap();
    assert_eq!(again, first, "a sync that runs twice writes once");
    let moved = store.upsert_integration_card(tenant, ana.contact_id, &deal("Won")).await.unwrap().unwrap();
    assert_eq!(moved.fields, [("Stage".into(), "Won".into()), ("Amount".into(), "$12,000".into())]);
    let meeting = IntegrationCard::parse("google_calendar", "Next meeting", vec![("When".into(), "Mon 10:00".into())]);
    store.upsert_integration_card(tenant, ana.contact_id, &meeting.unwrap()).await.unwrap().unwrap();

    let profile = store.get_customer(tenant, ana.contact_id).await.unwrap().unwrap();
    let cards: Vec<(&str, &str)> = profile.cards.iter().map(|c| (c.source.as_str(), c.title.as_str())).collect();
    assert_eq!(cards, [("google_calendar", "Next meeting"), ("hubspot", "Deal: Renewal")]);

    assert_eq!(
        store.delete_integration_card(tenant, ana.contact_id, "hubspot", "Deal: Renewal").await.unwrap(),
        Some(true)
    );
    assert_eq!(
        store.delete_integration_card(tenant, ana.contact_id, "hubspot", "Deal: Renewal").await.unwrap(),
        Some(false)
    );
}

#[tokio::test]
async fn another_tenants_customer_is_not_found() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let ana = customer_writes(&store, tenant, "15551230001", "wamid.1", "hi").await;
    let other = Uuid::new_v4();
    let card = IntegrationCard::parse("hubspot", "Deal", vec![]).unwrap();
    let rename = ProfileUpdate { display_name: Some("Mallory".into()), ..Default::default() };
    assert!(store.get_customer(other, ana.contact_id).await.unwrap().is_none());
    assert!(store.update_customer(other, ana.contact_id, &rename).await.unwrap().is_none());
    assert!(store.upsert_integration_card(other, ana.contact_id, &card).await.unwrap().is_none());
    assert!(store.delete_integration_card(other, ana.contact_id, "hubspot", "Deal").await.unwrap().is_none());
    assert!(
        store.list_customer_conversations(other, ana.contact_id, &Viewer::default(), 10, None).await.unwrap().is_none()
    );
    assert!(store.list_related_conversations(other, ana.id, &Viewer::default()).await.unwrap().is_none());
    // The other tenant's customer with the same phone is another customer.
    let theirs = customer_writes(&store, other, "15551230001", "wamid.1", "hi").await;
    assert_ne!(theirs.contact_id, ana.contact_id);
    assert_eq!(store.get_customer(tenant, ana.contact_id).await.unwrap().unwrap().fields.display_name, "Ana");
}

#[tokio::test]
async fn a_profile_change_is_announced_on_the_customers_conversations_and_the_name_sticks() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let chat = writes_on(&store, tenant, Channel::Whatsapp, "15551230001", "wamid.1").await;
    writes_on(&store, tenant, Channel::Telephony, "+15551230001", "CA1").await;
    let before = outbox_subjects(&store).await.len();
    let rename = ProfileUpdate { display_name: Some("Ana Silva".into()), ..Default::default() };
    store.update_customer(tenant, chat.contact_id, &rename).await.unwrap().unwrap();
    let subjects = outbox_subjects(&store).await;
    let announced = &subjects[before..];
    assert_eq!(announced.len(), 2);
    assert!(announced.iter().all(|s| s == &format!("events.{tenant}.conversation.customer_updated")));
    let listed = store.get_conversation(tenant, chat.id).await.unwrap().unwrap();
    assert_eq!(listed.contact_name, "Ana Silva");
    assert!(listed.version > chat.version, "consumers take the new version");

    // WhatsApp still reports the profile name "Ana": the name a person set stays.
    let next = writes_on(&store, tenant, Channel::Whatsapp, "15551230001", "wamid.2").await;
    assert_eq!(next.contact_name, "Ana Silva");
}

#[tokio::test]
async fn a_customers_conversations_page_most_recent_first() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let mut ids = Vec::new();
    for (i, account) in ["a1", "a2", "a3"].iter().enumerate() {
        let sent_at = store.now() + chrono::Duration::seconds(i as i64);
        let mut message = inbound(tenant, Channel::Whatsapp, "15551230001", &format!("wamid.{i}"), sent_at);
        message.channel_account_id = (*account).into();
        let Appended::Stored { conversation, .. } = store.append_inbound_message(tenant, &message).await.unwrap()
        else {
            panic!("new");
        };
        ids.push(conversation.id);
    }
    let contact = store.get_conversation(tenant, ids[0]).await.unwrap().unwrap().contact_id;
    let (first, next) =
        store.list_customer_conversations(tenant, contact, &Viewer::default(), 2, None).await.unwrap().unwrap();
    assert_eq!(first.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    let (rest, last) =
        store.list_customer_conversations(tenant, contact, &Viewer::default(), 2, next).await.unwrap().unwrap();
    assert_eq!((rest.iter().map(|c| c.id).collect::<Vec<_>>(), last), (vec![ids[0]], None));
}

#[tokio::test]
async fn an_agent_edits_contact_info_but_cannot_set_the_segment() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let ana = customer_writes(&store, tenant, "15551230001", "wamid.1", "hi").await;
    let api = CustomersApi { store: store.clone() };
    let segment = |segment: &str| pb::UpdateCustomerRequest {
        customer_id: ana.contact_id.to_string(),
        segment: Some(segment.into()),
        ..Default::default()
    };

    let denied = api.update_customer(as_person(segment("vip"), tenant, Role::Agent)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert_eq!(store.get_customer(tenant, ana.contact_id).await.unwrap().unwrap().fields.segment, "");

    let contact_info = pb::UpdateCustomerRequest {
        customer_id: ana.contact_id.to_string(),
        emails: Some(pb::EmailAddressList { values: vec!["ana@example.com".into()] }),
        attributes: Some(pb::CustomAttributes { values: [("plan".into(), "pro".into())].into() }),
        ..Default::default()
    };
    let edited = api.update_customer(as_person(contact_info, tenant, Role::Agent)).await.unwrap().into_inner();
    assert_eq!(edited.customer.unwrap().emails, ["ana@example.com"]);

    let set = api.update_customer(as_person(segment("VIP"), tenant, Role::Supervisor)).await.unwrap().into_inner();
    assert_eq!(set.customer.unwrap().segment, "vip");
    let next = customer_writes(&store, tenant, "15551230001", "wamid.2", "hello again").await;
    assert_eq!(next.priority, "urgent", "a VIP's messages are urgent");
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let ana = customer_writes(&store, tenant, "15551230001", "wamid.1", "hi").await;
    let before = store.get_customer(tenant, ana.contact_id).await.unwrap().unwrap();
    let api = CustomersApi { store: store.clone() };
    let bad = pb::UpdateCustomerRequest {
        customer_id: ana.contact_id.to_string(),
        display_name: Some("Ana Silva".into()),
        emails: Some(pb::EmailAddressList { values: vec!["ana@example.com".into(), "not-an-email".into()] }),
        ..Default::default()
    };
    let refused = api.update_customer(as_person(bad, tenant, Role::Agent)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().starts_with("emails:") && refused.message().contains("not-an-email"));
    let attributes = pb::UpdateCustomerRequest {
        customer_id: ana.contact_id.to_string(),
        attributes: Some(pb::CustomAttributes { values: [("Plan".into(), "pro".into())].into() }),
        ..Default::default()
    };
    let refused = api.update_customer(as_person(attributes, tenant, Role::Agent)).await.unwrap_err();
    assert!(refused.message().starts_with("attributes:"), "{}", refused.message());
    assert_eq!(store.get_customer(tenant, ana.contact_id).await.unwrap().unwrap(), before);

    let missing = pb::GetCustomerRequest { customer_id: Uuid::new_v4().to_string() };
    assert_eq!(
        api.get_customer(as_person(missing, tenant, Role::Agent)).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}
