//! Team-scoped visibility on every path a conversation could leak through: lists, views and
//! their counts, one conversation, its messages and history, exports, bulk actions, customer
//! pages, templates rendered for it, and every change to it. Real PostgreSQL; the API is
//! called as the interceptor hands it a call (with the visibility the gateway decided).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{call, customer_message, export_file, reply, store, text, whatsapp_now};
use inbox_conversation::api::{ConversationsApi, CustomersApi, ExportsApi, TemplatesApi};
use inbox_conversation::domain::templates::{TemplateBody, TemplateName};
use inbox_conversation::domain::views::{ConversationFilter, SortOrder, View};
use inbox_conversation::store::{
    Appended, BulkChange, ConversationRow, ConversationStore, CreatedTemplate, HistoryPage, Viewer,
};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::conversations_server::Conversations;
use inbox_proto::conversation::v1::customers_server::Customers;
use inbox_proto::conversation::v1::templates_server::Templates;
use inbox_service::{Role, Visibility};
use tonic::{Code, Status};
use uuid::Uuid;

/// A tenant with two teams, an agent of team A and a colleague.
struct Teams {
    tenant: Uuid,
    a: Uuid,
    b: Uuid,
    agent: Uuid,
    colleague: Uuid,
}

impl Teams {
    fn new() -> Self {
        Self {
            tenant: Uuid::now_v7(),
            a: Uuid::now_v7(),
            b: Uuid::now_v7(),
            agent: Uuid::now_v7(),
            colleague: Uuid::now_v7(),
        }
    }

    /// What the gateway sends for the agent of team A in a team-scoped tenant.
    fn agent_sees(&self) -> Visibility {
        Visibility::Teams { team_ids: vec![self.a], assignee: Some(self.agent) }
    }

    /// A call by the agent of team A.
    fn as_agent<T>(&self, message: T) -> tonic::Request<T> {
        call(self.tenant, Role::Agent, self.agent, self.agent_sees(), message)
    }

    /// A call by a supervisor, who sees everything.
    fn as_supervisor<T>(&self, message: T) -> tonic::Request<T> {
        call(self.tenant, Role::Supervisor, self.colleague, Visibility::All, message)
    }
}

/// A customer writes from `phone`; the conversation is then given to `team` and `assignee`.
async fn conversation(
    store: &ConversationStore,
    tenant: Uuid,
    phone: &str,
    team: Option<Uuid>,
    assignee: Option<Uuid>,
) -> ConversationRow {
    store.clock().advance(chrono::Duration::seconds(1));
    let (conversation, _) = customer_message(store, tenant, phone, "Hello").await;
    if team.is_none() && assignee.is_none() {
        return conversation;
    }
    store.set_assignment(tenant, conversation.id, assignee, team, "user:boss", "").await.unwrap().unwrap().0
}

fn ids(rows: &[ConversationRow]) -> BTreeSet<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn a_team_scoped_list_holds_exactly_what_the_visibility_rule_allows_in_every_view_and_count() {
    let (_db, store) = store().await;
    let t = Teams::new();
    // Every combination of team (A, B, none) and assignee (the agent, a colleague, nobody).
    let mut all = Vec::new();
    for (i, team) in [Some(t.a), Some(t.b), None].into_iter().enumerate() {
        for (j, assignee) in [Some(t.agent), Some(t.colleague), None].into_iter().enumerate() {
            all.push(conversation(&store, t.tenant, &format!("1555000{i}{j}00"), team, assignee).await);
        }
    }
    let rule = t.agent_sees();
    let allowed: BTreeSet<Uuid> = all.iter().filter(|c| rule.allows(c.team_id, c.assignee_id)).map(|c| c.id).collect();
    assert_eq!(allowed.len(), 6, "team A's three, two more assigned to the agent, one unassigned");

    let agent = Viewer::person(t.agent).seeing(rule.clone());
    let list = |filter: ConversationFilter, viewer: Viewer| {
        let store = store.clone();
        async move {
            store.list_conversations_filtered(t.tenant, &filter, &viewer, SortOrder::Recent, 200, None).await.unwrap().0
        }
    };
    assert_eq!(ids(&list(ConversationFilter::default(), agent.clone()).await), allowed);
    for sort in [SortOrder::Priority, SortOrder::Channel, SortOrder::Assignment, SortOrder::Oldest] {
        let (rows, _) = store
            .list_conversations_filtered(t.tenant, &ConversationFilter::default(), &agent, sort, 200, None)
            .await
            .unwrap();
        assert_eq!(ids(&rows), allowed, "{sort:?}");
    }
    for view in [View::AllActive, View::MineNeedsAttention, View::TeamUnassigned, View::TeamInProgress] {
        let filter = ConversationFilter { view: Some(view), ..Default::default() };
        let everyone = list(filter.clone(), Viewer::person(t.agent)).await;
        let expected: BTreeSet<Uuid> = ids(&everyone).intersection(&allowed).copied().collect();
        assert_eq!(ids(&list(filter, agent.clone()).await), expected, "{view:?}");
    }
    let team_b = ConversationFilter { team_id: Some(t.b), ..Default::default() };
    let only_mine_in_b: BTreeSet<Uuid> =
        all.iter().filter(|c| c.team_id == Some(t.b) && c.assignee_id == Some(t.agent)).map(|c| c.id).collect();
    assert_eq!(ids(&list(team_b, agent.clone()).await), only_mine_in_b, "another team's filter: mine only");

    let counts = store.count_views(t.tenant, &agent, None).await.unwrap();
    assert_eq!(counts.all_active, 6);
    assert_eq!(counts.team_unassigned, 2, "team A's unassigned one and the one of no team");
    assert_eq!(counts.team_in_progress, 4);
    assert_eq!(counts.mine_needs_attention, 3, "every conversation assigned to the agent, whatever its team");
    assert_eq!(counts.open_by_channel.iter().map(|(_, n)| n).sum::<i64>(), 6);
    let supervisor = store.count_views(t.tenant, &Viewer::person(t.colleague), None).await.unwrap();
    assert_eq!((supervisor.all_active, supervisor.team_unassigned), (9, 3), "everything for whoever sees all");

    let selected = store.select_conversation_ids(t.tenant, &ConversationFilter::default(), &agent, 100).await.unwrap();
    assert_eq!(selected.into_iter().collect::<BTreeSet<_>>(), allowed);

    // An agent in no team sees only their own and the unassigned.
    let loner = Viewer::person(t.agent).seeing(Visibility::Teams { team_ids: vec![], assignee: Some(t.agent) });
    let theirs: BTreeSet<Uuid> = all
        .iter()
        .filter(|c| c.assignee_id == Some(t.agent) || (c.team_id.is_none() && c.assignee_id.is_none()))
        .map(|c| c.id)
        .collect();
    assert_eq!(ids(&list(ConversationFilter::default(), loner).await), theirs);
}

/// The answer for a conversation of another tenant, to compare every refusal with.
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Status>, what: &str) {
    let status = result.expect_err(what);
    assert_eq!((status.code(), status.message()), (Code::NotFound, "conversation not found"), "{what}");
}

#[tokio::test]
async fn an_agent_of_team_a_neither_opens_reads_changes_nor_answers_team_bs_conversation_while_a_supervisor_does() {
    let (_db, store) = store().await;
    let t = Teams::new();
    let api = ConversationsApi { store: store.clone() };
    let theirs = conversation(&store, t.tenant, "15550001111", Some(t.b), Some(t.colleague)).await;
    let id = theirs.id.to_string();

    let get = pb::GetConversationRequest { conversation_id: id.clone() };
    assert_not_found(api.get_conversation(t.as_agent(get.clone())).await, "open");
    let page = pb::ListMessagesRequest { conversation_id: id.clone(), page: None };
    assert_not_found(api.list_messages(t.as_agent(page)).await, "read the messages");
    let earlier = pb::ListEarlierMessagesRequest { conversation_id: id.clone(), page: None };
    assert_not_found(api.list_earlier_messages(t.as_agent(earlier)).await, "read the history");
    let history = pb::ListStatusChangesRequest { conversation_id: id.clone() };
    assert_not_found(api.list_status_changes(t.as_agent(history)).await, "read the status history");
    assert_not_found(
        api.get_summary(t.as_agent(pb::GetSummaryRequest { conversation_id: id.clone() })).await,
        "summary",
    );
    assert_not_found(api.list_calls(t.as_agent(pb::ListCallsRequest { conversation_id: id.clone() })).await, "calls");
    let resolve = pb::SetStatusRequest {
        conversation_id: id.clone(),
        status: pb::ConversationStatus::Resolved as i32,
        reason: String::new(),
    };
    assert_not_found(api.set_status(t.as_agent(resolve.clone())).await, "resolve");
    let urgent = pb::SetPriorityRequest {
        conversation_id: id.clone(),
        priority: pb::Priority::Urgent as i32,
        reason: String::new(),
    };
    assert_not_found(api.set_priority(t.as_agent(urgent)).await, "prioritise");
    let take = pb::SetAssignmentRequest {
        conversation_id: id.clone(),
        assignee_id: t.agent.to_string(),
        ..Default::default()
    };
    assert_not_found(api.set_assignment(t.as_agent(take)).await, "take it by assigning it to oneself");
    let over = pb::TakeOverRequest { conversation_id: id.clone(), agent_name: "Sarah".into() };
    assert_not_found(api.take_over(t.as_agent(over)).await, "take over from the AI");
    let send = pb::SendMessageRequest {
        conversation_id: id.clone(),
        content: Some(text("Hi")),
        internal_note: false,
        idempotency_key: "k1".into(),
    };
    assert_not_found(api.send_message(t.as_agent(send.clone())).await, "answer");
    let first = store.list_messages(t.tenant, theirs.id, &Viewer::default(), 1, HistoryPage::Forward(None)).await;
    let first = first.unwrap().0[0].id;
    let read = pb::MarkReadRequest { conversation_id: id.clone(), last_read_message_id: first.to_string() };
    assert_not_found(api.mark_read(t.as_agent(read)).await, "mark read");

    let exports = ExportsApi::new(store.clone());
    let export = pb::ExportConversationsRequest {
        conversation_ids: vec![id.clone()],
        format: pb::ExportFormat::Json as i32,
        sender_names: Default::default(),
    };
    let refused = export_file(&exports, t.as_agent(export.clone())).await.unwrap_err();
    // The answer for an id the tenant does not have.
    assert_eq!((refused.code(), refused.message()), (Code::NotFound, format!("conversation {id} not found").as_str()));

    let templates = TemplatesApi { store: store.clone() };
    let template = match store
        .create_template(
            t.tenant,
            &TemplateName::parse("hello").unwrap(),
            &TemplateBody::parse("Hello {{customer_name}}").unwrap(),
            "user:admin",
        )
        .await
        .unwrap()
    {
        CreatedTemplate::Created(row) => row.id.to_string(),
        other => panic!("{other:?}"),
    };
    let render = pb::RenderTemplateRequest {
        template_id: template.clone(),
        conversation_id: id.clone(),
        agent_name: "Sarah".into(),
        variables: Default::default(),
    };
    assert_not_found(
        templates.render_template(t.as_agent(render.clone())).await,
        "render a template with its customer",
    );
    let send_template = pb::SendTemplateMessageRequest {
        template_id: template.clone(),
        conversation_id: id.clone(),
        agent_name: "Sarah".into(),
        variables: Default::default(),
        idempotency_key: "t1".into(),
        guard: None,
    };
    assert_not_found(templates.send_template_message(t.as_agent(send_template)).await, "send a template");
    assert_eq!(store.get_conversation(t.tenant, theirs.id).await.unwrap().unwrap().version, theirs.version);

    // A supervisor sees everything: opens, reads, exports and changes it.
    assert_eq!(api.get_conversation(t.as_supervisor(get.clone())).await.unwrap().into_inner().id, id);
    assert_eq!(
        export_file(&exports, t.as_supervisor(export)).await.unwrap().filename,
        format!("conversation-{id}.json")
    );
    assert!(templates.render_template(t.as_supervisor(render)).await.is_ok());
    assert!(api.set_status(t.as_supervisor(resolve)).await.is_ok());
}

#[tokio::test]
async fn an_agent_sees_what_is_assigned_to_them_in_another_team_and_what_nobody_has_taken() {
    let (_db, store) = store().await;
    let t = Teams::new();
    let api = ConversationsApi { store: store.clone() };
    let mine_elsewhere = conversation(&store, t.tenant, "15550002222", Some(t.b), Some(t.agent)).await;
    let nobodys = conversation(&store, t.tenant, "15550003333", None, None).await;
    let colleagues_without_team = conversation(&store, t.tenant, "15550004444", None, Some(t.colleague)).await;
    for visible in [&mine_elsewhere, &nobodys] {
        let get = pb::GetConversationRequest { conversation_id: visible.id.to_string() };
        assert_eq!(api.get_conversation(t.as_agent(get)).await.unwrap().into_inner().id, visible.id.to_string());
        let page = pb::ListMessagesRequest { conversation_id: visible.id.to_string(), page: None };
        assert_eq!(api.list_messages(t.as_agent(page)).await.unwrap().into_inner().messages.len(), 1);
        let send = pb::SendMessageRequest {
            conversation_id: visible.id.to_string(),
            content: Some(text("On it")),
            internal_note: false,
            idempotency_key: Uuid::now_v7().to_string(),
        };
        assert!(api.send_message(t.as_agent(send)).await.is_ok());
    }
    let get = pb::GetConversationRequest { conversation_id: colleagues_without_team.id.to_string() };
    assert_not_found(api.get_conversation(t.as_agent(get)).await, "a colleague's conversation of no team");
}

#[tokio::test]
async fn bulk_actions_report_what_the_caller_may_not_see_as_not_found_and_a_filter_selects_only_what_they_see() {
    let (_db, store) = store().await;
    let t = Teams::new();
    let api = ConversationsApi { store: store.clone() };
    let ours = conversation(&store, t.tenant, "15550005555", Some(t.a), None).await;
    let theirs = conversation(&store, t.tenant, "15550006666", Some(t.b), None).await;
    // A supervisor of team A in a team-scoped tenant (the gateway decides who sees what).
    let lead = Uuid::now_v7();
    let scoped = Visibility::Teams { team_ids: vec![t.a], assignee: Some(lead) };
    let lead_of_a = |message| call(t.tenant, Role::Supervisor, lead, scoped.clone(), message);

    let by_ids = pb::BulkActionRequest {
        filter: Some(pb::ConversationFilter {
            ids: vec![ours.id.to_string(), theirs.id.to_string()],
            ..Default::default()
        }),
        action: Some(pb::bulk_action_request::Action::Priority(pb::Priority::Urgent as i32)),
        reason: String::new(),
    };
    let answer = api.bulk_action(lead_of_a(by_ids)).await.unwrap().into_inner();
    let outcomes: Vec<(String, String)> =
        answer.results.iter().map(|r| (r.conversation_id.clone(), r.outcome.clone())).collect();
    assert_eq!(outcomes, vec![(ours.id.to_string(), "changed".into()), (theirs.id.to_string(), "not_found".into())]);
    assert_eq!(store.get_conversation(t.tenant, theirs.id).await.unwrap().unwrap().priority, "normal");

    let by_filter = pb::BulkActionRequest {
        filter: Some(pb::ConversationFilter {
            statuses: vec![pb::ConversationStatus::Active as i32],
            ..Default::default()
        }),
        action: Some(pb::bulk_action_request::Action::Archive(true)),
        reason: String::new(),
    };
    let answer = api.bulk_action(lead_of_a(by_filter.clone())).await.unwrap().into_inner();
    assert_eq!(answer.results.iter().map(|r| r.conversation_id.clone()).collect::<Vec<_>>(), vec![ours.id.to_string()]);
    assert_eq!(store.get_conversation(t.tenant, theirs.id).await.unwrap().unwrap().status, "active");

    // Whoever sees everything changes everything.
    let deleted =
        store.bulk_change(t.tenant, &[theirs.id], &BulkChange::Delete, "user:admin", &Visibility::All).await.unwrap();
    assert_eq!(deleted[0].1.as_str(), "changed");
}

#[tokio::test]
async fn a_customers_page_shows_the_customer_but_only_the_conversations_the_caller_may_see() {
    let (_db, store) = store().await;
    let t = Teams::new();
    let customers = CustomersApi { store: store.clone() };
    let ours = conversation(&store, t.tenant, "15550007777", Some(t.a), None).await;
    // The same customer writes to a second WhatsApp number of the tenant: a second conversation.
    store.clock().advance(chrono::Duration::seconds(1));
    let mut inbound = whatsapp_now(&store, t.tenant, "15550007777", "wamid.other-number", "Hello again");
    inbound.channel_account_id = "acc-2".into();
    let Appended::Stored { conversation: theirs, .. } = store.append_inbound_message(t.tenant, &inbound).await.unwrap()
    else {
        panic!("stored once")
    };
    assert_eq!(theirs.contact_id, ours.contact_id);
    store.set_assignment(t.tenant, theirs.id, None, Some(t.b), "user:boss", "").await.unwrap();
    let customer = ours.contact_id.to_string();

    let profile = pb::GetCustomerRequest { customer_id: customer.clone() };
    assert_eq!(customers.get_customer(t.as_agent(profile.clone())).await.unwrap().into_inner().total_conversations, 1);
    assert_eq!(customers.get_customer(t.as_supervisor(profile)).await.unwrap().into_inner().total_conversations, 2);
    let listed = |message| async {
        let page: pb::ListCustomerConversationsResponse =
            customers.list_customer_conversations(message).await.unwrap().into_inner();
        page.conversations.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let list = pb::ListCustomerConversationsRequest { customer_id: customer.clone(), page: None };
    assert_eq!(listed(t.as_agent(list.clone())).await, vec![ours.id.to_string()]);
    assert_eq!(listed(t.as_supervisor(list)).await, vec![theirs.id.to_string(), ours.id.to_string()]);

    let related = |id: Uuid| pb::ListRelatedConversationsRequest { conversation_id: id.to_string() };
    assert!(
        customers
            .list_related_conversations(t.as_agent(related(ours.id)))
            .await
            .unwrap()
            .into_inner()
            .conversations
            .is_empty()
    );
    assert_not_found(customers.list_related_conversations(t.as_agent(related(theirs.id))).await, "related of theirs");
    let seen_by_boss =
        customers.list_related_conversations(t.as_supervisor(related(ours.id))).await.unwrap().into_inner();
    assert_eq!(seen_by_boss.conversations.len(), 1);
}

#[tokio::test]
async fn the_ai_agent_never_reads_internal_notes() {
    let (_db, store) = store().await;
    let t = Teams::new();
    let api = ConversationsApi { store: store.clone() };
    let c = conversation(&store, t.tenant, "15550008888", None, None).await;
    store.clock().advance(chrono::Duration::seconds(1));
    reply(&store, t.tenant, c.id, "user:sarah", "VIP, be gentle", true, None).await.unwrap();
    store.clock().advance(chrono::Duration::seconds(1));
    reply(&store, t.tenant, c.id, "user:sarah", "How can I help?", false, None).await.unwrap();
    let notes = |messages: Vec<pb::Message>| (messages.len(), messages.iter().filter(|m| m.internal_note).count());
    for (role, seen) in [(Role::Agent, (3, 1)), (Role::Ai, (2, 0))] {
        let page = pb::ListMessagesRequest { conversation_id: c.id.to_string(), page: None };
        let forward = api.list_messages(call(t.tenant, role, t.agent, Visibility::All, page)).await.unwrap();
        assert_eq!(notes(forward.into_inner().messages), seen, "{role:?} reading forward");
        let page = pb::ListEarlierMessagesRequest { conversation_id: c.id.to_string(), page: None };
        let back = api.list_earlier_messages(call(t.tenant, role, t.agent, Visibility::All, page)).await.unwrap();
        assert_eq!(notes(back.into_inner().messages), seen, "{role:?} reading back from the newest");
    }
}
