//! The demo tenant, made once through the public admin API with the operator's token and
//! remembered in a state file (so its people keep their passwords across restarts): people
//! with passwords, teams, the three channels, an API key for the AI agent, response templates.

use std::path::Path;

use anyhow::Context;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::Gateway;
use crate::edges::{TwilioNumber, WhatsappNumber};
use crate::script;

/// The demo tenant as the simulator set it up (the state file's content).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Demo {
    pub tenant_id: String,
    pub tenant_slug: String,
    pub people: Vec<Person>,
    pub teams: Vec<Team>,
    pub ai_api_key: String,
    pub widget_key: String,
    pub widget_id: String,
    pub whatsapp_phone_number_id: String,
    pub whatsapp_app_secret: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    pub twilio_number: String,
    /// Keeps the customers of this tenant apart from another run's (their numbers).
    pub run: u32,
    /// Past conversations seeded (0 until the seed finished).
    pub seeded: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
}

impl Demo {
    pub fn whatsapp(&self) -> WhatsappNumber {
        WhatsappNumber {
            phone_number_id: self.whatsapp_phone_number_id.clone(),
            app_secret: self.whatsapp_app_secret.clone(),
        }
    }

    pub fn twilio(&self, public_base_url: &str) -> TwilioNumber {
        TwilioNumber {
            account_sid: self.twilio_account_sid.clone(),
            auth_token: self.twilio_auth_token.clone(),
            number: self.twilio_number.clone(),
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
        }
    }

    pub fn load(path: &Path) -> Option<Demo> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Writes the state file (owner-only: it holds passwords and secrets), atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// The demo's WhatsApp number and the business account that owns it (at the simulated Meta).
pub const DEMO_PHONE_NUMBER_ID: &str = "100000000000001";
pub const DEMO_BUSINESS_ACCOUNT_ID: &str = "100000000000777";

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A password people can type: four words and a number.
fn password() -> String {
    const WORDS: &[&str] = &[
        "amber", "basil", "cedar", "delta", "ember", "fjord", "gecko", "harbor", "indigo", "jasper", "koala", "lagoon",
        "maple", "nectar", "orbit", "pepper", "quartz", "river", "saffron", "tundra", "umber", "velvet", "willow",
        "yonder", "zephyr",
    ];
    let mut buf = [0u8; 5];
    rand::rng().fill_bytes(&mut buf);
    let words: Vec<&str> = buf[..4].iter().map(|b| WORDS[*b as usize % WORDS.len()]).collect();
    format!("{}-{}", words.join("-"), buf[4] % 90 + 10)
}

/// Whether the tenant of a saved demo still exists (the database may have been wiped).
pub async fn still_there(gateway: &Gateway, operator: &str, demo: &Demo) -> anyhow::Result<bool> {
    let answer = gateway
        .call(reqwest::Method::GET, &format!("/v1/admin/tenants/{}/teams", demo.tenant_id), operator, None)
        .await?;
    Ok(answer.status == 200)
}

/// Sets up the demo tenant from scratch. `shop_origin` is the demo page's origin (web chat),
/// `twilio_public_base_url` where Twilio is told channel-ingest is.
pub async fn create(gateway: &Gateway, operator: &str, shop_origins: &[String]) -> anyhow::Result<Demo> {
    // A slug taken by an earlier demo whose state file is gone gets a suffix.
    let mut slug = "demo".to_owned();
    let mut tenant = gateway
        .call(
            reqwest::Method::POST,
            "/v1/admin/tenants",
            operator,
            Some(&json!({"slug": slug, "name": "Demo Company", "time_zone": "Europe/Paris"})),
        )
        .await?;
    if tenant.status == 409 {
        slug = format!("demo-{}", &random_hex(2));
        tenant = gateway
            .call(
                reqwest::Method::POST,
                "/v1/admin/tenants",
                operator,
                Some(&json!({"slug": slug, "name": "Demo Company", "time_zone": "Europe/Paris"})),
            )
            .await?;
    }
    let tenant = tenant.ok("create the demo tenant")?;
    let tenant_id = tenant["id"].as_str().context("tenant id")?.to_owned();
    let admin = |path: &str| format!("/v1/admin/tenants/{tenant_id}{path}");

    let mut people = Vec::new();
    for (name, local, role) in script::AGENTS {
        let email = format!("{local}@demo.test");
        let user = gateway
            .post(
                &admin("/users"),
                operator,
                &json!({"email": email, "name": name, "role": role, "capacity": 6, "time_zone": "Europe/Paris"}),
            )
            .await?;
        let id = user["id"].as_str().context("user id")?.to_owned();
        let password = password();
        gateway.put(&admin(&format!("/users/{id}/password")), operator, &json!({"password": password})).await?;
        people.push(Person { id, name: (*name).to_owned(), email, role: (*role).to_owned(), password });
    }

    // Support takes WhatsApp and web chat hand-offs; Billing & Sales calls.
    let mut teams = Vec::new();
    for (name, policy, channels, members) in [
        ("Support", "least_loaded", vec!["whatsapp", "webchat"], vec!["sarah", "priya", "tom", "lucia"]),
        ("Billing & Sales", "round_robin", vec!["telephony"], vec!["sam", "lucia"]),
    ] {
        let team = gateway
            .post(&admin("/teams"), operator, &json!({"name": name, "policy": policy, "handoff_channels": channels}))
            .await?;
        let team_id = team["id"].as_str().context("team id")?.to_owned();
        for member in members {
            if let Some(person) = people.iter().find(|p| p.email.starts_with(&format!("{member}@"))) {
                gateway
                    .call(
                        reqwest::Method::PUT,
                        &admin(&format!("/teams/{team_id}/members/{}", person.id)),
                        operator,
                        Some(&json!({})),
                    )
                    .await?
                    .ok("add a team member")?;
            }
        }
        teams.push(Team { id: team_id, name: name.to_owned() });
    }

    let whatsapp_app_secret = random_hex(16);
    let phone_number_id = DEMO_PHONE_NUMBER_ID.to_owned();
    gateway
        .post(
            &admin("/channels/whatsapp"),
            operator,
            &json!({
                "phone_number_id": phone_number_id, "display_phone_number": "+1 555 000 0001",
                "app_secret": whatsapp_app_secret, "verify_token": random_hex(8), "access_token": format!("EAAG{}", random_hex(12)),
                "business_account_id": DEMO_BUSINESS_ACCOUNT_ID,
            }),
        )
        .await?;
    let twilio_account_sid = format!("AC{}", random_hex(16));
    let twilio_auth_token = random_hex(16);
    let twilio_number = "+15550000002".to_owned();
    gateway
        .post(
            &admin("/channels/twilio"),
            operator,
            &json!({
                "account_sid": twilio_account_sid, "auth_token": twilio_auth_token, "phone_number": twilio_number,
                "agent_numbers": ["+15550000099"], "ring_timeout_seconds": 20, "voicemail": true,
                "voicemail_greeting": "Sorry, nobody can take your call. Please leave a message after the tone.",
                "transcribe": true,
            }),
        )
        .await?;
    let widget = gateway
        .post(
            &admin("/channels/webchat"),
            operator,
            &json!({"name": "Demo Company", "allowed_origins": shop_origins, "greeting": "Hi! How can we help?", "color": "#2563eb"}),
        )
        .await?;
    let key = gateway
        .post(&admin("/api-keys"), operator, &json!({"name": "reference AI agent", "scope": "ai_agent"}))
        .await?;

    let demo = Demo {
        tenant_id: tenant_id.clone(),
        tenant_slug: slug,
        people,
        teams,
        ai_api_key: key["key"].as_str().context("api key")?.to_owned(),
        widget_key: widget["widget_key"].as_str().context("widget_key")?.to_owned(),
        widget_id: widget["id"].as_str().context("widget id")?.to_owned(),
        whatsapp_phone_number_id: phone_number_id,
        whatsapp_app_secret,
        twilio_account_sid,
        twilio_auth_token,
        twilio_number,
        run: u32::from_str_radix(&random_hex(2), 16)? % 100,
        seeded: 0,
    };

    // The admin's settings and saved replies.
    let sarah = token_of(gateway, operator, &demo, 0).await?;
    let mut settings = gateway.get("/v1/settings/tenant", &sarah).await?;
    settings["company_name"] = json!("Demo Company");
    let settings = json!({
        "time_zone": settings["time_zone"], "company_name": settings["company_name"],
        "ai_confidence_threshold": settings["ai_confidence_threshold"], "handoff_message": settings["handoff_message"],
    });
    gateway.put("/v1/settings/tenant", &sarah, &settings).await?;
    for (name, body) in script::TEMPLATES {
        gateway.post("/v1/templates", &sarah, &json!({"name": name, "body": body})).await?;
    }
    Ok(demo)
}

/// Keeps the widget's allowed origins in step with where the demo page is served now.
pub async fn allow_origins(gateway: &Gateway, operator: &str, demo: &Demo, origins: &[String]) -> anyhow::Result<()> {
    gateway
        .put(
            &format!("/v1/admin/tenants/{}/channels/webchat/{}", demo.tenant_id, demo.widget_id),
            operator,
            &json!({"name": "Demo Company", "allowed_origins": origins, "greeting": "Hi! How can we help?", "color": "#2563eb"}),
        )
        .await
        .map(|_| ())
}

/// A token for the `n`th person, minted by the operator (a day long).
pub async fn token_of(gateway: &Gateway, operator: &str, demo: &Demo, n: usize) -> anyhow::Result<String> {
    let person = demo.people.get(n).context("no such person")?;
    let minted = gateway
        .post(
            &format!("/v1/admin/tenants/{}/users/{}/tokens", demo.tenant_id, person.id),
            operator,
            &json!({"ttl_hours": 24}),
        )
        .await?;
    Ok(minted["token"].as_str().context("token")?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_meet_the_gateways_policy() {
        for _ in 0..50 {
            let p = password();
            assert!(p.chars().count() >= 12, "{p}");
            assert!(!p.contains('@'));
        }
    }

    #[test]
    fn the_state_file_round_trips_and_is_private() {
        let dir = std::env::temp_dir().join(format!("sim-state-{}", random_hex(4)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("demo.json");
        let demo = Demo {
            tenant_id: "t".into(),
            tenant_slug: "demo".into(),
            people: vec![],
            teams: vec![],
            ai_api_key: "ik_x".into(),
            widget_key: "wk".into(),
            widget_id: "w".into(),
            whatsapp_phone_number_id: "1".into(),
            whatsapp_app_secret: "s".into(),
            twilio_account_sid: "AC".into(),
            twilio_auth_token: "a".into(),
            twilio_number: "+1".into(),
            run: 3,
            seeded: 0,
        };
        demo.save(&path).unwrap();
        assert_eq!(Demo::load(&path).unwrap().ai_api_key, "ik_x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
