//! The answer to a bulk action: counts, and each conversation's outcome (`changed`,
//! `unchanged`, `not_found`, `failed`, or `waiting` for an assignment to a team with nobody
//! available), with its error when it failed.

use inbox_proto::conversation::v1 as pb;
use inbox_proto::routing::v1 as routing;
use serde::Serialize;
use utoipa::ToSchema;

/// What a bulk action did to one conversation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BulkItemOutcome)]
pub struct BulkItemJson {
    pub conversation_id: String,
    /// changed, unchanged, not_found, failed or waiting.
    pub outcome: String,
    /// Why it failed; `null` otherwise.
    pub error: Option<String>,
}

/// What a bulk action did: counts, and each conversation's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BulkOutcome)]
pub struct BulkOutcomeJson {
    pub changed: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub results: Vec<BulkItemJson>,
}

/// Counts and items, whichever service carried the action out.
fn outcome<'a>(
    changed: u64,
    unchanged: u64,
    failed: u64,
    items: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> BulkOutcomeJson {
    BulkOutcomeJson {
        changed,
        unchanged,
        failed,
        results: items
            .map(|(conversation_id, outcome, error)| BulkItemJson {
                conversation_id: conversation_id.to_owned(),
                outcome: outcome.to_owned(),
                error: super::non_empty(error),
            })
            .collect(),
    }
}

/// A status, priority, archive or delete action, carried out by the conversation service.
pub fn action_outcome(r: &pb::BulkActionResponse) -> BulkOutcomeJson {
    let items = r.results.iter().map(|i| (i.conversation_id.as_str(), i.outcome.as_str(), i.error.as_str()));
    outcome(r.changed, r.unchanged, r.failed, items)
}

/// An assignment, carried out by routing.
pub fn assignment_outcome(r: &routing::BulkAssignResponse) -> BulkOutcomeJson {
    let items = r.results.iter().map(|i| (i.conversation_id.as_str(), i.outcome.as_str(), i.error.as_str()));
    outcome(r.changed, r.unchanged, r.failed, items)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_conversation_of_a_bulk_action_is_reported_with_its_error_only_when_it_failed() {
        let response = pb::BulkActionResponse {
            results: vec![
                pb::BulkItemResult { conversation_id: "c1".into(), outcome: "changed".into(), error: String::new() },
                pb::BulkItemResult { conversation_id: "c2".into(), outcome: "failed".into(), error: "stale".into() },
            ],
            changed: 1,
            unchanged: 0,
            failed: 1,
        };
        assert_eq!(
            serde_json::to_value(action_outcome(&response)).unwrap(),
            json!({"changed": 1, "unchanged": 0, "failed": 1, "results": [
                {"conversation_id": "c1", "outcome": "changed", "error": null},
                {"conversation_id": "c2", "outcome": "failed", "error": "stale"},
            ]})
        );
        let assigned = routing::BulkAssignResponse {
            results: vec![routing::BulkAssignItem {
                conversation_id: "c3".into(),
                outcome: "waiting".into(),
                ..Default::default()
            }],
            unchanged: 0,
            changed: 0,
            failed: 0,
        };
        assert_eq!(serde_json::to_value(assignment_outcome(&assigned)).unwrap()["results"][0]["outcome"], "waiting");
    }
}
