//! `inbox.search.v1.Search`: translation between gRPC and the index.

use std::sync::Arc;

use base64::Engine as _;
use chrono::Duration;
use chrono_tz::Tz;
use inbox_bus::{Bus, Payload, subjects};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::conversation::v1 as conv;
use inbox_proto::events::v1::SearchReindexRequested;
use inbox_service::{CallContext, Clock, Role, Visibility};
use prost::Message as _;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::conversation::{Channel, Sender, Status as ConversationStatus};
use crate::domain::dates::period;
use crate::domain::highlight::Fragment;
use crate::domain::plan::{self, Directory, needs};
use crate::domain::query::parse;
use crate::domain::questions::top_questions;
use crate::error::SearchError;
use crate::index::SearchIndex;
use crate::index::schema::SCHEMA_VERSION;
use crate::index::search::{Caller, MAX_RESULTS, Order, Page};
use crate::peers::Peers;
use crate::proto as pb;
use crate::rebuild::Rebuilds;

/// Results per page unless asked otherwise, and at most.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

pub struct SearchApi {
    pub index: Arc<SearchIndex>,
    pub peers: Arc<Peers>,
    pub rebuilds: Arc<Rebuilds>,
    pub bus: Bus,
    pub clock: Clock,
    /// The JetStream consumer this replica reads with.
    pub consumer: String,
}

/// The person behind `user:<id>`, if the principal is one.
fn person(ctx: &CallContext) -> Option<Uuid> {
    ctx.principal.strip_prefix("user:").and_then(|id| Uuid::parse_str(id).ok())
}

fn caller(ctx: &CallContext, visibility: Visibility) -> Caller {
    Caller { tenant: ctx.tenant_id, visibility, notes: ctx.role != Role::Ai }
}

fn limit_of(limit: u32) -> Result<usize, SearchError> {
    match limit as usize {
        0 => Ok(DEFAULT_LIMIT),
        n if n <= MAX_LIMIT => Ok(n),
        n => Err(SearchError::Invalid(format!("limit must be between 1 and {MAX_LIMIT}, not {n}"))),
    }
}

/// Cursors are opaque to clients: the offset of the next page.
fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode_cursor(cursor: &str) -> Result<usize, SearchError> {
    if cursor.is_empty() {
        return Ok(0);
    }
    let bad = || SearchError::Invalid("cursor is not one this service gave".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let offset: usize = text.strip_prefix('o').and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    if offset > MAX_RESULTS {
        return Err(SearchError::Invalid(format!("results stop at {MAX_RESULTS}; narrow the query")));
    }
    Ok(offset)
}

fn next_cursor(offset: usize, limit: usize, more: bool) -> String {
    if more && offset + limit < MAX_RESULTS { encode_cursor(offset + limit) } else { String::new() }
}

fn highlight(field: &str, fragment: Fragment) -> pb::Highlight {
    pb::Highlight {
        field: field.to_owned(),
        fragment: fragment.text,
        ranges: fragment
            .ranges
            .into_iter()
            .map(|(s, e)| pb::HighlightRange { start: s as u32, end: e as u32 })
            .collect(),
    }
}

fn timestamp_micros(micros: i64) -> Option<prost_types::Timestamp> {
    chrono::DateTime::from_timestamp_micros(micros).map(inbox_proto::timestamp_from)
}

impl SearchApi {
    async fn directory(
        &self,
        ctx: &CallContext,
        query: &crate::domain::query::SearchQuery,
        zone: &str,
    ) -> Result<Directory, SearchError> {
        let n = needs(query);
        let tenant = ctx.tenant_id;
        let agents = if n.agents { self.peers.agents(tenant).await? } else { Default::default() };
        let teams = if n.teams { self.peers.teams(tenant).await? } else { Default::default() };
        let zone = if !zone.is_empty() {
            zone.parse::<Tz>().map_err(|_| SearchError::Invalid(format!("time_zone {zone:?} is not an IANA zone")))?
        } else if n.zone {
            self.peers.time_zone(tenant).await?
        } else {
            Tz::UTC
        };
        Ok(Directory { me: person(ctx), agents, teams, zone, now: self.clock.now() })
    }

    async fn search_conversations_inner(
        &self,
        ctx: &CallContext,
        visibility: Visibility,
        r: &pb::SearchConversationsRequest,
    ) -> Result<pb::SearchConversationsResponse, SearchError> {
        let query = parse(&r.query)?;
        let directory = self.directory(ctx, &query, &r.time_zone).await?;
        let plan = plan::plan(&query, &directory)?;
        let limit = limit_of(r.limit)?;
        let offset = decode_cursor(&r.cursor)?;
        let order = match pb::SearchOrder::try_from(r.order) {
            Ok(pb::SearchOrder::Relevance) => Order::Relevance,
            Ok(pb::SearchOrder::Recent) => Order::Recent,
            Err(_) => return Err(SearchError::Invalid("order must be relevance or recent".into())),
        };
        let page = Page { offset, limit, order, facets: r.with_facets };
        let caller = caller(ctx, visibility);
        let index = self.index.clone();
        let results = tokio::task::spawn_blocking(move || index.search_conversations(&caller, &plan, page)).await??;
        let hits = results
            .hits
            .into_iter()
            .map(|hit| pb::ConversationHit {
                conversation: conv::Conversation::decode(hit.conversation.as_slice()).ok(),
                best_message: hit.best_message.map(|m| pb::MessageHit {
                    message_id: m.id,
                    sender_kind: Sender::from_code(m.sender).map_or(0, |s| s.to_proto() as i32),
                    sent_at: timestamp_micros(m.sent_at),
                    internal_note: m.note,
                    highlight: Some(highlight(m.source.name(), m.fragment)),
                }),
                conversation_highlight: hit.name_highlight.map(|f| highlight("name", f)),
                score: hit.score,
            })
            .collect();
        let facets = results.facets.map(|f| pb::Facets {
            total: f.total,
            by_status: f
                .by_status
                .into_iter()
                .filter_map(|(code, count)| {
                    ConversationStatus::from_code(u64::from(code))
                        .map(|s| pb::StatusCount { status: s.to_proto() as i32, count })
                })
                .collect(),
            by_channel: f
                .by_channel
                .into_iter()
                .filter_map(|(code, count)| {
                    Channel::from_code(u64::from(code))
                        .map(|c| pb::ChannelCount { channel: c.to_proto() as i32, count })
                })
                .collect(),
        });
        Ok(pb::SearchConversationsResponse {
            hits,
            next_cursor: next_cursor(offset, limit, results.more),
            facets,
            understood_query: query.to_string(),
        })
    }

    async fn search_customers_inner(
        &self,
        ctx: &CallContext,
        r: &pb::SearchCustomersRequest,
    ) -> Result<pb::SearchCustomersResponse, SearchError> {
        let query = parse(&r.query)?;
        let plan = plan::plan_customers(&query)?;
        let limit = limit_of(r.limit)?;
        let offset = decode_cursor(&r.cursor)?;
        let index = self.index.clone();
        let tenant = ctx.tenant_id;
        let results =
            tokio::task::spawn_blocking(move || index.search_customers(tenant, &plan, offset, limit)).await??;
        Ok(pb::SearchCustomersResponse {
            hits: results
                .hits
                .into_iter()
                .map(|hit| {
                    let p = hit.profile;
                    pb::CustomerHit {
                        customer_id: p.id.to_string(),
                        display_name: p.name,
                        phones: p.phones.iter().map(ToString::to_string).collect(),
                        emails: p.emails,
                        attributes: p.attributes.into_iter().collect(),
                        segment: p.segment,
                        highlight: Some(highlight("name", hit.name_highlight)),
                        score: hit.score,
                        updated_at: Some(inbox_proto::timestamp_from(p.updated_at)),
                    }
                })
                .collect(),
            next_cursor: next_cursor(offset, limit, results.more),
            understood_query: query.to_string(),
        })
    }

    async fn top_questions_inner(
        &self,
        ctx: &CallContext,
        visibility: Visibility,
        r: &pb::TopQuestionsRequest,
    ) -> Result<pb::TopQuestionsResponse, SearchError> {
        let length: Duration = period(&r.period)
            .ok_or_else(|| SearchError::Invalid(format!("period must be 24h, 7d, 30d or 90d, not {:?}", r.period)))?;
        let limit = limit_of(r.limit)?;
        let to = self.clock.now();
        let from = to - length;
        let caller = caller(ctx, visibility);
        let index = self.index.clone();
        let (messages, groups) = tokio::task::spawn_blocking(move || {
            let messages = index.first_customer_messages(&caller, from, to)?;
            let groups = top_questions(&messages, limit);
            Ok::<_, SearchError>((messages, groups))
        })
        .await??;
        Ok(pb::TopQuestionsResponse {
            questions: groups
                .into_iter()
                .map(|g| pb::TopQuestion {
                    label: g
                        .examples
                        .first()
                        .map(|&i| messages[i].text.chars().take(200).collect())
                        .unwrap_or_default(),
                    terms: g.terms,
                    count: g.count as u64,
                    examples: g
                        .examples
                        .iter()
                        .map(|&i| {
                            let m = &messages[i];
                            pb::QuestionExample {
                                conversation_id: m.conversation_id.clone(),
                                message_id: m.message_id.clone(),
                                text: m.text.clone(),
                                sent_at: Some(inbox_proto::timestamp_from(m.sent_at)),
                            }
                        })
                        .collect(),
                })
                .collect(),
            from: Some(inbox_proto::timestamp_from(from)),
            to: Some(inbox_proto::timestamp_from(to)),
            messages_considered: messages.len() as u64,
        })
    }

    async fn reindex_inner(
        &self,
        ctx: &CallContext,
        r: &pb::ReindexRequest,
    ) -> Result<pb::ReindexResponse, PublicError> {
        if !matches!(ctx.role, Role::Admin | Role::Operator) {
            return Err(PublicError::new(ErrorCode::PermissionDenied, "reindexing needs the admin role"));
        }
        let tenants = if r.all_tenants {
            if ctx.role != Role::Operator {
                return Err(PublicError::new(ErrorCode::PermissionDenied, "reindexing every tenant is for operators"));
            }
            let mut tenants = self.index.tables().tenant_list();
            if !tenants.contains(&ctx.tenant_id) {
                tenants.push(ctx.tenant_id);
            }
            tenants
        } else {
            vec![ctx.tenant_id]
        };
        // Every replica rebuilds its own copy: the request travels as an event all of them read.
        for tenant in &tenants {
            let tenant = tenant.to_string();
            let envelope = inbox_bus::new_envelope(
                Uuid::now_v7().to_string(),
                &tenant,
                Payload::SearchReindexRequested(SearchReindexRequested { requested_by: ctx.principal.clone() }),
            );
            self.bus
                .publish(&subjects::event(&tenant, "search.reindex_requested"), &envelope)
                .await
                .map_err(|e| PublicError::from(SearchError::from(e)))?;
        }
        Ok(pb::ReindexResponse { tenant_ids: tenants.iter().map(Uuid::to_string).collect() })
    }
}

#[tonic::async_trait]
impl pb::search_server::Search for SearchApi {
    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn search_conversations(
        &self,
        request: Request<pb::SearchConversationsRequest>,
    ) -> Result<Response<pb::SearchConversationsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let visibility = Visibility::of(&request);
        Ok(Response::new(self.search_conversations_inner(&ctx, visibility, request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn search_customers(
        &self,
        request: Request<pb::SearchCustomersRequest>,
    ) -> Result<Response<pb::SearchCustomersResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        Ok(Response::new(self.search_customers_inner(&ctx, request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn top_questions(
        &self,
        request: Request<pb::TopQuestionsRequest>,
    ) -> Result<Response<pb::TopQuestionsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let visibility = Visibility::of(&request);
        Ok(Response::new(self.top_questions_inner(&ctx, visibility, request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn reindex(&self, request: Request<pb::ReindexRequest>) -> Result<Response<pb::ReindexResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        Ok(Response::new(self.reindex_inner(&ctx, request.get_ref()).await.map_err(|e| e.to_status())?))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn get_index_status(
        &self,
        request: Request<pb::GetIndexStatusRequest>,
    ) -> Result<Response<pb::IndexStatus>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let everyone = matches!(ctx.role, Role::Operator | Role::Service);
        let rebuilds = self.rebuilds.history((!everyone).then_some(ctx.tenant_id));
        let index = self.index.clone();
        let (documents, conversations) =
            tokio::task::spawn_blocking(move || (index.documents(), index.tables().live_conversations() as u64))
                .await
                .map_err(|e| PublicError::from(SearchError::from(e)).to_status())?;
        Ok(Response::new(pb::IndexStatus {
            schema_version: SCHEMA_VERSION,
            documents,
            conversations,
            events_indexed: self.index.events_indexed(),
            last_commit_at: self.index.last_commit_at().map(inbox_proto::timestamp_from),
            rebuilds: rebuilds
                .into_iter()
                .map(|r| pb::Rebuild {
                    tenant_id: r.tenant.to_string(),
                    state: r.state.as_str().to_owned(),
                    conversations: r.conversations,
                    messages: r.messages,
                    customers: r.customers,
                    removed: r.removed,
                    started_at: Some(inbox_proto::timestamp_from(r.started_at)),
                    finished_at: r.finished_at.map(inbox_proto::timestamp_from),
                    error: r.error,
                })
                .collect(),
            consumer: self.consumer.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(40)).unwrap(), 40);
        assert_eq!(decode_cursor("").unwrap(), 0);
        assert!(decode_cursor("bm9wZQ").is_err());
        assert!(decode_cursor(&encode_cursor(MAX_RESULTS + 1)).is_err());
        assert_eq!(next_cursor(980, 20, true), "", "the last reachable page");
        assert_eq!(next_cursor(0, 20, false), "");
    }

    #[test]
    fn limits_default_and_are_capped() {
        assert_eq!(limit_of(0).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit_of(7).unwrap(), 7);
        assert!(limit_of(101).is_err());
    }

    #[test]
    fn only_user_principals_are_people() {
        let id = Uuid::now_v7();
        let ctx = |principal: &str| CallContext { tenant_id: id, principal: principal.into(), role: Role::Agent };
        assert_eq!(person(&ctx(&format!("user:{id}"))), Some(id));
        assert_eq!(person(&ctx("operator")), None);
        assert_eq!(person(&ctx("service:routing")), None);
    }
}
