//! gRPC hosting and the metadata contract between services.
//!
//! Every internal call carries `authorization: Bearer <service token>` (the calling service's
//! own token), `x-inbox-tenant` (the tenant the call acts for) and `x-inbox-principal` /
//! `x-inbox-role` (who acts). The server side identifies the caller by its token, checks that
//! it may call the method with that role ([`crate::callers`]) and hands handlers a
//! [`CallContext`]; handlers scope every query by its tenant.

use std::sync::Arc;
use std::time::Duration;

use inbox_config::{AuthSettings, GrpcSettings, Secret, SettingsError, refuse};
use inbox_errors::{ErrorCode, PublicError};
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};
use tonic::{Request, Status};
use uuid::Uuid;

use crate::RunError;
use crate::callers::{CalledMethod, Callers, Grant};

pub const TENANT_KEY: &str = "x-inbox-tenant";
pub const PRINCIPAL_KEY: &str = "x-inbox-principal";
pub const ROLE_KEY: &str = "x-inbox-role";

pub use crate::role::Role;

/// Who is calling, for which tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    pub tenant_id: Uuid,
    /// `agent:<id>`, `operator`, `service:<name>`...
    pub principal: String,
    pub role: Role,
}

impl CallContext {
    /// The context the server-side interceptor attached to `request`.
    pub fn of<T>(request: &Request<T>) -> Result<&CallContext, Status> {
        request
            .extensions()
            .get::<CallContext>()
            .ok_or_else(|| PublicError::new(ErrorCode::Unauthenticated, "call context missing").to_status())
    }

    /// Writes this context and the service token into outgoing metadata.
    pub fn write_to(&self, metadata: &mut MetadataMap, token: &Secret) -> Result<(), Status> {
        let bearer = format!("Bearer {}", token.expose());
        let put = |m: &mut MetadataMap, key: &'static str, value: &str| -> Result<(), Status> {
            let value = value.parse().map_err(|_| Status::invalid_argument(format!("bad metadata {key}")))?;
            m.insert(key, value);
            Ok(())
        };
        put(metadata, "authorization", &bearer)?;
        put(metadata, TENANT_KEY, &self.tenant_id.to_string())?;
        put(metadata, PRINCIPAL_KEY, &self.principal)?;
        put(metadata, ROLE_KEY, self.role.as_str())?;
        // Which conversations the person behind the call may see (set by the gateway).
        crate::Visibility::current().write_to(metadata)?;
        // gRPC metadata are HTTP/2 headers: the callee continues this trace.
        let mut headers = std::mem::take(metadata).into_headers();
        crate::trace_context::inject_current(&mut headers);
        *metadata = MetadataMap::from_headers(headers);
        Ok(())
    }

    /// A request carrying `message` with this context.
    pub fn request<T>(&self, message: T, token: &Secret) -> Result<Request<T>, Status> {
        let mut request = Request::new(message);
        self.write_to(request.metadata_mut(), token)?;
        request.set_timeout(Duration::from_secs(10));
        Ok(request)
    }
}

/// Server-side interceptor: identifies the caller by its token, checks its grant for the
/// method and the role it claims, parses the call context.
#[derive(Clone)]
pub struct ServiceAuth {
    callers: Arc<Callers>,
}

impl ServiceAuth {
    /// Callers as `auth` configures them, each held to its entry of `grants` (unless `auth`
    /// has no `callers`: then its own `service_token` admits any call).
    pub fn new(auth: &AuthSettings, grants: &'static [Grant]) -> Self {
        Self { callers: Arc::new(Callers::from_settings(auth, grants)) }
    }

    /// The shared-token mode only: whoever presents `token` may call everything.
    pub fn shared(token: Secret) -> Self {
        Self { callers: Arc::new(Callers::Shared(token)) }
    }

    fn context(
        &self,
        metadata: &MetadataMap,
        method: Option<&CalledMethod>,
    ) -> Result<(CallContext, crate::callers::Caller), PublicError> {
        let presented = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| PublicError::new(ErrorCode::Unauthenticated, "missing service token"))?;
        let text = |key: &str| metadata.get(key).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        // Who the caller is comes first: an unknown token is unauthenticated, whatever it claims.
        let role = text(ROLE_KEY).parse::<Role>();
        let caller =
            self.callers.admit(presented, method.map(|m| m.0.as_str()), *role.as_ref().unwrap_or(&Role::Service))?;
        let role = role?;
        let tenant_id = Uuid::parse_str(&text(TENANT_KEY))
            .map_err(|_| PublicError::invalid_argument(format!("{TENANT_KEY} must be a tenant uuid")))?;
        let principal = text(PRINCIPAL_KEY);
        if principal.is_empty() {
            return Err(PublicError::invalid_argument(format!("{PRINCIPAL_KEY} is required")));
        }
        Ok((CallContext { tenant_id, principal, role }, caller))
    }
}

impl Interceptor for ServiceAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let method = request.extensions().get::<CalledMethod>();
        let (context, caller) = self.context(request.metadata(), method).map_err(|e| e.to_status())?;
        let visibility = crate::Visibility::read_from(request.metadata())?;
        request.extensions_mut().insert(context);
        request.extensions_mut().insert(caller);
        request.extensions_mut().insert(visibility);
        Ok(request)
    }
}

/// How this service verifies the peers it calls over `https://`: the authorities of
/// `grpc.ca_file`, or the system's when it is empty. Built once at start.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    authority: Option<Certificate>,
}

impl ClientTls {
    /// Reads `grpc.ca_file` when set.
    pub fn from_settings(grpc: &GrpcSettings) -> Result<Self, SettingsError> {
        if grpc.ca_file.trim().is_empty() {
            return Ok(Self::default());
        }
        let pem = std::fs::read(&grpc.ca_file)
            .map_err(|e| refuse("grpc.ca_file", format_args!("{:?} cannot be read: {e}", grpc.ca_file)))?;
        Ok(Self { authority: Some(Certificate::from_pem(pem)) })
    }
}

/// A lazily connected channel to another service, with connect and request timeouts; over TLS
/// for an `https://` URL, verified as `tls` says. An `http://` URL while `grpc.ca_file` is set
/// is refused: the peers are meant to be reached over TLS and the service token would travel
/// in clear.
pub fn client_channel(url: &str, tls: &ClientTls) -> Result<Channel, PublicError> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| PublicError::invalid_argument(format!("bad service url {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    if url.starts_with("https://") {
        let config = match &tls.authority {
            Some(authority) => ClientTlsConfig::new().ca_certificate(authority.clone()),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| PublicError::invalid_argument(format!("service url {url:?}: tls: {e}")))?;
    } else if tls.authority.is_some() {
        return Err(PublicError::invalid_argument(format!(
            "service url {url:?} is plaintext while grpc.ca_file (INBOX__GRPC__CA_FILE) is set: \
             the service token would travel in clear; use https://"
        )));
    }
    Ok(endpoint.connect_lazy())
}

/// The layer that records each call's method for [`ServiceAuth`].
type MarkMethodLayer =
    tower::util::MapRequestLayer<fn(http::Request<tonic::body::Body>) -> http::Request<tonic::body::Body>>;

/// The fleet's gRPC router: every call runs in a span continuing the caller's trace, with its
/// method recorded for the callee's grants.
pub type GrpcRouter = tonic::transport::server::Router<
    tower::layer::util::Stack<
        MarkMethodLayer,
        tower::layer::util::Stack<crate::trace_context::GrpcTraceLayer, tower::layer::util::Identity>,
    >,
>;

/// A gRPC router with `grpc.health.v1`, and server reflection over every inbox proto when
/// `grpc.reflection` (off by default), plus the reporter to flip health to SERVING once the
/// service is ready. With `grpc.tls_cert_file` and `grpc.tls_key_file` it serves TLS only.
pub fn router_with_standard_services(
    grpc: &GrpcSettings,
) -> Result<(tonic_health::server::HealthReporter, GrpcRouter), RunError> {
    let mut server = tonic::transport::Server::builder();
    if grpc.serves_tls() {
        let read = |key: &str, path: &str| {
            std::fs::read(path).map_err(|e| RunError::Other(format!("{key} {path:?} cannot be read: {e}")))
        };
        let identity = Identity::from_pem(
            read("grpc.tls_cert_file", &grpc.tls_cert_file)?,
            read("grpc.tls_key_file", &grpc.tls_key_file)?,
        );
        server = server.tls_config(ServerTlsConfig::new().identity(identity))?;
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut router = server
        .layer(crate::trace_context::grpc_server_layer())
        .layer(tower::util::MapRequestLayer::new(crate::callers::mark_method as fn(_) -> _))
        .add_service(health_service);
    if grpc.reflection {
        #[allow(clippy::expect_used)] // the descriptor sets are generated at build time from valid protos
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(inbox_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("embedded descriptor sets are valid");
        router = router.add_service(reflection);
    }
    Ok((health, router))
}

/// Serves `router` on `listener` until `shutdown`, finishing in-flight calls.
pub async fn serve_grpc(
    listener: tokio::net::TcpListener,
    router: GrpcRouter,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), tonic::transport::Error> {
    use tokio_stream::StreamExt as _;
    // Without TCP_NODELAY a response of more than one segment waits for the client's delayed
    // ACK: a steady 40 ms added to every larger answer.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        if let Ok(stream) = &accepted {
            let _ = stream.set_nodelay(true);
        }
        accepted
    });
    router.serve_with_incoming_shutdown(incoming, async move { shutdown.cancelled().await }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_for(ctx: &CallContext, token: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        ctx.write_to(&mut m, &Secret::new(token)).unwrap();
        m
    }

    fn ctx() -> CallContext {
        CallContext { tenant_id: Uuid::new_v4(), principal: "agent:1".into(), role: Role::Agent }
    }

    #[test]
    fn a_call_with_the_right_token_carries_its_context_through() {
        let auth = ServiceAuth::shared(Secret::new("the-service-token-0123"));
        let c = ctx();
        assert_eq!(auth.context(&metadata_for(&c, "the-service-token-0123"), None).unwrap().0, c);
    }

    #[test]
    fn a_call_with_a_wrong_token_is_unauthenticated() {
        let auth = ServiceAuth::shared(Secret::new("the-service-token-0123"));
        let err = auth.context(&metadata_for(&ctx(), "the-service-token-9999"), None).unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthenticated);
    }

    #[test]
    fn a_call_without_a_tenant_is_refused() {
        let auth = ServiceAuth::shared(Secret::new("tok-tok-tok-tok-tok"));
        let mut m = metadata_for(&ctx(), "tok-tok-tok-tok-tok");
        m.remove(TENANT_KEY);
        assert_eq!(auth.context(&m, None).unwrap_err().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn an_empty_configured_token_accepts_nobody() {
        let auth = ServiceAuth::shared(Secret::new(""));
        let mut m = metadata_for(&ctx(), "");
        m.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(auth.context(&m, None).unwrap_err().code, ErrorCode::Unauthenticated);
    }
}
