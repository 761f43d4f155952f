//! Customers' traffic through the public edges, offered open-loop: message `i` is due at
//! `i / rate` seconds whether or not earlier answers came back, and its latencies count from
//! then. The mix: of every hundred messages, one is a Twilio call (five signed callbacks ending
//! in a voicemail transcript), four are web chat visitors' messages, the rest signed WhatsApp
//! webhooks. Every customer's text carries its marker `qz<i>q` (one search token), so each
//! arrival anywhere can be traced to its message; a customer's messages leave in order, one
//! after the other's answer, and carry increasing provider timestamps.
//!
//! A refused or failed send is retried (providers retry until they get a 2xx), against the
//! other channel-ingest replica when one is down, until the run's deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use tokio::time::Instant;

use crate::http1::Connection;

pub const APP_SECRET: &str = "load-app-secret-0123456789";
pub const TWILIO_ACCOUNT_SID: &str = "AC00000000000000000000000000000777";
pub const TWILIO_AUTH_TOKEN: &str = "load-twilio-auth-token-0123456789";
pub const SHOP_ORIGIN: &str = "http://shop.load.test";

/// A tenant's provider numbers. A number belongs to one tenant (channel-ingest refuses a second
/// claim), so each tenant of a run gets its own line: the WhatsApp number, its business
/// account and the Twilio number are all derived from it, and the local Graph API derives the
/// line back from the ids it is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbers {
    pub line: u32,
}

impl Numbers {
    /// At most 99,999 lines.
    pub fn new(line: u32) -> Self {
        Self { line: line % 100_000 }
    }

    pub fn phone_number_id(&self) -> String {
        format!("1000000000{:05}", self.line)
    }

    pub fn business_account_id(&self) -> String {
        format!("7770{:05}", self.line)
    }

    /// As Meta writes it in webhooks: digits only.
    pub fn display_digits(&self) -> String {
        format!("155500{:05}", self.line)
    }

    pub fn twilio_number(&self) -> String {
        format!("+155500{:05}", self.line)
    }

    /// The line of one of our phone number ids or business account ids.
    pub fn of_id(id: &str) -> Option<Self> {
        let line = id.strip_prefix("1000000000").or_else(|| id.strip_prefix("7770"))?;
        (line.len() == 5).then(|| line.parse().ok().map(Self::new)).flatten()
    }
}

/// Which edge a message comes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    WhatsApp,
    Webchat,
    Call,
}

/// Message `i` of a run: its channel, its customer (within the channel) and its place `k` in
/// that customer's conversation.
#[derive(Debug, Clone, Copy)]
pub struct Planned {
    pub channel: Channel,
    pub customer: u32,
    pub k: u32,
}

/// The shape of a run's traffic.
#[derive(Debug, Clone)]
pub struct Mix {
    pub whatsapp_customers: u32,
    pub visitors: u32,
    pub callers: u32,
}

impl Mix {
    pub fn channel_of(i: u64) -> Channel {
        match i % 100 {
            0 => Channel::Call,
            1..=4 => Channel::Webchat,
            _ => Channel::WhatsApp,
        }
    }

    /// The plan of messages `0..count`.
    pub fn plan(&self, count: u64) -> Vec<Planned> {
        let (mut w, mut v, mut c) = (0u32, 0u32, 0u32);
        (0..count)
            .map(|i| {
                let (channel, n, customers) = match Self::channel_of(i) {
                    Channel::WhatsApp => (Channel::WhatsApp, &mut w, self.whatsapp_customers),
                    Channel::Webchat => (Channel::Webchat, &mut v, self.visitors),
                    Channel::Call => (Channel::Call, &mut c, self.callers),
                };
                let planned = Planned { channel, customer: *n % customers, k: *n / customers };
                *n += 1;
                planned
            })
            .collect()
    }
}

/// The marker of message `i` in its text.
pub fn marker(i: u64) -> String {
    format!("qz{i}q")
}

/// The first `qz<digits>q` marker in `text`.
pub fn message_marker(text: &str) -> Option<u64> {
    find_marker(text, "qz", b'q')
}

/// The reply marker `rp<j>r` of an agent's reply.
pub fn reply_marker(text: &str) -> Option<u64> {
    find_marker(text, "rp", b'r')
}

fn find_marker(text: &str, open: &str, close: u8) -> Option<u64> {
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        let after = &rest[at + open.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after.as_bytes().get(digits) == Some(&close) {
            return after[..digits].parse().ok();
        }
        rest = after;
    }
    None
}

/// What happened to every message, shared by senders, sockets and the checks. Times are
/// microseconds since the run's origin; 0 means "not (yet)".
pub struct Ledger {
    pub origin: Instant,
    pub plan: Vec<Planned>,
    pub rate: f64,
    pub accepted_at: Vec<AtomicU64>,
    /// First arrival on the first watcher socket.
    pub arrived_at: Vec<AtomicU64>,
    /// Arrivals per watcher socket: `arrivals[w * n + i]`.
    pub arrivals: Vec<AtomicU32>,
    pub watchers: usize,
    /// Sends that answered something else than success, and failed connections.
    pub refused: AtomicU64,
    pub send_errors: AtomicU64,
}

impl Ledger {
    pub fn new(plan: Vec<Planned>, rate: f64, watchers: usize, origin: Instant) -> Arc<Ledger> {
        let n = plan.len();
        Arc::new(Ledger {
            origin,
            rate,
            accepted_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
            arrived_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
            arrivals: (0..n * watchers).map(|_| AtomicU32::new(0)).collect(),
            watchers,
            refused: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            plan,
        })
    }

    pub fn len(&self) -> usize {
        self.plan.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plan.is_empty()
    }

    /// When message `i` is due, from the origin.
    pub fn due(&self, i: usize) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    pub fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX).max(1)
    }

    pub fn accepted(&self, i: usize) {
        self.accepted_at[i].store(self.now_us(), Ordering::Relaxed);
    }

    /// Message `i` seen by watcher `w`; returns how many times it has been now.
    pub fn arrived(&self, w: usize, i: usize) -> u32 {
        if i >= self.plan.len() {
            return 0;
        }
        if w == 0 {
            let _ = self.arrived_at[i].compare_exchange(0, self.now_us(), Ordering::Relaxed, Ordering::Relaxed);
        }
        self.arrivals[w * self.plan.len() + i].fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn is_accepted(&self, i: usize) -> bool {
        self.accepted_at[i].load(Ordering::Relaxed) != 0
    }
}

/// Provider timestamps: customer messages were sent from two hours before the run on, one
/// second apart within a conversation, so the store's provider order is the plan's order.
pub fn provider_timestamp(base: i64, planned: &Planned) -> i64 {
    base + i64::from(planned.k)
}

pub fn whatsapp_customer(customer: u32) -> String {
    format!("1999{customer:08}")
}

/// A Cloud API `messages` webhook with one text, as Meta sends it.
pub fn whatsapp_webhook(numbers: Numbers, run: &str, i: u64, planned: &Planned, base: i64) -> String {
    let from = whatsapp_customer(planned.customer);
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": numbers.business_account_id(), "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": numbers.display_digits(), "phone_number_id": numbers.phone_number_id()},
        "contacts": [{"profile": {"name": format!("Customer {}", planned.customer)}, "wa_id": from}],
        "messages": [{"from": from, "id": format!("wamid.{run}.{i}"), "timestamp": provider_timestamp(base, planned).to_string(),
                      "type": "text", "text": {"body": format!("hello, order {} {}", planned.k, marker(i))}}]}}]}]})
    .to_string()
}

#[allow(clippy::expect_used)] // HMAC takes keys of any length
pub fn hub_signature(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + each parameter's name and value,
/// sorted by name)).
#[allow(clippy::expect_used)] // HMAC takes keys of any length
pub fn twilio_signature(url: &str, params: &[(String, String)]) -> String {
    use base64::Engine as _;
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(TWILIO_AUTH_TOKEN.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn caller_number(customer: u32) -> String {
    format!("+1888{customer:07}")
}

/// The callbacks of a call nobody answers that leaves a voicemail with a transcript carrying
/// the marker: `(path and query, form parameters)`.
pub fn call_callbacks(numbers: Numbers, run: &str, i: u64, planned: &Planned) -> Vec<(String, Vec<(String, String)>)> {
    let ours_number = numbers.twilio_number();
    let sid = format!("CA{run}{i:020}");
    let recording = format!("RE{run}{i:020}");
    let from = caller_number(planned.customer);
    let ours = form_urlencoded::Serializer::new(String::new())
        .append_pair("number", &ours_number)
        .append_pair("caller", &from)
        .finish();
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let call = |status: &str| {
        pairs(&[
            ("AccountSid", TWILIO_ACCOUNT_SID),
            ("CallSid", &sid),
            ("CallStatus", status),
            ("Direction", "inbound"),
            ("From", &from),
            ("To", &ours_number),
        ])
    };
    let mut dial = call("in-progress");
    dial.extend(pairs(&[("DialCallStatus", "no-answer"), ("DialCallDuration", "0")]));
    let recording_url =
        format!("https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Recordings/{recording}");
    let recorded = pairs(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("CallSid", &sid),
        ("RecordingSid", &recording),
        ("RecordingUrl", &recording_url),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "12"),
    ]);
    let transcript = format!("please call me back about order {} {}", planned.k, marker(i));
    let transcribed = pairs(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("CallSid", &sid),
        ("RecordingSid", &recording),
        ("TranscriptionSid", &format!("TR{run}{i:020}")),
        ("TranscriptionStatus", "completed"),
        ("TranscriptionText", &transcript),
    ]);
    let mut completed = call("completed");
    completed.extend(pairs(&[("CallDuration", "35")]));
    vec![
        ("/webhooks/twilio/voice".into(), call("ringing")),
        (format!("/webhooks/twilio/voice/dial?{ours}"), dial),
        (format!("/webhooks/twilio/voice/recording?kind=voicemail&{ours}"), recorded),
        (format!("/webhooks/twilio/voice/transcription?{ours}"), transcribed),
        ("/webhooks/twilio/voice/status".into(), completed),
    ]
}

/// Sends one request until it is answered 2xx or `deadline` passes, over `connection`,
/// reconnecting (to the next address) after a failure. Returns whether it was accepted.
pub async fn send_until_accepted(
    ledger: &Ledger,
    connection: &mut Option<Connection>,
    addresses: &[std::net::SocketAddr],
    next_address: &mut usize,
    request: &[u8],
    deadline: Instant,
) -> bool {
    let mut backoff = Duration::from_millis(50);
    loop {
        if connection.is_none() {
            let address = addresses[*next_address % addresses.len()];
            match tokio::time::timeout(Duration::from_secs(2), Connection::open(address)).await {
                Ok(Ok(c)) => *connection = Some(c),
                _ => {
                    ledger.send_errors.fetch_add(1, Ordering::Relaxed);
                    *next_address += 1;
                }
            }
        }
        if let Some(c) = connection.as_mut() {
            match tokio::time::timeout(Duration::from_secs(10), c.send(request)).await {
                Ok(Ok(status)) if (200..300).contains(&status) => return true,
                Ok(Ok(_)) => {
                    ledger.refused.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    ledger.send_errors.fetch_add(1, Ordering::Relaxed);
                    *connection = None;
                    *next_address += 1;
                }
            }
        }
        if Instant::now() + backoff > deadline {
            return false;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// What the web chat visitors need to talk.
#[derive(Clone)]
pub struct Webchat {
    pub widget_key: String,
}

/// Starts a visitor's session on `base`: its token.
pub async fn visitor_session(client: &reqwest::Client, base: &str, widget_key: &str, n: u32) -> anyhow::Result<String> {
    let answer: serde_json::Value = client
        .post(format!("{base}/webchat/v1/widgets/{widget_key}/sessions"))
        .header("Origin", SHOP_ORIGIN)
        .json(&serde_json::json!({"name": format!("Visitor {n}"), "locale": "en",
                                   "page": {"url": format!("{SHOP_ORIGIN}/products/{n}"), "title": "Shop"}}))
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["visitor_token"].as_str().context("no visitor_token")?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_has_its_own_numbers_and_the_ids_lead_back_to_it() {
        let (a, b) = (Numbers::new(3), Numbers::new(103));
        assert_ne!(a.phone_number_id(), b.phone_number_id());
        assert_ne!(a.twilio_number(), b.twilio_number());
        assert_eq!(a.phone_number_id().len(), 15);
        assert_eq!(Numbers::of_id(&b.phone_number_id()), Some(b));
        assert_eq!(Numbers::of_id(&b.business_account_id()), Some(b));
        assert_eq!(Numbers::of_id("106540352242922"), None);
        assert_eq!(Numbers::of_id("1000000000x"), None);
    }

    #[test]
    fn markers_are_found_in_text_and_json() {
        assert_eq!(message_marker("hello, order 3 qz1234q"), Some(1234));
        assert_eq!(message_marker(r#"{"text":"qz not qz7q"}"#), Some(7));
        assert_eq!(message_marker("qzq qz12"), None);
        assert_eq!(reply_marker("thanks rp55r"), Some(55));
    }

    #[test]
    fn the_mix_gives_each_customer_increasing_places() {
        let mix = Mix { whatsapp_customers: 10, visitors: 2, callers: 1 };
        let plan = mix.plan(1000);
        assert_eq!(plan.iter().filter(|p| p.channel == Channel::Call).count(), 10);
        assert_eq!(plan.iter().filter(|p| p.channel == Channel::Webchat).count(), 40);
        let mut last = std::collections::HashMap::new();
        for p in &plan {
            let previous = last.insert((p.channel, p.customer), p.k);
            assert!(previous.is_none_or(|k| k + 1 == p.k));
        }
    }

    #[test]
    fn the_twilio_signature_matches_twilios_documented_example() {
        // https://www.twilio.com/docs/usage/security#validating-requests, with our token: the
        // algorithm is checked against channel-ingest's own verifier in the fleet run.
        let params = vec![("To".to_owned(), "+1".to_owned()), ("CallSid".to_owned(), "CA1".to_owned())];
        let a = twilio_signature("https://x.test/voice", &params);
        let reversed: Vec<_> = params.into_iter().rev().collect();
        assert_eq!(a, twilio_signature("https://x.test/voice", &reversed), "parameters are sorted");
    }
}
