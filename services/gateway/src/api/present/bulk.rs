//! The answer to a bulk action: counts, and each conversation's outcome (`changed`,
//! `unchanged`, `not_found`, `failed`, or, for an assignment, `waiting` for a team with nobody
//! available and `not_attempted` when the request's deadline came first), with its error
//! when it failed.

use inbox_proto::conversation::v1 as pb;
use inbox_proto::routing::v1 as routing;
use serde::Serialize;
use utoipa::ToSchema;

/// What a bulk action did to one conversation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BulkItemOutcome)]
pub struct BulkItemJson {
    pub conversation_id: String,
    /// changed, unchanged, not_found, failed, waiting or not_attempted (send it again).
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
    /// Conversations an assignment did not reach before its deadline: the caller sends exactly
    /// these again. Always 0 for the other actions.
    pub not_attempted: u64,
    pub results: Vec<BulkItemJson>,
}

/// Counts (changed, unchanged, failed, not attempted) and items, whichever service carried
/// the action out.
fn outcome<'a>(
    (changed, unchanged, failed, not_attempted): (u64, u64, u64, u64),
    items: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> BulkOutcomeJson {
    BulkOutcomeJson {
        changed,
        unchanged,
        failed,
        not_attempted,
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
    outcome((r.changed, r.unchanged, r.failed, 0), items)
}

/// An assignment, carried out by routing.
pub fn assignment_outcome(r: &routing::BulkAssignResponse) -> BulkOutcomeJson {
    let items = r.results.iter().map(|i| (i.conversation_id.as_str(), i.outcome.as_str(), i.error.as_str()));
    outcome((r.changed, r.unchanged, r.failed, r.not_attempted), items)
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
            json!({"changed": 1, "unchanged": 0, "failed": 1, "not_attempted": 0, "results": [
                {"conversation_id": "c1", "outcome": "changed", "error": null},
                {"conversation_id": "c2", "outcome": "failed", "error": "stale"},
            ]})
        );
        let assigned = routing::BulkAssignResponse {
            results: vec![
                routing::BulkAssignItem {
                    conversation_id: "c3".into(),
                    outcome: "waiting".into(),
                    ..Default::default()
                },
                routing::BulkAssignItem {
                    conversation_id: "c4".into(),
                    outcome: "not_attempted".into(),
                    error: "the request's deadline came first: send it again".into(),
                },
            ],
            unchanged: 0,
            changed: 1,
            failed: 0,
            not_attempted: 1,
        };
        let json = serde_json::to_value(assignment_outcome(&assigned)).unwrap();
        assert_eq!(json["results"][0]["outcome"], "waiting");
        assert_eq!((&json["not_attempted"], &json["results"][1]["outcome"]), (&json!(1), &json!("not_attempted")));
    }
}
