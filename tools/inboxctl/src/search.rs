//! `inboxctl search`: rebuilding the search index and reading its status, through the
//! gateway's admin API (the operator's token).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Gateway;

#[derive(Subcommand)]
pub enum SearchCommand {
    /// Rebuild the search index from the conversation service while live events keep flowing;
    /// every search replica rebuilds its own copy. Without --tenant, every tenant the index
    /// knows.
    Reindex {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The index of the replica that answers: documents, conversations, events indexed, and
    /// the tenant's recent rebuilds.
    Status {
        #[arg(long)]
        tenant: String,
    },
}

pub async fn run(gateway: &Gateway, command: SearchCommand) -> anyhow::Result<Value> {
    match command {
        SearchCommand::Reindex { tenant: Some(tenant) } => {
            gateway.call(Method::POST, &format!("/v1/admin/tenants/{tenant}/search/reindex"), Some(json!({}))).await
        }
        SearchCommand::Reindex { tenant: None } => {
            gateway.call(Method::POST, "/v1/admin/search/reindex", Some(json!({"all_tenants": true}))).await
        }
        SearchCommand::Status { tenant } => {
            gateway.call(Method::GET, &format!("/v1/admin/tenants/{tenant}/search/status"), None).await
        }
    }
}
