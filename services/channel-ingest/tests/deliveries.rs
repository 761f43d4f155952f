//! The outbound delivery log against real PostgreSQL: one send per message whatever the
//! replicas and redeliveries, statuses only move a delivery forward, whenever they arrive.
//! The store runs on a manual clock: leases expire when the test moves it, not by waiting.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use chrono::TimeZone;
use inbox_channel_ingest::secrets::SecretKeys;
use inbox_channel_ingest::store::{
    Claim, DeliveryFailure, DeliveryState, IngestStore, MIGRATOR, NewDelivery, NewWhatsAppAccount, StatusRecord,
};
use inbox_service::Clock;
use inbox_testkit::TestDatabase;
use uuid::Uuid;

struct Fixture {
    store: IngestStore,
    clock: Clock,
    tenant: Uuid,
    account: Uuid,
    _db: TestDatabase,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create("deliveries").await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let clock = Clock::manual(chrono::Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap());
    let keys = SecretKeys::parse("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "k1").unwrap();
    let store = IngestStore::with_clock(pool, clock.clone()).with_secrets(keys);
    let tenant = Uuid::new_v4();
    let account = store
        .upsert_whatsapp_account(
            tenant,
            &NewWhatsAppAccount {
                phone_number_id: "106540352242922",
                display_phone_number: "",
                app_secret: "s",
                verify_token: "v",
                access_token: "t",
                business_account_id: "",
            },
        )
        .await
        .unwrap();
    Fixture { store, clock, tenant, account: account.id, _db: db }
}

impl Fixture {
    fn new_delivery(&self, message_id: Uuid) -> NewDelivery<'static> {
        NewDelivery {
            tenant_id: self.tenant,
            message_id,
            conversation_id: Uuid::new_v4(),
            account_id: Some(self.account),
            channel: "whatsapp",
            recipient: "16505551234",
        }
    }

    fn status(&self, wamid: &str, state: DeliveryState) -> StatusRecord {
        StatusRecord { external_id: wamid.into(), state, occurred_at: self.clock.now(), failure: None }
    }
}

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn only_one_replica_sends_and_a_finished_delivery_is_never_sent_again() {
    let f = fixture().await;
    let message = Uuid::now_v7();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(matches!(f.store.claim_delivery(&f.new_delivery(message), a, LEASE).await.unwrap(), Claim::Granted(_)));
    assert!(matches!(f.store.claim_delivery(&f.new_delivery(message), b, LEASE).await.unwrap(), Claim::HeldElsewhere));
    assert!(f.store.begin_provider_request(f.tenant, message, a, LEASE).await.unwrap());
    assert!(!f.store.begin_provider_request(f.tenant, message, b, LEASE).await.unwrap(), "b holds no lease");
    let row = f.store.record_accepted(f.tenant, message, "wamid.OUT.1").await.unwrap().unwrap();
    assert_eq!(
        (row.state(), row.attempts, row.external_id.as_deref()),
        (DeliveryState::Accepted, 1, Some("wamid.OUT.1"))
    );
    // A redelivery, on either replica, any time later: nothing to send.
    for owner in [a, b] {
        let claim = f.store.claim_delivery(&f.new_delivery(message), owner, LEASE).await.unwrap();
        assert!(matches!(claim, Claim::Finished(ref r) if r.state() == DeliveryState::Accepted), "{claim:?}");
    }
}

#[tokio::test]
async fn a_replica_that_died_mid_request_leaves_a_failed_delivery_never_a_second_send() {
    let f = fixture().await;
    let message = Uuid::now_v7();
    let (dead, alive) = (Uuid::new_v4(), Uuid::new_v4());
    let short = Duration::from_millis(10);
    assert!(matches!(f.store.claim_delivery(&f.new_delivery(message), dead, short).await.unwrap(), Claim::Granted(_)));
    assert!(f.store.begin_provider_request(f.tenant, message, dead, short).await.unwrap());
    f.clock.advance(chrono::Duration::milliseconds(50));
    let claim = f.store.claim_delivery(&f.new_delivery(message), alive, LEASE).await.unwrap();
    let Claim::Interrupted(row) = claim else { panic!("expected Interrupted, got {claim:?}") };
    assert_eq!((row.state(), row.error_title.as_str()), (DeliveryState::Failed, "delivery_outcome_unknown"));
    assert!(matches!(
        f.store.claim_delivery(&f.new_delivery(message), alive, LEASE).await.unwrap(),
        Claim::Finished(_)
    ));
}

#[tokio::test]
async fn a_replica_that_died_between_requests_is_taken_over_and_the_send_goes_on() {
    let f = fixture().await;
    let message = Uuid::now_v7();
    let (dead, alive) = (Uuid::new_v4(), Uuid::new_v4());
    let short = Duration::from_millis(10);
    f.store.claim_delivery(&f.new_delivery(message), dead, short).await.unwrap();
    f.store.begin_provider_request(f.tenant, message, dead, short).await.unwrap();
    let busy = DeliveryFailure { code: 130429, title: "Rate limit hit".into(), details: String::new() };
    f.store.end_provider_request(f.tenant, message, dead, &busy, false).await.unwrap();
    f.clock.advance(chrono::Duration::milliseconds(50));
    let claim = f.store.claim_delivery(&f.new_delivery(message), alive, LEASE).await.unwrap();
    assert!(matches!(claim, Claim::Granted(ref r) if r.attempts == 1), "{claim:?}");
}

#[tokio::test]
async fn statuses_only_move_forward_and_apply_even_before_the_send_was_recorded() {
    let f = fixture().await;
    let message = Uuid::now_v7();
    let owner = Uuid::new_v4();
    f.store.claim_delivery(&f.new_delivery(message), owner, LEASE).await.unwrap();
    // Meta's `delivered` overtakes our own record of the send.
    let early =
        f.store.apply_statuses(f.tenant, f.account, &[f.status("wamid.X", DeliveryState::Delivered)]).await.unwrap();
    assert!(early.is_empty(), "no delivery has that wamid yet");
    let row = f.store.record_accepted(f.tenant, message, "wamid.X").await.unwrap().unwrap();
    assert_eq!(row.state(), DeliveryState::Delivered, "the remembered status applied");

    let read = f.store.apply_statuses(f.tenant, f.account, &[f.status("wamid.X", DeliveryState::Read)]).await.unwrap();
    assert_eq!(read[0].state(), DeliveryState::Read);
    // A late `sent`, and the same `read` again days later: nothing changes.
    let late = f
        .store
        .apply_statuses(
            f.tenant,
            f.account,
            &[f.status("wamid.X", DeliveryState::Sent), f.status("wamid.X", DeliveryState::Read)],
        )
        .await
        .unwrap();
    assert_eq!(late[0].state(), DeliveryState::Read);
    let remembered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM whatsapp_statuses").fetch_one(f.store.pool()).await.unwrap();
    assert_eq!(remembered, 3, "delivered, read, sent: each once");

    // Another tenant's status for the same wamid touches nothing of ours.
    let other =
        f.store.apply_statuses(Uuid::new_v4(), f.account, &[f.status("wamid.X", DeliveryState::Failed)]).await.unwrap();
    assert!(other.is_empty());
    assert_eq!(f.store.delivery(f.tenant, message).await.unwrap().unwrap().state(), DeliveryState::Read);
}

#[tokio::test]
async fn a_failed_status_keeps_the_providers_error() {
    let f = fixture().await;
    let message = Uuid::now_v7();
    f.store.claim_delivery(&f.new_delivery(message), Uuid::new_v4(), LEASE).await.unwrap();
    f.store.record_accepted(f.tenant, message, "wamid.F").await.unwrap();
    let failure =
        DeliveryFailure { code: 131047, title: "Re-engagement message".into(), details: "more than 24 hours".into() };
    let mut status = f.status("wamid.F", DeliveryState::Failed);
    status.failure = Some(failure.clone());
    let rows = f.store.apply_statuses(f.tenant, f.account, &[status]).await.unwrap();
    let d = rows[0].to_proto();
    assert_eq!(d.error.map(|e| (e.code, e.title, e.details)), Some((131047, failure.title, failure.details)));
}
