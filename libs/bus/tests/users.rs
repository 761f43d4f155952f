//! The bus connected as a service's own NATS user (`inbox-access`): it changes only the
//! streams that service manages, waits for the others, and publishes and consumes within its
//! permissions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use inbox_bus::{Bus, Stream};
use inbox_config::{NatsSettings, Secret};
use inbox_testkit::TestNats;

fn password(service: &str) -> String {
    format!("bus-test-{service}-0123456789")
}

/// A server whose users are the fleet's (and an anonymous user allowed everything).
async fn server() -> TestNats {
    let users = inbox_access::nats_authorization(password, Some(("anyone", "anyone-0123456789")));
    TestNats::start_with_config(Some(&format!("{users}no_auth_user: \"anyone\"\n"))).await.unwrap()
}

async fn connect_as(nats: &TestNats, service: &str) -> Bus {
    let settings = NatsSettings {
        user: service.to_owned(),
        password: Secret::new(password(service)),
        ..NatsSettings::anonymous(nats.url())
    };
    Bus::connect_with(&settings, &format!("inbox-{service}")).await.unwrap()
}

/// Why `bus` cannot go on yet: the stream it waits for.
async fn waits_for(bus: &Bus) -> String {
    bus.ensure_streams().await.unwrap_err().to_string()
}

#[tokio::test]
async fn a_service_waits_for_the_streams_it_does_not_manage_and_their_managers_create_them() {
    let nats = server().await;
    let search = connect_as(&nats, "search").await;
    let waiting = waits_for(&search).await;
    assert!(waiting.contains("waiting for channel-ingest"), "{waiting}");

    // Channel-ingest makes INGEST, and still waits for conversation's streams.
    let ingest = connect_as(&nats, "channel-ingest").await;
    let waiting = waits_for(&ingest).await;
    assert!(waiting.contains("EVENTS") && waiting.contains("waiting for conversation"), "{waiting}");
    connect_as(&nats, "conversation").await.ensure_streams().await.unwrap();

    // Now every stream is as configured: every service goes on without changing any.
    search.ensure_streams().await.unwrap();
    ingest.ensure_streams().await.unwrap();
    for stream in Stream::ALL {
        search.jetstream().get_stream(stream.name()).await.unwrap();
    }
}

#[tokio::test]
async fn a_manager_makes_its_streams_even_while_another_managers_stream_is_missing() {
    let nats = server().await;
    let conversation = connect_as(&nats, "conversation").await;
    let waiting = waits_for(&conversation).await;
    assert!(waiting.contains("INGEST"), "{waiting}");
    for stream in ["EVENTS", "OUTBOUND", "DLQ"] {
        conversation.jetstream().get_stream(stream).await.unwrap();
    }
    connect_as(&nats, "channel-ingest").await.ensure_streams().await.unwrap();
    conversation.ensure_streams().await.unwrap();
}

#[tokio::test]
async fn a_service_connected_as_its_user_publishes_its_own_subjects_and_reads_its_replies() {
    let nats = server().await;
    connect_as(&nats, "conversation").await.ensure_streams().await.unwrap_err();
    let ingest = connect_as(&nats, "channel-ingest").await;
    ingest.ensure_streams().await.unwrap();

    // A JetStream publish is answered on the user's own inbox: the ack arrives.
    let envelope = inbox_bus::new_envelope("e1", "t1", inbox_bus::Payload::InboundMessage(Default::default()));
    let published = ingest.publish("ingest.whatsapp.t1", &envelope).await.unwrap();
    assert!(!published.duplicate);
    // Outside its subjects the server refuses, and no ack comes.
    let refused = ingest.publish("outbound.whatsapp.t1", &envelope).await.unwrap_err().to_string();
    assert!(refused.contains("outbound.whatsapp.t1"), "{refused}");
}
