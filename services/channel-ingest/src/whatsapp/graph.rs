//! The Graph API calls channel-ingest makes: `POST /{version}/{phone_number_id}/messages`,
//! `GET /{version}/{media_id}` and the media download. The base URL and version are
//! configurable (tests point them at a local server speaking the documented protocol).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde_json::Value;

use crate::https::{HttpsClient, https_client};
use crate::store::DeliveryFailure;

/// What one send request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider took it, with its message id (`wamid`).
    Accepted { external_id: String },
    /// The provider answered that it did not take it now (429, 5xx, rate-limit codes), or the
    /// connection could not be made: safe to try again.
    Retryable { failure: DeliveryFailure, retry_after: Option<Duration> },
    /// The provider refused it for good (4xx with Meta's error JSON).
    Permanent(DeliveryFailure),
    /// The request may have reached the provider but no answer came (timeout, broken
    /// connection): trying again could send it twice.
    Unknown(DeliveryFailure),
}

/// Meta's error codes that mean "too many requests" even under a 400 status.
const RATE_LIMIT_CODES: [i64; 5] = [4, 80007, 130429, 131048, 131056];

/// Meta's error body: `{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}, "fbtrace_id"}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: GraphApiError,
}

#[derive(Debug, Deserialize)]
struct GraphApiError {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_user_title: String,
    #[serde(default)]
    error_data: Option<GraphErrorData>,
}

#[derive(Debug, Deserialize)]
struct GraphErrorData {
    #[serde(default)]
    details: String,
}

#[derive(Debug, Deserialize)]
struct SendResponse {
    #[serde(default)]
    messages: Vec<SentId>,
}

#[derive(Debug, Deserialize)]
struct SentId {
    id: String,
}

/// `GET /{version}/{media_id}`: where to download a media file.
#[derive(Debug, Clone, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: String,
    #[serde(default)]
    pub sha256: String,
    /// Meta documents it as a number but has sent it as a string.
    #[serde(default)]
    pub file_size: Value,
}

impl MediaInfo {
    pub fn size(&self) -> u64 {
        self.file_size.as_u64().or_else(|| self.file_size.as_str()?.parse().ok()).unwrap_or(0)
    }
}

/// Why a media fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the provider does not know this media (it may have expired): {0}")]
    NotFound(String),
    #[error("the provider refused the media request: {0}")]
    Refused(String),
    #[error("the provider could not be reached: {0}")]
    Unavailable(String),
}

/// Why Meta did not confirm that a number belongs to a business account.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    /// Meta answered no (the number or business account is unknown to it, or the access token
    /// may not see them): its reason.
    #[error("{0}")]
    Refused(String),
    /// The number exists but is not one of the business account's numbers.
    #[error("the phone_number_id is not a number of this WhatsApp Business Account")]
    NotInBusiness,
    /// Meta could not be asked (unreachable, timeout, 429, 5xx).
    #[error("the Graph API could not be reached: {0}")]
    Unavailable(String),
}

/// A number as `GET /{phone-number-id}` describes it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PhoneNumberInfo {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: String,
    #[serde(default)]
    pub verified_name: String,
}

/// `GET /{waba-id}/phone_numbers`: a page of the business account's numbers.
#[derive(Debug, Deserialize)]
struct PhoneNumberPage {
    #[serde(default)]
    data: Vec<PhoneNumberInfo>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    /// Present only when another page follows.
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Cursors {
    #[serde(default)]
    after: String,
}

/// Pages of a business account's numbers read at most (100 numbers a page).
const MAX_NUMBER_PAGES: usize = 20;

/// A media download in progress: its headers are in, its body streams.
pub struct Download {
    pub content_type: Option<String>,
    pub body: hyper::body::Incoming,
}

/// A Graph API client; cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    http: HttpsClient,
    base_url: String,
    version: String,
    timeout: Duration,
}

/// How a request failed before an HTTP answer came.
#[derive(Debug)]
struct TransportError {
    /// The connection was never made: the request cannot have reached the provider.
    before_sending: bool,
    reason: String,
}

impl GraphClient {
    pub fn new(base_url: &str, version: &str, timeout: Duration) -> Result<Self, String> {
        let http = https_client()?;
        Ok(Self { http, base_url: base_url.trim_end_matches('/').to_owned(), version: version.to_owned(), timeout })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.base_url, self.version, path)
    }

    /// Sends a request and waits for the answer's head. The token goes in a header, never in
    /// a log line.
    async fn call(
        &self,
        method: http::Method,
        url: &str,
        access_token: &str,
        body: Option<Vec<u8>>,
    ) -> Result<http::Response<hyper::body::Incoming>, TransportError> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::AUTHORIZATION, format!("Bearer {access_token}"))
            .header(http::header::USER_AGENT, "inbox-channel-ingest");
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| TransportError { before_sending: true, reason: format!("bad request: {e}") })?;
        match tokio::time::timeout(self.timeout, self.http.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(TransportError { before_sending: e.is_connect(), reason: e.to_string() }),
            Err(_) => Err(TransportError { before_sending: false, reason: "timeout".into() }),
        }
    }

    async fn read_body(&self, response: http::Response<hyper::body::Incoming>) -> Result<Bytes, TransportError> {
        match tokio::time::timeout(self.timeout, response.into_body().collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) => Err(TransportError { before_sending: false, reason: e.to_string() }),
            Err(_) => Err(TransportError { before_sending: false, reason: "timeout reading the answer".into() }),
        }
    }

    /// `POST /{version}/{phone_number_id}/messages` with `body`.
    pub async fn send_message(&self, phone_number_id: &str, access_token: &str, body: &Value) -> SendOutcome {
        let url = self.url(&format!("{phone_number_id}/messages"));
        let response =
            match self.call(http::Method::POST, &url, access_token, Some(body.to_string().into_bytes())).await {
                Ok(r) => r,
                Err(e) if e.before_sending => {
                    return SendOutcome::Retryable { failure: transport_failure(&e), retry_after: None };
                }
                Err(e) => return SendOutcome::Unknown(transport_failure(&e)),
            };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = match self.read_body(response).await {
            Ok(b) => b,
            // A success whose body was lost is still a send whose id we do not know.
            Err(e) if status.is_success() => return SendOutcome::Unknown(transport_failure(&e)),
            Err(_) => Bytes::new(),
        };
        if status.is_success() {
            return match serde_json::from_slice::<SendResponse>(&bytes).ok().and_then(|r| r.messages.into_iter().next())
            {
                Some(sent) if !sent.id.is_empty() => SendOutcome::Accepted { external_id: sent.id },
                _ => SendOutcome::Unknown(DeliveryFailure {
                    code: i64::from(status.as_u16()),
                    title: "unexpected_provider_answer".into(),
                    details: "the provider answered success without a message id".into(),
                }),
            };
        }
        let failure = failure_of(status.as_u16(), &bytes);
        let rate_limited = RATE_LIMIT_CODES.contains(&failure.code);
        if status.as_u16() == 429 || status.is_server_error() || rate_limited {
            SendOutcome::Retryable { failure, retry_after }
        } else {
            SendOutcome::Permanent(failure)
        }
    }

    /// `GET /{version}/{media_id}`.
    pub async fn media_info(&self, media_id: &str, access_token: &str) -> Result<MediaInfo, MediaError> {
        let unavailable = |e: TransportError| MediaError::Unavailable(e.reason);
        let response =
            self.call(http::Method::GET, &self.url(media_id), access_token, None).await.map_err(unavailable)?;
        let status = response.status();
        let bytes = self.read_body(response).await.map_err(unavailable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| MediaError::Refused(format!("unexpected media answer: {e}")));
        }
        let failure = failure_of(status.as_u16(), &bytes);
        let reason = format!("{} ({})", failure.title, failure.code);
        match status.as_u16() {
            400 | 404 => Err(MediaError::NotFound(reason)),
            429 | 500.. => Err(MediaError::Unavailable(reason)),
            _ => Err(MediaError::Refused(reason)),
        }
    }

    /// A JSON answer of the Graph API to a GET: the body when 2xx, Meta's refusal (4xx but 429),
    /// or unavailable.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<T, OwnershipError> {
        let unavailable = |e: TransportError| OwnershipError::Unavailable(e.reason);
        let response = self.call(http::Method::GET, url, access_token, None).await.map_err(unavailable)?;
        let status = response.status();
        let bytes = self.read_body(response).await.map_err(unavailable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| OwnershipError::Unavailable(format!("unexpected Graph API answer: {e}")));
        }
        let failure = failure_of(status.as_u16(), &bytes);
        if status.as_u16() == 429 || status.is_server_error() || RATE_LIMIT_CODES.contains(&failure.code) {
            return Err(OwnershipError::Unavailable(format!("{} ({})", failure.title, failure.code)));
        }
        Err(OwnershipError::Refused(format!("{} ({})", failure.title, failure.code)))
    }

    /// Asks Meta, with the tenant's access token, that `phone_number_id` exists
    /// (`GET /{phone-number-id}`) and is one of the numbers of the WhatsApp Business Account
    /// `business_account_id` (`GET /{waba-id}/phone_numbers`, every page). Both ids are digits
    /// (checked by the caller), so they are safe in a path.
    pub async fn number_of_business(
        &self,
        phone_number_id: &str,
        business_account_id: &str,
        access_token: &str,
    ) -> Result<PhoneNumberInfo, OwnershipError> {
        let number: PhoneNumberInfo = self
            .get_json(
                &self.url(&format!("{phone_number_id}?fields=id,display_phone_number,verified_name")),
                access_token,
            )
            .await?;
        if number.id != phone_number_id {
            return Err(OwnershipError::Refused("the Graph API answered for another number".into()));
        }
        let mut after = String::new();
        for _ in 0..MAX_NUMBER_PAGES {
            let query = {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("fields", "id,display_phone_number").append_pair("limit", "100");
                if !after.is_empty() {
                    query.append_pair("after", &after);
                }
                query.finish()
            };
            let url = self.url(&format!("{business_account_id}/phone_numbers?{query}"));
            let page: PhoneNumberPage = self.get_json(&url, access_token).await?;
            if page.data.iter().any(|n| n.id == phone_number_id) {
                return Ok(number);
            }
            // Only our own cursor is followed: the `next` URL is not fetched as given.
            match page.paging.filter(|p| p.next.is_some()).and_then(|p| p.cursors).map(|c| c.after) {
                Some(cursor) if !cursor.is_empty() && cursor != after => after = cursor,
                _ => break,
            }
        }
        Err(OwnershipError::NotInBusiness)
    }

    /// Starts downloading a media file from the URL `media_info` gave (it needs the token too).
    pub async fn download(&self, url: &str, access_token: &str) -> Result<Download, MediaError> {
        let response = self
            .call(http::Method::GET, url, access_token, None)
            .await
            .map_err(|e| MediaError::Unavailable(e.reason))?;
        Download::of(response, "the media URL expired")
    }
}

impl Download {
    /// A provider's answer to a file request: the download when 2xx, otherwise why not
    /// (`gone` explains a 404).
    pub fn of(response: http::Response<hyper::body::Incoming>, gone: &str) -> Result<Download, MediaError> {
        let status = response.status();
        match status.as_u16() {
            200..=299 => {
                let content_type =
                    response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
                Ok(Download { content_type, body: response.into_body() })
            }
            404 => Err(MediaError::NotFound(gone.to_owned())),
            429 | 500.. => Err(MediaError::Unavailable(format!("download answered {status}"))),
            _ => Err(MediaError::Refused(format!("download answered {status}"))),
        }
    }
}

fn transport_failure(e: &TransportError) -> DeliveryFailure {
    DeliveryFailure { code: 0, title: "provider_unreachable".into(), details: e.reason.clone() }
}

/// The provider's reason from Meta's error JSON, or the HTTP status when the body is not that.
fn failure_of(status: u16, body: &[u8]) -> DeliveryFailure {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => {
            let details = error.error_data.map(|d| d.details).filter(|d| !d.is_empty()).unwrap_or_default();
            let title = [error.error_user_title.as_str(), error.message.as_str(), error.kind.as_str()]
                .into_iter()
                .find(|t| !t.is_empty())
                .unwrap_or("provider error")
                .to_owned();
            DeliveryFailure {
                code: if error.code != 0 { error.code } else { i64::from(status) },
                title,
                details: if details.is_empty() { error.message } else { details },
            }
        }
        Err(_) => DeliveryFailure {
            code: i64::from(status),
            title: format!("HTTP {status}"),
            details: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_error_json_gives_code_title_and_details() {
        let body = br#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException",
            "code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},
            "error_subcode":2494010,"fbtrace_id":"AbCd"}}"#;
        let f = failure_of(400, body);
        assert_eq!(f.code, 131030);
        assert_eq!(f.title, "(#131030) Recipient phone number not in allowed list");
        assert!(f.details.starts_with("Recipient phone number not in allowed list: Add"));
        let f = failure_of(502, b"<html>bad gateway</html>");
        assert_eq!((f.code, f.title.as_str()), (502, "HTTP 502"));
    }
}
