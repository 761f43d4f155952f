//! `inbox.conversation.v1.Templates`.

use std::collections::HashMap;

use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::{MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::error::conversation_not_found;
use super::request::{idempotency_key, last_seen_of, parse_id, require_person};
use super::scope::viewer_of;
use crate::domain::templates::{self, BuiltIns, TemplateBody, TemplateName};
use crate::store::{ConversationStore, CreatedTemplate, MAX_TEMPLATES_LISTED, NewReply, UpdatedTemplate, Viewer};

pub struct TemplatesApi {
    pub store: ConversationStore,
}

/// Longest agent name the gateway may pass for `{{agent_name}}`, in characters.
const MAX_AGENT_NAME_CHARS: usize = 200;

/// The calling person; every template call is made by one of the tenant's people.
fn person<T>(request: &Request<T>) -> Result<CallContext, Status> {
    let ctx = CallContext::of(request)?.clone();
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    require_person(&ctx)?;
    Ok(ctx)
}

/// Templates speak for the whole team: supervisors and admins curate them, agents use them.
fn require_template_editor(ctx: &CallContext) -> Result<(), Status> {
    if matches!(ctx.role, Role::Supervisor | Role::Admin) {
        Ok(())
    } else {
        Err(PublicError::new(
            ErrorCode::PermissionDenied,
            "creating, editing and deleting templates needs the supervisor or admin role",
        )
        .into())
    }
}

fn name_taken(name: &TemplateName) -> PublicError {
    PublicError::new(ErrorCode::AlreadyExists, format!("a template named '{}' already exists", name.as_str()))
}

fn template_not_found() -> PublicError {
    PublicError::not_found("template not found")
}

impl TemplatesApi {
    /// The tenant's template filled in for one of its conversations `viewer` may see.
    async fn render_for(
        &self,
        ctx: &CallContext,
        viewer: &Viewer,
        template_id: &str,
        conversation_id: Uuid,
        agent_name: &str,
        given: &HashMap<String, String>,
    ) -> Result<String, Status> {
        let template_id = parse_id(template_id, "template_id")?;
        if agent_name.chars().count() > MAX_AGENT_NAME_CHARS {
            return Err(PublicError::invalid_argument(format!(
                "agent_name must be at most {MAX_AGENT_NAME_CHARS} characters"
            ))
            .into());
        }
        templates::check_given_values(given).map_err(PublicError::invalid_argument)?;
        let template = self.store.get_template(ctx.tenant_id, template_id).await?.ok_or_else(template_not_found)?;
        let conversation = self
            .store
            .visible_conversation(ctx.tenant_id, conversation_id, viewer)
            .await?
            .ok_or_else(conversation_not_found)?;
        let settings = self.store.tenant_settings(ctx.tenant_id).await?;
        let (name, body) = template.parsed().map_err(|e| {
            tracing::error!(error = %e, template_id = %template.id, "a stored template does not parse");
            Status::from(PublicError::internal())
        })?;
        let customer_name = if conversation.contact_name.trim().is_empty() {
            &conversation.customer_address
        } else {
            &conversation.contact_name
        };
        let built_ins = BuiltIns {
            customer_name,
            agent_name,
            company_name: &settings.company_name,
            now: self.store.now(),
            time_zone: settings.time_zone,
        };
        templates::render(&name, &body, &built_ins, given)
            .map_err(|e| PublicError::invalid_argument(e.to_string()).into())
    }
}

#[tonic::async_trait]
impl pb::templates_server::Templates for TemplatesApi {
    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn create_template(
        &self,
        request: Request<pb::CreateTemplateRequest>,
    ) -> Result<Response<pb::CreateTemplateResponse>, Status> {
        let ctx = person(&request)?;
        require_template_editor(&ctx)?;
        let r = request.get_ref();
        let name = TemplateName::parse(&r.name).map_err(PublicError::invalid_argument)?;
        let body = TemplateBody::parse(&r.body).map_err(PublicError::invalid_argument)?;
        let (row, created) = match self.store.create_template(ctx.tenant_id, &name, &body, &ctx.principal).await? {
            CreatedTemplate::Created(row) => (row, true),
            CreatedTemplate::Existing(row) => (row, false),
            CreatedTemplate::NameTaken => return Err(name_taken(&name).into()),
        };
        Ok(Response::new(pb::CreateTemplateResponse { template: Some(row.to_proto()), created }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn get_template(&self, request: Request<pb::GetTemplateRequest>) -> Result<Response<pb::Template>, Status> {
        let ctx = person(&request)?;
        let id = parse_id(&request.get_ref().template_id, "template_id")?;
        let row = self.store.get_template(ctx.tenant_id, id).await?.ok_or_else(template_not_found)?;
        Ok(Response::new(row.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn update_template(
        &self,
        request: Request<pb::UpdateTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        let ctx = person(&request)?;
        require_template_editor(&ctx)?;
        let r = request.get_ref();
        let id = parse_id(&r.template_id, "template_id")?;
        if r.name.is_none() && r.body.is_none() {
            return Err(PublicError::invalid_argument("give a name or a body to change").into());
        }
        let name = r.name.as_deref().map(TemplateName::parse).transpose().map_err(PublicError::invalid_argument)?;
        let body = r.body.as_deref().map(TemplateBody::parse).transpose().map_err(PublicError::invalid_argument)?;
        match self.store.update_template(ctx.tenant_id, id, name.as_ref(), body.as_ref()).await? {
            UpdatedTemplate::Updated(row) => Ok(Response::new(row.to_proto())),
            UpdatedTemplate::NotFound => Err(template_not_found().into()),
            // Only a new name can conflict.
            UpdatedTemplate::NameTaken => Err(name.as_ref().map_or_else(template_not_found, name_taken).into()),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn delete_template(
        &self,
        request: Request<pb::DeleteTemplateRequest>,
    ) -> Result<Response<pb::DeleteTemplateResponse>, Status> {
        let ctx = person(&request)?;
        require_template_editor(&ctx)?;
        let id = parse_id(&request.get_ref().template_id, "template_id")?;
        let deleted = self.store.delete_template(ctx.tenant_id, id).await?;
        Ok(Response::new(pb::DeleteTemplateResponse { deleted }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        let ctx = person(&request)?;
        let r = request.get_ref();
        let limit = if r.limit == 0 { MAX_TEMPLATES_LISTED } else { i64::from(r.limit) };
        if limit > MAX_TEMPLATES_LISTED {
            return Err(PublicError::invalid_argument(format!("limit must be at most {MAX_TEMPLATES_LISTED}")).into());
        }
        let query = templates::search_query(&r.query);
        if query.chars().count() > templates::MAX_NAME_CHARS {
            return Err(PublicError::invalid_argument(format!(
                "query must be at most {} characters",
                templates::MAX_NAME_CHARS
            ))
            .into());
        }
        let rows = self.store.list_templates(ctx.tenant_id, &query, limit).await?;
        Ok(Response::new(pb::ListTemplatesResponse { templates: rows.iter().map(|t| t.to_proto()).collect() }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn render_template(
        &self,
        request: Request<pb::RenderTemplateRequest>,
    ) -> Result<Response<pb::RenderTemplateResponse>, Status> {
        let ctx = person(&request)?;
        let r = request.get_ref();
        let conversation_id = parse_id(&r.conversation_id, "conversation_id")?;
        tracing::Span::current().record("conversation_id", tracing::field::display(conversation_id));
        let viewer = viewer_of(&ctx, &request);
        let text = self.render_for(&ctx, &viewer, &r.template_id, conversation_id, &r.agent_name, &r.variables).await?;
        Ok(Response::new(pb::RenderTemplateResponse { text }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn send_template_message(
        &self,
        request: Request<pb::SendTemplateMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let ctx = person(&request)?;
        let r = request.get_ref();
        let conversation_id = parse_id(&r.conversation_id, "conversation_id")?;
        tracing::Span::current().record("conversation_id", tracing::field::display(conversation_id));
        let key = idempotency_key(&r.idempotency_key)?;
        let last_seen = last_seen_of(r.guard.as_ref())?;
        // Rendered before anything is stored: an unfilled variable leaves no trace. Rendering
        // reads the conversation as the caller may see it: one they may not see is not found.
        let viewer = viewer_of(&ctx, &request);
        let text = self.render_for(&ctx, &viewer, &r.template_id, conversation_id, &r.agent_name, &r.variables).await?;
        let content = MessageContent { kind: Some(Kind::Text(TextContent { body: text })), reply_to: None };
        let reply = NewReply {
            conversation_id,
            author: &ctx.principal,
            content: &content,
            internal_note: false,
            idempotency_key: key,
            last_seen,
        };
        let sent = self.store.send_reply(ctx.tenant_id, &reply).await?.ok_or_else(conversation_not_found)?;
        Ok(Response::new(sent.to_proto()))
    }
}
