//! `inbox.conversation.v1.Conversations`.

use inbox_errors::ErrorCode;
use inbox_errors::PublicError;
use inbox_proto::common::v1::CallDisposition;
use inbox_proto::conversation::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::error::conversation_not_found;
use super::filters::{counts_to_proto, filter_from_proto, sort_from_proto};
use super::request::{
    bounded, idempotency_key, last_seen_of, optional_id, page_of, parse_id, require_admin, require_person,
    require_system_sender, user_of,
};
use super::scope::{ensure_visible, viewer_of};
use crate::domain::calls::{CallSummary, disposition_from_name, disposition_name};
use crate::domain::views::MAX_FILTER_IDS;
use crate::domain::{PriorityRules, StatusRules, TenantSettings};
use crate::store::{
    AgentDisposition, AiMessage, BulkChange, ConversationStore, Cursor, HistoryPage, ListCursor, NewReply,
    NewSystemMessage,
};

pub struct ConversationsApi {
    pub store: ConversationStore,
}

#[tonic::async_trait]
impl pb::conversations_server::Conversations for ConversationsApi {
    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let r = request.get_ref();
        let filter = filter_from_proto(r.filter.as_ref())?;
        let sort = sort_from_proto(r.sort)?;
        let (limit, cursor) = page_of(r.page.as_ref(), ListCursor::decode)?;
        let viewer = viewer_of(&ctx, &request);
        let (rows, next) =
            self.store.list_conversations_filtered(ctx.tenant_id, &filter, &viewer, sort, limit, cursor).await?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: rows.iter().map(|r| r.to_proto()).collect(),
            next_cursor: next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        tracing::Span::current().record("conversation_id", tracing::field::display(id));
        let row = self.store.visible_conversation(ctx.tenant_id, id, &viewer_of(&ctx, &request)).await?;
        Ok(row.map(|r| Response::new(r.to_proto())).ok_or_else(conversation_not_found)?)
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let r = request.get_ref();
        let (limit, cursor) = page_of(r.page.as_ref(), Cursor::decode)?;
        self.messages_page(&request, &r.conversation_id, limit, HistoryPage::Forward(cursor)).await
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn list_earlier_messages(
        &self,
        request: Request<pb::ListEarlierMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let r = request.get_ref();
        let (limit, cursor) = page_of(r.page.as_ref(), Cursor::decode)?;
        self.messages_page(&request, &r.conversation_id, limit, HistoryPage::Backward(cursor)).await
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        self.send(&request, request.get_ref(), None).await
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn send_guarded_message(
        &self,
        request: Request<pb::SendGuardedMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let r = request.get_ref();
        let send = r.send.as_ref().ok_or_else(|| PublicError::invalid_argument("send is required"))?;
        self.send(&request, send, r.guard.as_ref()).await
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn set_status(&self, request: Request<pb::SetStatusRequest>) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = self.person_on_conversation(&request, &request.get_ref().conversation_id).await?;
        let r = request.get_ref();
        let to = pb::ConversationStatus::try_from(r.status)
            .ok()
            .and_then(crate::domain::Status::from_proto)
            .ok_or_else(|| PublicError::invalid_argument("status must be active, pending, resolved or archived"))?;
        let reason = r.reason.trim();
        if reason.len() > 500 {
            return Err(PublicError::invalid_argument("reason must be at most 500 characters").into());
        }
        let (conversation, _) = self
            .store
            .set_status(ctx.tenant_id, id, to, &ctx.principal, reason)
            .await?
            .ok_or_else(conversation_not_found)?;
        Ok(Response::new(conversation.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn set_priority(
        &self,
        request: Request<pb::SetPriorityRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = self.person_on_conversation(&request, &request.get_ref().conversation_id).await?;
        let r = request.get_ref();
        let priority = pb::Priority::try_from(r.priority)
            .ok()
            .and_then(crate::domain::Priority::from_proto)
            .ok_or_else(|| PublicError::invalid_argument("priority must be urgent, high, normal or low"))?;
        let reason = r.reason.trim();
        if reason.len() > 500 {
            return Err(PublicError::invalid_argument("reason must be at most 500 characters").into());
        }
        let conversation =
            self.store.set_priority(ctx.tenant_id, id, priority, reason).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(conversation.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn list_status_changes(
        &self,
        request: Request<pb::ListStatusChangesRequest>,
    ) -> Result<Response<pb::ListStatusChangesResponse>, Status> {
        let (ctx, id) = self.on_conversation(&request, &request.get_ref().conversation_id).await?;
        if self.store.get_conversation(ctx.tenant_id, id).await?.is_none() {
            return Err(conversation_not_found().into());
        }
        let changes = self.store.list_status_changes(ctx.tenant_id, id).await?;
        Ok(Response::new(pb::ListStatusChangesResponse { changes: changes.iter().map(|c| c.to_proto()).collect() }))
    }

    async fn get_status_rules(
        &self,
        request: Request<pb::GetStatusRulesRequest>,
    ) -> Result<Response<pb::StatusRules>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let rules = self.store.status_rules(ctx.tenant_id).await?;
        Ok(Response::new(rules_to_proto(&rules)))
    }

    async fn set_status_rules(
        &self,
        request: Request<pb::SetStatusRulesRequest>,
    ) -> Result<Response<pb::StatusRules>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        if !matches!(ctx.role, Role::Admin | Role::Operator) {
            return Err(
                PublicError::new(ErrorCode::PermissionDenied, "changing status rules needs the admin role").into()
            );
        }
        let given = request.get_ref().rules.ok_or_else(|| PublicError::invalid_argument("rules are required"))?;
        let rules = StatusRules::from_seconds(
            given.pending_timeout_seconds,
            given.auto_archive_seconds,
            given.reopen_on_customer_message,
        )
        .map_err(PublicError::invalid_argument)?;
        self.store.set_status_rules(ctx.tenant_id, &rules).await?;
        Ok(Response::new(rules_to_proto(&rules)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn count_views(&self, request: Request<pb::CountViewsRequest>) -> Result<Response<pb::ViewCounts>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let team = optional_id(&request.get_ref().team_id, "team_id")?;
        let counts = self.store.count_views(ctx.tenant_id, &viewer_of(&ctx, &request), team).await?;
        Ok(Response::new(counts_to_proto(&counts)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn set_assignment(
        &self,
        request: Request<pb::SetAssignmentRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = self.person_on_conversation(&request, &request.get_ref().conversation_id).await?;
        let r = request.get_ref();
        let assignee = optional_id(&r.assignee_id, "assignee_id")?;
        let team = optional_id(&r.team_id, "team_id")?;
        let note = bounded(&r.note, "note", 1000)?;
        let (conversation, _) = self
            .store
            .set_assignment(ctx.tenant_id, id, assignee, team, &ctx.principal, note)
            .await?
            .ok_or_else(conversation_not_found)?;
        Ok(Response::new(conversation.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn post_ai_message(
        &self,
        request: Request<pb::PostAiMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let (ctx, id) = self.on_conversation(&request, &request.get_ref().conversation_id).await?;
        if ctx.role != Role::Ai {
            return Err(PublicError::new(ErrorCode::PermissionDenied, "only the AI agent writes AI messages").into());
        }
        let r = request.get_ref();
        let key = idempotency_key(&r.idempotency_key)?;
        let content = r.content.clone().ok_or_else(|| PublicError::invalid_argument("content is required"))?;
        let message = AiMessage {
            conversation_id: id,
            author: &ctx.principal,
            content: &content,
            confidence: r.confidence,
            complex_issue: r.complex_issue,
            complex_reason: bounded(&r.complex_reason, "complex_reason", 500)?,
            idempotency_key: key,
        };
        let sent = self.store.post_ai_message(ctx.tenant_id, &message).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(sent.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn take_over(&self, request: Request<pb::TakeOverRequest>) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = self.person_on_conversation(&request, &request.get_ref().conversation_id).await?;
        let agent = user_of(&ctx.principal).ok_or_else(|| PublicError::invalid_argument("taking over needs a user"))?;
        let name = bounded(&request.get_ref().agent_name, "agent_name", 200)?;
        let conversation =
            self.store.take_over(ctx.tenant_id, id, agent, name).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(conversation.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn release_to_ai(
        &self,
        request: Request<pb::ReleaseToAiRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = self.person_on_conversation(&request, &request.get_ref().conversation_id).await?;
        let agent = user_of(&ctx.principal).ok_or_else(|| PublicError::invalid_argument("releasing needs a user"))?;
        let any_owner = matches!(ctx.role, Role::Supervisor | Role::Admin);
        let conversation =
            self.store.release_to_ai(ctx.tenant_id, id, agent, any_owner).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(conversation.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn set_summary(&self, request: Request<pb::SetSummaryRequest>) -> Result<Response<pb::Conversation>, Status> {
        let (ctx, id) = self.on_conversation(&request, &request.get_ref().conversation_id).await?;
        if !matches!(ctx.role, Role::Ai | Role::Agent | Role::Supervisor | Role::Admin) {
            return Err(
                PublicError::new(ErrorCode::PermissionDenied, "only the AI and the team write summaries").into()
            );
        }
        let summary = bounded(&request.get_ref().summary, "summary", 4000)?;
        let conversation =
            self.store.set_summary(ctx.tenant_id, id, summary).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(conversation.to_proto()))
    }

    async fn get_summary(&self, request: Request<pb::GetSummaryRequest>) -> Result<Response<pb::Summary>, Status> {
        let (ctx, id) = self.on_conversation(&request, &request.get_ref().conversation_id).await?;
        let summary = self.store.summary(ctx.tenant_id, id).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(pb::Summary {
            text: summary.text,
            source: summary.source.into(),
            updated_at: summary.updated_at.map(inbox_proto::timestamp_from),
        }))
    }

    async fn get_tenant_settings(
        &self,
        request: Request<pb::GetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let settings = self.store.tenant_settings(ctx.tenant_id).await?;
        Ok(Response::new(settings_to_proto(&settings)))
    }

    async fn set_tenant_settings(
        &self,
        request: Request<pb::SetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx, "changing tenant settings")?;
        let given =
            request.get_ref().settings.clone().ok_or_else(|| PublicError::invalid_argument("settings are required"))?;
        let settings = TenantSettings::parse(
            &given.time_zone,
            &given.company_name,
            given.ai_confidence_threshold,
            &given.handoff_message,
        )
        .map_err(PublicError::invalid_argument)?;
        self.store.set_tenant_settings(ctx.tenant_id, &settings).await?;
        Ok(Response::new(settings_to_proto(&settings)))
    }

    async fn get_priority_rules(
        &self,
        request: Request<pb::GetPriorityRulesRequest>,
    ) -> Result<Response<pb::PriorityRules>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let rules = self.store.priority_rules(ctx.tenant_id).await?;
        Ok(Response::new(priority_rules_to_proto(&rules)))
    }

    async fn set_priority_rules(
        &self,
        request: Request<pb::SetPriorityRulesRequest>,
    ) -> Result<Response<pb::PriorityRules>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx, "changing priority rules")?;
        let given =
            request.get_ref().rules.clone().ok_or_else(|| PublicError::invalid_argument("rules are required"))?;
        let rules =
            PriorityRules::parse(&given.urgent_keywords, &given.urgent_segments, given.first_response_target_seconds)
                .map_err(PublicError::invalid_argument)?;
        self.store.set_priority_rules(ctx.tenant_id, &rules).await?;
        Ok(Response::new(priority_rules_to_proto(&rules)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Result<Response<pb::ListCallsResponse>, Status> {
        let (ctx, id) = self.on_conversation(&request, &request.get_ref().conversation_id).await?;
        let calls = self.store.calls(ctx.tenant_id, id).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(pb::ListCallsResponse {
            calls: calls.iter().map(|(call, agent)| call_to_proto(id, call, agent.as_ref())).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id, call_sid))]
    async fn set_call_disposition(
        &self,
        request: Request<pb::SetCallDispositionRequest>,
    ) -> Result<Response<pb::Call>, Status> {
        let (ctx, id) = self.person_on_conversation(&request, &request.get_ref().conversation_id).await?;
        let r = request.get_ref();
        tracing::Span::current().record("call_sid", r.call_sid.as_str());
        let disposition = CallDisposition::try_from(r.disposition)
            .map_err(|_| PublicError::invalid_argument("unknown call disposition"))?;
        let calls = self.store.calls(ctx.tenant_id, id).await?.ok_or_else(conversation_not_found)?;
        let name = disposition_name(disposition);
        let (call, _) = calls
            .iter()
            .find(|(call, _)| call.call_sid == r.call_sid)
            .ok_or_else(|| PublicError::not_found("no such call in this conversation"))?;
        let agent = (!name.is_empty()).then(|| AgentDisposition {
            call_sid: r.call_sid.clone(),
            disposition: name.to_owned(),
            set_by: ctx.principal.clone(),
            set_at: self.store.now(),
        });
        let changed = call_to_proto(id, call, agent.as_ref());
        let event = inbox_bus::new_envelope(
            Uuid::now_v7().to_string(),
            ctx.tenant_id.to_string(),
            inbox_bus::Payload::CallDispositionChanged(changed.clone()),
        );
        self.store.set_call_disposition(ctx.tenant_id, id, &r.call_sid, agent.as_ref(), &event).await?;
        tracing::info!(disposition = name, "call disposition set");
        Ok(Response::new(changed))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, selected))]
    async fn bulk_action(
        &self,
        request: Request<pb::BulkActionRequest>,
    ) -> Result<Response<pb::BulkActionResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        if !matches!(ctx.role, Role::Supervisor | Role::Admin) {
            return Err(PublicError::new(
                ErrorCode::PermissionDenied,
                "bulk actions need the supervisor or admin role",
            )
            .into());
        }
        let r = request.get_ref();
        let filter = filter_from_proto(r.filter.as_ref())?;
        if filter.is_empty() {
            return Err(PublicError::invalid_argument("select conversations: give ids or at least one filter").into());
        }
        let reason = bounded(&r.reason, "reason", 500)?.to_owned();
        let change = match r.action.as_ref() {
            Some(pb::bulk_action_request::Action::Assign(a)) => BulkChange::Assign {
                assignee_id: optional_id(&a.assignee_id, "assign.assignee_id")?,
                team_id: optional_id(&a.team_id, "assign.team_id")?,
                note: bounded(&a.note, "assign.note", 1000)?.to_owned(),
            },
            Some(pb::bulk_action_request::Action::Status(s)) => BulkChange::Status {
                to: pb::ConversationStatus::try_from(*s).ok().and_then(crate::domain::Status::from_proto).ok_or_else(
                    || PublicError::invalid_argument("status must be active, pending, resolved or archived"),
                )?,
                reason,
            },
            Some(pb::bulk_action_request::Action::Priority(p)) => BulkChange::Priority {
                to: pb::Priority::try_from(*p)
                    .ok()
                    .and_then(crate::domain::Priority::from_proto)
                    .ok_or_else(|| PublicError::invalid_argument("priority must be urgent, high, normal or low"))?,
                reason,
            },
            Some(pb::bulk_action_request::Action::Archive(true)) => {
                BulkChange::Status { to: crate::domain::Status::Archived, reason }
            }
            Some(pb::bulk_action_request::Action::Delete(true)) => {
                require_admin(&ctx, "deleting conversations")?;
                BulkChange::Delete
            }
            _ => return Err(PublicError::invalid_argument("an action is required").into()),
        };
        let viewer = viewer_of(&ctx, &request);
        // Ids given: each is reported, found or not (one the caller may not see is not found).
        // A filter: what matches among what the caller sees, up to the cap.
        let ids = if !filter.ids.is_empty()
            && filter == (crate::domain::views::ConversationFilter { ids: filter.ids.clone(), ..Default::default() })
        {
            filter.ids.clone()
        } else {
            self.store.select_conversation_ids(ctx.tenant_id, &filter, &viewer, MAX_FILTER_IDS as i64).await?
        };
        tracing::Span::current().record("selected", ids.len());
        let outcomes = self.store.bulk_change(ctx.tenant_id, &ids, &change, &ctx.principal, &viewer.visibility).await?;
        let mut response = pb::BulkActionResponse::default();
        for (id, outcome) in outcomes {
            match outcome {
                crate::store::BulkOutcome::Changed => response.changed += 1,
                crate::store::BulkOutcome::Unchanged => response.unchanged += 1,
                _ => response.failed += 1,
            }
            let error = match &outcome {
                crate::store::BulkOutcome::Failed(e) => e.clone(),
                crate::store::BulkOutcome::NotFound => "conversation not found".into(),
                _ => String::new(),
            };
            response.results.push(pb::BulkItemResult {
                conversation_id: id.to_string(),
                outcome: outcome.as_str().into(),
                error,
            });
        }
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn mark_read(&self, request: Request<pb::MarkReadRequest>) -> Result<Response<pb::ReadState>, Status> {
        let (ctx, id) = self.person_on_conversation(&request, &request.get_ref().conversation_id).await?;
        let person =
            user_of(&ctx.principal).ok_or_else(|| PublicError::invalid_argument("marking read needs a user"))?;
        let message = parse_id(&request.get_ref().last_read_message_id, "last_read_message_id")?;
        if self.store.get_conversation(ctx.tenant_id, id).await?.is_none() {
            return Err(conversation_not_found().into());
        }
        let read = self.store.mark_read(ctx.tenant_id, id, person, message).await?;
        Ok(Response::new(pb::ReadState {
            conversation_id: read.conversation_id.to_string(),
            last_read_message_id: read.last_read_message_id.to_string(),
            unread: u64::try_from(read.unread).unwrap_or(0),
        }))
    }
}

impl ConversationsApi {
    /// The caller and the conversation a call is about, recorded on the current span;
    /// `not_found` when the caller may not see it.
    async fn on_conversation<T>(
        &self,
        request: &Request<T>,
        conversation_id: &str,
    ) -> Result<(CallContext, Uuid), Status> {
        let ctx = CallContext::of(request)?.clone();
        let id = parse_id(conversation_id, "conversation_id")?;
        let span = tracing::Span::current();
        span.record("tenant_id", tracing::field::display(ctx.tenant_id));
        span.record("conversation_id", tracing::field::display(id));
        ensure_visible(&self.store, &ctx, &viewer_of(&ctx, request), id).await?;
        Ok((ctx, id))
    }

    /// [`Self::on_conversation`] for changes only people make (agents, supervisors, admins).
    async fn person_on_conversation<T>(
        &self,
        request: &Request<T>,
        conversation_id: &str,
    ) -> Result<(CallContext, Uuid), Status> {
        require_person(CallContext::of(request)?)?;
        self.on_conversation(request, conversation_id).await
    }

    /// A page of the conversation's messages, as the caller may read them; a conversation the
    /// caller may not see (or another tenant's) is `not_found`, never an empty page.
    async fn messages_page<T>(
        &self,
        request: &Request<T>,
        conversation_id: &str,
        limit: i64,
        page: HistoryPage,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let (ctx, id) = self.on_conversation(request, conversation_id).await?;
        if self.store.get_conversation(ctx.tenant_id, id).await?.is_none() {
            return Err(conversation_not_found().into());
        }
        let (rows, next) = self.store.list_messages(ctx.tenant_id, id, &viewer_of(&ctx, request), limit, page).await?;
        Ok(Response::new(pb::ListMessagesResponse {
            messages: rows.iter().map(|r| r.to_proto()).collect(),
            next_cursor: next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    /// Stores a person's reply or note (`SendMessage`, and with `guard` `SendGuardedMessage`),
    /// or a service's system message (`SendMessage` by a service of
    /// [`SYSTEM_SENDERS`](super::request::SYSTEM_SENDERS)).
    async fn send<T>(
        &self,
        request: &Request<T>,
        send: &pb::SendMessageRequest,
        guard: Option<&pb::SendGuard>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        if CallContext::of(request)?.role == Role::Service {
            return self.send_system_message(request, send, guard).await;
        }
        let (ctx, id) = self.person_on_conversation(request, &send.conversation_id).await?;
        let key = idempotency_key(&send.idempotency_key)?;
        let content = send.content.clone().ok_or_else(|| PublicError::invalid_argument("content is required"))?;
        let reply = NewReply {
            conversation_id: id,
            author: &ctx.principal,
            content: &content,
            internal_note: send.internal_note,
            idempotency_key: key,
            last_seen: last_seen_of(guard)?,
        };
        let sent = self.store.send_reply(ctx.tenant_id, &reply).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(sent.to_proto()))
    }

    /// A service's message to the customer (the CSAT survey): delivered like a reply, stored as
    /// the system's, and no answer (the status and the Pending timer stay). Never a note, never
    /// guarded.
    async fn send_system_message<T>(
        &self,
        request: &Request<T>,
        send: &pb::SendMessageRequest,
        guard: Option<&pb::SendGuard>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        require_system_sender(CallContext::of(request)?)?;
        if send.internal_note || guard.is_some() {
            return Err(PublicError::invalid_argument("a system message is neither a note nor guarded").into());
        }
        let (ctx, id) = self.on_conversation(request, &send.conversation_id).await?;
        let key = idempotency_key(&send.idempotency_key)?;
        let content = send.content.clone().ok_or_else(|| PublicError::invalid_argument("content is required"))?;
        let message =
            NewSystemMessage { conversation_id: id, sender: &ctx.principal, content: &content, idempotency_key: key };
        let sent = self.store.send_system_message(ctx.tenant_id, &message).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(sent.to_proto()))
    }
}

fn settings_to_proto(s: &TenantSettings) -> pb::TenantSettings {
    pb::TenantSettings {
        time_zone: s.time_zone.name().into(),
        company_name: s.company_name.clone(),
        ai_confidence_threshold: s.ai_confidence_threshold,
        handoff_message: s.handoff_message.clone(),
    }
}

fn priority_rules_to_proto(r: &PriorityRules) -> pb::PriorityRules {
    pb::PriorityRules {
        urgent_keywords: r.urgent_keywords.clone(),
        urgent_segments: r.urgent_segments.clone(),
        first_response_target_seconds: r
            .first_response_target
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
    }
}

fn rules_to_proto(rules: &StatusRules) -> pb::StatusRules {
    pb::StatusRules {
        pending_timeout_seconds: u32::try_from(rules.pending_timeout.as_secs()).unwrap_or(u32::MAX),
        auto_archive_seconds: u32::try_from(rules.auto_archive.as_secs()).unwrap_or(u32::MAX),
        reopen_on_customer_message: rules.reopen_on_customer_message,
    }
}

fn call_to_proto(conversation_id: Uuid, call: &CallSummary, agent: Option<&AgentDisposition>) -> pb::Call {
    let agent_disposition =
        agent.and_then(|a| disposition_from_name(&a.disposition)).unwrap_or(CallDisposition::Unspecified);
    let disposition =
        if agent_disposition == CallDisposition::Unspecified { call.auto_disposition } else { agent_disposition };
    pb::Call {
        call_sid: call.call_sid.clone(),
        conversation_id: conversation_id.to_string(),
        from: call.from.clone(),
        to: call.to.clone(),
        started_at: Some(inbox_proto::timestamp_from(call.started_at)),
        duration_seconds: call.duration_seconds,
        auto_disposition: call.auto_disposition as i32,
        agent_disposition: agent_disposition as i32,
        disposition: disposition as i32,
        disposition_set_by: agent.map(|a| a.set_by.clone()).unwrap_or_default(),
        disposition_set_at: agent.map(|a| inbox_proto::timestamp_from(a.set_at)),
        recordings: call.recordings.clone(),
        transcripts: call.transcripts.clone(),
        message_ids: call.message_ids.iter().map(Uuid::to_string).collect(),
    }
}
