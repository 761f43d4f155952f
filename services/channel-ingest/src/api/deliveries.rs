//! `inbox.ingest.v1.ChannelDeliveries`: delivery states, media from the provider, and replay
//! of archived payloads. Every call is scoped to the calling tenant.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::ingest::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::ids::parse_id;
use crate::replay::replay_archived;
use crate::store::{ChannelAccount, IngestStore, REPLAY_PAGE, ReplayFilter};
use crate::twilio::rest::{NewCall, RestError, TwilioRest};
use crate::twilio::twiml::CallbackUrls;
use crate::twilio::voice_config::{TwilioConfig, is_e164};
use crate::whatsapp::graph::{GraphClient, MediaError};

pub struct ChannelDeliveriesApi {
    pub store: IngestStore,
    pub bus: inbox_bus::Bus,
    pub graph: GraphClient,
    pub twilio: TwilioRest,
    /// Our public base URL as Twilio calls it (no trailing slash).
    pub twilio_public_base_url: String,
}

/// At most this many message ids per call (a page of messages).
const MAX_IDS: usize = 500;

type MediaStream = Pin<Box<dyn Stream<Item = Result<pb::MediaChunk, Status>> + Send>>;

/// A provider's download as chunks: the first carries the type and size, the rest the bytes.
fn media_stream(mime_type: String, size_bytes: u64, body: hyper::body::Incoming) -> MediaStream {
    let head = pb::MediaChunk { mime_type, size_bytes, data: Vec::new() };
    let body = http_body_util::BodyStream::new(body).filter_map(|frame| async move {
        match frame {
            Ok(frame) => {
                frame.into_data().ok().map(|data| Ok(pb::MediaChunk { data: data.to_vec(), ..Default::default() }))
            }
            Err(e) => Some(Err(PublicError::unavailable(format!("media download broke off: {e}")).into())),
        }
    });
    Box::pin(futures::stream::once(async move { Ok(head) }).chain(body))
}

#[tonic::async_trait]
impl pb::channel_deliveries_server::ChannelDeliveries for ChannelDeliveriesApi {
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let ids = &request.get_ref().message_ids;
        if ids.len() > MAX_IDS {
            return Err(PublicError::invalid_argument(format!("at most {MAX_IDS} message ids")).into());
        }
        // Ids that are not ids name no delivery: left out like unknown ones.
        let ids: Vec<Uuid> = ids.iter().filter_map(|id| parse_id("message_ids", id).ok()).collect();
        let rows = self.store.deliveries(ctx.tenant_id, &ids).await?;
        Ok(Response::new(pb::ListDeliveriesResponse { deliveries: rows.iter().map(|r| r.to_proto()).collect() }))
    }

    type FetchMediaStream = MediaStream;

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn fetch_media(
        &self,
        request: Request<pb::FetchMediaRequest>,
    ) -> Result<Response<Self::FetchMediaStream>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        let r = request.get_ref();
        let account_id = parse_id("channel_account_id", &r.channel_account_id)?;
        if r.media_id.is_empty()
            || r.media_id.len() > 200
            || !r.media_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(PublicError::invalid_argument("media_id is not a provider media id").into());
        }
        let account = self
            .store
            .account_of_tenant(ctx.tenant_id, account_id)
            .await?
            .ok_or_else(|| PublicError::not_found("no such channel account"))?;
        let media_error = |e: MediaError| -> Status {
            tracing::warn!(error = %e, "media fetch failed");
            let redact = |m: String| crate::redact::phone_numbers(&m);
            match e {
                MediaError::NotFound(m) => PublicError::not_found(redact(m)).into(),
                MediaError::Refused(m) => PublicError::new(ErrorCode::Conflict, redact(m)).into(),
                MediaError::Unavailable(m) => PublicError::unavailable(redact(m)).into(),
            }
        };
        if account.channel == "telephony" {
            // A call recording, by its RecordingSid, with the number's Twilio credentials.
            let config = TwilioConfig::of(&account.config);
            let download = self
                .twilio
                .download_recording(&config.account_sid, &account.app_secret, &r.media_id)
                .await
                .map_err(media_error)?;
            let mime_type = download.content_type.unwrap_or_else(|| "audio/mpeg".to_owned());
            return Ok(Response::new(media_stream(mime_type, 0, download.body)));
        }
        let info = self.graph.media_info(&r.media_id, &account.access_token).await.map_err(media_error)?;
        let download = self.graph.download(&info.url, &account.access_token).await.map_err(media_error)?;
        let mime_type =
            if info.mime_type.is_empty() { download.content_type.unwrap_or_default() } else { info.mime_type.clone() };
        Ok(Response::new(media_stream(mime_type, info.size(), download.body)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn replay_raw_payloads(
        &self,
        request: Request<pb::ReplayRawPayloadsRequest>,
    ) -> Result<Response<pb::ReplayRawPayloadsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        if !matches!(ctx.role, Role::Admin | Role::Operator) {
            return Err(PublicError::new(ErrorCode::PermissionDenied, "replaying payloads needs the admin role").into());
        }
        let r = request.get_ref();
        let ids = r.raw_payload_ids.iter().map(|id| parse_id("raw_payload_ids", id)).collect::<Result<Vec<_>, _>>()?;
        let from = r.received_from.as_ref().and_then(inbox_proto::timestamp_to_utc);
        let until = r.received_until.as_ref().and_then(inbox_proto::timestamp_to_utc);
        if ids.is_empty() && from.is_none() && !r.only_unpublished {
            return Err(PublicError::invalid_argument("name payload ids, a start time, or only_unpublished").into());
        }
        let filter = ReplayFilter { ids, from, until, only_unpublished: r.only_unpublished };
        let mut answer = pb::ReplayRawPayloadsResponse::default();
        // Page by page: one page of bodies in memory at a time, each page marked published
        // in one statement once replayed.
        let mut accounts: HashMap<Uuid, Option<ChannelAccount>> = HashMap::new();
        let mut after = None;
        loop {
            let page = self.store.archived_payload_page(ctx.tenant_id, &filter, after).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.received_at, last.id));
            let mut replayed_ids = Vec::with_capacity(page.len());
            for payload in &page {
                if let Entry::Vacant(slot) = accounts.entry(payload.account_id) {
                    slot.insert(self.store.account_of_tenant(ctx.tenant_id, payload.account_id).await?);
                }
                let Some(Some(account)) = accounts.get(&payload.account_id) else { continue };
                let replayed = match replay_archived(&self.store, &self.bus, account, payload).await {
                    Ok(replayed) => replayed,
                    Err(e) => {
                        tracing::warn!(raw_payload_id = %payload.id, "replay stopped at this payload");
                        self.store.mark_all_published(&replayed_ids).await?;
                        return Err(PublicError::from(e).into());
                    }
                };
                let Some(replayed) = replayed else { continue };
                answer.messages += u32::try_from(replayed.messages).unwrap_or(u32::MAX);
                answer.statuses += u32::try_from(replayed.statuses).unwrap_or(u32::MAX);
                replayed_ids.push(payload.id);
                answer.payloads += 1;
            }
            self.store.mark_all_published(&replayed_ids).await?;
            if page.len() < usize::try_from(REPLAY_PAGE).unwrap_or(usize::MAX) {
                break;
            }
        }
        tracing::info!(payloads = answer.payloads, messages = answer.messages, "archived payloads replayed");
        Ok(Response::new(answer))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn start_call(
        &self,
        request: Request<pb::StartCallRequest>,
    ) -> Result<Response<pb::StartCallResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        if !matches!(ctx.role, Role::Agent | Role::Supervisor | Role::Admin) {
            return Err(PublicError::new(ErrorCode::PermissionDenied, "only the tenant's people place calls").into());
        }
        let r = request.get_ref();
        let account_id = parse_id("channel_account_id", &r.channel_account_id)?;
        let account = self
            .store
            .account_of_tenant(ctx.tenant_id, account_id)
            .await?
            .filter(|a| a.channel == "telephony")
            .ok_or_else(|| PublicError::not_found("no such twilio number"))?;
        let config = TwilioConfig::of(&account.config);
        let agent = if r.agent_number.is_empty() {
            config.voice.agent_numbers.first().cloned().unwrap_or_default()
        } else {
            r.agent_number.clone()
        };
        // Only the agents' phones configured on the number: the call is billed to the tenant and
        // shows the company's number, so nobody dials an arbitrary line through it.
        if !config.voice.agent_numbers.contains(&agent) {
            // Never listing them: they are colleagues' own phones.
            let message = if config.voice.agent_numbers.is_empty() {
                "this number has no agent numbers to ring; add one to its configuration"
            } else {
                "agent_number is not one of this number's agent numbers"
            };
            return Err(PublicError::invalid_argument(message).into());
        }
        if !is_e164(&r.customer_number) {
            return Err(
                PublicError::invalid_argument("the customer's number is not in E.164; it cannot be called").into()
            );
        }
        let urls = CallbackUrls::new(&self.twilio_public_base_url, &account.external_id, &r.customer_number);
        let created = self
            .twilio
            .create_call(&NewCall {
                account_sid: &config.account_sid,
                auth_token: &account.app_secret,
                from: &account.external_id,
                to: &agent,
                url: &urls.connect(),
                status_callback: &urls.status(),
                timeout: config.voice.ring_timeout_seconds,
            })
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "click-to-call failed");
                // Twilio's words quote the numbers it was given: passed on without them.
                let reason = crate::redact::phone_numbers(&e.to_string());
                match e {
                    RestError::Refused { .. } => Status::from(PublicError::new(ErrorCode::Conflict, reason)),
                    RestError::Unavailable(_) => Status::from(PublicError::unavailable(reason)),
                }
            })?;
        tracing::info!(call_sid = %created.sid, "click-to-call placed");
        Ok(Response::new(pb::StartCallResponse { call_sid: created.sid, status: created.status }))
    }
}
