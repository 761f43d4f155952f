//! The Twilio REST API calls channel-ingest makes: `POST
//! /2010-04-01/Accounts/{AccountSid}/Calls.json` (click-to-call) and `GET
//! /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.mp3` (agents listen to a
//! recording through the gateway). The base URL is configurable (tests point it at a local
//! server speaking the documented protocol).

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;

use crate::https::{HttpsClient, https_client};
use crate::whatsapp::graph::{Download, MediaError};

/// `RE` and 32 hex digits, as Twilio issues recording SIDs.
pub fn is_recording_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("RE") && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// A call Twilio accepted to place.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallCreated {
    pub sid: String,
    #[serde(default)]
    pub status: String,
}

/// Why placing a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Twilio refused it (4xx with Twilio's error JSON): its code and message.
    #[error("twilio refused the request ({code}): {message}")]
    Refused { code: i64, message: String },
    #[error("twilio could not be reached: {0}")]
    Unavailable(String),
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// What placing a call takes.
pub struct NewCall<'a> {
    pub account_sid: &'a str,
    pub auth_token: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// Where Twilio fetches the TwiML once `to` answers.
    pub url: &'a str,
    pub status_callback: &'a str,
    /// Seconds to ring `to`.
    pub timeout: u32,
}

/// A Twilio REST client; cheap to clone.
#[derive(Clone)]
pub struct TwilioRest {
    http: HttpsClient,
    base_url: String,
    timeout: Duration,
}

impl TwilioRest {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, String> {
        let http = https_client()?;
        Ok(Self { http, base_url: base_url.trim_end_matches('/').to_owned(), timeout })
    }

    /// `GET /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.mp3` (HTTP basic auth,
    /// which Twilio requires when the account enforces authentication on media URLs and accepts
    /// otherwise). The URL is built from the SID, never taken from a callback, so nothing but
    /// Twilio's API is ever fetched.
    pub async fn download_recording(
        &self,
        account_sid: &str,
        auth_token: &str,
        recording_sid: &str,
    ) -> Result<Download, MediaError> {
        if !is_recording_sid(recording_sid) {
            return Err(MediaError::NotFound("not a recording sid (RE and 32 hex digits)".into()));
        }
        let url = format!("{}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}.mp3", self.base_url);
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{account_sid}:{auth_token}"));
        let request = http::Request::builder()
            .method(http::Method::GET)
            .uri(&url)
            .header(http::header::AUTHORIZATION, format!("Basic {credentials}"))
            .header(http::header::USER_AGENT, "inbox-channel-ingest")
            .body(Full::new(Bytes::new()))
            .map_err(|e| MediaError::Unavailable(format!("bad request: {e}")))?;
        let response = match tokio::time::timeout(self.timeout, self.http.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(MediaError::Unavailable(e.to_string())),
            Err(_) => return Err(MediaError::Unavailable("timeout".into())),
        };
        Download::of(response, "twilio has no such recording (it may have been deleted)")
    }

    /// Whether the account owns `phone_number`: `GET /2010-04-01/Accounts/{AccountSid}/
    /// IncomingPhoneNumbers.json?PhoneNumber=...` with the account's credentials. Wrong
    /// credentials come back as Twilio's refusal (20003).
    pub async fn owns_number(
        &self,
        account_sid: &str,
        auth_token: &str,
        phone_number: &str,
    ) -> Result<bool, RestError> {
        let query = form_urlencoded::Serializer::new(String::new()).append_pair("PhoneNumber", phone_number).finish();
        let url = format!("{}/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json?{query}", self.base_url);
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{account_sid}:{auth_token}"));
        let request = http::Request::builder()
            .method(http::Method::GET)
            .uri(&url)
            .header(http::header::AUTHORIZATION, format!("Basic {credentials}"))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "inbox-channel-ingest")
            .body(Full::new(Bytes::new()))
            .map_err(|e| RestError::Unavailable(format!("bad request: {e}")))?;
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            incoming_phone_numbers: Vec<Number>,
        }
        #[derive(Deserialize)]
        struct Number {
            phone_number: String,
        }
        let page: Page = self.json(request).await?;
        Ok(page.incoming_phone_numbers.iter().any(|n| n.phone_number == phone_number))
    }

    /// Sends `request` and reads Twilio's JSON answer: the body when 2xx, Twilio's refusal
    /// (code and message) on other 4xx, unavailable on 429, 5xx and transport failures.
    async fn json<T: serde::de::DeserializeOwned>(&self, request: http::Request<Full<Bytes>>) -> Result<T, RestError> {
        let response = match tokio::time::timeout(self.timeout, self.http.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(RestError::Unavailable(e.to_string())),
            Err(_) => return Err(RestError::Unavailable("timeout".into())),
        };
        let status = response.status();
        let body = match tokio::time::timeout(self.timeout, response.into_body().collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) => return Err(RestError::Unavailable(e.to_string())),
            Err(_) => return Err(RestError::Unavailable("timeout reading the answer".into())),
        };
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| RestError::Unavailable(format!("unreadable answer from twilio: {e}")));
        }
        if status.is_client_error() && status != http::StatusCode::TOO_MANY_REQUESTS {
            let error: ErrorBody = serde_json::from_slice(&body)
                .unwrap_or(ErrorBody { code: i64::from(status.as_u16()), message: status.to_string() });
            return Err(RestError::Refused { code: error.code, message: error.message });
        }
        Err(RestError::Unavailable(format!("twilio answered {status}")))
    }

    /// `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`, authenticated with the Account SID
    /// and auth token (HTTP basic; never logged). Not retried: a second request could ring
    /// twice.
    pub async fn create_call(&self, call: &NewCall<'_>) -> Result<CallCreated, RestError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Calls.json", self.base_url, call.account_sid);
        let timeout = call.timeout.to_string();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", call.to)
            .append_pair("From", call.from)
            .append_pair("Url", call.url)
            .append_pair("Method", "POST")
            .append_pair("StatusCallback", call.status_callback)
            .append_pair("StatusCallbackMethod", "POST")
            .append_pair("StatusCallbackEvent", "initiated")
            .append_pair("StatusCallbackEvent", "ringing")
            .append_pair("StatusCallbackEvent", "answered")
            .append_pair("StatusCallbackEvent", "completed")
            .append_pair("Timeout", &timeout)
            .finish();
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", call.account_sid, call.auth_token));
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(&url)
            .header(http::header::AUTHORIZATION, format!("Basic {credentials}"))
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "inbox-channel-ingest")
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| RestError::Unavailable(format!("bad request: {e}")))?;
        self.json(request).await
    }
}
