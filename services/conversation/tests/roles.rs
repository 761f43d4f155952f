//! What each role may do through the gRPC API, and that no tenant reaches another's
//! conversations. Real PostgreSQL; the API is called as the interceptor would hand it a call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{customer_writes, seed_conversations, store, text};
use inbox_conversation::api::ConversationsApi;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::conversations_server::Conversations;
use inbox_service::{CallContext, Role};
use tonic::{Code, Request};
use uuid::Uuid;

fn as_role<T>(tenant: Uuid, role: Role, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let principal = match role {
        Role::Operator => "operator".to_owned(),
        _ => format!("user:{}", Uuid::now_v7()),
    };
    request.extensions_mut().insert(CallContext { tenant_id: tenant, principal, role });
    request
}

fn bulk_resolve(ids: &[Uuid]) -> pb::BulkActionRequest {
    pb::BulkActionRequest {
        filter: Some(pb::ConversationFilter { ids: ids.iter().map(Uuid::to_string).collect(), ..Default::default() }),
        action: Some(pb::bulk_action_request::Action::Status(pb::ConversationStatus::Resolved as i32)),
        reason: String::new(),
    }
}

fn bulk_delete(ids: &[Uuid]) -> pb::BulkActionRequest {
    pb::BulkActionRequest { action: Some(pb::bulk_action_request::Action::Delete(true)), ..bulk_resolve(ids) }
}

#[tokio::test]
async fn each_role_may_do_what_its_role_allows_and_no_more() {
    let (_db, store) = store().await;
    let api = ConversationsApi { store: store.clone() };
    let tenant = Uuid::now_v7();
    let ids = seed_conversations(&store, tenant, 3).await;
    let id = ids[0].to_string();

    // Agents work conversations but run no bulk actions and change no settings.
    let status = pb::SetStatusRequest {
        conversation_id: id.clone(),
        status: pb::ConversationStatus::Pending as i32,
        reason: String::new(),
    };
    assert!(api.set_status(as_role(tenant, Role::Agent, status.clone())).await.is_ok());
    let denied = api.bulk_action(as_role(tenant, Role::Agent, bulk_resolve(&ids))).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let settings = pb::SetTenantSettingsRequest {
        settings: Some(pb::TenantSettings {
            time_zone: "Europe/Paris".into(),
            company_name: "Acme".into(),
            ai_confidence_threshold: 0.5,
            handoff_message: "One moment".into(),
        }),
    };
    assert_eq!(
        api.set_tenant_settings(as_role(tenant, Role::Agent, settings.clone())).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let rules = pb::SetPriorityRulesRequest { rules: Some(pb::PriorityRules::default()) };
    assert_eq!(
        api.set_priority_rules(as_role(tenant, Role::Supervisor, rules)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let ai_message = pb::PostAiMessageRequest {
        conversation_id: id.clone(),
        content: Some(text("I am not the AI")),
        confidence: 0.9,
        idempotency_key: "k".into(),
        ..Default::default()
    };
    assert_eq!(
        api.post_ai_message(as_role(tenant, Role::Agent, ai_message.clone())).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // The AI writes its messages but does not take over, change status or run bulk actions.
    assert!(api.post_ai_message(as_role(tenant, Role::Ai, ai_message)).await.is_ok());
    assert_eq!(api.set_status(as_role(tenant, Role::Ai, status)).await.unwrap_err().code(), Code::PermissionDenied);
    let take_over = pb::TakeOverRequest { conversation_id: id.clone(), agent_name: "Bot".into() };
    assert_eq!(api.take_over(as_role(tenant, Role::Ai, take_over)).await.unwrap_err().code(), Code::PermissionDenied);

    // Supervisors run bulk actions but only admins delete.
    let resolved = api.bulk_action(as_role(tenant, Role::Supervisor, bulk_resolve(&ids))).await.unwrap().into_inner();
    assert_eq!(resolved.changed, 3);
    assert_eq!(
        api.bulk_action(as_role(tenant, Role::Supervisor, bulk_delete(&ids))).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        api.bulk_action(as_role(tenant, Role::Admin, bulk_delete(&ids[..1]))).await.unwrap().into_inner().changed,
        1
    );
    assert!(api.set_tenant_settings(as_role(tenant, Role::Admin, settings)).await.is_ok());
}

#[tokio::test]
async fn no_call_reaches_another_tenants_conversation() {
    let (_db, store) = store().await;
    let api = ConversationsApi { store: store.clone() };
    let (ours, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let their_conversation = customer_writes(&store, theirs, "1555", "w1", "private").await.id;
    let id = their_conversation.to_string();

    let get =
        api.get_conversation(as_role(ours, Role::Admin, pb::GetConversationRequest { conversation_id: id.clone() }));
    assert_eq!(get.await.unwrap_err().code(), Code::NotFound);
    let messages = pb::ListMessagesRequest { conversation_id: id.clone(), page: None };
    assert_eq!(api.list_messages(as_role(ours, Role::Admin, messages)).await.unwrap_err().code(), Code::NotFound);
    let take = pb::TakeOverRequest { conversation_id: id.clone(), agent_name: "Eve".into() };
    assert_eq!(api.take_over(as_role(ours, Role::Agent, take)).await.unwrap_err().code(), Code::NotFound);
    let summary = pb::GetSummaryRequest { conversation_id: id.clone() };
    assert_eq!(api.get_summary(as_role(ours, Role::Agent, summary)).await.unwrap_err().code(), Code::NotFound);
    let assign = pb::SetAssignmentRequest {
        conversation_id: id.clone(),
        assignee_id: Uuid::now_v7().to_string(),
        ..Default::default()
    };
    assert_eq!(api.set_assignment(as_role(ours, Role::Agent, assign)).await.unwrap_err().code(), Code::NotFound);

    let bulk =
        api.bulk_action(as_role(ours, Role::Admin, bulk_delete(&[their_conversation]))).await.unwrap().into_inner();
    assert_eq!((bulk.changed, bulk.failed), (0, 1));
    assert_eq!(bulk.results[0].outcome, "not_found");
    let listed =
        api.list_conversations(as_role(ours, Role::Admin, pb::ListConversationsRequest::default())).await.unwrap();
    assert!(listed.into_inner().conversations.is_empty());
    let counts =
        api.count_views(as_role(ours, Role::Agent, pb::CountViewsRequest::default())).await.unwrap().into_inner();
    assert_eq!(counts.all_active, 0);
    assert!(store.get_conversation(theirs, their_conversation).await.unwrap().is_some(), "theirs is untouched");
}

#[tokio::test]
async fn bad_filters_are_refused_with_the_field_named() {
    let (_db, store) = store().await;
    let api = ConversationsApi { store };
    let tenant = Uuid::now_v7();
    let bad_ids = pb::ListConversationsRequest {
        filter: Some(pb::ConversationFilter { ids: vec!["nope".into()], ..Default::default() }),
        ..Default::default()
    };
    let err = api.list_conversations(as_role(tenant, Role::Agent, bad_ids)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("ids"), "{}", err.message());
    let range_without_bounds = pb::ListConversationsRequest {
        filter: Some(pb::ConversationFilter { time_window: pb::TimeWindow::Range as i32, ..Default::default() }),
        ..Default::default()
    };
    let err = api.list_conversations(as_role(tenant, Role::Agent, range_without_bounds)).await.unwrap_err();
    assert!(err.message().contains("range"), "{}", err.message());
    let empty_bulk =
        pb::BulkActionRequest { action: Some(pb::bulk_action_request::Action::Archive(true)), ..Default::default() };
    let err = api.bulk_action(as_role(tenant, Role::Admin, empty_bulk)).await.unwrap_err();
    assert!(err.message().contains("filter"), "{}", err.message());
}
