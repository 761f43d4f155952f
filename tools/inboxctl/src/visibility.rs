//! `inboxctl tenant set-visibility`: which conversations a tenant's agents see, through the
//! gateway's admin API (the operator's token).

use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use super::Gateway;

#[derive(Args)]
pub struct SetVisibility {
    #[arg(long)]
    tenant: String,
    /// `all`: every conversation of the tenant; `team`: an agent's teams' conversations, those
    /// assigned to them and unassigned ones (supervisors and admins always see all).
    #[arg(long, value_parser = ["all", "team"])]
    visibility: String,
}

impl SetVisibility {
    pub async fn run(self, gateway: &Gateway) -> anyhow::Result<Value> {
        let path = format!("/v1/admin/tenants/{}/settings/access", self.tenant);
        gateway.call(Method::PUT, &path, Some(json!({"visibility": self.visibility}))).await
    }
}
