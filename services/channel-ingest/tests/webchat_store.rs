//! Web chat's store against real PostgreSQL: tokens open exactly one visitor of one widget,
//! messages are stored once per idempotency key (visitor) or message id (agent), deliveries
//! only move forward.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use inbox_channel_ingest::store::{
    Claim, DeliveryState, IngestStore, MIGRATOR, NewDelivery, NewWidget, PageRecord, VisitorUpdate,
};
use inbox_testkit::TestDatabase;
use uuid::Uuid;

async fn store() -> (IngestStore, TestDatabase) {
    let db = TestDatabase::create("webchat").await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    (IngestStore::new(pool), db)
}

fn widget<'a>(name: &'a str, origins: &'a [String]) -> NewWidget<'a> {
    NewWidget { name, allowed_origins: origins, greeting: "Hi", color: "#112233" }
}

#[tokio::test]
async fn a_token_opens_one_visitor_of_one_widget_and_nothing_else() {
    let (store, _db) = store().await;
    let origins = vec!["https://shop.test".to_owned()];
    let (acme, globex) = (Uuid::new_v4(), Uuid::new_v4());
    let shop = store.create_widget(acme, &widget("Shop", &origins)).await.unwrap();
    let other = store.create_widget(globex, &widget("Other", &origins)).await.unwrap();
    assert_ne!(shop.widget_key, other.widget_key);
    assert!(shop.allows_origin("https://shop.test"));
    assert!(!shop.allows_origin("https://shop.test.evil"));
    let found = store.widget_by_key(&shop.widget_key).await.unwrap().unwrap();
    assert_eq!((found.id, found.allowed_origins.clone()), (shop.id, vec!["https://shop.test".to_owned()]));

    let update = VisitorUpdate { name: Some("Ana"), email: None, user_agent: "UA", locale: "fr" };
    let (ana, ana_token) = store.create_visitor(&shop, &update).await.unwrap();
    let (bob, bob_token) = store.create_visitor(&shop, &VisitorUpdate::default()).await.unwrap();
    assert_eq!(store.visitor_by_token(&shop, &ana_token).await.unwrap().unwrap().id, ana.id);
    assert_eq!(store.visitor_by_token(&shop, &bob_token).await.unwrap().unwrap().id, bob.id);
    assert!(store.visitor_by_token(&other, &ana_token).await.unwrap().is_none(), "not on another tenant's widget");
    assert!(store.visitor_by_token(&shop, "wv_forged").await.unwrap().is_none());
    assert!(store.visitor_of_tenant(globex, shop.id, ana.id).await.unwrap().is_none(), "not from another tenant");

    // Only the token's SHA-256 is stored.
    let (raw, hashed): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE token_hash = convert_to($1, 'UTF8')), \
                count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))) FROM webchat_visitors",
    )
    .bind(&ana_token)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((raw, hashed), (0, 1));

    // A later session keeps what it does not change.
    let later = VisitorUpdate { name: None, email: Some("ana@example.com"), user_agent: "", locale: "" };
    let ana = store.update_visitor(ana.id, &later).await.unwrap();
    assert_eq!(
        (ana.name.as_str(), ana.email.as_str(), ana.user_agent.as_str(), ana.locale.as_str()),
        ("Ana", "ana@example.com", "UA", "fr")
    );
}

#[tokio::test]
async fn messages_are_stored_once_and_history_is_per_visitor() {
    let (store, _db) = store().await;
    let origins = vec!["https://shop.test".to_owned()];
    let tenant = Uuid::new_v4();
    let shop = store.create_widget(tenant, &widget("Shop", &origins)).await.unwrap();
    let (ana, _) = store.create_visitor(&shop, &VisitorUpdate::default()).await.unwrap();
    let (bob, _) = store.create_visitor(&shop, &VisitorUpdate::default()).await.unwrap();

    let (first, stored) = store.store_visitor_message(&ana, "m-1", "Hello").await.unwrap();
    assert!(stored);
    let (again, stored) = store.store_visitor_message(&ana, "m-1", "Hello").await.unwrap();
    assert!(!stored);
    assert_eq!(first.id, again.id);
    // The same key from another visitor is another message.
    let (bobs, stored) = store.store_visitor_message(&bob, "m-1", "Hi").await.unwrap();
    assert!(stored);
    assert_ne!(bobs.id, first.id);

    let reply = Uuid::now_v7();
    assert!(store.store_agent_message(tenant, ana.id, reply, "Welcome", None).await.unwrap().1);
    assert!(!store.store_agent_message(tenant, ana.id, reply, "Welcome", None).await.unwrap().1);
    let history: Vec<(String, String)> =
        store.visitor_history(ana.id, 100).await.unwrap().into_iter().map(|m| (m.sender, m.body)).collect();
    assert_eq!(history, [("visitor".to_owned(), "Hello".to_owned()), ("agent".to_owned(), "Welcome".to_owned())]);
    assert_eq!(store.visitor_history(bob.id, 100).await.unwrap().len(), 1);

    let at = chrono::Utc::now();
    for (i, url) in ["https://shop.test/a", "https://shop.test/b"].into_iter().enumerate() {
        let page = PageRecord {
            url: url.into(),
            title: String::new(),
            referrer: String::new(),
            at: at + chrono::Duration::seconds(i as i64),
        };
        store.record_page_view(ana.id, &page).await.unwrap();
    }
    let pages: Vec<String> = store.page_views(ana.id, 1).await.unwrap().into_iter().map(|p| p.url).collect();
    assert_eq!(pages, ["https://shop.test/b"], "the latest pages, oldest first");
}

#[tokio::test]
async fn a_web_chat_delivery_only_moves_forward() {
    let (store, _db) = store().await;
    let origins = vec!["https://shop.test".to_owned()];
    let tenant = Uuid::new_v4();
    let shop = store.create_widget(tenant, &widget("Shop", &origins)).await.unwrap();
    let message_id = Uuid::now_v7();
    let new = NewDelivery {
        tenant_id: tenant,
        message_id,
        conversation_id: Uuid::now_v7(),
        account_id: Some(shop.id),
        channel: "webchat",
        recipient: "visitor",
    };
    assert!(matches!(
        store.claim_delivery(&new, Uuid::new_v4(), std::time::Duration::from_secs(30)).await.unwrap(),
        Claim::Granted(_)
    ));
    let delivered = store.advance_webchat_delivery(tenant, message_id, DeliveryState::Delivered).await.unwrap();
    assert_eq!(delivered.unwrap().state(), DeliveryState::Delivered);
    assert!(store.advance_webchat_delivery(tenant, message_id, DeliveryState::Accepted).await.unwrap().is_none());
    assert!(
        store.advance_webchat_delivery(tenant, message_id, DeliveryState::Delivered).await.unwrap().is_none(),
        "announced once"
    );
    assert!(matches!(
        store.claim_delivery(&new, Uuid::new_v4(), std::time::Duration::from_secs(30)).await.unwrap(),
        Claim::Finished(_)
    ));
}
