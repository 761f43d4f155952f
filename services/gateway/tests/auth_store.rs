//! Sign-in, sessions, API keys and revocation against real PostgreSQL, Redis and NATS, through
//! the gateway's store and its `Auth`: what a person or a machine can still do after each
//! change, on this replica and on another.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use inbox_config::Secret;
use inbox_errors::ErrorCode;
use inbox_gateway::auth::password::HashCost;
use inbox_gateway::auth::rate_limit::SignInLimits;
use inbox_gateway::auth::{Auth, AuthError, AuthParts, AuthPolicy, KeyScope, Principal, RequestLimits};
use inbox_gateway::store::sessions::{NewSession, RefreshDecision, RefreshOutcome, SessionKind};
use inbox_gateway::store::{GatewayStore, MIGRATOR, User};
use inbox_service::{Clock, Role};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

/// Monday 3 March 2031, 09:00 UTC: when every test starts, whatever the date it runs.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 3, 9, 0, 0).unwrap()
}

struct World {
    store: GatewayStore,
    clock: Clock,
    redis: redis::aio::ConnectionManager,
    redis_prefix: String,
    nats: TestNats,
    _db: TestDatabase,
    _redis: TestRedis,
}

async fn world() -> World {
    let db = TestDatabase::create("gateway_auth").await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(5).connect(&db.url()).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let redis_server = TestRedis::start().await.unwrap();
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(redis_server.url()).unwrap()).await.unwrap();
    World {
        store: GatewayStore::new(pool),
        clock: Clock::manual(start()),
        redis,
        redis_prefix: redis_server.key_prefix().to_owned(),
        nats: TestNats::start().await.unwrap(),
        _db: db,
        _redis: redis_server,
    }
}

impl World {
    /// An `Auth` as one gateway replica has it; `record_ttl` long, so only revocations can
    /// make it read a record again.
    async fn replica(&self) -> Auth {
        let nats = async_nats::connect(self.nats.url()).await.unwrap();
        Auth::new(AuthParts {
            jwt_secret: Secret::new("a-jwt-secret-of-at-least-32-characters"),
            operator_token: Secret::new("operator-token-0123456789"),
            store: self.store.clone(),
            clock: self.clock.clone(),
            redis: self.redis.clone(),
            redis_prefix: self.redis_prefix.clone(),
            nats,
            policy: AuthPolicy {
                access_ttl: Duration::minutes(15),
                session_ttl: Duration::days(30),
                record_ttl: StdDuration::from_secs(600),
                hash_cost: HashCost { memory_kib: 64, iterations: 1, parallelism: 1 },
                limits: SignInLimits { per_account: 5, per_address: 30, window_seconds: 900 },
                trust_forwarded_for: false,
                requests: RequestLimits { per_user: 1200, per_key: 600 },
                ticket_ttl: StdDuration::from_secs(30),
            },
        })
        .unwrap()
    }

    async fn person(&self, slug: &str, email: &str, role: &str) -> User {
        let (tenant, _) = self.store.upsert_tenant(slug, "Acme", "UTC").await.unwrap();
        self.store.upsert_user(tenant.id, email, "Sarah", role).await.unwrap()
    }

    async fn person_with_password(&self, auth: &Auth, slug: &str, email: &str) -> User {
        let user = self.person(slug, email, "agent").await;
        auth.set_password(user.tenant_id, user.id, PASSWORD).await.unwrap();
        user
    }
}

fn code(result: Result<impl std::fmt::Debug, AuthError>) -> ErrorCode {
    inbox_errors::PublicError::from(result.unwrap_err()).code
}

#[tokio::test]
async fn a_person_signs_in_and_their_token_counts_until_they_sign_out() {
    let w = world().await;
    let auth = w.replica().await;
    let sarah = w.person_with_password(&auth, "acme", "sarah@acme.test").await;

    let signed_in = auth.sign_in("Sarah@Acme.test", PASSWORD, None, "192.0.2.1").await.unwrap();
    assert_eq!(signed_in.user.id, sarah.id);
    assert_eq!(signed_in.expires_in, 15 * 60);
    let principal = auth.authenticate(&signed_in.access_token).await.unwrap();
    assert_eq!(
        principal,
        Principal::User {
            tenant_id: sarah.tenant_id,
            user_id: sarah.id,
            role: Role::Agent,
            session_id: Some(signed_in.session_id)
        }
    );

    auth.sign_out(&principal).await.unwrap();
    assert_eq!(code(auth.authenticate(&signed_in.access_token).await), ErrorCode::Unauthenticated);
    assert_eq!(code(auth.refresh(&signed_in.refresh_token).await), ErrorCode::Unauthenticated);
}

#[tokio::test]
async fn an_access_token_expires_by_the_gateways_clock() {
    let w = world().await;
    let auth = w.replica().await;
    w.person_with_password(&auth, "acme", "sarah@acme.test").await;
    let signed_in = auth.sign_in("sarah@acme.test", PASSWORD, None, "192.0.2.1").await.unwrap();
    w.clock.advance(Duration::minutes(15));
    assert!(auth.authenticate(&signed_in.access_token).await.is_ok(), "still within its lifetime and leeway");
    w.clock.advance(Duration::minutes(1));
    assert_eq!(code(auth.authenticate(&signed_in.access_token).await), ErrorCode::Unauthenticated);
    let refreshed = auth.refresh(&signed_in.refresh_token).await.unwrap();
    assert!(auth.authenticate(&refreshed.access_token).await.is_ok());
    w.clock.advance(Duration::days(31));
    assert_eq!(code(auth.refresh(&refreshed.refresh_token).await), ErrorCode::Unauthenticated, "the session ended");
}

#[tokio::test]
async fn a_refresh_token_rotates_and_one_used_twice_ends_the_whole_session() {
    let w = world().await;
    let auth = w.replica().await;
    w.person_with_password(&auth, "acme", "sarah@acme.test").await;
    let first = auth.sign_in("sarah@acme.test", PASSWORD, None, "192.0.2.1").await.unwrap();
    let second = auth.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.session_id, first.session_id);
    let third = auth.refresh(&second.refresh_token).await.unwrap();
    assert!(auth.authenticate(&third.access_token).await.is_ok());

    // A thief replays the first token: the session ends for everyone holding one of its tokens.
    let reused = auth.refresh(&first.refresh_token).await.unwrap_err();
    assert!(inbox_errors::PublicError::from(reused).message.contains("used before"));
    assert_eq!(code(auth.authenticate(&third.access_token).await), ErrorCode::Unauthenticated);
    assert_eq!(code(auth.refresh(&third.refresh_token).await), ErrorCode::Unauthenticated);
}

#[tokio::test]
async fn two_exchanges_of_one_refresh_token_at_once_cannot_both_rotate() {
    let w = world().await;
    let user = w.person("acme", "sarah@acme.test", "agent").await;
    let new = NewSession {
        tenant_id: user.tenant_id,
        user_id: user.id,
        kind: SessionKind::SignIn,
        minted_by: None,
        client_address: None,
        expires_at: start() + Duration::days(30),
    };
    let presented = [1u8; 32];
    w.store.create_session(&new, Some(&presented), start()).await.unwrap();
    let decide = |s: &inbox_gateway::store::sessions::RefreshState| {
        if s.used { RefreshDecision::RevokeSession } else { RefreshDecision::Rotate }
    };
    let (a, b) = tokio::join!(
        w.store.exchange_refresh_token(&presented, &[2u8; 32], start(), decide),
        w.store.exchange_refresh_token(&presented, &[3u8; 32], start(), decide),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let rotated = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::Rotated(_))).count();
    let revoked = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::SessionRevoked(_))).count();
    assert_eq!((rotated, revoked), (1, 1));
    let unknown = w.store.exchange_refresh_token(&[9u8; 32], &[4u8; 32], start(), decide).await.unwrap();
    assert!(matches!(unknown, RefreshOutcome::Unknown));
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer_and_both_count() {
    let w = world().await;
    let auth = w.replica().await;
    w.person_with_password(&auth, "acme", "sarah@acme.test").await;
    let wrong = inbox_errors::PublicError::from(
        auth.sign_in("sarah@acme.test", "not her password", None, "192.0.2.1").await.unwrap_err(),
    );
    let unknown = inbox_errors::PublicError::from(
        auth.sign_in("nobody@acme.test", "not her password", None, "192.0.2.1").await.unwrap_err(),
    );
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.code, ErrorCode::Unauthenticated);
    let no_password = w.person("acme", "omar@acme.test", "agent").await;
    let never_set = auth.sign_in(&no_password.email, "anything at all", None, "192.0.2.1").await.unwrap_err();
    assert_eq!(inbox_errors::PublicError::from(never_set), wrong);
}

#[tokio::test]
async fn five_failures_for_an_account_block_it_with_a_retry_time_until_the_window_slides() {
    let w = world().await;
    let auth = w.replica().await;
    w.person_with_password(&auth, "acme", "sarah@acme.test").await;
    for attempt in 0..5 {
        let address = format!("192.0.2.{attempt}");
        assert!(auth.sign_in("sarah@acme.test", "wrong password", None, &address).await.is_err());
    }
    match auth.sign_in("sarah@acme.test", PASSWORD, None, "198.51.100.7").await {
        Err(AuthError::RateLimited { retry_after }) => assert_eq!(retry_after, StdDuration::from_secs(901)),
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // An unknown account is limited the same way.
    for _ in 0..5 {
        assert!(auth.sign_in("ghost@acme.test", "wrong password", None, "198.51.100.8").await.is_err());
    }
    assert!(matches!(
        auth.sign_in("ghost@acme.test", "wrong password", None, "198.51.100.9").await,
        Err(AuthError::RateLimited { .. })
    ));
    w.clock.advance(Duration::minutes(31));
    assert!(auth.sign_in("sarah@acme.test", PASSWORD, None, "198.51.100.7").await.is_ok());
}

#[tokio::test]
async fn an_email_in_several_tenants_signs_in_where_the_password_matches_or_asks_for_the_tenant() {
    let w = world().await;
    let auth = w.replica().await;
    let at_acme = w.person_with_password(&auth, "acme", "sarah@example.test").await;
    let at_globex = w.person("globex", "sarah@example.test", "admin").await;
    auth.set_password(at_globex.tenant_id, at_globex.id, "another long passphrase").await.unwrap();
    let signed_in = auth.sign_in("sarah@example.test", PASSWORD, None, "192.0.2.1").await.unwrap();
    assert_eq!(signed_in.user.tenant_id, at_acme.tenant_id);
    let other = auth.sign_in("sarah@example.test", "another long passphrase", None, "192.0.2.1").await.unwrap();
    assert_eq!((other.user.tenant_id, other.user.role.as_str()), (at_globex.tenant_id, "admin"));

    auth.set_password(at_globex.tenant_id, at_globex.id, PASSWORD).await.unwrap();
    let ambiguous = auth.sign_in("sarah@example.test", PASSWORD, None, "192.0.2.1").await;
    assert_eq!(code(ambiguous), ErrorCode::InvalidArgument);
    let named = auth.sign_in("sarah@example.test", PASSWORD, Some("globex"), "192.0.2.1").await.unwrap();
    assert_eq!(named.user.tenant_id, at_globex.tenant_id);
}

#[tokio::test]
async fn a_password_must_meet_the_policy_and_a_user_of_another_tenant_is_not_found() {
    let w = world().await;
    let auth = w.replica().await;
    let sarah = w.person("acme", "sarah@acme.test", "agent").await;
    assert_eq!(code(auth.set_password(sarah.tenant_id, sarah.id, "short").await), ErrorCode::InvalidArgument);
    assert_eq!(code(auth.set_password(sarah.tenant_id, sarah.id, "sarah@acme.test").await), ErrorCode::InvalidArgument);
    let globex = w.person("globex", "omar@globex.test", "agent").await;
    assert_eq!(code(auth.set_password(globex.tenant_id, sarah.id, PASSWORD).await), ErrorCode::NotFound);
}

#[tokio::test]
async fn disabling_a_user_refuses_every_credential_of_theirs_on_every_replica_at_once() {
    let w = world().await;
    let here = w.replica().await;
    let elsewhere = w.replica().await;
    let sarah = w.person_with_password(&here, "acme", "sarah@acme.test").await;
    let signed_in = here.sign_in("sarah@acme.test", PASSWORD, None, "192.0.2.1").await.unwrap();
    let (minted, _) = here.mint(&sarah, Duration::days(30), "operator").await.unwrap();
    // Both replicas have the records cached (for ten minutes).
    let principal = elsewhere.authenticate(&signed_in.access_token).await.unwrap();
    assert!(elsewhere.authenticate(&minted).await.is_ok());
    let socket_closes = elsewhere.until_revoked(principal);
    let listening =
        inbox_gateway::auth::revocation_listener(elsewhere.clone(), CancellationToken::new()).await.unwrap();
    let applying = tokio::spawn(listening);

    here.set_disabled(sarah.tenant_id, sarah.id, true).await.unwrap().unwrap();
    tokio::time::timeout(StdDuration::from_secs(5), socket_closes).await.expect("the socket's watch fired");
    assert_eq!(code(elsewhere.authenticate(&signed_in.access_token).await), ErrorCode::Unauthenticated);
    assert_eq!(code(elsewhere.authenticate(&minted).await), ErrorCode::Unauthenticated);
    assert_eq!(code(here.sign_in("sarah@acme.test", PASSWORD, None, "192.0.2.1").await), ErrorCode::PermissionDenied);
    assert_eq!(
        code(
            here.mint(&w.store.user(sarah.tenant_id, sarah.id).await.unwrap().unwrap(), Duration::hours(1), "operator")
                .await
        ),
        ErrorCode::InvalidArgument
    );

    // Enabled again: they sign in afresh; what was issued before stays void.
    here.set_disabled(sarah.tenant_id, sarah.id, false).await.unwrap().unwrap();
    assert!(here.sign_in("sarah@acme.test", PASSWORD, None, "192.0.2.1").await.is_ok());
    assert_eq!(code(here.authenticate(&minted).await), ErrorCode::Unauthenticated);
    applying.abort();
}

#[tokio::test]
async fn revoking_every_session_voids_minted_tokens_and_sign_ins_but_not_later_ones() {
    let w = world().await;
    let auth = w.replica().await;
    let sarah = w.person_with_password(&auth, "acme", "sarah@acme.test").await;
    let signed_in = auth.sign_in("sarah@acme.test", PASSWORD, None, "192.0.2.1").await.unwrap();
    let (minted, _) = auth.mint(&sarah, Duration::days(30), "operator").await.unwrap();
    assert_eq!(auth.revoke_sessions(sarah.tenant_id, sarah.id).await.unwrap(), Some(2));
    assert_eq!(code(auth.authenticate(&signed_in.access_token).await), ErrorCode::Unauthenticated);
    assert_eq!(code(auth.authenticate(&minted).await), ErrorCode::Unauthenticated);
    w.clock.advance(Duration::seconds(1));
    let (fresh, _) = auth.mint(&sarah, Duration::days(30), "operator").await.unwrap();
    assert!(auth.authenticate(&fresh).await.is_ok(), "a token minted after the revoke works");
    assert_eq!(auth.revoke_sessions(Uuid::new_v4(), sarah.id).await.unwrap(), None, "another tenant");
}

#[tokio::test]
async fn an_api_key_acts_with_its_scope_until_revoked_and_its_last_use_is_kept() {
    let w = world().await;
    let auth = w.replica().await;
    let (tenant, _) = w.store.upsert_tenant("acme", "Acme", "UTC").await.unwrap();
    let (key, text) = auth.create_key(tenant.id, "Order bot", KeyScope::AiAgent, "operator").await.unwrap();
    assert_eq!((key.scope.as_str(), key.created_by.as_str(), key.last_used_at), ("ai_agent", "operator", None));
    let principal = auth.authenticate(&text).await.unwrap();
    assert_eq!(principal, Principal::Key { tenant_id: tenant.id, key_id: key.id, scope: KeyScope::AiAgent });
    assert_eq!(principal.in_own_tenant().unwrap().role, Role::Ai);

    // Uses are written off the request path.
    let writing = tokio::spawn(inbox_gateway::auth::write_key_uses(auth.clone(), CancellationToken::new()));
    let used =
        wait_until(StdDuration::from_secs(5), || async { w.store.api_keys(tenant.id).await.unwrap()[0].last_used_at })
            .await;
    assert_eq!(used, Some(start()));
    writing.abort();

    let forged = format!("{}x", &text[..text.len() - 1]);
    assert_eq!(code(auth.authenticate(&forged).await), ErrorCode::Unauthenticated);
    assert!(auth.revoke_key(Uuid::new_v4(), key.id).await.unwrap().is_none(), "another tenant's key is not there");
    let revoked = auth.revoke_key(tenant.id, key.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(start()));
    let refused = inbox_errors::PublicError::from(auth.authenticate(&text).await.unwrap_err());
    assert_eq!(refused.message, "this API key was revoked");
    let again = auth.revoke_key(tenant.id, key.id).await.unwrap().unwrap();
    assert_eq!(again.revoked_at, Some(start()), "revoking again changes nothing");
}

#[tokio::test]
async fn a_later_key_use_is_never_overwritten_by_an_earlier_one() {
    let w = world().await;
    let auth = w.replica().await;
    let (tenant, _) = w.store.upsert_tenant("acme", "Acme", "UTC").await.unwrap();
    let (key, _) = auth.create_key(tenant.id, "Reporting", KeyScope::ReadOnly, "operator").await.unwrap();
    w.store.record_api_key_use(&[(key.id, start() + Duration::minutes(5))]).await.unwrap();
    w.store.record_api_key_use(&[(key.id, start() + Duration::minutes(2))]).await.unwrap();
    let listed = w.store.api_keys(tenant.id).await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(start() + Duration::minutes(5)));
}
