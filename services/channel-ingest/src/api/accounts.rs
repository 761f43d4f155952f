//! `inbox.ingest.v1.ChannelAccounts`: channel accounts of the calling tenant. Secrets go in,
//! never out.

use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::ingest::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};

use crate::ids::parse_id;
use crate::store::{ChannelAccount, IngestStore, NewTwilioAccount, NewWhatsAppAccount, NewWidget, Widget};
use crate::twilio::rest::{RestError, TwilioRest};
use crate::twilio::voice_config::{TwilioConfig, VoiceConfig, is_account_sid, is_e164};
use crate::whatsapp::graph::{GraphClient, OwnershipError};

pub struct ChannelAccountsApi {
    pub store: IngestStore,
    /// Asks Twilio whether an account owns a number before it is connected; `None` when
    /// `twilio.verify_numbers` is off.
    pub twilio_verifier: Option<TwilioRest>,
    /// Asks the Graph API whether a WhatsApp number belongs to the given business account
    /// before it is connected; `None` when `whatsapp.verify_numbers` is off.
    pub graph_verifier: Option<GraphClient>,
}

fn to_proto(account: &ChannelAccount) -> pb::WhatsAppAccount {
    pb::WhatsAppAccount {
        id: account.id.to_string(),
        tenant_id: account.tenant_id.to_string(),
        phone_number_id: account.external_id.clone(),
        display_phone_number: account.display_name.clone(),
        has_app_secret: !account.app_secret.is_empty(),
        has_access_token: !account.access_token.is_empty(),
        business_account_id: account.config["business_account_id"].as_str().unwrap_or_default().to_owned(),
    }
}

fn twilio_to_proto(account: &ChannelAccount) -> pb::TwilioAccount {
    let config = TwilioConfig::of(&account.config);
    pb::TwilioAccount {
        id: account.id.to_string(),
        tenant_id: account.tenant_id.to_string(),
        account_sid: config.account_sid,
        phone_number: account.external_id.clone(),
        has_auth_token: !account.app_secret.is_empty(),
        config: Some(config.voice.to_proto()),
    }
}

fn require_admin(ctx: &CallContext) -> Result<(), Status> {
    if matches!(ctx.role, Role::Admin | Role::Operator) {
        Ok(())
    } else {
        Err(PublicError::new(ErrorCode::PermissionDenied, "managing channel accounts needs the admin role").into())
    }
}

#[tonic::async_trait]
impl pb::channel_accounts_server::ChannelAccounts for ChannelAccountsApi {
    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn create_whats_app_account(
        &self,
        request: Request<pb::CreateWhatsAppAccountRequest>,
    ) -> Result<Response<pb::WhatsAppAccount>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        require_admin(&ctx)?;
        let r = request.get_ref();
        let missing: Vec<&str> = [
            ("phone_number_id", r.phone_number_id.as_str()),
            ("app_secret", r.app_secret.as_str()),
            ("verify_token", r.verify_token.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(k, _)| k)
        .collect();
        if !missing.is_empty() {
            return Err(PublicError::invalid_argument(format!("required: {}", missing.join(", "))).into());
        }
        if !r.phone_number_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(PublicError::invalid_argument("phone_number_id must be digits, as Meta issues it").into());
        }
        if !r.business_account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(PublicError::invalid_argument("business_account_id must be digits, as Meta issues it").into());
        }
        let mut display_phone_number = r.display_phone_number.clone();
        if let Some(graph) = &self.graph_verifier {
            // The first tenant to connect a number owns it here: only with proof from Meta.
            if r.business_account_id.is_empty() || r.access_token.trim().is_empty() {
                return Err(PublicError::invalid_argument(
                    "required to prove the number is yours: business_account_id (the WhatsApp Business Account id) and access_token",
                )
                .into());
            }
            match graph.number_of_business(&r.phone_number_id, &r.business_account_id, r.access_token.trim()).await {
                Ok(number) => {
                    if display_phone_number.trim().is_empty() {
                        display_phone_number = number.display_phone_number;
                    }
                }
                Err(OwnershipError::Refused(reason)) => {
                    return Err(PublicError::invalid_argument(format!(
                        "Meta did not confirm this phone_number_id and business account with this access token: {}",
                        crate::redact::phone_numbers(&reason)
                    ))
                    .into());
                }
                Err(OwnershipError::NotInBusiness) => {
                    return Err(PublicError::invalid_argument(
                        "this phone_number_id is not a number of the given WhatsApp Business Account",
                    )
                    .into());
                }
                Err(OwnershipError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "graph api number check failed");
                    return Err(PublicError::unavailable("Meta could not be asked about the number; retry").into());
                }
            }
        }
        let account = self
            .store
            .upsert_whatsapp_account(
                ctx.tenant_id,
                &NewWhatsAppAccount {
                    phone_number_id: &r.phone_number_id,
                    display_phone_number: &display_phone_number,
                    app_secret: &r.app_secret,
                    verify_token: &r.verify_token,
                    access_token: &r.access_token,
                    business_account_id: &r.business_account_id,
                },
            )
            .await?;
        tracing::info!(account_id = %account.id, phone_number_id = %account.external_id, "whatsapp account saved");
        Ok(Response::new(to_proto(&account)))
    }

    async fn list_whats_app_accounts(
        &self,
        request: Request<pb::ListWhatsAppAccountsRequest>,
    ) -> Result<Response<pb::ListWhatsAppAccountsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx)?;
        let accounts = self.store.list_whatsapp_accounts(ctx.tenant_id).await?;
        Ok(Response::new(pb::ListWhatsAppAccountsResponse { accounts: accounts.iter().map(to_proto).collect() }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn create_twilio_account(
        &self,
        request: Request<pb::CreateTwilioAccountRequest>,
    ) -> Result<Response<pb::TwilioAccount>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        require_admin(&ctx)?;
        let r = request.get_ref();
        let account_sid = r.account_sid.trim();
        let phone_number = r.phone_number.trim();
        if !is_account_sid(account_sid) {
            return Err(
                PublicError::invalid_argument("account_sid must be a Twilio Account SID (AC + 32 hex digits)").into()
            );
        }
        if !is_e164(phone_number) {
            return Err(PublicError::invalid_argument("phone_number must be in E.164 (+ and digits)").into());
        }
        if r.auth_token.trim().is_empty() {
            return Err(PublicError::invalid_argument("required: auth_token").into());
        }
        let voice = VoiceConfig::from_proto(&r.config.clone().unwrap_or_default())
            .map_err(|e| Status::from(PublicError::invalid_argument(e)))?;
        if let Some(twilio) = &self.twilio_verifier {
            // The first tenant to connect a number owns it here: only with proof from Twilio.
            match twilio.owns_number(account_sid, r.auth_token.trim(), phone_number).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(PublicError::invalid_argument(
                        "the Twilio account of these credentials has no such number",
                    )
                    .into());
                }
                Err(RestError::Refused { code, message }) => {
                    return Err(PublicError::invalid_argument(format!(
                        "Twilio refused these credentials ({code}): {}",
                        crate::redact::phone_numbers(&message)
                    ))
                    .into());
                }
                Err(RestError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "twilio number check failed");
                    return Err(PublicError::unavailable("Twilio could not be asked about the number; retry").into());
                }
            }
        }
        let config = TwilioConfig { account_sid: account_sid.to_owned(), voice };
        let config = serde_json::to_value(&config).map_err(|e| {
            tracing::error!(error = %e, "twilio config does not serialise");
            Status::from(PublicError::internal())
        })?;
        let account = self
            .store
            .upsert_twilio_account(
                ctx.tenant_id,
                &NewTwilioAccount { phone_number, auth_token: r.auth_token.trim(), config },
            )
            .await?;
        tracing::info!(account_id = %account.id, phone_number = %account.external_id, "twilio account saved");
        Ok(Response::new(twilio_to_proto(&account)))
    }

    async fn list_twilio_accounts(
        &self,
        request: Request<pb::ListTwilioAccountsRequest>,
    ) -> Result<Response<pb::ListTwilioAccountsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx)?;
        let accounts = self.store.list_twilio_accounts(ctx.tenant_id).await?;
        Ok(Response::new(pb::ListTwilioAccountsResponse { accounts: accounts.iter().map(twilio_to_proto).collect() }))
    }

    async fn create_webchat_widget(
        &self,
        request: Request<pb::CreateWebchatWidgetRequest>,
    ) -> Result<Response<pb::WebchatWidget>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        Ok(Response::new(self.create_widget(&ctx, request.get_ref()).await?))
    }

    async fn list_webchat_widgets(
        &self,
        request: Request<pb::ListWebchatWidgetsRequest>,
    ) -> Result<Response<pb::ListWebchatWidgetsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx)?;
        let widgets = self.store.list_widgets(ctx.tenant_id).await?;
        Ok(Response::new(pb::ListWebchatWidgetsResponse { widgets: widgets.iter().map(widget_to_proto).collect() }))
    }

    async fn update_webchat_widget(
        &self,
        request: Request<pb::UpdateWebchatWidgetRequest>,
    ) -> Result<Response<pb::WebchatWidget>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx)?;
        let r = request.get_ref();
        let id = parse_id("widget_id", &r.widget_id)?;
        let settings = WidgetSettings::of(&r.settings.clone().unwrap_or_default())?;
        let widget = self.store.update_widget(ctx.tenant_id, id, &settings.as_new()).await?;
        tracing::info!(account_id = %widget.id, "web chat widget updated");
        Ok(Response::new(widget_to_proto(&widget)))
    }

    async fn delete_webchat_widget(
        &self,
        request: Request<pb::DeleteWebchatWidgetRequest>,
    ) -> Result<Response<pb::WebchatWidget>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require_admin(&ctx)?;
        let id = parse_id("widget_id", &request.get_ref().widget_id)?;
        let widget = self.store.delete_widget(ctx.tenant_id, id).await?;
        tracing::info!(account_id = %widget.id, "web chat widget deleted");
        Ok(Response::new(widget_to_proto(&widget)))
    }
}

fn widget_to_proto(widget: &Widget) -> pb::WebchatWidget {
    pb::WebchatWidget {
        id: widget.id.to_string(),
        tenant_id: widget.tenant_id.to_string(),
        name: widget.name.clone(),
        widget_key: widget.widget_key.clone(),
        allowed_origins: widget.allowed_origins.clone(),
        greeting: widget.greeting.clone(),
        color: widget.color.clone(),
    }
}

/// `https://host[:port]` exactly as a browser sends it in `Origin` (lowercase, no path).
fn parse_origin(origin: &str) -> Result<String, Status> {
    let origin = origin.trim().to_ascii_lowercase();
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    let valid = rest.is_some_and(|host| {
        !host.is_empty()
            && host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    });
    if !valid {
        return Err(PublicError::invalid_argument(format!(
            "allowed origin {origin:?} must look like https://shop.example.com (scheme and host, optional port, no path)"
        ))
        .into());
    }
    Ok(origin)
}

impl ChannelAccountsApi {
    pub(crate) async fn create_widget(
        &self,
        ctx: &CallContext,
        r: &pb::CreateWebchatWidgetRequest,
    ) -> Result<pb::WebchatWidget, Status> {
        require_admin(ctx)?;
        let settings = WidgetSettings::of(r)?;
        let widget = self.store.create_widget(ctx.tenant_id, &settings.as_new()).await?;
        tracing::info!(account_id = %widget.id, "web chat widget created");
        Ok(widget_to_proto(&widget))
    }
}

/// A widget's settings, checked.
struct WidgetSettings {
    name: String,
    origins: Vec<String>,
    greeting: String,
    color: String,
}

impl WidgetSettings {
    fn of(r: &pb::CreateWebchatWidgetRequest) -> Result<Self, Status> {
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(PublicError::invalid_argument("name: 1 to 100 characters").into());
        }
        if r.allowed_origins.is_empty() || r.allowed_origins.len() > 50 {
            return Err(PublicError::invalid_argument("allowed_origins: 1 to 50 origins").into());
        }
        let origins = r.allowed_origins.iter().map(|o| parse_origin(o)).collect::<Result<Vec<_>, _>>()?;
        if r.greeting.chars().count() > 500 {
            return Err(PublicError::invalid_argument("greeting: at most 500 characters").into());
        }
        let color = if r.color.is_empty() { "#2563eb" } else { r.color.as_str() };
        if color.len() != 7 || !color.starts_with('#') || !color[1..].chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(PublicError::invalid_argument("color: #rrggbb").into());
        }
        Ok(Self { name: name.to_owned(), origins, greeting: r.greeting.trim().to_owned(), color: color.to_owned() })
    }

    fn as_new(&self) -> NewWidget<'_> {
        NewWidget { name: &self.name, allowed_origins: &self.origins, greeting: &self.greeting, color: &self.color }
    }
}
