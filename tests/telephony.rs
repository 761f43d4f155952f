//! Twilio Programmable Voice end to end, through the built binaries: Twilio's documented
//! callbacks (form-encoded, signed as Twilio signs them) for an answered call, a missed call
//! that goes to voicemail with a recording and a transcript, a busy call; retries, duplicates
//! and out-of-order callbacks; two channel-ingest replicas; refused callbacks; the calls and
//! dispositions through the gateway, an agent setting one; replay of the archive.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use anyhow::Context;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    connect_stream, get_json, inboxctl, next_frame_of_type, person_token, send_json, wait_until_settled,
};
use serde_json::{Value, json};
use std::collections::HashSet;

/// The URL Twilio is configured with (a proxy in front of channel-ingest): signatures cover it.
const PUBLIC: &str = "https://voice.acme.test/inbox";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "e2e-twilio-auth-token";
const OUR_NUMBER: &str = "+14155550100";
const AGENT_1: &str = "+14155550111";
const AGENT_2: &str = "+14155550112";
const GREETING: &str = "Sorry, we're all busy <right now> & will call back";

const ANN: &str = "+4915111111111";
const BOB: &str = "+4915122222222";
const CAROL: &str = "+4915133333333";
const DAVE: &str = "+4915144444444";
const NOBODY: &str = "+4915199999999";
const BOB_RECORDING: &str = "RE0123456789abcdef0123456789abcdef";
/// What the local Twilio serves as Bob's voicemail.
const RECORDING_BYTES: &[u8] = b"ID3\x04\0\0\0\0\0\0 bob's voicemail, as mp3";

/// Twilio's algorithm, written here independently of channel-ingest's.
fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn the_test_signer_reproduces_twilios_documented_example() {
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    assert_eq!(
        twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
}

/// A local Twilio REST API: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`, recording
/// each request (authorization and form) and answering as Twilio documents.
/// One `Calls.json` request: Account SID of the path, `Authorization`, the form.
type PlacedCall = (String, String, Vec<(String, String)>);

#[derive(Clone, Default)]
struct FakeTwilioApi {
    calls: std::sync::Arc<std::sync::Mutex<Vec<PlacedCall>>>,
}

impl FakeTwilioApi {
    async fn start() -> anyhow::Result<(FakeTwilioApi, String)> {
        use axum::extract::{Path, State};
        use axum::http::HeaderMap;
        async fn create_call(
            State(fake): State<FakeTwilioApi>,
            Path(account_sid): Path<String>,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> (axum::http::StatusCode, axum::Json<Value>) {
            let form: Vec<(String, String)> =
                form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let authorization =
                headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let to = form.iter().find(|(k, _)| k == "To").map(|(_, v)| v.clone()).unwrap_or_default();
            fake.calls.lock().unwrap().push((account_sid.clone(), authorization, form));
            // The second agent's phone is one Twilio will not call (as its test number
            // +15005550001 would be refused).
            if to == AGENT_2 {
                let message = format!("The 'To' number {to} is not a valid phone number.");
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    axum::Json(json!({"code": 21211, "message": message, "status": 400})),
                );
            }
            (
                axum::http::StatusCode::CREATED,
                axum::Json(json!({"sid": "CAclick1", "account_sid": account_sid, "status": "queued", "to": to})),
            )
        }
        /// `GET /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.mp3`, with HTTP basic
        /// auth as Twilio requires when media authentication is on.
        async fn recording(
            Path((account_sid, file)): Path<(String, String)>,
            headers: HeaderMap,
        ) -> axum::response::Response {
            use axum::response::IntoResponse;
            use base64::Engine as _;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
            );
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
                return axum::http::StatusCode::UNAUTHORIZED.into_response();
            }
            if account_sid != ACCOUNT_SID || file != format!("{BOB_RECORDING}.mp3") {
                return axum::http::StatusCode::NOT_FOUND.into_response();
            }
            ([(axum::http::header::CONTENT_TYPE, "audio/mpeg")], RECORDING_BYTES).into_response()
        }
        /// `GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=`: the
        /// account owns OUR_NUMBER only; wrong credentials get Twilio's 20003.
        async fn incoming_numbers(
            Path(account_sid): Path<String>,
            axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
            headers: HeaderMap,
        ) -> axum::response::Response {
            use axum::response::IntoResponse;
            use base64::Engine as _;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
            );
            if account_sid != ACCOUNT_SID
                || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected)
            {
                let refusal = json!({"code": 20003, "message": "Authenticate", "status": 401});
                return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(refusal)).into_response();
            }
            let asked = query.get("PhoneNumber").cloned().unwrap_or_default();
            let numbers: Vec<Value> = if asked == OUR_NUMBER {
                vec![json!({"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": OUR_NUMBER})]
            } else {
                Vec::new()
            };
            axum::Json(json!({"incoming_phone_numbers": numbers, "page": 0, "page_size": 50})).into_response()
        }
        let fake = FakeTwilioApi::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{account_sid}/Calls.json", axum::routing::post(create_call))
            .route("/2010-04-01/Accounts/{account_sid}/Recordings/{file}", axum::routing::get(recording))
            .route("/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json", axum::routing::get(incoming_numbers))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((fake, url))
    }
}

fn form_value<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

struct Twilio {
    client: reqwest::Client,
}

impl Twilio {
    /// POSTs a callback to `base` (a channel-ingest replica) at `path_and_query`, signed for
    /// our public URL with `token`.
    async fn post_signed_with(
        &self,
        base: &str,
        path_and_query: &str,
        params: &[(&str, &str)],
        token: &str,
    ) -> anyhow::Result<Answer> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        let signature = twilio_signature(token, &format!("{PUBLIC}{path_and_query}"), params);
        let response = self
            .client
            .post(format!("{base}{path_and_query}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Ok(Answer { status, content_type, body: response.text().await? })
    }

    async fn post(&self, base: &str, path_and_query: &str, params: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let answer = self.post_signed_with(base, path_and_query, params, AUTH_TOKEN).await?;
        anyhow::ensure!(answer.status == 200, "{path_and_query} answered {}: {}", answer.status, answer.body);
        Ok(answer)
    }
}

fn call_params<'a>(sid: &'a str, from: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", status),
        ("Called", OUR_NUMBER),
        ("Caller", from),
        ("Direction", "inbound"),
        ("From", from),
        ("FromCountry", "DE"),
        ("To", OUR_NUMBER),
        ("ToCountry", "US"),
    ]
}

/// The query our TwiML puts on the dial action, recording and transcription URLs.
fn ours(caller: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("number", OUR_NUMBER)
        .append_pair("caller", caller)
        .finish()
}

struct Inbox {
    gateway: String,
    client: reqwest::Client,
    token: String,
}

impl Inbox {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    async fn conversation_of(&self, address: &str) -> anyhow::Result<Option<String>> {
        let (_, list) = get_json(&self.client, self.url("/v1/conversations?limit=100"), &self.token).await?;
        Ok(list["items"]
            .as_array()
            .context("items")?
            .iter()
            .find(|c| c["customer_address"] == address)
            .map(|c| c["id"].as_str().unwrap().to_owned()))
    }

    async fn messages(&self, conversation: &str) -> anyhow::Result<Vec<Value>> {
        let (status, page) = get_json(
            &self.client,
            self.url(&format!("/v1/conversations/{conversation}/messages?limit=200")),
            &self.token,
        )
        .await?;
        anyhow::ensure!(status == 200, "messages answered {status}: {page}");
        Ok(page["items"].as_array().context("items")?.clone())
    }

    async fn calls(&self, conversation: &str) -> anyhow::Result<Vec<Value>> {
        let (status, page) =
            get_json(&self.client, self.url(&format!("/v1/conversations/{conversation}/calls")), &self.token).await?;
        anyhow::ensure!(status == 200, "calls answered {status}: {page}");
        Ok(page["items"].as_array().context("items")?.clone())
    }

    async fn set_disposition(
        &self,
        token: &str,
        conversation: &str,
        call_sid: &str,
        disposition: Value,
    ) -> anyhow::Result<(u16, Value)> {
        send_json(
            &self.client,
            reqwest::Method::PUT,
            self.url(&format!("/v1/conversations/{conversation}/calls/{call_sid}/disposition")),
            token,
            &json!({"disposition": disposition}),
        )
        .await
    }
}

fn external_ids(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| m["external_id"].as_str().unwrap_or_default().to_owned()).collect()
}

// Several threads: inboxctl runs as a blocking child process while the local Twilio API, a
// task of this runtime, answers channel-ingest's questions about the number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_become_call_items_with_the_right_dispositions() -> anyhow::Result<()> {
    let (twilio_api, twilio_api_url) = FakeTwilioApi::start().await?;
    let mut fleet = Fleet::start_with(&[
        ("channel-ingest", "INBOX__TWILIO__PUBLIC_BASE_URL", format!("{PUBLIC}/")),
        ("channel-ingest", "INBOX__TWILIO__API_BASE_URL", twilio_api_url),
        // Small enough that an oversized body fits the socket buffers: the 413 is read, not
        // cut off by the server closing while the client still writes.
        ("channel-ingest", "INBOX__INGEST__MAX_BODY_BYTES", "8192".into()),
    ])
    .await?;
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let tenant = inboxctl(&fleet, &["tenant", "create", "--slug", "acme", "--name", "Acme", "--time-zone", "UTC"])?;
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let token = person_token(&fleet, &tenant_id, "sarah@acme.test", "Sarah", "agent")?;
    let ai_token = person_token(&fleet, &tenant_id, "bot@acme.test", "Bot", "ai")?;
    // Twilio is asked first: a number the account does not own, or wrong credentials, are refused.
    let base = ["twilio", "add", "--tenant", &tenant_id, "--account-sid", ACCOUNT_SID, "--agent-number", AGENT_1];
    let not_ours =
        inboxctl(&fleet, &[&base[..], &["--auth-token", AUTH_TOKEN, "--phone-number", "+14155550199"]].concat());
    // Refused without repeating the number (errors never list phone numbers).
    let not_ours = not_ours.expect_err("a number the account does not own is refused").to_string();
    // (inboxctl's error repeats the command line; the gateway's answer follows "failed:")
    let answer = not_ours.rsplit("failed:").next().unwrap_or_default();
    assert!(answer.contains("has no such number") && !answer.contains("4155550199"), "{not_ours}");
    let wrong_token =
        inboxctl(&fleet, &[&base[..], &["--auth-token", "not-the-token", "--phone-number", OUR_NUMBER]].concat());
    assert!(wrong_token.is_err_and(|e| e.to_string().contains("20003")));
    let listed = inboxctl(&fleet, &["twilio", "list", "--tenant", &tenant_id])?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0), "nothing connected: {listed}");
    let account = inboxctl(
        &fleet,
        &[
            "twilio",
            "add",
            "--tenant",
            &tenant_id,
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "--phone-number",
            OUR_NUMBER,
            "--agent-number",
            AGENT_1,
            "--agent-number",
            AGENT_2,
            "--ring-timeout",
            "25",
            "--greeting",
            GREETING,
            "--transcribe",
        ],
    )?;
    assert_eq!(account["phone_number"], OUR_NUMBER);
    assert_eq!(account["has_auth_token"], true);
    let listed = inboxctl(&fleet, &["twilio", "list", "--tenant", &tenant_id])?;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(AUTH_TOKEN), "the auth token is never returned");

    let ingest = fleet.http_url("channel-ingest");
    let twilio = Twilio { client: reqwest::Client::new() };
    let inbox = Inbox { gateway: fleet.http_url("gateway"), client: reqwest::Client::new(), token: token.clone() };

    // 1. Ann's call is answered by an agent and lasts 42 s. Twilio retries two callbacks.
    let voice = twilio.post(&ingest, "/webhooks/twilio/voice", &call_params("CAann", ANN, "ringing")).await?;
    assert!(voice.content_type.starts_with("text/xml"), "{}", voice.content_type);
    let dial_action = format!("{PUBLIC}/webhooks/twilio/voice/dial?number=%2B14155550100&amp;caller=%2B4915111111111");
    assert_eq!(
        voice.body,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="25" action="{dial_action}" method="POST"><Number>{AGENT_1}</Number><Number>{AGENT_2}</Number></Dial></Response>"#
        )
    );
    twilio.post(&ingest, "/webhooks/twilio/voice", &call_params("CAann", ANN, "ringing")).await?;
    twilio.post(&ingest, "/webhooks/twilio/voice/status", &call_params("CAann", ANN, "in-progress")).await?;
    let mut dial = call_params("CAann", ANN, "in-progress");
    dial.extend([("DialCallStatus", "completed"), ("DialCallSid", "CAleg1"), ("DialCallDuration", "40")]);
    let hangup = twilio.post(&ingest, &format!("/webhooks/twilio/voice/dial?{}", ours(ANN)), &dial).await?;
    assert!(hangup.body.contains("<Hangup/>"), "{}", hangup.body);
    let mut completed = call_params("CAann", ANN, "completed");
    completed.push(("CallDuration", "42"));
    twilio.post(&ingest, "/webhooks/twilio/voice/status", &completed).await?;
    twilio.post(&ingest, "/webhooks/twilio/voice/status", &completed).await?;

    // 2. Bob's call is missed and he leaves a voicemail; the callbacks arrive out of order
    // (the call's `completed` first, the recording before the dial outcome) and are retried.
    twilio.post(&ingest, "/webhooks/twilio/voice", &call_params("CAbob", BOB, "ringing")).await?;
    let mut completed = call_params("CAbob", BOB, "completed");
    completed.push(("CallDuration", "55"));
    twilio.post(&ingest, "/webhooks/twilio/voice/status", &completed).await?;
    let recording = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CAbob"),
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        (
            "RecordingUrl",
            "https://api.twilio.com/2010-04-01/Accounts/AC0123/Recordings/RE0123456789abcdef0123456789abcdef",
        ),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "17"),
        ("RecordingChannels", "1"),
        ("RecordingSource", "RecordVerb"),
    ];
    let recording_path = format!("/webhooks/twilio/voice/recording?kind=voicemail&{}", ours(BOB));
    let empty = twilio.post(&ingest, &recording_path, &recording).await?;
    assert!(empty.content_type.starts_with("text/xml"));
    let mut dial = call_params("CAbob", BOB, "in-progress");
    dial.extend([("DialCallStatus", "no-answer"), ("DialCallDuration", "0")]);
    let dial_path = format!("/webhooks/twilio/voice/dial?{}", ours(BOB));
    let voicemail = twilio.post(&ingest, &dial_path, &dial).await?;
    assert!(
        voicemail.body.contains("<Say>Sorry, we&apos;re all busy &lt;right now&gt; &amp; will call back</Say>"),
        "{}",
        voicemail.body
    );
    assert!(voicemail.body.contains(r#"<Record maxLength="120""#), "{}", voicemail.body);
    assert!(
        voicemail.body.contains(&format!(
            r#"recordingStatusCallback="{PUBLIC}/webhooks/twilio/voice/recording?kind=voicemail&amp;number=%2B14155550100&amp;caller=%2B4915122222222""#
        )),
        "{}",
        voicemail.body
    );
    assert!(
        voicemail.body.contains(&format!(
            r#"transcribe="true" transcribeCallback="{PUBLIC}/webhooks/twilio/voice/transcription?number="#
        )),
        "{}",
        voicemail.body
    );
    // After `<Record>` Twilio requests the action URL with the recording: we hang up.
    let mut after_record = call_params("CAbob", BOB, "in-progress");
    after_record.extend([
        ("RecordingUrl", "https://api.twilio.com/x/RE0123456789abcdef0123456789abcdef"),
        ("RecordingDuration", "17"),
    ]);
    assert!(twilio.post(&ingest, &dial_path, &after_record).await?.body.contains("<Hangup/>"));
    let transcription = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CAbob"),
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        (
            "RecordingUrl",
            "https://api.twilio.com/2010-04-01/Accounts/AC0123/Recordings/RE0123456789abcdef0123456789abcdef",
        ),
        ("TranscriptionSid", "TRbob"),
        ("TranscriptionStatus", "completed"),
        ("TranscriptionText", "Hi, it's Bob, please call me back about order 1042."),
        ("TranscriptionType", "fast"),
        ("TranscriptionUrl", "https://api.twilio.com/2010-04-01/Accounts/AC0123/Transcriptions/TRbob"),
        ("url", "https://voice.acme.test/inbox/webhooks/twilio/voice/transcription"),
    ];
    let transcription_path = format!("/webhooks/twilio/voice/transcription?{}", ours(BOB));
    twilio.post(&ingest, &transcription_path, &transcription).await?;
    // Retries, late: the dial outcome, the recording and the transcript again.
    twilio.post(&ingest, &dial_path, &dial).await?;
    twilio.post(&ingest, &recording_path, &recording).await?;
    twilio.post(&ingest, &transcription_path, &transcription).await?;

    // 3. Carol's call: the agents are busy, she hangs up at the greeting.
    twilio.post(&ingest, "/webhooks/twilio/voice", &call_params("CAcarol", CAROL, "ringing")).await?;
    let mut dial = call_params("CAcarol", CAROL, "in-progress");
    dial.extend([("DialCallStatus", "busy"), ("DialCallDuration", "0")]);
    twilio.post(&ingest, &format!("/webhooks/twilio/voice/dial?{}", ours(CAROL)), &dial).await?;
    let mut completed = call_params("CAcarol", CAROL, "completed");
    completed.push(("CallDuration", "6"));
    twilio.post(&ingest, "/webhooks/twilio/voice/status", &completed).await?;

    // 4. Dave's callbacks go to two replicas at once, each raced to both.
    let second = fleet.start_replica("channel-ingest").await?;
    let replicas = [ingest.clone(), second];
    let mut dave: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/webhooks/twilio/voice".into(), call_params("CAdave", DAVE, "ringing")),
        ("/webhooks/twilio/voice/status".into(), call_params("CAdave", DAVE, "in-progress")),
    ];
    let mut dial = call_params("CAdave", DAVE, "in-progress");
    dial.extend([("DialCallStatus", "answered"), ("DialCallDuration", "12")]);
    dave.push((format!("/webhooks/twilio/voice/dial?{}", ours(DAVE)), dial));
    let mut completed = call_params("CAdave", DAVE, "completed");
    completed.push(("CallDuration", "14"));
    dave.push(("/webhooks/twilio/voice/status".into(), completed));
    let posts = dave
        .iter()
        .flat_map(|(path, params)| replicas.iter().map(|base| twilio.post_signed_with(base, path, params, AUTH_TOKEN)));
    for answer in futures::future::join_all(posts).await {
        let answer = answer?;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    // 5. Refused callbacks store nothing.
    let nobody = call_params("CAnobody", NOBODY, "ringing");
    let bad = twilio.post_signed_with(&ingest, "/webhooks/twilio/voice", &nobody, "not-the-token").await?;
    assert_eq!(bad.status, 401, "{}", bad.body);
    // Signed for /voice/status, posted to /voice: the URL is part of what is signed.
    let response = {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(nobody.iter()).finish();
        let signature = twilio_signature(AUTH_TOKEN, &format!("{PUBLIC}/webhooks/twilio/voice/status"), &nobody);
        twilio
            .client
            .post(format!("{ingest}/webhooks/twilio/voice"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await?
    };
    assert_eq!(response.status(), 401);
    let unsigned = twilio
        .client
        .post(format!("{ingest}/webhooks/twilio/voice"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_urlencoded::Serializer::new(String::new()).extend_pairs(nobody.iter()).finish())
        .send()
        .await?;
    assert_eq!(unsigned.status(), 401);
    let malformed: Vec<(&str, &str)> = nobody.iter().copied().filter(|(k, _)| *k != "CallSid").collect();
    let answer = twilio.post_signed_with(&ingest, "/webhooks/twilio/voice", &malformed, AUTH_TOKEN).await?;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("CallSid"), "{}", answer.body);
    let mut elsewhere = nobody.clone();
    elsewhere.retain(|(k, _)| *k != "To");
    elsewhere.push(("To", "+14155559999"));
    assert_eq!(twilio.post_signed_with(&ingest, "/webhooks/twilio/voice", &elsewhere, AUTH_TOKEN).await?.status, 404);
    let mut other_account = nobody.clone();
    other_account[0] = ("AccountSid", "ACffffffffffffffffffffffffffffffff");
    assert_eq!(
        twilio.post_signed_with(&ingest, "/webhooks/twilio/voice", &other_account, AUTH_TOKEN).await?.status,
        404
    );
    let huge = "x".repeat(16 * 1024);
    let mut too_large = nobody.clone();
    too_large.push(("Padding", &huge));
    assert_eq!(twilio.post_signed_with(&ingest, "/webhooks/twilio/voice", &too_large, AUTH_TOKEN).await?.status, 413);
    let as_json = twilio
        .client
        .post(format!("{ingest}/webhooks/twilio/voice"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await?;
    assert_eq!(as_json.status(), 400);

    wait_until_settled(&fleet).await?;
    assert_eq!(inbox.conversation_of(NOBODY).await?, None, "refused callbacks stored nothing");

    // The answered call: four items, once each, and its disposition.
    let ann = inbox.conversation_of(ANN).await?.context("Ann's conversation")?;
    let (_, conversation) = get_json(&inbox.client, inbox.url(&format!("/v1/conversations/{ann}")), &token).await?;
    assert_eq!(conversation["channel"], "telephony");
    let messages = inbox.messages(&ann).await?;
    let ids: HashSet<String> = external_ids(&messages).into_iter().collect();
    assert_eq!(messages.len(), 4, "{:?}", external_ids(&messages));
    assert_eq!(
        ids,
        ["call:CAann:started", "call:CAann:in-progress", "call:CAann:dial", "call:CAann:completed"]
            .map(String::from)
            .into()
    );
    let ended = messages.iter().find(|m| m["external_id"] == "call:CAann:completed").unwrap();
    assert_eq!(ended["content"]["type"], "call");
    assert_eq!(ended["content"]["event"], "ended");
    assert_eq!(ended["content"]["duration_seconds"], 42);
    assert_eq!(ended["content"]["from"], ANN);
    let calls = inbox.calls(&ann).await?;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["call_sid"], "CAann");
    assert_eq!(calls[0]["disposition"], "answered");
    assert_eq!(calls[0]["duration_seconds"], 42);

    // The voicemail: recording and transcript, disposition voicemail despite the order.
    let bob = inbox.conversation_of(BOB).await?.context("Bob's conversation")?;
    let messages = inbox.messages(&bob).await?;
    assert_eq!(messages.len(), 5, "started, completed, recording, dial, transcript: {:?}", external_ids(&messages));
    let voicemail =
        messages.iter().find(|m| m["external_id"] == "recording:RE0123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(voicemail["content"]["recording"]["voicemail"], true);
    assert_eq!(voicemail["content"]["recording"]["duration_seconds"], 17);
    let transcript = messages.iter().find(|m| m["external_id"] == "transcription:TRbob").unwrap();
    assert_eq!(transcript["content"]["transcript"]["text"], "Hi, it's Bob, please call me back about order 1042.");
    let calls = inbox.calls(&bob).await?;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["disposition"], "voicemail");
    assert_eq!(calls[0]["auto_disposition"], "voicemail");
    assert_eq!(
        calls[0]["recordings"][0]["url"],
        "https://api.twilio.com/2010-04-01/Accounts/AC0123/Recordings/RE0123456789abcdef0123456789abcdef"
    );
    assert_eq!(calls[0]["transcripts"][0]["status"], "completed");
    // Agents listen through the gateway: channel-ingest fetches it from Twilio's API with the
    // number's credentials (the URL is built from the SID, never taken from the callback).
    assert_eq!(calls[0]["recordings"][0]["recording_sid"], BOB_RECORDING);
    let listened = inbox
        .client
        .get(inbox.url(&format!("/v1/conversations/{bob}/media/{BOB_RECORDING}")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(listened.status(), 200);
    assert_eq!(listened.headers()["content-type"], "audio/mpeg");
    assert!(listened.headers()["content-disposition"].to_str()?.starts_with("inline; "));
    assert_eq!(listened.headers()["content-security-policy"], "sandbox; default-src 'none'");
    assert_eq!(listened.bytes().await?.as_ref(), RECORDING_BYTES);
    let missing = inbox
        .client
        .get(inbox.url(&format!("/v1/conversations/{bob}/media/RE{}", "f".repeat(32))))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(missing.status(), 404);

    // The busy call.
    let carol = inbox.conversation_of(CAROL).await?.context("Carol's conversation")?;
    let calls = inbox.calls(&carol).await?;
    assert_eq!(calls[0]["disposition"], "busy");

    // The call taken by two replicas: each item once.
    let dave_conversation = inbox.conversation_of(DAVE).await?.context("Dave's conversation")?;
    let messages = inbox.messages(&dave_conversation).await?;
    assert_eq!(messages.len(), 4, "{:?}", external_ids(&messages));
    assert_eq!(inbox.calls(&dave_conversation).await?[0]["disposition"], "answered");

    // An agent sets Carol's call's disposition (pushed live); the AI may not; wrong input is
    // refused.
    let mut socket = connect_stream(&fleet, &token).await?;
    let (status, call) = inbox.set_disposition(&token, &carol, "CAcarol", json!("answered")).await?;
    let frame = next_frame_of_type(&mut socket, "call.disposition_changed").await?;
    assert_eq!(frame["call"]["call_sid"], "CAcarol");
    assert_eq!(frame["call"]["disposition"], "answered");
    assert_eq!(frame["call"]["conversation_id"], carol.as_str());
    assert_eq!(status, 200, "{call}");
    assert_eq!((call["disposition"].as_str(), call["auto_disposition"].as_str()), (Some("answered"), Some("busy")));
    assert!(call["disposition_set_by"].as_str().unwrap().starts_with("user:"));
    let calls = inbox.calls(&carol).await?;
    assert_eq!(calls[0]["agent_disposition"], "answered");
    let (status, _) = inbox.set_disposition(&ai_token, &carol, "CAcarol", json!("missed")).await?;
    assert_eq!(status, 403);
    let (status, _) = inbox.set_disposition(&token, &carol, "CAnope", json!("missed")).await?;
    assert_eq!(status, 404);
    let (status, _) = inbox.set_disposition(&token, &carol, "CAcarol", json!("lost")).await?;
    assert_eq!(status, 400);
    let (status, call) = inbox.set_disposition(&token, &carol, "CAcarol", Value::Null).await?;
    assert_eq!(status, 200);
    assert_eq!(call["disposition"], "busy", "clearing goes back to the automatic disposition");

    // Replaying the archive stores nothing twice.
    let replayed = inboxctl(&fleet, &["twilio", "replay", "--tenant", &tenant_id, "--since", &started.to_rfc3339()])?;
    assert!(replayed["payloads"].as_u64().unwrap() >= 20, "{replayed}");
    wait_until_settled(&fleet).await?;
    assert_eq!(inbox.messages(&bob).await?.len(), 5);
    assert_eq!(inbox.messages(&ann).await?.len(), 4);
    assert_eq!(inbox.calls(&bob).await?[0]["disposition"], "voicemail");

    // Click-to-call: Sarah calls Ann back. Twilio rings Sarah's phone (the number's first agent
    // number), then, once she answers, asks us how to connect: we dial Ann from our number.
    let (status, placed) = send_json(
        &inbox.client,
        reqwest::Method::POST,
        inbox.url(&format!("/v1/conversations/{ann}/calls")),
        &token,
        &json!({}),
    )
    .await?;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["call_sid"], "CAclick1");
    let (account_sid, authorization, form) = twilio_api.calls.lock().unwrap()[0].clone();
    assert_eq!(account_sid, ACCOUNT_SID);
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(authorization, format!("Basic {credentials}"));
    assert_eq!((form_value(&form, "From"), form_value(&form, "To")), (OUR_NUMBER, AGENT_1));
    let connect_url = form_value(&form, "Url").to_owned();
    let status_url = form_value(&form, "StatusCallback").to_owned();
    assert_eq!(connect_url, format!("{PUBLIC}/webhooks/twilio/voice/connect?{}", ours(ANN)));
    let click = |status: &'static str| {
        vec![
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", "CAclick1"),
            ("CallStatus", status),
            ("Direction", "outbound-api"),
            ("From", OUR_NUMBER),
            ("To", AGENT_1),
        ]
    };
    let connect = twilio.post(&ingest, connect_url.strip_prefix(PUBLIC).unwrap(), &click("in-progress")).await?;
    assert_eq!(
        connect.body,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="{OUR_NUMBER}" timeout="25" action="{PUBLIC}/webhooks/twilio/voice/dial?number=%2B14155550100&amp;caller=%2B4915111111111" method="POST"><Number>{ANN}</Number></Dial></Response>"#
        )
    );
    let mut dial = click("in-progress");
    dial.extend([("DialCallStatus", "completed"), ("DialCallDuration", "28")]);
    let hangup = twilio.post(&ingest, &format!("/webhooks/twilio/voice/dial?{}", ours(ANN)), &dial).await?;
    assert!(hangup.body.contains("<Hangup/>"));
    let mut completed = click("completed");
    completed.push(("CallDuration", "31"));
    twilio.post(&ingest, status_url.strip_prefix(PUBLIC).unwrap(), &completed).await?;
    wait_until_settled(&fleet).await?;
    let calls = inbox.calls(&ann).await?;
    assert_eq!(calls.len(), 2, "{calls:?}");
    let back = calls.iter().find(|c| c["call_sid"] == "CAclick1").unwrap();
    assert_eq!((back["from"].as_str(), back["to"].as_str()), (Some(OUR_NUMBER), Some(ANN)));
    assert_eq!(back["disposition"], "answered");
    assert_eq!(back["duration_seconds"], 31);
    let (status, _) = send_json(
        &inbox.client,
        reqwest::Method::POST,
        inbox.url(&format!("/v1/conversations/{ann}/calls")),
        &ai_token,
        &json!({}),
    )
    .await?;
    assert_eq!(status, 403, "the AI places no calls");
    // Only the number's agent phones are rung: nobody dials an arbitrary line on the tenant's bill.
    let (status, refused) = send_json(
        &inbox.client,
        reqwest::Method::POST,
        inbox.url(&format!("/v1/conversations/{ann}/calls")),
        &token,
        &json!({"agent_number": "+15005550001"}),
    )
    .await?;
    assert_eq!(status, 400, "{refused}");
    // Refused without listing them: they are colleagues' own phones.
    assert!(refused.to_string().contains("not one of this number's agent numbers"), "{refused}");
    assert!(!refused.to_string().contains(AGENT_1), "the agents' phones are never listed: {refused}");
    let placed = twilio_api.calls.lock().unwrap().len();
    let (status, refused) = send_json(
        &inbox.client,
        reqwest::Method::POST,
        inbox.url(&format!("/v1/conversations/{ann}/calls")),
        &token,
        &json!({"agent_number": AGENT_2}),
    )
    .await?;
    let now_placed = twilio_api.calls.lock().unwrap().len();
    assert_eq!(now_placed, placed + 1, "the refused agent number never reached Twilio; this one did");
    assert_eq!(status, 409, "{refused}");
    assert!(refused.to_string().contains("21211"), "Twilio's reason is shown: {refused}");

    // inboxctl plays a whole voicemail call, signed as Twilio would.
    let played = inboxctl(
        &fleet,
        &[
            "twilio",
            "send-test-voicemail",
            "--ingest-url",
            &ingest,
            "--public-base-url",
            PUBLIC,
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "--to",
            OUR_NUMBER,
            "--from",
            "+4915155555555",
        ],
    )?;
    let call_sid = played["call_sid"].as_str().unwrap().to_owned();
    wait_until_settled(&fleet).await?;
    let eve = inbox.conversation_of("+4915155555555").await?.context("the played caller's conversation")?;
    let calls = inbox.calls(&eve).await?;
    assert_eq!(calls[0]["call_sid"], call_sid.as_str());
    assert_eq!(calls[0]["disposition"], "voicemail");
    assert_eq!(calls[0]["transcripts"][0]["text"], "Hi, this is Ana, please call me back about my order.");
    Ok(())
}
