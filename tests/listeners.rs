//! Every service of the fleet, as deployed: `/metrics` only on its admin listener, and a
//! public `/readyz` that says ready without showing its checks' errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use inbox_e2e::{Fleet, SERVICES};

#[tokio::test]
async fn every_service_serves_metrics_on_its_admin_listener_only() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let client = reqwest::Client::new();
    for name in SERVICES {
        let public = client.get(format!("{}/metrics", fleet.http_url(name))).send().await?;
        // The gateway answers unknown paths with the web app (or 503 without a web build).
        if name != "gateway" {
            assert_eq!(public.status(), 404, "{name}: /metrics on the public listener");
        }
        assert!(!public.text().await?.contains("# TYPE"), "{name}: metrics on the public listener");
        let admin = client.get(format!("{}/metrics", fleet.admin_url(name))).send().await?;
        assert_eq!(admin.status(), 200, "{name}: /metrics on the admin listener");
        let text = admin.text().await?;
        assert!(text.contains("inbox_http_request_seconds"), "{name}: {text}");
        for base in [fleet.http_url(name), fleet.admin_url(name)] {
            let ready: serde_json::Value = client.get(format!("{base}/readyz")).send().await?.json().await?;
            assert_eq!(ready["ready"], true, "{name} at {base}: {ready}");
        }
    }
    Ok(())
}

/// Each service calls with its own token and is held to what its callee grants it: search's
/// token reads conversations as a service, and nothing more; a token nobody issued opens
/// nothing. (The rest of the suite runs the fleet this way, so every call the fleet really
/// makes is proven granted.)
#[tokio::test]
async fn each_service_is_one_identity_held_to_its_grants() -> anyhow::Result<()> {
    use inbox_proto::conversation::v1 as conv;
    use inbox_proto::ingest::v1 as ingest;
    use inbox_proto::routing::v1 as routing;
    use inbox_service::Role;
    use tonic::Code;

    let fleet = Fleet::start().await?;
    let grpc = |name: &str| format!("http://127.0.0.1:{}", fleet.grpc_port(name));
    let mut conversations = conv::conversations_client::ConversationsClient::connect(grpc("conversation")).await?;
    let mut accounts = ingest::channel_accounts_client::ChannelAccountsClient::connect(grpc("channel-ingest")).await?;
    let mut agents = routing::routing_client::RoutingClient::connect(grpc("routing")).await?;
    let tenant = uuid::Uuid::now_v7();
    let as_ = |caller: &'static str, role: Role| As { tenant, caller, role };
    let list = || conv::ListConversationsRequest::default();
    let send = || conv::SendMessageRequest {
        conversation_id: uuid::Uuid::now_v7().to_string(),
        idempotency_key: "k".into(),
        ..Default::default()
    };

    // What search is granted: conversations read as a service, agents and teams.
    conversations.list_conversations(as_("search", Role::Service).req(list())).await?;
    agents.list_agents(as_("search", Role::Service).req(routing::ListAgentsRequest {})).await?;
    // Not as an operator, not a send; and a service that does not call channel-ingest is
    // nobody there.
    assert_eq!(
        code(conversations.list_conversations(as_("search", Role::Operator).req(list())).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(conversations.send_message(as_("search", Role::Service).req(send())).await),
        Code::PermissionDenied
    );
    let accounts_request = || ingest::ListWhatsAppAccountsRequest::default();
    assert_eq!(
        code(accounts.list_whats_app_accounts(as_("search", Role::Admin).req(accounts_request())).await),
        Code::Unauthenticated
    );
    // Metrics sends (its CSAT survey) but routing does not; notification, which calls routing
    // only, is nobody to conversation.
    assert_ne!(
        code(conversations.send_message(as_("metrics", Role::Service).req(send())).await),
        Code::PermissionDenied
    );
    assert_eq!(code(conversations.send_message(as_("routing", Role::Agent).req(send())).await), Code::PermissionDenied);
    assert_eq!(
        code(conversations.list_conversations(as_("notification", Role::Service).req(list())).await),
        Code::Unauthenticated
    );
    // The gateway acts for anyone; a service's own token is not accepted by itself as a caller
    // it does not list, and an unknown token is unauthenticated.
    conversations.list_conversations(as_("gateway", Role::Operator).req(list())).await?;
    accounts.list_whats_app_accounts(as_("gateway", Role::Admin).req(accounts_request())).await?;
    assert_eq!(
        code(conversations.list_conversations(as_("conversation", Role::Service).req(list())).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code(conversations.list_conversations(as_("nobody", Role::Service).req(list())).await),
        Code::Unauthenticated
    );
    Ok(())
}

/// A call made with `caller`'s token, claiming `role`.
struct As {
    tenant: uuid::Uuid,
    caller: &'static str,
    role: inbox_service::Role,
}

impl As {
    fn req<T>(&self, message: T) -> tonic::Request<T> {
        let ctx = inbox_service::CallContext {
            tenant_id: self.tenant,
            principal: format!("service:{}", self.caller),
            role: self.role,
        };
        let token = match self.caller {
            "nobody" => "a-token-nobody-issued-0123".to_owned(),
            caller => inbox_e2e::service_token(caller),
        };
        ctx.request(message, &inbox_config::Secret::new(token)).unwrap()
    }
}

/// The status code of a call's answer (`Ok` when it succeeded).
fn code<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> tonic::Code {
    answer.map_or_else(|status| status.code(), |_| tonic::Code::Ok)
}

/// The call graph is written in three places: the tests' fleet (`CALLS`), `just up`
/// (`CALLERS` in scripts/up.sh) and the Helm chart (`inbox.callers`). They must agree, or one
/// of them runs a fleet whose callees refuse a caller the others allow.
#[test]
fn the_call_graph_is_the_same_for_just_up_the_chart_and_the_tests() {
    use std::collections::BTreeMap;
    type Graph = BTreeMap<String, Vec<String>>;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sorted = |mut callers: Vec<String>| {
        callers.sort();
        callers
    };

    let mut tests = Graph::new();
    for (callee, _) in inbox_e2e::CALLS {
        let callers = inbox_e2e::CALLS.iter().filter(|(_, callees)| callees.contains(&callee));
        tests.insert(callee.to_owned(), sorted(callers.map(|(caller, _)| (*caller).to_owned()).collect()));
    }

    let helpers = std::fs::read_to_string(root.join("helm/inbox/templates/_helpers.tpl")).unwrap();
    let table = helpers.lines().skip_while(|l| !l.contains(r#"define "inbox.callers""#)).nth(1).unwrap();
    let chart: Graph = table
        .split(';')
        .map(|entry| {
            let (callee, callers) = entry.split_once(':').unwrap();
            (callee.to_owned(), sorted(callers.split_whitespace().map(str::to_owned).collect()))
        })
        .collect();

    let up = std::fs::read_to_string(root.join("scripts/up.sh")).unwrap();
    let declared = &up[up.find("declare -A CALLERS=(").unwrap()..];
    let declared = &declared[..declared.find(")\n").unwrap()];
    let mut just_up = Graph::new();
    for item in declared.split('[').skip(1) {
        let (callee, callers) = item.split_once("]=").unwrap();
        let callers = callers.trim().trim_matches('"');
        just_up.insert(callee.to_owned(), sorted(callers.split_whitespace().map(str::to_owned).collect()));
    }

    assert_eq!(tests.len(), 7);
    assert_eq!(chart, tests, "helm/inbox/templates/_helpers.tpl");
    assert_eq!(just_up, tests, "scripts/up.sh");
}
