//! The public edges, spoken as the providers and the widget speak them: signed WhatsApp Cloud
//! API webhooks, signed Twilio Voice callbacks, and the web chat visitor API with its socket.

use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// channel-ingest's public side.
#[derive(Clone)]
pub struct Ingest {
    pub base: String,
    http: reqwest::Client,
}

/// The demo's WhatsApp number.
#[derive(Debug, Clone)]
pub struct WhatsappNumber {
    pub phone_number_id: String,
    pub app_secret: String,
}

/// The demo's Twilio number.
#[derive(Debug, Clone)]
pub struct TwilioNumber {
    pub account_sid: String,
    pub auth_token: String,
    pub number: String,
    /// The URL Twilio is configured with (what signatures cover).
    pub public_base_url: String,
}

/// How a simulated call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Nobody answered; the caller left a voicemail (with its transcript).
    Voicemail,
    /// An agent answered and talked for the given seconds.
    Answered(u32),
    /// Nobody answered and the caller hung up at the greeting.
    Missed,
}

impl Ingest {
    pub fn new(base: &str) -> anyhow::Result<Ingest> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Ingest { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// A customer's text as Meta delivers it, dated `at` (the provider's timestamp).
    pub async fn whatsapp_text(
        &self,
        number: &WhatsappNumber,
        from: &str,
        profile_name: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let wamid = format!("wamid.sim.{}", uuid::Uuid::new_v4().simple());
        let message = json!({"from": from, "id": wamid, "timestamp": at.timestamp().to_string(), "type": "text", "text": {"body": text}});
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": number.phone_number_id},
            "contacts": [{"profile": {"name": profile_name}, "wa_id": from}],
            "messages": [message]
        });
        self.whatsapp_webhook(number, value).await?;
        Ok(wamid)
    }

    /// A status webhook (`sent`, `delivered`, `read`) for a message we sent to `recipient`.
    pub async fn whatsapp_status(
        &self,
        number: &WhatsappNumber,
        wamid: &str,
        recipient: &str,
        status: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": number.phone_number_id},
            "statuses": [{"id": wamid, "status": status, "timestamp": at.timestamp().to_string(), "recipient_id": recipient}]
        });
        self.whatsapp_webhook(number, value).await
    }

    async fn whatsapp_webhook(&self, number: &WhatsappNumber, value: Value) -> anyhow::Result<()> {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
        })
        .to_string();
        let signature = format!("sha256={}", hex::encode(hmac_sha256(number.app_secret.as_bytes(), body.as_bytes())));
        let url = format!("{}/webhooks/whatsapp", self.base);
        for attempt in 1..=5 {
            let response = self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-Hub-Signature-256", &signature)
                .body(body.clone())
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => return Ok(()),
                // Meta retries 5xx and timeouts; so do we.
                Ok(r) if r.status().is_server_error() && attempt < 5 => {}
                Ok(r) => bail!("WhatsApp webhook answered {}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) if attempt == 5 => return Err(e).context("WhatsApp webhook"),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        Ok(())
    }

    /// A whole inbound call as Twilio reports it, every callback signed; dated `at` through
    /// Twilio's `Timestamp` parameter. Returns the call SID.
    pub async fn twilio_call(
        &self,
        number: &TwilioNumber,
        from: &str,
        outcome: CallOutcome,
        voicemail: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let call_sid = format!("CA{id}");
        let recording_sid = format!("RE{id}");
        let recording_url =
            format!("https://api.twilio.com/2010-04-01/Accounts/{}/Recordings/{recording_sid}", number.account_sid);
        let ours = form_urlencoded::Serializer::new(String::new())
            .append_pair("number", &number.number)
            .append_pair("caller", from)
            .finish();
        let stamp = |seconds: i64| (at + chrono::Duration::seconds(seconds)).to_rfc2822();
        let call = |status: &str, seconds: i64| -> Vec<(String, String)> {
            [
                ("AccountSid", number.account_sid.as_str()),
                ("CallSid", call_sid.as_str()),
                ("CallStatus", status),
                ("Direction", "inbound"),
                ("From", from),
                ("To", number.number.as_str()),
                ("Timestamp", stamp(seconds).as_str()),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
        };
        let mut steps: Vec<(String, Vec<(String, String)>)> =
            vec![("/webhooks/twilio/voice".into(), call("ringing", 0))];
        let with = |mut params: Vec<(String, String)>, extra: &[(&str, String)]| {
            params.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            params
        };
        match outcome {
            CallOutcome::Answered(seconds) => {
                let dial = with(
                    call("in-progress", 20 + i64::from(seconds)),
                    &[("DialCallStatus", "completed".into()), ("DialCallDuration", seconds.to_string())],
                );
                steps.push((format!("/webhooks/twilio/voice/dial?{ours}"), dial));
                let done =
                    with(call("completed", 21 + i64::from(seconds)), &[("CallDuration", (seconds + 20).to_string())]);
                steps.push(("/webhooks/twilio/voice/status".into(), done));
            }
            CallOutcome::Voicemail => {
                let dial = with(
                    call("in-progress", 20),
                    &[("DialCallStatus", "no-answer".into()), ("DialCallDuration", "0".into())],
                );
                steps.push((format!("/webhooks/twilio/voice/dial?{ours}"), dial));
                let recording = vec![
                    ("AccountSid".to_owned(), number.account_sid.clone()),
                    ("CallSid".to_owned(), call_sid.clone()),
                    ("RecordingSid".to_owned(), recording_sid.clone()),
                    ("RecordingUrl".to_owned(), recording_url.clone()),
                    ("RecordingStatus".to_owned(), "completed".to_owned()),
                    ("RecordingDuration".to_owned(), "14".to_owned()),
                    ("Timestamp".to_owned(), stamp(40)),
                ];
                steps.push((format!("/webhooks/twilio/voice/recording?kind=voicemail&{ours}"), recording));
                let transcription = vec![
                    ("AccountSid".to_owned(), number.account_sid.clone()),
                    ("CallSid".to_owned(), call_sid.clone()),
                    ("RecordingSid".to_owned(), recording_sid.clone()),
                    ("TranscriptionSid".to_owned(), format!("TR{id}")),
                    ("TranscriptionStatus".to_owned(), "completed".to_owned()),
                    ("TranscriptionText".to_owned(), voicemail.to_owned()),
                    ("Timestamp".to_owned(), stamp(55)),
                ];
                steps.push((format!("/webhooks/twilio/voice/transcription?{ours}"), transcription));
                let done = with(call("completed", 41), &[("CallDuration", "41".into())]);
                steps.push(("/webhooks/twilio/voice/status".into(), done));
            }
            CallOutcome::Missed => {
                let dial = with(
                    call("in-progress", 20),
                    &[("DialCallStatus", "no-answer".into()), ("DialCallDuration", "0".into())],
                );
                steps.push((format!("/webhooks/twilio/voice/dial?{ours}"), dial));
                let done = with(call("completed", 26), &[("CallDuration", "26".into())]);
                steps.push(("/webhooks/twilio/voice/status".into(), done));
            }
        }
        for (path, params) in &steps {
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let signature = twilio_signature(&number.auth_token, &format!("{}{path}", number.public_base_url), &pairs);
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter()).finish();
            let response = self
                .http
                .post(format!("{}{path}", self.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", signature)
                .body(body)
                .send()
                .await
                .context("Twilio callback")?;
            if !response.status().is_success() {
                bail!(
                    "Twilio callback {path} answered {}: {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
            }
        }
        Ok(call_sid)
    }
}

/// A web chat visitor of the demo widget, as the widget script behaves.
pub struct Visitor {
    base: String,
    origin: String,
    pub token: String,
    pub visitor_id: String,
    http: reqwest::Client,
}

impl Visitor {
    /// Starts a visitor's session from a page of the shop (`origin` + `path`).
    pub async fn start(
        ingest: &Ingest,
        widget_key: &str,
        origin: &str,
        name: Option<&str>,
        email: Option<&str>,
        page: (&str, &str),
    ) -> anyhow::Result<Visitor> {
        let base = format!("{}/webchat/v1/widgets/{widget_key}", ingest.base);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).user_agent(USER_AGENT).build()?;
        let mut body = json!({"locale": "en-GB", "page": {"url": format!("{origin}{}", page.0), "title": page.1}});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        if let Some(email) = email {
            body["email"] = json!(email);
        }
        let answer = http.post(format!("{base}/sessions")).header("Origin", origin).json(&body).send().await?;
        let status = answer.status();
        let answer: Value = answer.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("web chat session answered {status}: {answer}");
        }
        Ok(Visitor {
            token: answer["visitor_token"].as_str().context("visitor_token")?.to_owned(),
            visitor_id: answer["visitor_id"].as_str().context("visitor_id")?.to_owned(),
            base,
            origin: origin.to_owned(),
            http,
        })
    }

    pub async fn page_view(&self, page: (&str, &str), referrer: Option<&str>) -> anyhow::Result<()> {
        let mut body = json!({"url": format!("{}{}", self.origin, page.0), "title": page.1});
        if let Some(referrer) = referrer {
            body["referrer"] = json!(format!("{}{referrer}", self.origin));
        }
        self.post("/page-views", &body).await.map(|_| ())
    }

    pub async fn say(&self, text: &str) -> anyhow::Result<()> {
        let body = json!({"client_message_id": uuid::Uuid::new_v4().simple().to_string(), "text": text});
        self.post("/messages", &body).await.map(|_| ())
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        for attempt in 1..=5u64 {
            let answer = self
                .http
                .post(format!("{}{path}", self.base))
                .header("Origin", &self.origin)
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => return Ok(r.json().await.unwrap_or(Value::Null)),
                Ok(r) if (r.status().as_u16() == 429 || r.status().is_server_error()) && attempt < 5 => {}
                Ok(r) => bail!("web chat {path} answered {}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) if attempt == 5 => return Err(e.into()),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
        }
        bail!("web chat {path}: no answer")
    }

    /// Opens the visitor's socket; agents' (and the AI's) replies arrive as their text on the
    /// returned channel until the socket closes.
    pub async fn replies(&self) -> anyhow::Result<tokio::sync::mpsc::Receiver<String>> {
        let ticket = self.post("/socket-tickets", &json!({})).await?;
        let ticket = ticket["ticket"].as_str().context("ticket")?;
        let url = format!("{}/socket?ticket={ticket}", self.base.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request()?;
        request.headers_mut().insert("Origin", self.origin.parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.context("visitor socket")?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                if let WsMessage::Text(text) = frame
                    && let Ok(frame) = serde_json::from_str::<Value>(text.as_str())
                    && frame["type"] == "message"
                    && frame["message"]["sender"] == "agent"
                    && tx.send(frame["message"]["text"].as_str().unwrap_or_default().to_owned()).await.is_err()
                {
                    break;
                }
            }
        });
        Ok(rx)
    }
}

const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

#[allow(clippy::expect_used)] // HMAC takes keys of any length
fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL and the sorted parameters.
#[allow(clippy::expect_used)] // HMAC takes keys of any length
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_twilios_documented_example() {
        // Twilio's security documentation: this URL, these parameters and this auth token
        // sign to this value.
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ];
        let signature = twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params);
        assert_eq!(signature, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn the_whatsapp_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
