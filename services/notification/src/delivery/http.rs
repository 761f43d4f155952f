//! The one HTTP client of outbound calls (webhook endpoints, push services): HTTP/1.1 over
//! rustls (ring), a timeout per request, no redirects followed, and a resolver that refuses
//! names resolving to private addresses unless the caller allows them. Addresses are checked
//! when the connection is made, on what the name resolves to then.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;

use crate::domain::address::{check_url, is_private};

type Https = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// Resolves names, keeping only the addresses this client may reach.
#[derive(Clone, Copy)]
struct GuardedResolver {
    allow_private: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|a| allow_private || !is_private(a.ip())).collect();
            if allowed.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{} resolves only to loopback, private or link-local addresses", name.as_str()),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

fn client(allow_private: bool) -> Result<Client<Https, Full<Bytes>>, String> {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| e.to_string())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).build(https))
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds, when given.
    pub retry_after: Option<u64>,
    pub duration: Duration,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The address is not allowed (never retried differently: the setting or DNS must change).
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Outbound HTTP; cheap to clone.
#[derive(Clone)]
pub struct OutboundHttp {
    public_only: Client<Https, Full<Bytes>>,
    any_address: Client<Https, Full<Bytes>>,
    timeout: Duration,
}

impl OutboundHttp {
    pub fn new(timeout: Duration) -> Result<OutboundHttp, String> {
        Ok(OutboundHttp { public_only: client(false)?, any_address: client(true)?, timeout })
    }

    /// POSTs `body` to `url` with `headers`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        allow_private: bool,
    ) -> Result<Answer, CallError> {
        check_url(url, allow_private).map_err(CallError::Refused)?;
        let mut request = http::Request::builder().method(http::Method::POST).uri(url);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(Full::new(body)).map_err(|e| CallError::Failed(format!("bad request: {e}")))?;
        let client = if allow_private { &self.any_address } else { &self.public_only };
        let started = Instant::now();
        let response = match tokio::time::timeout(self.timeout, client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(classify(&e)),
            Err(_) => return Err(CallError::Timeout(self.timeout)),
        };
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let status = response.status().as_u16();
        // The body is not read: nothing in it matters, and an endless one must not hold us.
        drop(response);
        Ok(Answer { status, retry_after, duration: started.elapsed() })
    }
}

/// The error with its causes; an address the resolver refused is `Refused`.
fn classify(error: &(dyn std::error::Error + 'static)) -> CallError {
    let mut text = error.to_string();
    let mut refused = false;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            refused = true;
        }
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if refused { CallError::Refused(text) } else { CallError::Failed(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_addresses_are_refused_unless_allowed() {
        let http = OutboundHttp::new(Duration::from_secs(2)).unwrap();
        let refused = http.post("http://127.0.0.1:9/hook", &[], Bytes::new(), false).await.unwrap_err();
        assert!(matches!(refused, CallError::Refused(_)), "{refused:?}");
        // A name that resolves to loopback is refused at the resolver.
        let refused = http.post("http://localhost:9/hook", &[], Bytes::new(), false).await.unwrap_err();
        assert!(matches!(refused, CallError::Refused(_)), "{refused:?}");
        // Allowed, it is tried (and nothing listens on the discard port).
        let failed = http.post("http://127.0.0.1:9/hook", &[], Bytes::new(), true).await.unwrap_err();
        assert!(matches!(failed, CallError::Failed(_)), "{failed:?}");
    }
}
