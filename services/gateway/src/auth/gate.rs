//! [`Auth`]: signs people in and out, refreshes their sessions, mints tokens for automation,
//! creates and revokes API keys, and judges every credential a request carries against its
//! records. Every revocation is announced to this replica's cache and sockets at once and to
//! the other replicas over NATS.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use inbox_config::Secret;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::Clock;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Principal;
use super::admission::{Refusal, admit_key, admit_session_token, admit_sessionless_token, refresh_decision};
use super::api_key::{KeyScope, NewKey, PresentedKey, looks_like_key};
use super::password::{HashCost, HashError, Passwords, check_policy};
use super::rate_limit::{SignInLimiter, SignInLimits, account_key};
use super::records::RecordCache;
use super::request_limit::{Budget, OverLimit, RequestLimiter, RequestLimits};
use super::revocation::{Revocation, SUBJECT};
use super::ticket::{TicketError, Tickets};
use super::token::{AccessClaims, Holder, TokenSigner};
use super::usage::KeyUses;
use crate::store::api_keys::{ApiKey, NewApiKey};
use crate::store::sessions::{NewSession, RefreshOutcome, SessionKind};
use crate::store::{GatewayStore, User};

/// Most accounts one email is checked against when no tenant is named.
const MAX_SIGN_IN_CANDIDATES: i64 = 5;

/// How often a live socket's credential is judged again, in case a revocation was missed.
const SOCKET_RECHECK: StdDuration = StdDuration::from_secs(30);

/// Revocations buffered for this replica's sockets; one that lags rechecks its credential.
const REVOCATION_BUFFER: usize = 1024;

/// How often noted API key uses are written.
const KEY_USE_WRITE_INTERVAL: StdDuration = StdDuration::from_secs(1);

/// Lifetimes, costs and limits of sign-in.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a signed-in session (its refresh tokens die with it).
    pub session_ttl: Duration,
    /// How long a user, session or key record is trusted without reading it again.
    pub record_ttl: StdDuration,
    pub hash_cost: HashCost,
    pub limits: SignInLimits,
    /// Take the client's address from `X-Forwarded-For` (behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// REST requests allowed per minute, per person and per API key.
    pub requests: RequestLimits,
    /// How long a ticket (a credential for a URL) may wait to be used.
    pub ticket_ttl: StdDuration,
}

/// What can go wrong while authenticating or changing credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Meant for the client as it is.
    #[error(transparent)]
    Public(#[from] PublicError),
    /// Too many failed sign-ins; the client may try again after `retry_after`.
    #[error("too many failed sign-ins")]
    RateLimited { retry_after: StdDuration },
    #[error("gateway store failure: {0}")]
    Store(#[from] sqlx::Error),
    #[error("sign-in limits unavailable: {0}")]
    Limits(#[from] redis::RedisError),
    #[error("tickets unavailable: {0}")]
    Tickets(TicketError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl From<Refusal> for AuthError {
    fn from(refusal: Refusal) -> Self {
        Self::Public(refusal.into())
    }
}

/// The client's view: store, Redis and hashing failures are logged and answered with a
/// generic, retryable `unavailable`.
impl From<AuthError> for PublicError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Public(public) => public,
            AuthError::RateLimited { retry_after } => PublicError::new(
                ErrorCode::RateLimited,
                format!("too many failed sign-ins; try again in {} seconds", retry_after.as_secs()),
            ),
            AuthError::Store(e) => {
                tracing::error!(error = %e, "gateway store failure");
                PublicError::unavailable("temporarily unavailable; retry")
            }
            AuthError::Limits(e) => {
                tracing::error!(error = %e, "sign-in limits unavailable");
                PublicError::unavailable("temporarily unavailable; retry")
            }
            AuthError::Tickets(TicketError::Operator) => {
                PublicError::invalid_argument("the operator token opens no live stream or media, and needs no ticket")
            }
            AuthError::Tickets(e) => {
                tracing::error!(error = %e, "tickets unavailable");
                PublicError::unavailable("temporarily unavailable; retry")
            }
            AuthError::Hash(e) => {
                tracing::error!(error = %e, "password hashing failed");
                PublicError::internal()
            }
        }
    }
}

/// A person signed in (or refreshed): their access token, and the refresh token that gets
/// the next one.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    pub user: User,
    pub session_id: Uuid,
    pub refresh_token: String,
    pub session_expires_at: DateTime<Utc>,
}

/// The parts [`Auth`] is made of.
pub struct AuthParts {
    pub jwt_secret: Secret,
    pub operator_token: Secret,
    pub store: GatewayStore,
    pub clock: Clock,
    pub redis: redis::aio::ConnectionManager,
    pub redis_prefix: String,
    pub nats: async_nats::Client,
    pub policy: AuthPolicy,
}

struct Inner {
    tokens: TokenSigner,
    operator_token: Secret,
    store: GatewayStore,
    clock: Clock,
    records: RecordCache,
    passwords: Passwords,
    limiter: SignInLimiter,
    requests: RequestLimiter,
    tickets: Tickets,
    nats: async_nats::Client,
    revoked: broadcast::Sender<Revocation>,
    key_uses: KeyUses,
    policy: AuthPolicy,
}

/// Authentication and credentials of the gateway. Cheap to clone.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

/// A refresh token: `rt_` and 256 random bits, stored as its SHA-256.
fn new_refresh_token() -> (String, [u8; 32]) {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("rt_{}", hex::encode(secret));
    let hash = refresh_token_hash(&token);
    (token, hash)
}

fn refresh_token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    /// Made inside the runtime: the decoy password hash is made in the background.
    pub fn new(parts: AuthParts) -> Result<Self, HashError> {
        let passwords = Passwords::new(parts.policy.hash_cost)?;
        let warming = passwords.clone();
        tokio::spawn(async move {
            if let Err(e) = warming.warm_up().await {
                tracing::error!(error = %e, "decoy password hash not made");
            }
        });
        Ok(Self(Arc::new(Inner {
            tokens: TokenSigner::new(&parts.jwt_secret),
            operator_token: parts.operator_token,
            records: RecordCache::new(parts.store.clone(), parts.policy.record_ttl),
            store: parts.store,
            clock: parts.clock,
            passwords,
            limiter: SignInLimiter::new(parts.redis.clone(), &parts.redis_prefix, parts.policy.limits),
            requests: RequestLimiter::new(parts.redis.clone(), &parts.redis_prefix, parts.policy.requests),
            tickets: Tickets::new(parts.redis, &parts.redis_prefix, parts.policy.ticket_ttl),
            nats: parts.nats,
            revoked: broadcast::channel(REVOCATION_BUFFER).0,
            key_uses: KeyUses::default(),
            policy: parts.policy,
        })))
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.0.policy
    }

    /// The principal a bearer credential stands for now: the operator token, an API key, or
    /// an access token whose session and user still let it act.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let now = self.0.clock.now();
        let operator = self.0.operator_token.expose().as_bytes();
        if !operator.is_empty() && bool::from(token.as_bytes().ct_eq(operator)) {
            return Ok(Principal::Operator);
        }
        if looks_like_key(token) {
            let presented = PresentedKey::parse(token).ok_or(Refusal::Invalid)?;
            let record = self.0.records.key(presented.id).await?;
            let scope = admit_key(&presented, record.as_ref())?;
            let tenant_id = record.map(|r| r.tenant_id).ok_or(Refusal::Invalid)?;
            self.0.key_uses.note(presented.id, now);
            return Ok(Principal::Key { tenant_id, key_id: presented.id, scope });
        }
        let claims = self.0.tokens.decode(token, now).ok_or(Refusal::Invalid)?;
        let role = self.admit(&claims, now).await?;
        Ok(Principal::User {
            tenant_id: claims.tenant_id,
            user_id: claims.user_id,
            role,
            session_id: claims.session_id,
        })
    }

    /// Counts a REST request of `principal` against its budget now; `Err` when it is over it.
    /// The operator has no budget.
    pub async fn admit_request(&self, principal: &Principal) -> Result<(), OverLimit> {
        match Budget::of(principal) {
            Some(budget) => self.0.requests.admit(budget, self.0.clock.now()).await,
            None => Ok(()),
        }
    }

    async fn admit(&self, claims: &AccessClaims, now: DateTime<Utc>) -> Result<inbox_service::Role, AuthError> {
        let user = self.0.records.user(claims.user_id).await?;
        let role = match claims.session_id {
            Some(session_id) => {
                let session = self.0.records.session(session_id).await?;
                admit_session_token(claims, session.as_ref(), user.as_ref(), now)?
            }
            None => admit_sessionless_token(claims, user.as_ref())?,
        };
        Ok(role)
    }

    /// `principal` as its records let it act now (a person with their current role); refused
    /// when its session or key was revoked, its user disabled, or its session ended since.
    async fn readmit(&self, principal: &Principal) -> Result<Principal, AuthError> {
        let now = self.0.clock.now();
        match principal {
            Principal::Operator => Ok(Principal::Operator),
            Principal::User { tenant_id, user_id, role, session_id } => {
                let claims = AccessClaims {
                    user_id: *user_id,
                    tenant_id: *tenant_id,
                    role: role.as_str().to_owned(),
                    issued_at: now.timestamp(),
                    session_id: *session_id,
                };
                let role = self.admit(&claims, now).await?;
                Ok(Principal::User { tenant_id: *tenant_id, user_id: *user_id, role, session_id: *session_id })
            }
            Principal::Key { key_id, .. } => match self.0.records.key(*key_id).await? {
                Some(record) if !record.revoked => Ok(principal.clone()),
                _ => Err(Refusal::KeyRevoked.into()),
            },
        }
    }

    /// Whether `principal` may still act (for a live socket); a store failure counts as yes.
    async fn still_admitted(&self, principal: &Principal) -> bool {
        match self.readmit(principal).await {
            Ok(_) => true,
            Err(AuthError::Public(_)) => false,
            Err(e) => {
                tracing::warn!(error = %e, "live credential not rechecked");
                true
            }
        }
    }

    /// A single-use ticket standing for `principal` ([`super::ticket`]), and the seconds it
    /// lives.
    pub async fn issue_ticket(&self, principal: &Principal) -> Result<(String, u64), AuthError> {
        self.0.tickets.issue(principal).await.map_err(AuthError::Tickets)
    }

    /// The principal a ticket stands for, using it up, if it is still unused and unexpired and
    /// its principal may still act.
    pub async fn redeem_ticket(&self, ticket: &str) -> Result<Principal, AuthError> {
        let holder = self.0.tickets.redeem(ticket).await.map_err(AuthError::Tickets)?.ok_or_else(|| {
            PublicError::new(
                ErrorCode::Unauthenticated,
                "this ticket is unknown, used or expired: get a new one with POST /v1/auth/ticket",
            )
        })?;
        self.readmit(&holder).await
    }

    /// Resolves once `principal`'s credential is revoked (sign-out, revoke-all, disabled,
    /// key revoked): at once when the revocation is announced, or at the next periodic
    /// recheck when its announcement was missed. Never resolves for the operator.
    ///
    /// For live sockets: `select!` on it beside the socket and close the socket when it fires.
    pub fn until_revoked(&self, principal: Principal) -> impl Future<Output = ()> + Send + 'static {
        let mut revocations = self.0.revoked.subscribe();
        let auth = self.clone();
        async move {
            if principal == Principal::Operator {
                return std::future::pending().await;
            }
            let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + SOCKET_RECHECK, SOCKET_RECHECK);
            loop {
                tokio::select! {
                    received = revocations.recv() => match received {
                        Ok(revocation) if revocation.ends(&principal) => return,
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => if !auth.still_admitted(&principal).await { return },
                        Err(RecvError::Closed) => return std::future::pending().await,
                    },
                    _ = recheck.tick() => if !auth.still_admitted(&principal).await { return },
                }
            }
        }
    }

    /// Signs a person in with email and password (in the tenant with slug `tenant`, or in
    /// the one of at most a handful where the password matches). Failures are counted per
    /// account and per `client_address`; an unknown email is answered like a wrong password,
    /// after about the same work.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        tenant: Option<&str>,
        client_address: &str,
    ) -> Result<SignedIn, AuthError> {
        let now = self.0.clock.now();
        let account = account_key(email);
        if let Some(retry_after) = self.0.limiter.wait_needed(&account, client_address, now).await? {
            return Err(AuthError::RateLimited { retry_after });
        }
        let candidates = self.0.store.sign_in_candidates(email.trim(), tenant, MAX_SIGN_IN_CANDIDATES).await?;
        if candidates.is_empty() {
            self.0.passwords.verify(password, None).await;
        }
        let mut matched = Vec::new();
        for candidate in candidates {
            if self.0.passwords.verify(password, candidate.password_hash.as_deref()).await {
                matched.push(candidate);
            }
        }
        let user = match matched.len() {
            0 => {
                self.0.limiter.record_failure(&account, client_address, now).await?;
                tracing::info!(client_address, "sign-in refused: wrong email or password");
                return Err(PublicError::new(ErrorCode::Unauthenticated, "wrong email or password").into());
            }
            1 => matched.remove(0).user,
            _ => {
                let refusal = "this email signs in to several tenants: name the tenant";
                return Err(PublicError::invalid_argument(refusal).into());
            }
        };
        if user.disabled {
            return Err(PublicError::new(ErrorCode::PermissionDenied, "this account is disabled").into());
        }
        self.0.limiter.forget_account(&account, now).await?;
        let signed_in = self.start_session(user, Some(client_address), now).await?;
        tracing::info!(tenant_id = %signed_in.user.tenant_id, user_id = %signed_in.user.id, session_id = %signed_in.session_id, "signed in");
        Ok(signed_in)
    }

    async fn start_session(
        &self,
        user: User,
        client_address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, AuthError> {
        let (refresh_token, hash) = new_refresh_token();
        let new = NewSession {
            tenant_id: user.tenant_id,
            user_id: user.id,
            kind: SessionKind::SignIn,
            minted_by: None,
            client_address,
            expires_at: now + self.0.policy.session_ttl,
        };
        let session = self.0.store.create_session(&new, Some(&hash), now).await?;
        self.signed_in(user, session.id, session.expires_at, refresh_token, now)
    }

    fn signed_in(
        &self,
        user: User,
        session_id: Uuid,
        session_expires_at: DateTime<Utc>,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, AuthError> {
        let ttl = self.0.policy.access_ttl.min(session_expires_at - now);
        let holder = Holder { user_id: user.id, tenant_id: user.tenant_id, role: &user.role, session_id };
        let (access_token, _) = self.0.tokens.issue(holder, ttl, now)?;
        Ok(SignedIn {
            access_token,
            expires_in: ttl.num_seconds(),
            user,
            session_id,
            refresh_token,
            session_expires_at,
        })
    }

    /// Exchanges a refresh token for a new access token and its successor. A token used a
    /// second time revokes its whole session (both holders lose it).
    pub async fn refresh(&self, refresh_token: &str) -> Result<SignedIn, AuthError> {
        let now = self.0.clock.now();
        let presented = refresh_token_hash(refresh_token);
        let (successor, successor_hash) = new_refresh_token();
        let outcome =
            self.0.store.exchange_refresh_token(&presented, &successor_hash, now, |s| refresh_decision(s, now)).await?;
        let ended = || -> AuthError { Refusal::SessionEnded.into() };
        match outcome {
            RefreshOutcome::Unknown => Err(Refusal::Invalid.into()),
            RefreshOutcome::Refused(_) => Err(ended()),
            RefreshOutcome::SessionRevoked(state) => {
                let session = &state.session;
                tracing::warn!(tenant_id = %session.tenant_id, user_id = %session.user_id, session_id = %session.id, "refresh token used twice; session revoked");
                self.announce(Revocation::Session(session.id)).await;
                Err(PublicError::new(
                    ErrorCode::Unauthenticated,
                    "this refresh token was used before; the session is revoked: sign in again",
                )
                .into())
            }
            RefreshOutcome::Rotated(state) => {
                let session = state.session;
                let user = self.0.store.user(session.tenant_id, session.user_id).await?.ok_or_else(ended)?;
                self.signed_in(user, session.id, session.expires_at, successor, now)
            }
        }
    }

    /// Ends the session a bearer principal signed in with.
    pub async fn sign_out(&self, principal: &Principal) -> Result<(), AuthError> {
        let Principal::User { session_id: Some(session_id), .. } = principal else {
            let refusal = "this credential has no session to sign out of; an admin revokes it";
            return Err(PublicError::invalid_argument(refusal).into());
        };
        self.end_session(*session_id, "signed_out").await
    }

    /// Ends the session of a refresh token (used or not); an unknown token ends nothing.
    pub async fn sign_out_refresh_token(&self, refresh_token: &str) -> Result<(), AuthError> {
        let hash = refresh_token_hash(refresh_token);
        if let Some(session) = self.0.store.session_of_refresh_token(&hash).await? {
            self.end_session(session.id, "signed_out").await?;
        }
        Ok(())
    }

    async fn end_session(&self, session_id: Uuid, reason: &str) -> Result<(), AuthError> {
        self.0.store.revoke_session(session_id, reason, self.0.clock.now()).await?;
        self.announce(Revocation::Session(session_id)).await;
        tracing::info!(%session_id, reason, "session ended");
        Ok(())
    }

    /// A token for automation, minted for `user` by `minted_by` (`operator`, `user:<id>`),
    /// valid for `ttl` unless the user is disabled or their sessions are revoked.
    pub async fn mint(
        &self,
        user: &User,
        ttl: Duration,
        minted_by: &str,
    ) -> Result<(String, DateTime<Utc>), AuthError> {
        if user.disabled {
            return Err(PublicError::invalid_argument("the user is disabled").into());
        }
        let now = self.0.clock.now();
        let new = NewSession {
            tenant_id: user.tenant_id,
            user_id: user.id,
            kind: SessionKind::Minted,
            minted_by: Some(minted_by),
            client_address: None,
            expires_at: now + ttl,
        };
        let session = self.0.store.create_session(&new, None, now).await?;
        let holder = Holder { user_id: user.id, tenant_id: user.tenant_id, role: &user.role, session_id: session.id };
        Ok(self.0.tokens.issue(holder, ttl, now)?)
    }

    /// Sets the password of the tenant's user, as policy allows.
    pub async fn set_password(&self, tenant_id: Uuid, user_id: Uuid, password: &str) -> Result<(), AuthError> {
        let user =
            self.0.store.user(tenant_id, user_id).await?.ok_or_else(|| PublicError::not_found("user not found"))?;
        check_policy(password, &user.email)?;
        let hash = self.0.passwords.hash(password).await?;
        self.0.store.set_password_hash(tenant_id, user_id, &hash, self.0.clock.now()).await?;
        tracing::info!(%tenant_id, %user_id, "password set");
        Ok(())
    }

    /// Disables the tenant's user (ending every session, token and socket of theirs) or
    /// enables them again; `None` when there is no such user.
    pub async fn set_disabled(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        disabled: bool,
    ) -> Result<Option<User>, AuthError> {
        let user = self.0.store.set_disabled(tenant_id, user_id, disabled, self.0.clock.now()).await?;
        if user.is_some() {
            self.announce(Revocation::User(user_id)).await;
            tracing::info!(%tenant_id, %user_id, disabled, "user disabled or enabled");
        }
        Ok(user)
    }

    /// Revokes every session and token of the tenant's user; how many sessions ended, or
    /// `None` when there is no such user.
    pub async fn revoke_sessions(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Option<u64>, AuthError> {
        let ended =
            self.0.store.revoke_all_sessions(tenant_id, user_id, "revoked_by_admin", self.0.clock.now()).await?;
        if ended.is_some() {
            self.announce(Revocation::User(user_id)).await;
            tracing::info!(%tenant_id, %user_id, "every session revoked");
        }
        Ok(ended)
    }

    /// A new API key of the tenant, and its text, shown this once.
    pub async fn create_key(
        &self,
        tenant_id: Uuid,
        name: &str,
        scope: KeyScope,
        created_by: &str,
    ) -> Result<(ApiKey, String), AuthError> {
        let key = NewKey::generate();
        let new =
            NewApiKey { id: key.id, tenant_id, name, scope: scope.as_str(), secret_hash: &key.secret_hash, created_by };
        let created = self.0.store.create_api_key(&new, self.0.clock.now()).await?;
        tracing::info!(%tenant_id, key_id = %created.id, scope = scope.as_str(), created_by, "api key created");
        Ok((created, key.text))
    }

    /// Revokes the tenant's key at once; `None` when there is no such key.
    pub async fn revoke_key(&self, tenant_id: Uuid, key_id: Uuid) -> Result<Option<ApiKey>, AuthError> {
        let revoked = self.0.store.revoke_api_key(tenant_id, key_id, self.0.clock.now()).await?;
        if revoked.is_some() {
            self.0.key_uses.forget(key_id);
            self.announce(Revocation::Key(key_id)).await;
            tracing::info!(%tenant_id, %key_id, "api key revoked");
        }
        Ok(revoked)
    }

    /// Applies a revocation here at once, then tells the other replicas.
    async fn announce(&self, revocation: Revocation) {
        self.apply(revocation);
        if let Err(e) = self.0.nats.publish(SUBJECT, revocation.to_json().into()).await {
            tracing::warn!(error = %e, ?revocation, "revocation not announced to other replicas");
        }
    }

    fn apply(&self, revocation: Revocation) {
        self.0.records.forget(&revocation);
        let _ = self.0.revoked.send(revocation);
    }
}

/// Subscribes to the revocations every replica (this one too) announces; the future returned
/// applies them until `shutdown`. The subscription is in place (flushed to the server) when
/// this returns, so nothing announced afterwards is missed.
pub async fn revocation_listener(
    auth: Auth,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, async_nats::Error> {
    let mut subscription = auth.0.nats.subscribe(SUBJECT).await?;
    auth.0.nats.flush().await?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                message = subscription.next() => match message {
                    Some(message) => match Revocation::from_json(&message.payload) {
                        Some(revocation) => auth.apply(revocation),
                        None => tracing::warn!(subject = SUBJECT, "unreadable revocation ignored"),
                    },
                    None => break,
                },
            }
        }
    })
}

/// Writes noted API key uses every second until `shutdown`, then once more.
pub async fn write_key_uses(auth: Auth, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(KEY_USE_WRITE_INTERVAL);
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tick.tick() => false,
        };
        let uses = auth.0.key_uses.take();
        if let Err(e) = auth.0.store.record_api_key_use(&uses).await {
            tracing::warn!(error = %e, keys = uses.len(), "api key last use not recorded");
        }
        if stopping {
            break;
        }
    }
}
