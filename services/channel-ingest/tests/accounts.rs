//! `ChannelAccounts` over gRPC: each store refusal reaches the caller with its one meaning.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{ACTIVE_KEY, Ingest, SERVICE_TOKEN, secret_keys};
use inbox_channel_ingest::store::{IngestStore, MIGRATOR};
use inbox_config::Secret;
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::ingest::v1 as pb;
use inbox_proto::ingest::v1::channel_accounts_client::ChannelAccountsClient;
use inbox_service::{CallContext, Role};
use serde_json::json;
use tonic::transport::Channel;
use uuid::Uuid;

async fn client(ingest: &Ingest) -> ChannelAccountsClient<Channel> {
    ChannelAccountsClient::connect(format!("http://{}", ingest.grpc)).await.unwrap()
}

fn as_admin_of<T>(tenant: Uuid, message: T) -> tonic::Request<T> {
    let admin = CallContext { tenant_id: tenant, principal: "operator".into(), role: Role::Admin };
    admin.request(message, &Secret::new(SERVICE_TOKEN)).unwrap()
}

fn whatsapp_number(phone_number_id: &str) -> pb::CreateWhatsAppAccountRequest {
    pb::CreateWhatsAppAccountRequest {
        phone_number_id: phone_number_id.into(),
        app_secret: "secret".into(),
        verify_token: "verify".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_number_another_tenant_connected_already_exists_and_a_deleted_widget_is_not_found() {
    let ingest = common::start(&[("INBOX__WHATSAPP__VERIFY_NUMBERS", "false")]).await;
    let mut accounts = client(&ingest).await;
    let (acme, globex) = (ingest.tenant, Uuid::new_v4());
    accounts.create_whats_app_account(as_admin_of(acme, whatsapp_number("106540352242922"))).await.unwrap();
    accounts.create_whats_app_account(as_admin_of(acme, whatsapp_number("106540352242922"))).await.expect("its own");
    let taken = accounts.create_whats_app_account(as_admin_of(globex, whatsapp_number("106540352242922"))).await;
    let taken = PublicError::from_status(&taken.unwrap_err());
    assert_eq!(taken.code, ErrorCode::AlreadyExists, "{taken}");
    assert!(taken.message.contains("another tenant"), "{taken}");

    let widget = pb::CreateWebchatWidgetRequest {
        name: "Shop".into(),
        allowed_origins: vec!["https://shop.test".into()],
        ..Default::default()
    };
    let widget = accounts.create_webchat_widget(as_admin_of(acme, widget)).await.unwrap().into_inner();
    let delete = || pb::DeleteWebchatWidgetRequest { widget_id: widget.id.clone() };
    accounts.delete_webchat_widget(as_admin_of(acme, delete())).await.unwrap();
    let gone =
        PublicError::from_status(&accounts.delete_webchat_widget(as_admin_of(acme, delete())).await.unwrap_err());
    assert_eq!((gone.code, gone.message.as_str()), (ErrorCode::NotFound, "no such widget"));
    let malformed = pb::DeleteWebchatWidgetRequest { widget_id: "w-1".into() };
    let refused =
        PublicError::from_status(&accounts.delete_webchat_widget(as_admin_of(acme, malformed)).await.unwrap_err());
    assert_eq!(refused, PublicError::invalid_argument("widget_id must be a uuid"));
    ingest.shutdown.cancel();
}

/// A Graph API as Meta documents it, for the numbers below: `GET /{version}/{phone-number-id}`
/// and `GET /{version}/{waba-id}/phone_numbers` (one number per page, with cursors), each
/// answering only to the access token of the business that owns the object; anything else is
/// Meta's error 100/33 ("does not exist, cannot be loaded due to missing permissions").
struct FakeGraph {
    /// WABA id → its owner's access token and its numbers.
    businesses: HashMap<&'static str, (&'static str, Vec<GraphNumber>)>,
}

/// A number as the Graph API lists it: its id and its display number.
type GraphNumber = (&'static str, &'static str);

const ACME_WABA: &str = "102290129340398";
const ACME_TOKEN: &str = "EAAG-acme";
const ACME_NUMBER: &str = "106540352242922";
const GLOBEX_WABA: &str = "777000777";
const GLOBEX_OTHER_WABA: &str = "778000778";
const GLOBEX_TOKEN: &str = "EAAG-globex";
const GLOBEX_NUMBER: &str = "222000222";

fn fake_graph() -> FakeGraph {
    FakeGraph {
        businesses: HashMap::from([
            (ACME_WABA, (ACME_TOKEN, vec![("106540352200001", "+1 555-000-0001"), (ACME_NUMBER, "+1 555-078-3881")])),
            (GLOBEX_WABA, (GLOBEX_TOKEN, vec![(GLOBEX_NUMBER, "+44 20 7946 0000")])),
            (GLOBEX_OTHER_WABA, (GLOBEX_TOKEN, vec![("333000333", "+44 20 7946 0001")])),
        ]),
    }
}

fn no_such_object(id: &str) -> axum::response::Response {
    let message = format!(
        "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
    );
    let body = json!({"error": {"message": message, "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "AbC"}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> &str {
    headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("")
}

async fn graph_number(
    State(graph): State<Arc<FakeGraph>>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> axum::response::Response {
    for (token, numbers) in graph.businesses.values() {
        if let Some((_, display)) = numbers.iter().find(|(n, _)| *n == id)
            && *token == bearer(&headers)
        {
            return axum::Json(json!({"verified_name": "Business", "code_verification_status": "VERIFIED",
                "display_phone_number": display, "quality_rating": "GREEN", "platform_type": "CLOUD_API", "id": id}))
            .into_response();
        }
    }
    no_such_object(&id)
}

async fn graph_business_numbers(
    State(graph): State<Arc<FakeGraph>>,
    Path((_version, waba)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    let Some((token, numbers)) = graph.businesses.get(waba.as_str()).filter(|(t, _)| *t == bearer(&headers)) else {
        return no_such_object(&waba);
    };
    let _ = token;
    let page: usize =
        query.get("after").and_then(|c| c.strip_prefix("cursor-")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let data: Vec<_> = numbers
        .iter()
        .skip(page)
        .take(1)
        .map(|(id, display)| json!({"verified_name": "Business", "display_phone_number": display, "id": id, "quality_rating": "GREEN"}))
        .collect();
    let mut paging = json!({"cursors": {"before": format!("cursor-{page}"), "after": format!("cursor-{}", page + 1)}});
    if page + 1 < numbers.len() {
        paging["next"] = json!(format!("https://graph.example.test/{waba}/phone_numbers?after=cursor-{}", page + 1));
    }
    axum::Json(json!({"data": data, "paging": paging})).into_response()
}

/// Serves the fake Graph API on a free port; returns its base URL.
async fn serve_graph() -> String {
    let router = axum::Router::new()
        .route("/{version}/{id}", get(graph_number))
        .route("/{version}/{waba}/phone_numbers", get(graph_business_numbers))
        .with_state(Arc::new(fake_graph()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

fn connect(phone_number_id: &str, waba: &str, token: &str) -> pb::CreateWhatsAppAccountRequest {
    pb::CreateWhatsAppAccountRequest {
        phone_number_id: phone_number_id.into(),
        app_secret: "app-secret".into(),
        verify_token: "verify".into(),
        access_token: token.into(),
        business_account_id: waba.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_whatsapp_number_is_connected_only_when_meta_confirms_its_business_account_owns_it() {
    let graph = serve_graph().await;
    let ingest =
        common::start(&[("INBOX__WHATSAPP__GRAPH_BASE_URL", &graph), ("INBOX__WHATSAPP__GRAPH_API_VERSION", "v23.0")])
            .await;
    let mut accounts = client(&ingest).await;
    let (acme, globex) = (ingest.tenant, Uuid::new_v4());
    let refused = |result: Result<tonic::Response<pb::WhatsAppAccount>, tonic::Status>| {
        PublicError::from_status(&result.expect_err("refused"))
    };

    // A rival claiming Acme's number first: with its own token Meta shows it nothing, with
    // Acme's business account id it cannot list that account's numbers either.
    for request in [
        connect(ACME_NUMBER, GLOBEX_WABA, GLOBEX_TOKEN),
        connect(ACME_NUMBER, ACME_WABA, GLOBEX_TOKEN),
        connect(GLOBEX_NUMBER, ACME_WABA, GLOBEX_TOKEN),
    ] {
        let e = refused(accounts.create_whats_app_account(as_admin_of(globex, request)).await);
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
        assert!(e.message.contains("Meta did not confirm"), "{e}");
        assert!(!e.message.contains(ACME_NUMBER), "no number echoed back: {e}");
    }
    // Its own number under its other business account: not one of that account's numbers.
    let e = refused(
        accounts
            .create_whats_app_account(as_admin_of(globex, connect(GLOBEX_NUMBER, GLOBEX_OTHER_WABA, GLOBEX_TOKEN)))
            .await,
    );
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert!(e.message.contains("not a number of the given WhatsApp Business Account"), "{e}");
    // Without a business account id or token there is nothing to prove it with.
    let e =
        refused(accounts.create_whats_app_account(as_admin_of(globex, connect(ACME_NUMBER, "", GLOBEX_TOKEN))).await);
    assert!(e.message.contains("business_account_id"), "{e}");
    assert_eq!(ingest.raw_accounts().await, "", "nothing stored for refused numbers");

    // The owner: confirmed (the number is on the second page of its account's numbers), its
    // display number taken from Meta.
    let connected = accounts
        .create_whats_app_account(as_admin_of(acme, connect(ACME_NUMBER, ACME_WABA, ACME_TOKEN)))
        .await
        .unwrap();
    let connected = connected.into_inner();
    assert_eq!(
        (connected.phone_number_id.as_str(), connected.display_phone_number.as_str()),
        (ACME_NUMBER, "+1 555-078-3881")
    );
    assert_eq!(connected.business_account_id, ACME_WABA);
    let globex_own = accounts
        .create_whats_app_account(as_admin_of(globex, connect(GLOBEX_NUMBER, GLOBEX_WABA, GLOBEX_TOKEN)))
        .await
        .unwrap();
    assert_eq!(globex_own.into_inner().tenant_id, globex.to_string());
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn when_the_graph_api_cannot_be_reached_connecting_is_503_and_nothing_is_stored() {
    let closed = format!("http://127.0.0.1:{}", inbox_testkit::free_port());
    let ingest =
        common::start(&[("INBOX__WHATSAPP__GRAPH_BASE_URL", &closed), ("INBOX__WHATSAPP__REQUEST_TIMEOUT_MS", "1000")])
            .await;
    let mut accounts = client(&ingest).await;
    let e = accounts
        .create_whats_app_account(as_admin_of(ingest.tenant, connect(ACME_NUMBER, ACME_WABA, ACME_TOKEN)))
        .await
        .unwrap_err();
    let e = PublicError::from_status(&e);
    assert_eq!(e.code, ErrorCode::Unavailable, "{e}");
    assert_eq!(ingest.raw_accounts().await, "");
    ingest.shutdown.cancel();
}

const APP_SECRET: &str = "app-secret-ZQ81";
const ACCESS_TOKEN: &str = "EAAG-access-token-ZQ82";
const VERIFY_TOKEN: &str = "verify-token-ZQ83";
const AUTH_TOKEN: &str = "twilio-auth-token-ZQ84";

fn secrets_in(raw: &str) -> Vec<&'static str> {
    [APP_SECRET, ACCESS_TOKEN, VERIFY_TOKEN, AUTH_TOKEN].into_iter().filter(|s| raw.contains(s)).collect()
}

#[tokio::test]
async fn channel_secrets_are_never_in_the_table_in_clear_and_still_verify_what_they_sign() {
    let ingest = common::start(&[("INBOX__WHATSAPP__VERIFY_NUMBERS", "false")]).await;
    let mut accounts = client(&ingest).await;
    let request = pb::CreateWhatsAppAccountRequest {
        phone_number_id: ACME_NUMBER.into(),
        app_secret: APP_SECRET.into(),
        verify_token: VERIFY_TOKEN.into(),
        access_token: ACCESS_TOKEN.into(),
        business_account_id: ACME_WABA.into(),
        ..Default::default()
    };
    let created = accounts.create_whats_app_account(as_admin_of(ingest.tenant, request)).await.unwrap().into_inner();
    assert!(created.has_app_secret && created.has_access_token);
    let twilio = inbox_channel_ingest::store::NewTwilioAccount {
        phone_number: "+14155550100",
        auth_token: AUTH_TOKEN,
        config: json!({"account_sid": "AC00000000000000000000000000000abc"}),
    };
    ingest.store.upsert_twilio_account(ingest.tenant, &twilio).await.unwrap();

    let raw = ingest.raw_accounts().await;
    assert_eq!(secrets_in(&raw), Vec::<&str>::new(), "a dump shows no secret");
    let key_ids: Vec<Option<String>> =
        sqlx::query_scalar("SELECT secrets_key_id FROM channel_accounts ORDER BY created_at")
            .fetch_all(ingest.store.pool())
            .await
            .unwrap();
    assert_eq!(key_ids, [Some(ACTIVE_KEY.to_owned()), Some(ACTIVE_KEY.to_owned())]);

    // The service opens them: a webhook signed with the app secret is taken, the verify token
    // answers Meta's handshake.
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": ACME_WABA, "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": ACME_NUMBER},
        "messages": [{"from": "16505551234", "id": "wamid.S", "timestamp": "1749416383", "type": "text", "text": {"body": "Hi"}}]}}]}]})
    .to_string();
    let signature = inbox_channel_ingest::whatsapp::signature::sign(APP_SECRET.as_bytes(), body.as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/whatsapp", ingest.base))
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let handshake = format!(
        "{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42",
        ingest.base
    );
    assert_eq!(reqwest::get(handshake).await.unwrap().text().await.unwrap(), "42");
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn secrets_stored_in_clear_before_are_sealed_when_a_replica_starts_and_keys_rotate() {
    let ingest = common::start(&[]).await;
    // A row as the previous version wrote it: secrets in the clear.
    sqlx::query(
        "INSERT INTO channel_accounts (id, tenant_id, channel, external_id, app_secret, verify_token, access_token, config) \
         VALUES ($1, $2, 'whatsapp', $3, $4, $5, $6, '{}')",
    )
    .bind(Uuid::now_v7())
    .bind(ingest.tenant)
    .bind(ACME_NUMBER)
    .bind(APP_SECRET)
    .bind(VERIFY_TOKEN)
    .bind(ACCESS_TOKEN)
    .execute(ingest.store.pool())
    .await
    .unwrap();
    assert_eq!(secrets_in(&ingest.raw_accounts().await).len(), 3);

    // A replica started with the old key active seals it under that key.
    ingest.start_replica(&[("INBOX__SECRETS__ACTIVE_KEY", "test-old")]).await.unwrap();
    assert_eq!(secrets_in(&ingest.raw_accounts().await), Vec::<&str>::new());
    let key_id = || async {
        sqlx::query_scalar::<_, String>("SELECT secrets_key_id FROM channel_accounts")
            .fetch_one(ingest.store.pool())
            .await
            .unwrap()
    };
    assert_eq!(key_id().await, "test-old");
    // Read with the new key active, it opens with the key its row names.
    let account = ingest.store.whatsapp_account(ACME_NUMBER).await.unwrap().unwrap();
    assert_eq!((account.app_secret.as_str(), account.access_token.as_str()), (APP_SECRET, ACCESS_TOKEN));

    // Rotation: a replica started with the new key active seals the row again under it.
    ingest.start_replica(&[("INBOX__SECRETS__ACTIVE_KEY", ACTIVE_KEY)]).await.unwrap();
    assert_eq!(key_id().await, ACTIVE_KEY);
    assert_eq!(secrets_in(&ingest.raw_accounts().await), Vec::<&str>::new());

    // The old key can go now; a replica without the key its rows are under refuses to start.
    let new_only = "test-new:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    ingest.start_replica(&[("INBOX__SECRETS__KEYS", new_only)]).await.unwrap();
    let old_only = "test-old:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let refused =
        ingest.start_replica(&[("INBOX__SECRETS__KEYS", old_only), ("INBOX__SECRETS__ACTIVE_KEY", "test-old")]).await;
    let e = refused.unwrap_err();
    assert!(e.contains("\"test-new\"") && e.contains("add them back"), "{e}");

    // A store holding only the old key cannot open the row, and says which key it lacks.
    let pool = sqlx::PgPool::connect(&ingest.db_url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let stale = IngestStore::new(pool)
        .with_secrets(inbox_channel_ingest::secrets::SecretKeys::parse(old_only, "test-old").unwrap());
    let e = stale.whatsapp_account(ACME_NUMBER).await.unwrap_err().to_string();
    assert!(e.contains("test-new") && !e.contains(APP_SECRET), "{e}");
    let _ = secret_keys(ACTIVE_KEY);
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn placing_a_call_from_an_unknown_agent_number_does_not_list_the_colleagues_phones() {
    use inbox_proto::ingest::v1::channel_deliveries_client::ChannelDeliveriesClient;
    let ingest = common::start(&[]).await;
    ingest.connect_twilio_number().await; // rings +14155550111
    let account = ingest.store.list_twilio_accounts(ingest.tenant).await.unwrap().remove(0);
    let mut deliveries = ChannelDeliveriesClient::connect(format!("http://{}", ingest.grpc)).await.unwrap();
    let agent = CallContext { tenant_id: ingest.tenant, principal: "sarah".into(), role: Role::Agent };
    let request = pb::StartCallRequest {
        channel_account_id: account.id.to_string(),
        agent_number: "+14155550999".into(),
        customer_number: "+4915112345678".into(),
    };
    let e = deliveries.start_call(agent.request(request, &Secret::new(SERVICE_TOKEN)).unwrap()).await.unwrap_err();
    let e = PublicError::from_status(&e);
    assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
    assert!(!e.message.contains("+14155550111"), "a colleague's phone in the error: {e}");
    ingest.shutdown.cancel();
}
