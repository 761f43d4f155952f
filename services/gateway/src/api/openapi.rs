//! The API contract: `GET /v1/openapi.json`, an OpenAPI 3.1 document of every route of the
//! REST API and the live stream. Each resource module registers its handlers with
//! `routes!(...)`, which takes the route and its `#[utoipa::path]` operation together, so the
//! router that serves and the document are built from one list (`api::documented_routes`): a
//! route cannot be served without being described. Bodies and answers are the
//! handlers' own types; every error answer is [`ErrorBody`].

use std::sync::Arc;

use axum::Extension;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use inbox_errors::ErrorCode;
use serde_json::json;
use utoipa::Modify;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, Required, ResponseBuilder, Type};

use super::error::ErrorBody;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/v1/openapi.json";

/// The document's frame: what the API is, how callers authenticate, the tags. Paths and
/// schemas come from the resource routers merged into it.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Inbox API",
        description = "The REST API of the inbox (conversations across WhatsApp, telephony and web chat; \
            customers, templates, routing, metrics, notifications, search, administration) and its live WebSocket. \
            Every error answer is `{\"error\": {\"code\", \"message\", \"details\"?}}` (ErrorBody), its `code` \
            one of a stable list. Times are RFC 3339. Lists are `{\"items\"}`, pages `{\"items\", \"next_cursor\"}` \
            (`null` on the last page).",
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "conversations", description = "Conversations, their status, priority and read state"),
        (name = "messages", description = "A conversation's messages and media"),
        (name = "handling", description = "Who handles a conversation: assignment, the AI, hand-offs, summary"),
        (name = "calls", description = "Calls of telephony conversations"),
        (name = "customers", description = "Customer profiles"),
        (name = "templates", description = "Response templates"),
        (name = "settings", description = "Tenant-wide settings"),
        (name = "routing", description = "Agents, teams, availability"),
        (name = "metrics", description = "Figures and reports"),
        (name = "notifications", description = "The notification centre, preferences, Web Push, SLA clocks"),
        (name = "search", description = "Finding conversations and customers; frequent questions; the search index"),
        (name = "auth", description = "Sign-in, sessions, who am I"),
        (name = "admin", description = "Tenants, users, credentials, channel accounts (admins and the operator)"),
        (name = "live", description = "The live WebSocket"),
        (name = "api", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The document's JSON as `GET /v1/openapi.json` serves it (an extension of the router).
#[derive(Clone)]
pub struct Published(Arc<str>);

impl Published {
    pub fn new(document: &OpenApi) -> Self {
        Self(document.to_json().unwrap_or_else(|e| json!({"error": e.to_string()}).to_string()).into())
    }
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "api", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json",
        body = Object)))]
pub async fn openapi_json(Extension(published): Extension<Published>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], published.0.to_string())
}

/// What every operation shares, added once the routes are in: the security schemes (a bearer
/// credential by default), the live stream (served by [`crate::live`], outside this router),
/// and the error answers.
pub fn finish(document: &mut OpenApi) {
    Security.modify(document);
    document.paths.paths.insert("/v1/stream".into(), live_stream());
    ErrorAnswers.modify(document);
}

/// Bearer credentials for every operation unless it says otherwise; the refresh cookie with its
/// CSRF header for `/v1/auth/*`.
struct Security;

pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "api_key";
pub const REFRESH_COOKIE: &str = "refresh_cookie";
pub const CSRF_HEADER: &str = "csrf_header";

impl Modify for Security {
    fn modify(&self, document: &mut OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A person's access token from POST /v1/auth/sign-in (or refresh), a token minted by an \
                         admin or the operator, or the operator token.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ik_<id>_<secret>")
                    .description(Some(
                        "An API key as the bearer credential. Scopes: ai_agent, integration, read_only (GET only).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            REFRESH_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "inbox_refresh",
                "The rotating refresh token (HttpOnly, SameSite=Strict, path /v1/auth) set by sign-in.",
            ))),
        );
        components.add_security_scheme(
            CSRF_HEADER,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "Must equal the inbox_csrf cookie whenever the refresh cookie is used.",
            ))),
        );
        document.security = Some(vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(API_KEY, Vec::<String>::new()),
        ]);
    }
}

/// The refresh cookie with its CSRF header, or (for clients without cookies) the refresh token
/// in the body: what `/v1/auth/refresh` and `/v1/auth/sign-out` accept besides a bearer.
pub fn refresh_cookie_security() -> Vec<SecurityRequirement> {
    vec![
        SecurityRequirement::new(REFRESH_COOKIE, Vec::<String>::new()).add(CSRF_HEADER, Vec::<String>::new()),
        SecurityRequirement::default(),
    ]
}

/// The error answers, each `ErrorBody`, that an operation may give besides those it lists: the
/// one error path answers any failure of the services behind the edge with its code, so every
/// authenticated operation may answer each of these.
struct ErrorAnswers;

fn error_answer(code: ErrorCode) -> (String, utoipa::openapi::Response) {
    let description = match code {
        ErrorCode::InvalidArgument => "invalid_argument: the request is malformed or a value is refused",
        ErrorCode::Unauthenticated => "unauthenticated: no valid credential",
        ErrorCode::PermissionDenied => "permission_denied: the caller's role or key scope does not allow it",
        ErrorCode::NotFound => "not_found: no such resource the caller may see",
        ErrorCode::Conflict => "conflict or already_exists: the resource changed or exists",
        ErrorCode::PayloadTooLarge => "payload_too_large: the body is over the route's limit",
        ErrorCode::RateLimited => "rate_limited: too many attempts or requests; see Retry-After",
        ErrorCode::Unavailable => "unavailable: starting or a dependency is down; retry",
        _ => "internal: an unexpected failure (details are logged, never shown)",
    };
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
        .build();
    (code.http_status().as_u16().to_string(), response)
}

impl Modify for ErrorAnswers {
    fn modify(&self, document: &mut OpenApi) {
        for (path, item) in document.paths.paths.iter_mut() {
            if path == DOCUMENT_PATH {
                continue;
            }
            for operation in operations_mut(item) {
                let mut codes = vec![
                    ErrorCode::InvalidArgument,
                    ErrorCode::Unauthenticated,
                    ErrorCode::PermissionDenied,
                    ErrorCode::NotFound,
                    ErrorCode::Conflict,
                    ErrorCode::RateLimited,
                    ErrorCode::Internal,
                    ErrorCode::Unavailable,
                ];
                if operation.request_body.is_some() {
                    codes.push(ErrorCode::PayloadTooLarge);
                }
                for code in codes {
                    let (status, response) = error_answer(code);
                    operation.responses.responses.entry(status).or_insert(response.into());
                }
            }
        }
    }
}

/// Every operation of a path.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// `GET /v1/stream`, the live WebSocket, with the frames it carries (`x-websocket-frames`).
fn live_stream() -> PathItem {
    let frames = json!({
        "server": {
            "ready": "first frame: {\"type\":\"ready\"}",
            "resync": "the `after` asked for is too old to replay: refetch over REST, then follow",
            "conversation.created": "{seq, event_id, conversation: Conversation}",
            "conversation.updated": "{seq, event_id, conversation: Conversation}",
            "conversation.priority_changed": "{seq, event_id, conversation: Conversation}",
            "conversation.status_changed": "{seq, event_id, conversation: Conversation, change: StatusChange}",
            "conversation.assigned": "{seq, event_id, conversation, previous_assignee_id, previous_team_id, actor, note}",
            "conversation.ai_handoff": "{seq, event_id, conversation, agent_id, ai_active}",
            "conversation.deleted": "{seq, event_id, conversation_id}",
            "message.created": "{seq, event_id, message: Message, conversation: Conversation}",
            "message.delivery_updated": "{seq, event_id, delivery: Delivery}",
            "call.disposition_changed": "{seq, event_id, call: Call}",
            "agent.availability_changed": "{event_id, agent_id, availability} (supervisors, admins, the agent)",
            "conversation.typing": "{conversation_id, agent_id | customer, typing}",
            "conversation.viewers": "{conversation_id, viewers: [{agent_id, name, since}]}",
            "notification": "{notification}",
        },
        "client": {
            "presence": "{\"type\":\"presence\",\"availability\":\"online|away|offline\"}",
            "viewing": "{\"type\":\"viewing\",\"conversation_id\":\"<id>\"|null}",
        },
    });
    let operation = OperationBuilder::new()
        .tag("live")
        .operation_id(Some("open_stream"))
        .summary(Some("The live WebSocket"))
        .description(Some(
            "Upgrades to a WebSocket carrying JSON frames `{\"type\", \"seq\"?, \"event_id\"?, ...}` of what the \
             holder may see. A client that reconnects with `after` (the last `seq` it saw) receives what it \
             missed, in order, or a `resync` frame. Send the credential in the `Authorization` header; a browser, \
             which cannot set headers on a WebSocket, passes a ticket from `POST /v1/auth/ticket` as \
             `access_token` instead (an access token or API key there is refused with 401). Frames are listed \
             in `x-websocket-frames`; the bodies use this document's schemas.",
        ))
        .parameter(
            ParameterBuilder::new()
                .name("after")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("The last `seq` the client saw"))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
                        .minimum(Some(0)),
                )),
        )
        .parameter(
            ParameterBuilder::new()
                .name("access_token")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "A single-use ticket (`tk_…`) from `POST /v1/auth/ticket`, for browsers, which cannot set \
                     headers on a WebSocket; never an access token or API key",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        )
        .response("101", ResponseBuilder::new().description("Switching Protocols: the socket is open").build())
        .extensions(Some(ExtensionsBuilder::new().add("x-websocket-frames", frames).build()))
        .build();
    PathItem::new(HttpMethod::Get, operation)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use inbox_service::http_edge::WhenReady;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::api::{self, AppState};

    /// Every operation of the document: its path, method and JSON.
    fn operations(document: &Value) -> Vec<(String, Method, Value)> {
        let mut found = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                found.push((path.clone(), method, operation.clone()));
            }
        }
        found
    }

    fn document_json() -> Value {
        serde_json::from_str(&api::document().to_json().unwrap()).unwrap()
    }

    /// Every `$ref` anywhere in `value`.
    fn refs(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.insert(target.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_reference_resolves() {
        let document = api::document();
        let json = document.to_json().unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        if let Ok(out) = std::env::var("OPENAPI_OUT") {
            std::fs::write(out, &json).unwrap();
        }
        assert_eq!(value["openapi"], "3.1.0");
        // Full validation against the OpenAPI 3.1 schema is openapi-spec-validator's, in the
        // conformance run (tests/openapi.rs); utoipa cannot read back an any-value schema.
        assert!(value["info"]["title"].is_string() && value["info"]["version"].is_string());
        for path in value["paths"].as_object().unwrap().keys() {
            assert!(path.starts_with("/v1/"), "{path}");
        }
        let mut targets = BTreeSet::new();
        refs(&value, &mut targets);
        let schemas = value["components"]["schemas"].as_object().unwrap();
        for target in targets {
            let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{target}"));
            assert!(schemas.contains_key(name), "{target} has no schema");
        }
    }

    #[test]
    fn every_operation_has_its_own_id_a_tag_and_answers_errors_in_the_one_shape() {
        let document = document_json();
        let mut ids = BTreeSet::new();
        for (path, method, operation) in operations(&document) {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no id"));
            assert!(ids.insert(id.to_owned()), "operation id {id} is used twice");
            assert!(operation["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2') || s == "101"), "{method} {path}: no success");
            if path == DOCUMENT_PATH {
                continue;
            }
            for status in ["400", "401", "403", "404", "500", "503"] {
                let schema = &responses[status]["content"]["application/json"]["schema"];
                assert_eq!(schema["$ref"], "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
            if operation.get("requestBody").is_some() {
                assert!(responses.contains_key("413"), "{method} {path} takes a body: 413");
            }
        }
        let schema = &document["components"]["schemas"]["ErrorBody"];
        assert_eq!(schema["required"], serde_json::json!(["error"]));
    }

    #[tokio::test]
    async fn every_documented_operation_is_served() {
        let router = api::routes().merge(crate::live::routes()).with_state(WhenReady::<AppState>::default());
        let document = document_json();
        let operations = operations(&document);
        assert!(operations.len() > 90, "{} operations", operations.len());
        for (path, method, _) in operations {
            let uri: String =
                path.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
            let request = Request::builder().method(method.clone()).uri(&uri).body(Body::empty()).unwrap();
            let status = router.clone().oneshot(request).await.unwrap().status();
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served ({status})"
            );
        }
    }

    /// The paths of `.route("...")` calls in the gateway's sources: routes added without their
    /// operation (only the live stream, which the document describes by hand, may be).
    fn plain_routes() -> Vec<(String, String)> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src.join("api"), src.join("live")];
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for (at, _) in code.match_indices(".route(") {
                    let rest = code[at + ".route(".len()..].trim_start();
                    let route = rest.strip_prefix('"').and_then(|r| r.split('"').next()).unwrap_or(rest);
                    found.push((path.display().to_string(), route.chars().take(80).collect()));
                }
            }
        }
        found
    }

    #[test]
    fn every_route_is_registered_with_its_operation() {
        let document = document_json();
        for (file, route) in plain_routes() {
            assert!(
                document["paths"].get(&route).is_some(),
                "{file}: {route} is routed with .route() and missing from the OpenAPI document; register its \
                 handler with routes!(...) and #[utoipa::path]"
            );
            assert!(file.contains("/live/"), "{file}: {route}: API routes are registered with routes!(...)");
        }
    }
}
