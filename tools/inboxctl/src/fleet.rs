//! `inboxctl fleet`: the configuration an operator's NATS and Redis need so that each service
//! connects as its own user, limited to its subjects and keys (rendered from `inbox-access`,
//! as `just up` and the tests render theirs). Talks to no server.

use std::collections::HashMap;

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum FleetCommand {
    /// The nats-server `authorization { users = [...] }` block: one user per service, each
    /// limited to its subjects. Passwords are read from `NATS_PASSWORD_<SERVICE>` (e.g.
    /// `NATS_PASSWORD_CHANNEL_INGEST`) and written into the block: keep it as a secret.
    NatsAuthorization,
    /// Redis ACL lines (an aclfile, or `ACL SETUSER` arguments after `user`): a default user
    /// that may only PING, and one user per service with Redis state, limited to its keys.
    /// Passwords are read from `REDIS_PASSWORD_<SERVICE>` and written as SHA-256 hashes.
    RedisAcl {
        /// The deployment's key prefix; each service keeps its keys under `<prefix><service>:`
        /// (`inbox:gateway:`, the services' default `redis.key_prefix`).
        #[arg(long, default_value = "inbox:")]
        key_prefix: String,
    },
}

/// Prints the configuration; `--json` prints each user's permissions as data instead.
pub fn run(command: &FleetCommand, json_output: bool) -> anyhow::Result<()> {
    match command {
        FleetCommand::NatsAuthorization if json_output => {
            let users: Vec<Value> = inbox_access::SERVICES
                .iter()
                .filter_map(|service| {
                    let p = inbox_access::nats_permissions(service)?;
                    Some(json!({
                        "user": service,
                        "password_variable": inbox_access::password_variable("nats", service),
                        "publish": {"allow": p.publish, "deny": p.publish_deny},
                        "subscribe": {"allow": p.subscribe},
                    }))
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&json!({"users": users}))?);
        }
        FleetCommand::NatsAuthorization => {
            let passwords = passwords("nats", &inbox_access::SERVICES)?;
            let block = inbox_access::nats_authorization(|s| passwords.get(s).cloned().unwrap_or_default(), None);
            print!("{block}");
        }
        FleetCommand::RedisAcl { key_prefix } => {
            let services: Vec<&str> = inbox_access::REDIS_NAMESPACES.iter().map(|(s, _)| *s).collect();
            let passwords = passwords("redis", &services)?;
            let file = inbox_access::redis_acl_file(
                key_prefix,
                |service| passwords.get(service).cloned().unwrap_or_default(),
                inbox_access::REDIS_DEFAULT_USER_PING_ONLY,
            );
            if json_output {
                println!("{}", serde_json::to_string_pretty(&json!({"acl": file.lines().collect::<Vec<_>>()}))?);
            } else {
                print!("{file}");
            }
        }
    }
    Ok(())
}

/// Each service's password for `system` from its variable (`NATS_PASSWORD_SEARCH`); every one
/// must be set, with at least 16 characters.
fn passwords(system: &str, services: &[&str]) -> anyhow::Result<HashMap<String, String>> {
    let mut missing = Vec::new();
    let mut passwords = HashMap::new();
    for service in services {
        let variable = inbox_access::password_variable(system, service);
        match std::env::var(&variable) {
            Ok(value) if value.len() >= 16 => {
                passwords.insert((*service).to_owned(), value);
            }
            _ => missing.push(variable),
        }
    }
    if !missing.is_empty() {
        bail!("set {} (each at least 16 characters)", missing.join(", "));
    }
    Ok(passwords)
}
