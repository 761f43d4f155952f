//! Response templates against a real PostgreSQL database: the store, and the gRPC handlers
//! called with the context the service interceptor would attach.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;

use inbox_conversation::api::TemplatesApi;
use inbox_conversation::domain::TenantSettings;
use inbox_conversation::domain::templates::{TemplateBody, TemplateName};
use inbox_conversation::store::{ConversationStore, CreatedTemplate, HistoryPage, UpdatedTemplate, Viewer};
use inbox_proto::common::v1::message_content::Kind;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::templates_server::Templates;
use inbox_service::{CallContext, Role};
use tonic::{Code, Request};
use uuid::Uuid;

mod common;
use common::{customer_writes, store};

fn name(text: &str) -> TemplateName {
    TemplateName::parse(text).unwrap()
}

fn body(text: &str) -> TemplateBody {
    TemplateBody::parse(text).unwrap()
}

/// A request as the interceptor hands it to the handler: with the caller's context.
fn as_role<T>(tenant: Uuid, role: Role, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(CallContext { tenant_id: tenant, principal: "user:sarah".into(), role });
    request
}

async fn create(store: &ConversationStore, tenant: Uuid, n: &str, b: &str) -> Uuid {
    match store.create_template(tenant, &name(n), &body(b), "user:admin").await.unwrap() {
        CreatedTemplate::Created(row) => row.id,
        other => panic!("expected a new template, got {other:?}"),
    }
}

async fn message_count(store: &ConversationStore, tenant: Uuid, conversation: Uuid) -> usize {
    store
        .list_messages(tenant, conversation, &Viewer::default(), 100, HistoryPage::Forward(None))
        .await
        .unwrap()
        .0
        .len()
}

async fn outbound_count(store: &ConversationStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE subject LIKE 'outbound.%'")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_create_returns_the_same_template_and_another_body_under_that_name_is_refused() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let api = TemplatesApi { store: store.clone() };
    let new =
        |n: &str, b: &str| as_role(tenant, Role::Admin, pb::CreateTemplateRequest { name: n.into(), body: b.into() });
    let first = api.create_template(new("greeting", "Hi {{customer_name}}!")).await.unwrap().into_inner();
    assert!(first.created);
    let template = first.template.unwrap();
    assert_eq!(template.variables, ["customer_name"]);
    assert_eq!(template.created_by, "user:sarah");

    // The same request again (and with another case of the name): the same template.
    let again = api.create_template(new("Greeting", "Hi {{customer_name}}!")).await.unwrap().into_inner();
    assert!(!again.created);
    assert_eq!(again.template.unwrap().id, template.id);

    let taken = api.create_template(new("greeting", "Hello there")).await.unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    assert!(taken.message().contains("'greeting'"), "{}", taken.message());
    let all = store.list_templates(tenant, "", 50).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].body, "Hi {{customer_name}}!", "the refused create changed nothing");

    let bad = api.create_template(new("greeting", "Hi {{Customer Name}}")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("{{Customer Name}}"));
}

#[tokio::test]
async fn another_tenants_template_is_neither_found_nor_listed_nor_changed() {
    let (_db, store) = store().await;
    let (ours, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    let id = create(&store, ours, "greeting", "Hi!").await;

    assert!(store.get_template(theirs, id).await.unwrap().is_none());
    assert!(store.list_templates(theirs, "", 50).await.unwrap().is_empty());
    assert!(store.list_templates(theirs, "gre", 50).await.unwrap().is_empty());
    assert!(matches!(
        store.update_template(theirs, id, None, Some(&body("Hacked"))).await.unwrap(),
        UpdatedTemplate::NotFound
    ));
    assert!(!store.delete_template(theirs, id).await.unwrap());
    // The other tenant may use the same name for its own template.
    create(&store, theirs, "greeting", "Hello from elsewhere").await;
    assert_eq!(store.get_template(ours, id).await.unwrap().unwrap().body, "Hi!");

    let api = TemplatesApi { store: store.clone() };
    let err = api
        .get_template(as_role(theirs, Role::Agent, pb::GetTemplateRequest { template_id: id.to_string() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn typing_after_the_slash_lists_names_starting_with_it_first_then_those_containing_it() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    for n in ["closing", "re_greeting", "greeting", "appointment_confirmation", "greetings_vip", "agreement"] {
        create(&store, tenant, n, "text").await;
    }
    let names =
        |rows: Vec<inbox_conversation::store::TemplateRow>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_templates(tenant, "gre", 50).await.unwrap()),
        ["greeting", "greetings_vip", "agreement", "re_greeting"]
    );
    // `_` is a character of the name, not a wildcard.
    assert_eq!(names(store.list_templates(tenant, "s_", 50).await.unwrap()), ["greetings_vip"]);
    assert_eq!(
        names(store.list_templates(tenant, "", 3).await.unwrap()),
        ["agreement", "appointment_confirmation", "closing"]
    );

    let api = TemplatesApi { store: store.clone() };
    let listed = api
        .list_templates(as_role(tenant, Role::Agent, pb::ListTemplatesRequest { query: " GRE".into(), limit: 0 }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.templates.first().map(|t| t.name.as_str()), Some("greeting"), "typed case does not matter");
}

#[tokio::test]
async fn a_template_with_an_unfilled_variable_is_refused_naming_it_and_nothing_is_stored() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "15551230001", "w1", "Can I book for Friday?").await;
    let id =
        create(&store, tenant, "appointment_confirmation", "Your appointment is on {{date}} in room {{room}}.").await;
    let api = TemplatesApi { store: store.clone() };
    let send = |variables: HashMap<String, String>| {
        as_role(
            tenant,
            Role::Agent,
            pb::SendTemplateMessageRequest {
                template_id: id.to_string(),
                conversation_id: conversation.id.to_string(),
                agent_name: "Sarah".into(),
                variables,
                idempotency_key: "tpl-1".into(),
                guard: None,
            },
        )
    };

    let err = api.send_template_message(send(HashMap::new())).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "template 'appointment_confirmation' needs a value for {{room}}");
    assert_eq!(message_count(&store, tenant, conversation.id).await, 1, "only the customer's message");
    assert_eq!(outbound_count(&store).await, 0, "nothing queued for delivery");

    // With the value, and the same key as the refused attempt: sent now, once.
    let variables: HashMap<String, String> =
        [("room".to_owned(), "B2".to_owned()), ("date".to_owned(), "Friday 28 November".to_owned())].into();
    let sent = api.send_template_message(send(variables.clone())).await.unwrap().into_inner();
    assert!(!sent.replayed);
    let message = sent.message.unwrap();
    let Some(Kind::Text(text)) = message.content.and_then(|c| c.kind) else { panic!("a text reply") };
    assert_eq!(text.body, "Your appointment is on Friday 28 November in room B2.");
    assert_eq!(message.sender_id, "user:sarah");
    assert!(api.send_template_message(send(variables)).await.unwrap().into_inner().replayed);
    assert_eq!(message_count(&store, tenant, conversation.id).await, 2);
    assert_eq!(outbound_count(&store).await, 1);
}

#[tokio::test]
async fn built_ins_come_from_the_conversation_the_agent_and_the_tenant_settings() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "15551230001", "w1", "hello").await;
    let id =
        create(&store, tenant, "greeting", "Hi {{customer_name}}, {{agent_name}} from {{company_name}} here.").await;
    let api = TemplatesApi { store: store.clone() };
    let render = |agent_name: &str| {
        as_role(
            tenant,
            Role::Agent,
            pb::RenderTemplateRequest {
                template_id: id.to_string(),
                conversation_id: conversation.id.to_string(),
                agent_name: agent_name.into(),
                variables: HashMap::new(),
            },
        )
    };
    // No company name set yet, and the gateway did not know the agent's name.
    let err = api.render_template(render("")).await.unwrap_err();
    assert_eq!(err.message(), "template 'greeting' needs a value for {{agent_name}}, {{company_name}}");

    let settings = TenantSettings { company_name: "Acme Support".into(), ..TenantSettings::default() };
    store.set_tenant_settings(tenant, &settings).await.unwrap();
    let text = api.render_template(render("Sarah")).await.unwrap().into_inner().text;
    assert_eq!(text, "Hi Ana, Sarah from Acme Support here.");
    assert_eq!(message_count(&store, tenant, conversation.id).await, 1, "rendering sends nothing");

    // Another tenant's conversation cannot be used to render.
    let other = customer_writes(&store, Uuid::new_v4(), "15559990000", "w2", "hi").await;
    let mut request = render("Sarah");
    request.get_mut().conversation_id = other.id.to_string();
    assert_eq!(api.render_template(request).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn agents_use_templates_but_only_supervisors_and_admins_curate_them() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let api = TemplatesApi { store: store.clone() };
    let create_as =
        |role| as_role(tenant, role, pb::CreateTemplateRequest { name: "closing".into(), body: "Bye!".into() });
    assert_eq!(api.create_template(create_as(Role::Agent)).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(api.create_template(create_as(Role::Operator)).await.unwrap_err().code(), Code::PermissionDenied);
    assert!(store.list_templates(tenant, "", 50).await.unwrap().is_empty());
    let id = api.create_template(create_as(Role::Supervisor)).await.unwrap().into_inner().template.unwrap().id;

    let edit = |role| {
        as_role(
            tenant,
            role,
            pb::UpdateTemplateRequest { template_id: id.clone(), name: None, body: Some("Ciao".into()) },
        )
    };
    assert_eq!(api.update_template(edit(Role::Agent)).await.unwrap_err().code(), Code::PermissionDenied);
    let delete = |role| as_role(tenant, role, pb::DeleteTemplateRequest { template_id: id.clone() });
    assert_eq!(api.delete_template(delete(Role::Agent)).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(store.list_templates(tenant, "", 50).await.unwrap()[0].body, "Bye!");

    assert_eq!(api.update_template(edit(Role::Admin)).await.unwrap().into_inner().body, "Ciao");
    assert!(api.delete_template(delete(Role::Admin)).await.unwrap().into_inner().deleted);
    // A retried delete succeeds and reports there was nothing left to delete.
    assert!(!api.delete_template(delete(Role::Admin)).await.unwrap().into_inner().deleted);
}

#[tokio::test]
async fn renaming_a_template_to_a_taken_name_is_refused_and_changes_nothing() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    create(&store, tenant, "greeting", "Hi!").await;
    let closing = create(&store, tenant, "closing", "Bye!").await;
    let before = store.get_template(tenant, closing).await.unwrap().unwrap();
    assert!(matches!(
        store.update_template(tenant, closing, Some(&name("GREETING")), Some(&body("Hi again"))).await.unwrap(),
        UpdatedTemplate::NameTaken
    ));
    let after = store.get_template(tenant, closing).await.unwrap().unwrap();
    assert_eq!((after.name.as_str(), after.body.as_str()), ("closing", "Bye!"));

    // A minute later, an edit that changes nothing leaves the template as it was, timestamps
    // included.
    store.clock().advance(chrono::Duration::minutes(1));
    let UpdatedTemplate::Updated(same) =
        store.update_template(tenant, closing, None, Some(&body("Bye!"))).await.unwrap()
    else {
        panic!("updated")
    };
    assert_eq!(same.updated_at, before.updated_at);
    let UpdatedTemplate::Updated(renamed) =
        store.update_template(tenant, closing, Some(&name("goodbye")), None).await.unwrap()
    else {
        panic!("updated")
    };
    assert_eq!((renamed.name.as_str(), renamed.body.as_str()), ("goodbye", "Bye!"));
    assert!(renamed.updated_at > before.updated_at);

    let api = TemplatesApi { store: store.clone() };
    let err = api
        .update_template(as_role(
            tenant,
            Role::Admin,
            pb::UpdateTemplateRequest { template_id: closing.to_string(), name: Some("greeting".into()), body: None },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("'greeting'"));
}
