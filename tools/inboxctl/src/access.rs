//! `inboxctl user` and `inboxctl api-key`: people's passwords, disabling and sessions, and
//! machines' API keys, through the gateway's admin API.

use std::io::Read as _;

use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Gateway;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Set or reset a user's password (at least 12 characters, not the email).
    SetPassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// Read the password from standard input (one line).
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// The password itself (visible in the process list: prefer --password-stdin).
        #[arg(long, hide_env_values = true, env = "INBOX_USER_PASSWORD")]
        password: Option<String>,
    },
    /// Disable a user: every session and token of theirs ends at once, their sockets close.
    Disable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
    },
    /// Enable a disabled user again (tokens from before stay void).
    Enable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
    },
    /// End every session and token of a user (operator-minted tokens too).
    RevokeSessions {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; prints it once (`ik_...`): store it now.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// ai_agent (acts as the tenant's AI), integration (supervisor reach) or read_only.
        #[arg(long)]
        scope: String,
    },
    /// List a tenant's keys (never their secrets) with when each was last used.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key: refused at once everywhere.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key: String,
    },
}

/// The password given on the command line, or the first line of `input`.
fn password_from(password: Option<String>, from_stdin: bool, input: impl std::io::Read) -> anyhow::Result<String> {
    match (password, from_stdin) {
        (Some(password), false) => Ok(password),
        (None, true) => {
            let mut text = String::new();
            input.take(64 * 1024).read_to_string(&mut text).context("cannot read the password from stdin")?;
            let line = text.lines().next().unwrap_or_default().to_owned();
            if line.is_empty() {
                bail!("no password on stdin");
            }
            Ok(line)
        }
        _ => bail!("give --password-stdin or --password"),
    }
}

impl UserCommand {
    pub async fn run(self, gateway: &Gateway) -> anyhow::Result<Value> {
        let user_path = |tenant: &str, user: &str| format!("/v1/admin/tenants/{tenant}/users/{user}");
        match self {
            UserCommand::SetPassword { tenant, user, password_stdin, password } => {
                let password = password_from(password, password_stdin, std::io::stdin())?;
                let path = format!("{}/password", user_path(&tenant, &user));
                gateway.call(Method::PUT, &path, Some(json!({ "password": password }))).await?;
                Ok(json!({"user": user, "password_set": true}))
            }
            UserCommand::Disable { tenant, user } => {
                gateway.call(Method::PATCH, &user_path(&tenant, &user), Some(json!({"disabled": true}))).await
            }
            UserCommand::Enable { tenant, user } => {
                gateway.call(Method::PATCH, &user_path(&tenant, &user), Some(json!({"disabled": false}))).await
            }
            UserCommand::RevokeSessions { tenant, user } => {
                let path = format!("{}/sessions/revoke", user_path(&tenant, &user));
                gateway.call(Method::POST, &path, None).await
            }
        }
    }
}

impl ApiKeyCommand {
    pub async fn run(self, gateway: &Gateway) -> anyhow::Result<Value> {
        match self {
            ApiKeyCommand::Create { tenant, name, scope } => {
                let path = format!("/v1/admin/tenants/{tenant}/api-keys");
                gateway.call(Method::POST, &path, Some(json!({"name": name, "scope": scope}))).await
            }
            ApiKeyCommand::List { tenant } => {
                gateway.call(Method::GET, &format!("/v1/admin/tenants/{tenant}/api-keys"), None).await
            }
            ApiKeyCommand::Revoke { tenant, key } => {
                gateway.call(Method::DELETE, &format!("/v1/admin/tenants/{tenant}/api-keys/{key}"), None).await?;
                Ok(json!({"key": key, "revoked": true}))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_comes_from_the_flag_or_the_first_line_of_stdin() {
        assert_eq!(password_from(Some("from the flag".into()), false, &b""[..]).unwrap(), "from the flag");
        assert_eq!(password_from(None, true, &b"correct horse battery\nrest"[..]).unwrap(), "correct horse battery");
        assert!(password_from(None, true, &b"\n"[..]).is_err());
        assert!(password_from(None, false, &b""[..]).is_err());
    }
}
