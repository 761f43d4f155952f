//! `inbox.ingest.v1.WebchatVisitors`: what the inbox shows about a web chat visitor, scoped to
//! the calling tenant.

use inbox_errors::PublicError;
use inbox_proto::ingest::v1 as pb;
use inbox_service::CallContext;
use tonic::{Request, Response, Status};

use crate::ids::parse_id;
use crate::store::IngestStore;

/// Page views of a visitor's session history the inbox sees.
pub const PAGES_LIMIT: i64 = 100;

/// `inbox.ingest.v1.WebchatVisitors`: what the inbox shows about a web chat visitor.
pub struct WebchatVisitorsApi {
    pub store: IngestStore,
}

#[tonic::async_trait]
impl pb::webchat_visitors_server::WebchatVisitors for WebchatVisitorsApi {
    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn get_webchat_visitor(
        &self,
        request: Request<pb::GetWebchatVisitorRequest>,
    ) -> Result<Response<pb::WebchatVisitor>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let r = request.get_ref();
        let account_id = parse_id("channel_account_id", &r.channel_account_id)?;
        let visitor_id = parse_id("visitor_id", &r.visitor_id)?;
        let visitor = self
            .store
            .visitor_of_tenant(ctx.tenant_id, account_id, visitor_id)
            .await?
            .ok_or_else(|| Status::from(PublicError::not_found("no such visitor")))?;
        let pages = self.store.page_views(visitor.id, PAGES_LIMIT).await?;
        Ok(Response::new(pb::WebchatVisitor {
            visitor_id: visitor.id.to_string(),
            browser: crate::webchat::visitor_input::browser_of(&visitor.user_agent),
            name: visitor.name,
            email: visitor.email,
            user_agent: visitor.user_agent,
            locale: visitor.locale,
            first_seen_at: Some(inbox_proto::timestamp_from(visitor.created_at)),
            last_seen_at: Some(inbox_proto::timestamp_from(visitor.last_seen_at)),
            pages: pages
                .into_iter()
                .map(|p| pb::PageView {
                    url: p.url,
                    title: p.title,
                    referrer: p.referrer,
                    at: Some(inbox_proto::timestamp_from(p.at)),
                })
                .collect(),
        }))
    }
}
