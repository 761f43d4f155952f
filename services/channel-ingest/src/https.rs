//! The HTTPS client the provider API clients (Meta's Graph API, Twilio's REST API) are built
//! on: hyper over rustls with the tree's one crypto provider (ring), HTTP/1.1, plain HTTP for
//! local test servers, idle connections kept a minute.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

pub type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// A new client; the error says why the TLS configuration could not be built.
pub fn https_client() -> Result<HttpsClient, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| e.to_string())?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https))
}
