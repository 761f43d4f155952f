//! inboxctl: administer an inbox deployment through the gateway's admin API.
//! Non-interactive; `--json` prints machine-readable output. Authenticates with the operator
//! token (`INBOX_OPERATOR_TOKEN`, or the file `INBOX_OPERATOR_TOKEN_FILE` names); every call has
//! a 30 s timeout.

mod access;
mod fleet;
mod metrics;
mod notification;
mod search;
mod visibility;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

#[derive(Parser)]
#[command(name = "inboxctl", version, about = "Administer an inbox deployment")]
struct Cli {
    /// Base URL of the gateway.
    #[arg(long, env = "INBOX_GATEWAY_URL", default_value = "http://127.0.0.1:8080", global = true)]
    gateway_url: String,
    /// A file holding the deployment's operator token (a mounted Secret), read when
    /// `INBOX_OPERATOR_TOKEN` is not set. The token itself is never taken on the command line,
    /// where `ps` and shell history would show it.
    #[arg(long, env = "INBOX_OPERATOR_TOKEN_FILE", global = true)]
    operator_token_file: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Agents (users) of a tenant, with their routing profile.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Teams, their routing policy and members.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Tokens for existing users.
    #[command(subcommand)]
    Token(TokenCommand),
    /// People's passwords, disabling and sessions.
    #[command(subcommand)]
    User(access::UserCommand),
    /// API keys for machines (the AI agent, integrations).
    #[command(subcommand)]
    ApiKey(access::ApiKeyCommand),
    /// WhatsApp Cloud API numbers.
    #[command(subcommand)]
    Whatsapp(WhatsappCommand),
    /// Twilio Programmable Voice numbers.
    #[command(subcommand)]
    Twilio(TwilioCommand),
    /// Web chat widgets (the embeddable website chat).
    #[command(subcommand)]
    Webchat(WebchatCommand),
    /// Metrics: rebuild a tenant's figures from the conversation history.
    #[command(subcommand)]
    Metrics(metrics::MetricsCommand),
    /// Outbound webhook endpoints, their delivery log and replay.
    #[command(subcommand)]
    Webhook(notification::WebhookCommand),
    /// SLA policies, warning share and business hours.
    #[command(subcommand)]
    Sla(notification::SlaCommand),
    /// The search index: rebuild it from the conversation service, read its status.
    #[command(subcommand)]
    Search(search::SearchCommand),
    /// The fleet's own users on NATS and Redis: the server configuration that grants each
    /// service its subjects and keys only.
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
}

#[derive(Subcommand)]
enum TwilioCommand {
    /// Connect a Twilio number to a tenant (or reconfigure it).
    Add(TwilioAccountArgs),
    /// List a tenant's Twilio numbers (auth tokens are never shown).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Play a missed call that leaves a voicemail with a transcript against channel-ingest,
    /// every callback signed as Twilio signs it (voice, dial no-answer, recording,
    /// transcription, completed).
    SendTestVoicemail {
        /// Base URL of channel-ingest.
        #[arg(long, env = "INBOX_INGEST_URL", default_value = "http://127.0.0.1:8081")]
        ingest_url: String,
        /// The URL Twilio would call (INBOX__TWILIO__PUBLIC_BASE_URL); default: --ingest-url.
        #[arg(long)]
        public_base_url: Option<String>,
        #[arg(long)]
        account_sid: String,
        #[arg(long, env = "INBOX_TWILIO_AUTH_TOKEN", hide_env_values = true)]
        auth_token: String,
        /// The connected number that is called (E.164).
        #[arg(long)]
        to: String,
        /// The caller (E.164).
        #[arg(long, default_value = "+15551230002")]
        from: String,
        #[arg(long, default_value = "Hi, this is Ana, please call me back about my order.")]
        text: String,
    },
    /// Process archived Twilio callbacks again (idempotent: nothing is stored twice). Name
    /// payload ids, or a start time, or `--only-unpublished`.
    Replay(ReplayArgs),
}

#[derive(Args)]
struct TwilioAccountArgs {
    #[arg(long)]
    tenant: String,
    /// Twilio Account SID (AC...).
    #[arg(long)]
    account_sid: String,
    /// Auth token (checks X-Twilio-Signature).
    #[arg(long, env = "INBOX_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    auth_token: String,
    /// The number customers call, E.164.
    #[arg(long)]
    phone_number: String,
    /// An agent's number to ring, E.164 (repeatable; rung at once).
    #[arg(long = "agent-number")]
    agent_numbers: Vec<String>,
    /// Queue callers in this Twilio queue instead of ringing numbers.
    #[arg(long, default_value = "")]
    queue: String,
    /// Seconds to ring before voicemail.
    #[arg(long, default_value_t = 20)]
    ring_timeout: u32,
    /// Said before the voicemail beep.
    #[arg(long, default_value = "")]
    greeting: String,
    /// Do not offer voicemail when nobody answers.
    #[arg(long)]
    no_voicemail: bool,
    /// Longest voicemail in seconds.
    #[arg(long, default_value_t = 120)]
    voicemail_max: u32,
    /// Record answered calls.
    #[arg(long)]
    record_calls: bool,
    /// Transcribe voicemails.
    #[arg(long)]
    transcribe: bool,
}

#[derive(Subcommand)]
enum WebchatCommand {
    /// Create a widget; prints its public widget key for the script tag.
    Add(WidgetArgs),
    /// List a tenant's widgets.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Replace a widget's name, allowed origins, greeting and colour (the key stays).
    Update {
        #[arg(long)]
        widget: String,
        #[command(flatten)]
        settings: WidgetArgs,
    },
    /// Delete a widget: its key stops working; visitors and history are kept.
    Delete {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        widget: String,
    },
    /// Publish archived visitor messages again (idempotent: nothing is stored twice). Name
    /// payload ids, or a start time, or `--only-unpublished`.
    Replay(ReplayArgs),
}

/// A widget's settings.
#[derive(Args)]
struct WidgetArgs {
    #[arg(long)]
    tenant: String,
    /// Shown in the widget's header.
    #[arg(long)]
    name: String,
    /// An origin allowed to embed the widget, e.g. https://shop.example.com; repeatable.
    #[arg(long = "allowed-origin", required = true)]
    allowed_origins: Vec<String>,
    #[arg(long, default_value = "")]
    greeting: String,
    /// Accent colour, #rrggbb.
    #[arg(long, default_value = "")]
    color: String,
}

impl WidgetArgs {
    fn body(&self) -> Value {
        json!({"name": self.name, "allowed_origins": self.allowed_origins, "greeting": self.greeting, "color": self.color})
    }
}

/// Which archived payloads to process again.
#[derive(Args)]
struct ReplayArgs {
    #[arg(long)]
    tenant: String,
    /// Archived payload id (repeatable).
    #[arg(long = "payload")]
    payloads: Vec<String>,
    /// Payloads received at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// ...and before this one.
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    only_unpublished: bool,
}

impl ReplayArgs {
    /// `POST /v1/admin/tenants/{tenant}/channels/{channel}/replay`.
    async fn send(self, gateway: &Gateway, channel: &str) -> anyhow::Result<Value> {
        let mut body = json!({"raw_payload_ids": self.payloads, "only_unpublished": self.only_unpublished});
        if let Some(since) = self.since {
            body["received_from"] = json!(since);
        }
        if let Some(until) = self.until {
            body["received_until"] = json!(until);
        }
        let path = format!("/v1/admin/tenants/{}/channels/{channel}/replay", self.tenant);
        gateway.call(reqwest::Method::POST, &path, Some(body)).await
    }
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant (or show the existing one with this slug).
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// IANA time zone, e.g. Europe/Paris.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
    /// Which conversations the tenant's agents see: all, or their teams' (team).
    SetVisibility(visibility::SetVisibility),
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Create an agent (or update the one with this email) and print a token for it.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, supervisor or agent.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Token lifetime in hours (default: the gateway's).
        #[arg(long)]
        ttl_hours: Option<i64>,
        /// Most open conversations routed to the agent at once (default 5).
        #[arg(long)]
        capacity: Option<u32>,
        /// IANA time zone of the agent (default UTC).
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// Change an agent's routing profile.
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        capacity: Option<u32>,
        #[arg(long)]
        time_zone: Option<String>,
    },
}

#[derive(Subcommand)]
enum TeamCommand {
    /// Create a team (or update the one with this name).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// round_robin or least_loaded.
        #[arg(long, default_value = "round_robin")]
        policy: String,
        /// Channels whose "needs human" conversations without a team go to this team
        /// (whatsapp, telephony, webchat); repeatable.
        #[arg(long = "handoff-channel")]
        handoff_channels: Vec<String>,
    },
    /// List a tenant's teams.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Add an agent to a team.
    AddMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        team: String,
        #[arg(long)]
        user: String,
    },
    /// Delete a team (refused while open conversations are assigned to it).
    Delete {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        team: String,
    },
    /// Remove an agent from a team.
    RemoveMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        team: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token for a user.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        ttl_hours: Option<i64>,
    },
}

#[derive(Subcommand)]
enum WhatsappCommand {
    /// Connect a WhatsApp number to a tenant (or update its secrets).
    Add(WhatsappAccountArgs),
    /// List a tenant's WhatsApp numbers (secrets are never shown).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Send a correctly signed Cloud API text-message webhook to channel-ingest, as Meta would.
    SendTestMessage {
        /// Base URL of channel-ingest.
        #[arg(long, env = "INBOX_INGEST_URL", default_value = "http://127.0.0.1:8081")]
        ingest_url: String,
        #[arg(long)]
        phone_number_id: String,
        #[arg(long, env = "INBOX_WHATSAPP_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// The customer's wa_id (phone number, digits only).
        #[arg(long, default_value = "15551230001")]
        from: String,
        /// The customer's WhatsApp profile name.
        #[arg(long, default_value = "Demo Customer")]
        name: String,
        #[arg(long, default_value = "Hello! I need help with my order.")]
        text: String,
        /// Message id (default: a new unique wamid).
        #[arg(long)]
        wamid: Option<String>,
    },
    /// Process archived raw webhooks again (idempotent: nothing is stored twice). Name payload
    /// ids, or a start time, or `--only-unpublished` (those never fully published).
    Replay(ReplayArgs),
}

#[derive(Args)]
struct WhatsappAccountArgs {
    #[arg(long)]
    tenant: String,
    /// Meta's phone_number_id.
    #[arg(long)]
    phone_number_id: String,
    #[arg(long, default_value = "")]
    display_phone_number: String,
    /// Meta app secret (checks X-Hub-Signature-256).
    #[arg(long, env = "INBOX_WHATSAPP_APP_SECRET", hide_env_values = true)]
    app_secret: String,
    /// Token for Meta's GET verification handshake.
    #[arg(long, env = "INBOX_WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    verify_token: String,
    /// Graph API access token for replies.
    #[arg(long, env = "INBOX_WHATSAPP_ACCESS_TOKEN", hide_env_values = true, default_value = "")]
    access_token: String,
    /// Meta's WhatsApp Business Account id (WABA id): required to connect a number where
    /// channel-ingest verifies numbers with the Graph API; webhooks of template status and
    /// account updates name only it.
    #[arg(long, visible_alias = "waba-id", default_value = "")]
    business_account_id: String,
}

/// The operator token: the environment's, else the first line of `file`; never empty.
fn operator_token(from_env: Option<String>, file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let token = match (from_env.filter(|t| !t.trim().is_empty()), file) {
        (Some(token), _) => token,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the operator token file {}", path.display()))?,
        (None, None) => {
            bail!("set INBOX_OPERATOR_TOKEN, or INBOX_OPERATOR_TOKEN_FILE (--operator-token-file) to a file holding it")
        }
    };
    let token = token.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        bail!("the operator token is empty");
    }
    Ok(token)
}

struct Gateway {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Gateway {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base.trim_end_matches('/')))
            .bearer_auth(&self.token)
            .timeout(std::time::Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no error body");
            let code = value["error"]["code"].as_str().unwrap_or("unknown");
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(value)
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let json_output = cli.json;
    if let Command::Fleet(command) = &cli.command {
        if let Err(e) = fleet::run(command, json_output) {
            eprintln!("inboxctl: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    match run(cli).await {
        Ok(value) => {
            if json_output {
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            } else {
                print_text(&value);
            }
        }
        Err(e) => {
            if json_output {
                println!("{}", json!({"error": format!("{e:#}")}));
            } else {
                eprintln!("inboxctl: {e:#}");
            }
            std::process::exit(1);
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Value> {
    if let Command::Whatsapp(WhatsappCommand::SendTestMessage {
        ingest_url,
        phone_number_id,
        app_secret,
        from,
        name,
        text,
        wamid,
    }) = &cli.command
    {
        return send_test_message(ingest_url, phone_number_id, app_secret, from, name, text, wamid.clone()).await;
    }
    if let Command::Twilio(TwilioCommand::SendTestVoicemail {
        ingest_url,
        public_base_url,
        account_sid,
        auth_token,
        to,
        from,
        text,
    }) = &cli.command
    {
        let public = public_base_url.as_deref().unwrap_or(ingest_url);
        return send_test_voicemail(ingest_url, public, account_sid, auth_token, to, from, text).await;
    }
    let token = operator_token(std::env::var("INBOX_OPERATOR_TOKEN").ok(), cli.operator_token_file.as_deref())?;
    let gateway = Gateway { http: reqwest::Client::new(), base: cli.gateway_url.clone(), token };
    use reqwest::Method;
    match cli.command {
        Command::Tenant(TenantCommand::SetVisibility(args)) => args.run(&gateway).await,
        Command::Tenant(TenantCommand::Create { slug, name, time_zone }) => {
            gateway
                .call(
                    Method::POST,
                    "/v1/admin/tenants",
                    Some(json!({"slug": slug, "name": name, "time_zone": time_zone})),
                )
                .await
        }
        Command::Agent(AgentCommand::Create { tenant, email, name, role, ttl_hours, capacity, time_zone }) => {
            let user = gateway
                .call(
                    Method::POST,
                    &format!("/v1/admin/tenants/{tenant}/users"),
                    Some(json!({"email": email, "name": name, "role": role, "capacity": capacity, "time_zone": time_zone})),
                )
                .await?;
            let user_id = user["id"].as_str().context("gateway returned no user id")?;
            let token = gateway
                .call(
                    Method::POST,
                    &format!("/v1/admin/tenants/{tenant}/users/{user_id}/tokens"),
                    Some(json!({"ttl_hours": ttl_hours})),
                )
                .await?;
            Ok(json!({"user": user, "token": token["token"], "expires_at": token["expires_at"]}))
        }
        Command::Agent(AgentCommand::Set { tenant, user, capacity, time_zone }) => {
            gateway
                .call(
                    Method::PUT,
                    &format!("/v1/admin/tenants/{tenant}/agents/{user}"),
                    Some(json!({"capacity": capacity, "time_zone": time_zone})),
                )
                .await
        }
        Command::Team(TeamCommand::Create { tenant, name, policy, handoff_channels }) => {
            gateway
                .call(
                    Method::POST,
                    &format!("/v1/admin/tenants/{tenant}/teams"),
                    Some(json!({"name": name, "policy": policy, "handoff_channels": handoff_channels})),
                )
                .await
        }
        Command::Team(TeamCommand::List { tenant }) => {
            gateway.call(Method::GET, &format!("/v1/admin/tenants/{tenant}/teams"), None).await
        }
        Command::Team(TeamCommand::AddMember { tenant, team, user }) => {
            gateway.call(Method::PUT, &format!("/v1/admin/tenants/{tenant}/teams/{team}/members/{user}"), None).await
        }
        Command::Team(TeamCommand::Delete { tenant, team }) => {
            gateway.call(Method::DELETE, &format!("/v1/admin/tenants/{tenant}/teams/{team}"), None).await
        }
        Command::Team(TeamCommand::RemoveMember { tenant, team, user }) => {
            gateway.call(Method::DELETE, &format!("/v1/admin/tenants/{tenant}/teams/{team}/members/{user}"), None).await
        }
        Command::Token(TokenCommand::Create { tenant, user, ttl_hours }) => {
            gateway
                .call(
                    Method::POST,
                    &format!("/v1/admin/tenants/{tenant}/users/{user}/tokens"),
                    Some(json!({"ttl_hours": ttl_hours})),
                )
                .await
        }
        Command::Whatsapp(WhatsappCommand::Add(a)) => {
            gateway
                .call(
                    Method::POST,
                    &format!("/v1/admin/tenants/{}/channels/whatsapp", a.tenant),
                    Some(json!({
                        "phone_number_id": a.phone_number_id,
                        "display_phone_number": a.display_phone_number,
                        "app_secret": a.app_secret,
                        "verify_token": a.verify_token,
                        "access_token": a.access_token,
                        "business_account_id": a.business_account_id,
                    })),
                )
                .await
        }
        Command::Webchat(WebchatCommand::Add(w)) => {
            gateway
                .call(Method::POST, &format!("/v1/admin/tenants/{}/channels/webchat", w.tenant), Some(w.body()))
                .await
        }
        Command::Webchat(WebchatCommand::Update { widget, settings }) => {
            let path = format!("/v1/admin/tenants/{}/channels/webchat/{widget}", settings.tenant);
            gateway.call(Method::PUT, &path, Some(settings.body())).await
        }
        Command::Webchat(WebchatCommand::Delete { tenant, widget }) => {
            gateway.call(Method::DELETE, &format!("/v1/admin/tenants/{tenant}/channels/webchat/{widget}"), None).await
        }
        Command::Webchat(WebchatCommand::Replay(args)) => args.send(&gateway, "webchat").await,
        Command::Webchat(WebchatCommand::List { tenant }) => {
            gateway.call(Method::GET, &format!("/v1/admin/tenants/{tenant}/channels/webchat"), None).await
        }
        Command::Whatsapp(WhatsappCommand::List { tenant }) => {
            gateway.call(Method::GET, &format!("/v1/admin/tenants/{tenant}/channels/whatsapp"), None).await
        }
        Command::Whatsapp(WhatsappCommand::Replay(args)) => args.send(&gateway, "whatsapp").await,
        Command::Whatsapp(WhatsappCommand::SendTestMessage { .. }) => unreachable!("handled above"),
        Command::Twilio(TwilioCommand::Add(a)) => {
            gateway
                .call(
                    Method::POST,
                    &format!("/v1/admin/tenants/{}/channels/twilio", a.tenant),
                    Some(json!({
                        "account_sid": a.account_sid,
                        "auth_token": a.auth_token,
                        "phone_number": a.phone_number,
                        "agent_numbers": a.agent_numbers,
                        "queue_name": a.queue,
                        "ring_timeout_seconds": a.ring_timeout,
                        "voicemail": !a.no_voicemail,
                        "voicemail_greeting": a.greeting,
                        "voicemail_max_seconds": a.voicemail_max,
                        "record_calls": a.record_calls,
                        "transcribe": a.transcribe,
                    })),
                )
                .await
        }
        Command::Twilio(TwilioCommand::SendTestVoicemail { .. }) => unreachable!("handled above"),
        Command::Twilio(TwilioCommand::List { tenant }) => {
            gateway.call(Method::GET, &format!("/v1/admin/tenants/{tenant}/channels/twilio"), None).await
        }
        Command::Twilio(TwilioCommand::Replay(args)) => args.send(&gateway, "twilio").await,
        Command::Metrics(command) => command.run(&gateway).await,
        Command::Webhook(command) => command.run(&gateway).await,
        Command::Sla(command) => command.run(&gateway).await,
        Command::User(command) => command.run(&gateway).await,
        Command::ApiKey(command) => command.run(&gateway).await,
        Command::Search(command) => search::run(&gateway, command).await,
        Command::Fleet(_) => bail!("inboxctl fleet is answered without the gateway"),
    }
}

/// A Cloud API `messages` webhook with one text message, signed like Meta signs it.
async fn send_test_message(
    ingest_url: &str,
    phone_number_id: &str,
    app_secret: &str,
    from: &str,
    name: &str,
    text: &str,
    wamid: Option<String>,
) -> anyhow::Result<Value> {
    let wamid = wamid.unwrap_or_else(|| format!("wamid.inboxctl.{}", uuid::Uuid::new_v4().simple()));
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": phone_number_id, "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    })
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).context("app secret")?;
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/whatsapp", ingest_url.trim_end_matches('/')))
        .header("Content-Type", "application/json")
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("cannot reach channel-ingest at {ingest_url}"))?;
    let status = response.status();
    let reply: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "{} {}: {}",
            status.as_u16(),
            reply["error"]["code"].as_str().unwrap_or("?"),
            reply["error"]["message"].as_str().unwrap_or("?")
        );
    }
    Ok(json!({"wamid": wamid, "status": status.as_u16(), "reply": reply}))
}

fn print_text(value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) => println!("{k}: {s}"),
                    other => println!("{k}: {other}"),
                }
            }
        }
        other => println!("{other}"),
    }
}

/// Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL and the sorted parameters.
fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
    use base64::Engine as _;
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).context("auth token")?;
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

async fn send_test_voicemail(
    ingest_url: &str,
    public_base_url: &str,
    account_sid: &str,
    auth_token: &str,
    to: &str,
    from: &str,
    text: &str,
) -> anyhow::Result<Value> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let call_sid = format!("CA{id}");
    let recording_sid = format!("RE{id}");
    let transcription_sid = format!("TR{id}");
    let recording_url = format!("https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}");
    let ours =
        form_urlencoded::Serializer::new(String::new()).append_pair("number", to).append_pair("caller", from).finish();
    let call = |status: &'static str| -> Vec<(&str, &str)> {
        vec![
            ("AccountSid", account_sid),
            ("CallSid", call_sid.as_str()),
            ("CallStatus", status),
            ("Direction", "inbound"),
            ("From", from),
            ("To", to),
        ]
    };
    let mut dial = call("in-progress");
    dial.extend([("DialCallStatus", "no-answer"), ("DialCallDuration", "0")]);
    let recording = vec![
        ("AccountSid", account_sid),
        ("CallSid", call_sid.as_str()),
        ("RecordingSid", recording_sid.as_str()),
        ("RecordingUrl", recording_url.as_str()),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "12"),
    ];
    let transcription = vec![
        ("AccountSid", account_sid),
        ("CallSid", call_sid.as_str()),
        ("RecordingSid", recording_sid.as_str()),
        ("TranscriptionSid", transcription_sid.as_str()),
        ("TranscriptionStatus", "completed"),
        ("TranscriptionText", text),
    ];
    let mut completed = call("completed");
    completed.push(("CallDuration", "35"));
    let steps: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/webhooks/twilio/voice".into(), call("ringing")),
        (format!("/webhooks/twilio/voice/dial?{ours}"), dial),
        (format!("/webhooks/twilio/voice/recording?kind=voicemail&{ours}"), recording),
        (format!("/webhooks/twilio/voice/transcription?{ours}"), transcription),
        ("/webhooks/twilio/voice/status".into(), completed),
    ];
    let client = reqwest::Client::new();
    let mut answered = Vec::new();
    for (path, params) in &steps {
        let signature =
            twilio_signature(auth_token, &format!("{}{path}", public_base_url.trim_end_matches('/')), params)?;
        let response = client
            .post(format!("{}{path}", ingest_url.trim_end_matches('/')))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish())
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("cannot reach channel-ingest at {ingest_url}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{path} answered {}: {body}", status.as_u16());
        }
        answered.push(json!({"path": path, "status": status.as_u16(), "twiml": body}));
    }
    Ok(json!({"call_sid": call_sid, "steps": answered}))
}

#[cfg(test)]
mod tests {
    use super::operator_token;

    #[test]
    fn the_operator_token_comes_from_the_environment_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        assert_eq!(operator_token(Some("from-env".into()), Some(&file)).unwrap(), "from-env");
        assert_eq!(operator_token(None, Some(&file)).unwrap(), "from-file");
        assert_eq!(operator_token(Some("  ".into()), Some(&file)).unwrap(), "from-file");
        assert!(operator_token(None, None).unwrap_err().to_string().contains("INBOX_OPERATOR_TOKEN"));
        assert!(operator_token(None, Some(&dir.path().join("missing"))).is_err());
        std::fs::write(&file, "\n").unwrap();
        assert!(operator_token(None, Some(&file)).is_err());
    }
}
