//! `ChannelAccounts` over gRPC: each store refusal reaches the caller with its one meaning.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{Ingest, SERVICE_TOKEN};
use inbox_config::Secret;
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::ingest::v1 as pb;
use inbox_proto::ingest::v1::channel_accounts_client::ChannelAccountsClient;
use inbox_service::{CallContext, Role};
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
    let ingest = common::start(&[]).await;
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
