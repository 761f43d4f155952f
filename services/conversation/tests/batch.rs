//! Storing inbound messages in batches gives what storing them one by one gives, exactly once,
//! also when batches race. Real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{customer_writes, store, whatsapp_now};
use inbox_conversation::domain::Status;
use inbox_conversation::store::{Appended, StoreError};
use inbox_proto::ingest::v1::InboundMessage;
use uuid::Uuid;

fn stored(outcome: &Result<Appended, StoreError>) -> bool {
    matches!(outcome, Ok(Appended::Stored { .. }))
}

#[tokio::test]
async fn a_batch_stores_each_new_message_once_and_applies_every_rule() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let resolved = customer_writes(&store, tenant, "1555000", "old-1", "thanks, bye").await;
    store.set_status(tenant, resolved.id, Status::Resolved, "user:x", "").await.unwrap();

    let mut batch: Vec<(Uuid, InboundMessage)> = Vec::new();
    for i in 0..40 {
        batch.push((
            tenant,
            whatsapp_now(&store, tenant, &format!("1555{:03}", i % 4), &format!("b-{i}"), &format!("message {i}")),
        ));
    }
    batch.push((tenant, whatsapp_now(&store, tenant, "1555000", "old-1", "thanks, bye"))); // stored before
    batch.push((tenant, whatsapp_now(&store, tenant, "1555001", "b-3", "message 3"))); // twice in this batch
    batch.push((tenant, whatsapp_now(&store, tenant, "1555000", "b-urgent", "the app is down"))); // reopens, urgent
    batch.push((tenant, whatsapp_now(&store, tenant, "1555002", "b-person", "I want a real person"))); // needs human
    let mut invalid = whatsapp_now(&store, tenant, "1555009", "b-bad", "x");
    invalid.sent_at = None;
    batch.push((tenant, invalid));

    let outcomes = store.append_inbound_batch(&batch).await.unwrap();
    assert_eq!(outcomes.len(), batch.len());
    for (i, o) in outcomes[..40].iter().enumerate() {
        assert!(stored(o), "{i}: {o:?}");
    }
    assert!(matches!(outcomes[40], Ok(Appended::Duplicate)));
    assert!(matches!(outcomes[41], Ok(Appended::Duplicate)));
    assert!(stored(&outcomes[42]) && stored(&outcomes[43]));
    assert!(matches!(outcomes[44], Err(StoreError::Invalid(_))));

    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(messages, 1 + 40 + 2);
    let reopened = store.get_conversation(tenant, resolved.id).await.unwrap().unwrap();
    assert_eq!(reopened.status, "active", "a customer message reopens a resolved conversation");
    assert_eq!((reopened.priority.as_str(), reopened.priority_reason.as_str()), ("urgent", "auto: keyword 'down'"));
    let history = store.list_status_changes(tenant, resolved.id).await.unwrap();
    assert_eq!(history.last().map(|h| (h.to_status.as_str(), h.actor.as_str())), Some(("active", "customer")));
    let (rows, _) = store.list_conversations(tenant, 50, None).await.unwrap();
    assert_eq!(rows.len(), 4, "one conversation per customer");
    let person = rows.iter().find(|c| c.customer_address == "1555002").unwrap();
    assert!(person.needs_human);
    assert!(person.waiting_since.is_some() && person.last_customer_message_at.is_some());

    let events: Vec<String> = sqlx::query_scalar("SELECT subject FROM outbox").fetch_all(store.pool()).await.unwrap();
    let count = |kind: &str| events.iter().filter(|s| s.ends_with(kind)).count();
    assert_eq!(count(".message.created"), 1 + 42);
    assert_eq!(count(".conversation.created"), 4);
    assert!(count(".conversation.needs_human") >= 1 && count(".conversation.priority_changed") >= 1);

    // The whole batch again: nothing new.
    let again = store.append_inbound_batch(&batch).await.unwrap();
    assert!(again.iter().all(|o| !stored(o)));
}

#[tokio::test]
async fn racing_batches_of_the_same_messages_store_each_once() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let batch: Vec<(Uuid, InboundMessage)> = (0..300)
        .map(|i| (tenant, whatsapp_now(&store, tenant, &format!("1777{:03}", i % 30), &format!("r-{i}"), "hello")))
        .collect();
    let mut reversed = batch.clone();
    reversed.reverse();
    let retry = |b: Vec<(Uuid, InboundMessage)>| {
        let store = store.clone();
        async move {
            // A deadlock between racing batches is a retryable failure, as the consumer treats it.
            loop {
                match store.append_inbound_batch(&b).await {
                    Ok(outcomes) => return outcomes,
                    Err(StoreError::Database(_)) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    };
    let (a, b) = tokio::join!(retry(batch), retry(reversed));
    let stored_a = a.iter().filter(|o| stored(o)).count();
    let stored_b = b.iter().filter(|o| stored(o)).count();
    assert_eq!(stored_a + stored_b, 300);
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(messages, 300);
    let conversations: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(conversations, 30);
}

#[tokio::test]
async fn first_messages_from_one_phone_on_two_channels_in_one_batch_make_one_customer() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let known = customer_writes(&store, tenant, "15550009999", "k-1", "hi").await;
    let on_phone = |address: &str, id: &str| {
        let mut m = whatsapp_now(&store, tenant, address, id, "calling about my order");
        m.channel = inbox_proto::common::v1::Channel::Telephony as i32;
        m
    };
    let batch = vec![
        (tenant, whatsapp_now(&store, tenant, "15551112222", "w-new", "hello")),
        (tenant, on_phone("+15551112222", "call-new")),
        (tenant, on_phone("+15550009999", "call-known")),
        (tenant, whatsapp_now(&store, tenant, "15553334444", "w-alone", "hello")),
    ];
    let outcomes = store.append_inbound_batch(&batch).await.unwrap();
    assert!(outcomes.iter().all(stored));
    let contact_of = |o: &Result<Appended, StoreError>| match o {
        Ok(Appended::Stored { conversation, .. }) => conversation.contact_id,
        other => panic!("{other:?}"),
    };
    assert_eq!(contact_of(&outcomes[0]), contact_of(&outcomes[1]), "one phone, two channels, one customer");
    assert_eq!(contact_of(&outcomes[2]), known.contact_id, "a known phone joins its customer");
    assert_ne!(contact_of(&outcomes[3]), contact_of(&outcomes[0]));
    let contacts: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(contacts, 3);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_keys WHERE tenant_id = $1 AND kind = 'phone'")
        .bind(tenant)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(keys, 3);
}
