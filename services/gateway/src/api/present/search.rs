//! What the search service finds, as clients read it: conversations in the same JSON as the
//! conversation list, with the highlighted fragments that matched; customers; frequent
//! questions; the index's status.

use std::collections::BTreeMap;

use inbox_proto::search::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::conversation::ConversationJson;
use super::{non_empty, time};
use crate::api::names::{channel_name, sender_kind_name, status_name};

/// A matched range of a fragment: byte offsets into the fragment (UTF-8), end exclusive.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HighlightRange)]
pub struct HighlightRangeJson {
    pub start: u32,
    pub end: u32,
}

/// A piece of text with the parts that matched the query.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Highlight)]
pub struct HighlightJson {
    /// Which text: `body` (a message), `transcript` (a call), `voicemail`, `name`, `phone`,
    /// `email`, `attributes`.
    pub field: String,
    /// At most about 150 characters around the best matches.
    pub fragment: String,
    /// In order.
    pub ranges: Vec<HighlightRangeJson>,
}

impl From<&pb::Highlight> for HighlightJson {
    fn from(h: &pb::Highlight) -> Self {
        Self {
            field: h.field.clone(),
            fragment: h.fragment.clone(),
            ranges: h.ranges.iter().map(|r| HighlightRangeJson { start: r.start, end: r.end }).collect(),
        }
    }
}

/// The message of a conversation that matched best.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MessageHit)]
pub struct MessageHitJson {
    pub id: String,
    /// `customer`, `agent`, `ai`, `system`.
    pub sender_kind: &'static str,
    pub sent_at: Option<String>,
    pub internal_note: bool,
    pub highlight: Option<HighlightJson>,
}

/// One conversation the query found.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConversationSearchHit)]
pub struct ConversationHitJson {
    /// The conversation as last indexed, in the JSON of `GET /v1/conversations` (without the
    /// reader's `unread`).
    pub conversation: ConversationJson,
    /// What matched: the best message's fragment first, then the conversation's own (the
    /// customer's name or phone). Empty when the query has no words.
    pub highlights: Vec<HighlightJson>,
    /// The best matching message; absent when only the conversation itself matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageHitJson>,
    /// Relevance (0 in recent order or without words).
    pub score: f32,
}

/// How many conversations match in all (not only on this page), by status and by channel.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchFacets)]
pub struct FacetsJson {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_channel: BTreeMap<String, u64>,
}

/// A page of conversations found.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConversationSearchPage)]
pub struct ConversationPageJson {
    pub items: Vec<ConversationHitJson>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
    /// Only when `facets=true` was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<FacetsJson>,
    /// The query as understood: operators lower case, phones in E.164, the word being typed
    /// marked `*`.
    pub understood_query: String,
}

fn conversation_hit(hit: &pb::ConversationHit) -> Option<ConversationHitJson> {
    let conversation = ConversationJson::from(hit.conversation.as_ref()?);
    let message = hit.best_message.as_ref().map(|m| MessageHitJson {
        id: m.message_id.clone(),
        sender_kind: sender_kind_name(m.sender_kind),
        sent_at: time(m.sent_at.as_ref()),
        internal_note: m.internal_note,
        highlight: m.highlight.as_ref().map(HighlightJson::from),
    });
    let highlights = hit
        .best_message
        .as_ref()
        .and_then(|m| m.highlight.as_ref())
        .into_iter()
        .chain(hit.conversation_highlight.as_ref())
        .filter(|h| !h.fragment.is_empty())
        .map(HighlightJson::from)
        .collect();
    Some(ConversationHitJson { conversation, highlights, message, score: hit.score })
}

/// The search service's page; a hit without its conversation (which the service always gives)
/// is left out rather than shown empty.
pub fn conversation_page(found: &pb::SearchConversationsResponse) -> ConversationPageJson {
    ConversationPageJson {
        items: found.hits.iter().filter_map(conversation_hit).collect(),
        next_cursor: non_empty(&found.next_cursor),
        facets: found.facets.as_ref().map(|f| FacetsJson {
            total: f.total,
            by_status: f.by_status.iter().map(|s| (status_name(s.status).to_owned(), s.count)).collect(),
            by_channel: f.by_channel.iter().map(|c| (channel_name(c.channel).to_owned(), c.count)).collect(),
        }),
        understood_query: found.understood_query.clone(),
    }
}

/// A customer the query found.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CustomerSearchHit)]
pub struct CustomerHitJson {
    pub id: String,
    pub display_name: String,
    /// E.164.
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub segment: String,
    pub highlight: Option<HighlightJson>,
    pub score: f32,
    pub updated_at: Option<String>,
}

/// A page of customers found.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CustomerSearchPage)]
pub struct CustomerPageJson {
    pub items: Vec<CustomerHitJson>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
    pub understood_query: String,
}

pub fn customer_page(found: &pb::SearchCustomersResponse) -> CustomerPageJson {
    CustomerPageJson {
        items: found
            .hits
            .iter()
            .map(|c| CustomerHitJson {
                id: c.customer_id.clone(),
                display_name: c.display_name.clone(),
                phones: c.phones.clone(),
                emails: c.emails.clone(),
                attributes: c.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                segment: c.segment.clone(),
                highlight: c.highlight.as_ref().map(HighlightJson::from),
                score: c.score,
                updated_at: time(c.updated_at.as_ref()),
            })
            .collect(),
        next_cursor: non_empty(&found.next_cursor),
        understood_query: found.understood_query.clone(),
    }
}

/// A customer's first message that stands for a frequent question.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QuestionExample)]
pub struct QuestionExampleJson {
    pub conversation_id: String,
    pub message_id: String,
    pub text: String,
    pub sent_at: Option<String>,
}

/// A group of customers' first messages sharing their most significant words.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TopQuestion)]
pub struct TopQuestionJson {
    /// The words the group shares (stemmed, accent-folded), most significant first.
    pub terms: Vec<String>,
    /// The group's most typical question.
    pub label: String,
    pub count: u64,
    /// Up to three, most typical first.
    pub examples: Vec<QuestionExampleJson>,
}

/// The questions customers asked most in the period, most frequent first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TopQuestions)]
pub struct TopQuestionsJson {
    pub items: Vec<TopQuestionJson>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// First customer messages considered (the newest 20,000 of the period at most).
    pub messages_considered: u64,
}

pub fn top_questions(found: &pb::TopQuestionsResponse) -> TopQuestionsJson {
    TopQuestionsJson {
        items: found
            .questions
            .iter()
            .map(|q| TopQuestionJson {
                terms: q.terms.clone(),
                label: q.label.clone(),
                count: q.count,
                examples: q
                    .examples
                    .iter()
                    .map(|e| QuestionExampleJson {
                        conversation_id: e.conversation_id.clone(),
                        message_id: e.message_id.clone(),
                        text: e.text.clone(),
                        sent_at: time(e.sent_at.as_ref()),
                    })
                    .collect(),
            })
            .collect(),
        from: time(found.from.as_ref()),
        to: time(found.to.as_ref()),
        messages_considered: found.messages_considered,
    }
}

/// One rebuild of one tenant on the answering replica.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchRebuild)]
pub struct RebuildJson {
    pub tenant_id: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub conversations: u64,
    pub messages: u64,
    pub customers: u64,
    /// Conversations removed because the conversation service no longer has them.
    pub removed: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why it failed; `null` otherwise.
    pub error: Option<String>,
}

/// The index of the search replica that answered.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchIndexStatus)]
pub struct IndexStatusJson {
    pub schema_version: u32,
    pub documents: u64,
    pub conversations: u64,
    /// Events indexed since the replica started.
    pub events_indexed: u64,
    pub last_commit_at: Option<String>,
    /// Recent rebuilds of the tenant, newest first.
    pub rebuilds: Vec<RebuildJson>,
    /// The JetStream consumer the replica reads `events.>` with.
    pub consumer: String,
}

pub fn index_status(s: &pb::IndexStatus) -> IndexStatusJson {
    IndexStatusJson {
        schema_version: s.schema_version,
        documents: s.documents,
        conversations: s.conversations,
        events_indexed: s.events_indexed,
        last_commit_at: time(s.last_commit_at.as_ref()),
        rebuilds: s
            .rebuilds
            .iter()
            .map(|r| RebuildJson {
                tenant_id: r.tenant_id.clone(),
                state: r.state.clone(),
                conversations: r.conversations,
                messages: r.messages,
                customers: r.customers,
                removed: r.removed,
                started_at: time(r.started_at.as_ref()),
                finished_at: time(r.finished_at.as_ref()),
                error: non_empty(&r.error),
            })
            .collect(),
        consumer: s.consumer.clone(),
    }
}

/// The tenants whose index is being rebuilt (every search replica rebuilds its own copy).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchReindex)]
pub struct ReindexJson {
    pub tenant_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use inbox_proto::conversation::v1 as conv;
    use prost_types::Timestamp;
    use serde_json::json;

    use super::*;

    fn highlight(field: &str, fragment: &str, ranges: &[(u32, u32)]) -> pb::Highlight {
        pb::Highlight {
            field: field.into(),
            fragment: fragment.into(),
            ranges: ranges.iter().map(|&(start, end)| pb::HighlightRange { start, end }).collect(),
        }
    }

    #[test]
    fn a_hit_is_the_list_conversation_with_the_message_fragment_first() {
        let conversation = conv::Conversation {
            id: "c1".into(),
            status: conv::ConversationStatus::Active as i32,
            version: 3,
            last_message_preview: "where is my parcel?".into(),
            ..Default::default()
        };
        let found = pb::SearchConversationsResponse {
            hits: vec![
                pb::ConversationHit {
                    conversation: Some(conversation.clone()),
                    best_message: Some(pb::MessageHit {
                        message_id: "m1".into(),
                        sender_kind: conv::SenderKind::Customer as i32,
                        sent_at: Some(Timestamp { seconds: 1_930_118_400, nanos: 0 }),
                        internal_note: false,
                        highlight: Some(highlight("body", "my refund request", &[(3, 9)])),
                    }),
                    conversation_highlight: Some(highlight("name", "Ana Refund", &[(4, 10)])),
                    score: 1.5,
                },
                pb::ConversationHit { conversation: None, ..Default::default() },
            ],
            next_cursor: String::new(),
            facets: Some(pb::Facets {
                total: 7,
                by_status: vec![pb::StatusCount { status: conv::ConversationStatus::Active as i32, count: 7 }],
                by_channel: vec![],
            }),
            understood_query: "refund*".into(),
        };
        let page = serde_json::to_value(conversation_page(&found)).unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "a hit without its conversation is left out");
        let hit = &page["items"][0];
        assert_eq!(hit["conversation"], serde_json::to_value(ConversationJson::from(&conversation)).unwrap());
        assert_eq!(
            hit["highlights"],
            json!([
                {"field": "body", "fragment": "my refund request", "ranges": [{"start": 3, "end": 9}]},
                {"field": "name", "fragment": "Ana Refund", "ranges": [{"start": 4, "end": 10}]},
            ])
        );
        assert_eq!(hit["message"]["id"], "m1");
        assert_eq!(hit["message"]["sender_kind"], "customer");
        assert_eq!(hit["message"]["sent_at"], "2031-03-01T08:00:00.000Z");
        assert_eq!(page["next_cursor"], json!(null));
        assert_eq!(page["facets"], json!({"total": 7, "by_status": {"active": 7}, "by_channel": {}}));
        assert_eq!(page["understood_query"], "refund*");
    }

    #[test]
    fn a_conversation_found_by_its_customer_alone_has_no_message_and_facets_only_when_asked() {
        let found = pb::SearchConversationsResponse {
            hits: vec![pb::ConversationHit {
                conversation: Some(conv::Conversation { id: "c2".into(), ..Default::default() }),
                best_message: None,
                conversation_highlight: Some(highlight("name", "Ana Lima", &[(0, 3)])),
                score: 0.0,
            }],
            next_cursor: "b24x".into(),
            facets: None,
            understood_query: "name:ana".into(),
        };
        let page = serde_json::to_value(conversation_page(&found)).unwrap();
        let hit = &page["items"][0];
        assert!(hit.get("message").is_none());
        assert_eq!(hit["highlights"][0]["field"], "name");
        assert_eq!(page["next_cursor"], "b24x");
        assert!(page.get("facets").is_none());
    }
}
