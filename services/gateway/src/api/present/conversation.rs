//! A conversation, its status changes, and the web chat visitor behind it.

use inbox_proto::conversation::v1 as pb;
use inbox_proto::events::v1::ConversationViewer;
use inbox_proto::ingest::v1 as ingest;
use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::{non_empty, time, time_with_offset};
use crate::api::names::{channel_name, priority_name, sender_kind_name, status_name};

/// The contact a conversation is with.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Contact)]
pub struct ContactJson {
    pub id: String,
    pub display_name: String,
    pub segment: String,
}

/// A conversation as lists, one conversation and live events show it. Times are RFC 3339 in UTC
/// with milliseconds; unset times and ids are `null`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Conversation)]
pub struct ConversationJson {
    pub id: String,
    pub channel: &'static str,
    pub channel_account_id: String,
    pub customer_address: String,
    pub contact: Option<ContactJson>,
    pub status: &'static str,
    pub priority: &'static str,
    pub last_message_at: Option<String>,
    pub last_message_preview: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub version: i64,
    pub last_message_sender_kind: &'static str,
    pub status_changed_at: Option<String>,
    pub priority_source: String,
    pub priority_reason: String,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub assigned_at: Option<String>,
    /// `ai` or `human`.
    pub handled_by: String,
    pub needs_human: bool,
    pub needs_human_reason: String,
    pub summary: String,
    pub last_customer_message_at: Option<String>,
    /// For the person reading (lists and one conversation): customer messages after the last
    /// message they marked read (`PUT /v1/conversations/{id}/read`); absent in live events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<u64>,
    /// The last message the person reading marked read; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<String>,
    /// Web chat only (on `GET /v1/conversations/{id}`): who the visitor is, the page they are
    /// on and the pages they visited ([`visitor`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitor: Option<VisitorJson>,
}

impl From<&pb::Conversation> for ConversationJson {
    fn from(c: &pb::Conversation) -> Self {
        Self {
            id: c.id.clone(),
            channel: channel_name(c.channel),
            channel_account_id: c.channel_account_id.clone(),
            customer_address: c.customer_address.clone(),
            contact: c.contact.as_ref().map(|k| ContactJson {
                id: k.id.clone(),
                display_name: k.display_name.clone(),
                segment: k.segment.clone(),
            }),
            status: status_name(c.status),
            priority: priority_name(c.priority),
            last_message_at: time(c.last_message_at.as_ref()),
            last_message_preview: c.last_message_preview.clone(),
            created_at: time(c.created_at.as_ref()),
            updated_at: time(c.updated_at.as_ref()),
            version: c.version,
            last_message_sender_kind: sender_kind_name(c.last_message_sender_kind),
            status_changed_at: time(c.status_changed_at.as_ref()),
            priority_source: c.priority_source.clone(),
            priority_reason: c.priority_reason.clone(),
            assignee_id: non_empty(&c.assignee_id),
            team_id: non_empty(&c.team_id),
            assigned_at: time(c.assigned_at.as_ref()),
            handled_by: c.handled_by.clone(),
            needs_human: c.needs_human,
            needs_human_reason: c.needs_human_reason.clone(),
            summary: c.summary.clone(),
            last_customer_message_at: time(c.last_customer_message_at.as_ref()),
            unread: c.unread,
            last_read_message_id: non_empty(&c.last_read_message_id),
            visitor: None,
        }
    }
}

/// One change of a conversation's status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StatusChange)]
pub struct StatusChangeJson {
    pub from: &'static str,
    pub to: &'static str,
    pub actor: String,
    pub reason: String,
    pub changed_at: Option<String>,
}

impl From<&pb::StatusChange> for StatusChangeJson {
    fn from(c: &pb::StatusChange) -> Self {
        Self {
            from: status_name(c.from),
            to: status_name(c.to),
            actor: c.actor.clone(),
            reason: c.reason.clone(),
            changed_at: time(c.changed_at.as_ref()),
        }
    }
}

/// A page a web chat visitor viewed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PageView)]
pub struct PageViewJson {
    pub url: String,
    pub title: String,
    pub referrer: String,
    /// RFC 3339 with offset.
    pub at: Option<String>,
}

/// A web chat visitor: who they are, the page they are on (the last visited) and the pages.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebchatVisitor)]
pub struct VisitorJson {
    pub id: String,
    pub name: String,
    pub email: String,
    pub browser: String,
    pub user_agent: String,
    pub locale: String,
    pub first_seen_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub current_page: Option<PageViewJson>,
    pub pages: Vec<PageViewJson>,
}

/// A web chat visitor: who they are, the page they are on (the last visited) and the pages.
pub fn visitor(v: &ingest::WebchatVisitor) -> VisitorJson {
    let pages: Vec<PageViewJson> = v
        .pages
        .iter()
        .map(|p| PageViewJson {
            url: p.url.clone(),
            title: p.title.clone(),
            referrer: p.referrer.clone(),
            at: time_with_offset(p.at.as_ref()),
        })
        .collect();
    VisitorJson {
        id: v.visitor_id.clone(),
        name: v.name.clone(),
        email: v.email.clone(),
        browser: v.browser.clone(),
        user_agent: v.user_agent.clone(),
        locale: v.locale.clone(),
        first_seen_at: time_with_offset(v.first_seen_at.as_ref()),
        last_seen_at: time_with_offset(v.last_seen_at.as_ref()),
        current_page: pages.last().cloned(),
        pages,
    }
}

/// A person viewing a conversation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Viewer)]
pub struct ViewerJson {
    pub agent_id: String,
    pub name: String,
    /// Since when (RFC 3339 with offset).
    pub since: Option<String>,
}

/// Who is viewing a conversation now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Viewers)]
pub struct ViewersJson {
    pub conversation_id: String,
    pub viewers: Vec<ViewerJson>,
}

/// Who is viewing a conversation now, the earliest first.
pub fn viewers(conversation_id: &str, viewers: &[ConversationViewer]) -> ViewersJson {
    ViewersJson {
        conversation_id: conversation_id.to_owned(),
        viewers: viewers
            .iter()
            .map(|v| ViewerJson {
                agent_id: v.agent_id.clone(),
                name: v.name.clone(),
                since: time_with_offset(v.since.as_ref()),
            })
            .collect(),
    }
}

/// Where the calling person stands in a conversation after marking it read.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReadState)]
pub struct ReadStateJson {
    pub conversation_id: String,
    pub last_read_message_id: String,
    /// Customer messages after the mark.
    pub unread: u64,
}

/// Where the calling person stands in a conversation after marking it read.
pub fn read_state(r: &pb::ReadState) -> ReadStateJson {
    ReadStateJson {
        conversation_id: r.conversation_id.clone(),
        last_read_message_id: r.last_read_message_id.clone(),
        unread: r.unread,
    }
}

/// The conversation's summary and who wrote it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Summary)]
pub struct SummaryJson {
    pub text: String,
    pub source: String,
    pub updated_at: Option<String>,
}

/// The conversation's summary and who wrote it.
pub fn summary(s: &pb::Summary) -> SummaryJson {
    SummaryJson { text: s.text.clone(), source: s.source.clone(), updated_at: time_with_offset(s.updated_at.as_ref()) }
}

/// The views of the `all` group.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllViewCounts {
    pub total: u64,
    pub active: u64,
    pub pending: u64,
    pub resolved_today: u64,
}

/// The views of the `mine` group.
#[derive(Debug, Serialize, ToSchema)]
pub struct MineViewCounts {
    pub total: u64,
    pub needs_attention: u64,
    pub waiting_for_customer: u64,
    pub ready_to_close: u64,
}

/// The views of the `team` group.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamViewCounts {
    pub total: u64,
    pub unassigned: u64,
    pub in_progress: u64,
    pub needs_review: u64,
}

/// How many conversations each view holds, with the sum of each group and open
/// conversations by channel.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ViewCounts)]
pub struct ViewCountsJson {
    pub all: AllViewCounts,
    pub mine: MineViewCounts,
    pub team: TeamViewCounts,
    /// Open conversations by channel name.
    pub by_channel: BTreeMap<&'static str, u64>,
}

/// How many conversations each view holds, with the sum of each group and open
/// conversations by channel.
pub fn view_counts(c: &pb::ViewCounts) -> ViewCountsJson {
    ViewCountsJson {
        all: AllViewCounts {
            total: c.all_active + c.all_pending + c.all_resolved_today,
            active: c.all_active,
            pending: c.all_pending,
            resolved_today: c.all_resolved_today,
        },
        mine: MineViewCounts {
            total: c.mine_needs_attention + c.mine_waiting_for_customer + c.mine_ready_to_close,
            needs_attention: c.mine_needs_attention,
            waiting_for_customer: c.mine_waiting_for_customer,
            ready_to_close: c.mine_ready_to_close,
        },
        team: TeamViewCounts {
            total: c.team_unassigned + c.team_in_progress + c.team_needs_review,
            unassigned: c.team_unassigned,
            in_progress: c.team_in_progress,
            needs_review: c.team_needs_review,
        },
        by_channel: c.by_channel.iter().map(|b| (channel_name(b.channel), b.open)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use inbox_proto::common::v1::Channel;
    use prost_types::Timestamp;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_conversation_names_its_enums_writes_times_in_utc_and_empty_ids_as_null() {
        let conversation = pb::Conversation {
            id: "c1".into(),
            channel: Channel::Whatsapp as i32,
            customer_address: "15551234567".into(),
            contact: Some(pb::Contact {
                id: "k1".into(),
                display_name: "Ana".into(),
                segment: "vip".into(),
                ..Default::default()
            }),
            status: pb::ConversationStatus::Pending as i32,
            priority: pb::Priority::Urgent as i32,
            last_message_sender_kind: pb::SenderKind::Customer as i32,
            last_message_at: Some(Timestamp { seconds: 1_930_118_400, nanos: 0 }),
            version: 7,
            team_id: "t1".into(),
            handled_by: "ai".into(),
            ..Default::default()
        };
        let json = serde_json::to_value(ConversationJson::from(&conversation)).unwrap();
        assert_eq!(json["channel"], "whatsapp");
        assert_eq!(json["status"], "pending");
        assert_eq!(json["priority"], "urgent");
        assert_eq!(json["last_message_sender_kind"], "customer");
        assert_eq!(json["last_message_at"], "2031-03-01T08:00:00.000Z");
        assert_eq!(json["created_at"], Value::Null);
        assert_eq!(json["contact"], json!({"id": "k1", "display_name": "Ana", "segment": "vip"}));
        assert_eq!((&json["assignee_id"], &json["team_id"]), (&Value::Null, &json!("t1")));
        assert_eq!(json["version"], 7);
        assert!(json.get("visitor").is_none(), "only a web chat conversation served alone has a visitor");
        assert!(json.get("unread").is_none(), "no read state outside a person's read");
    }

    #[test]
    fn a_persons_read_carries_their_unread_count_and_last_read_message() {
        let read = pb::Conversation { unread: Some(2), last_read_message_id: "m7".into(), ..Default::default() };
        let json = serde_json::to_value(ConversationJson::from(&read)).unwrap();
        assert_eq!((&json["unread"], &json["last_read_message_id"]), (&json!(2), &json!("m7")));
        let never = pb::Conversation { unread: Some(5), ..Default::default() };
        let json = serde_json::to_value(ConversationJson::from(&never)).unwrap();
        assert_eq!(json["unread"], 5);
        assert!(json.get("last_read_message_id").is_none());
    }

    #[test]
    fn a_status_change_names_both_statuses() {
        let change = pb::StatusChange {
            from: pb::ConversationStatus::Active as i32,
            to: pb::ConversationStatus::Resolved as i32,
            actor: "user:u1".into(),
            reason: "done".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(StatusChangeJson::from(&change)).unwrap(),
            json!({"from": "active", "to": "resolved", "actor": "user:u1", "reason": "done", "changed_at": null})
        );
    }

    #[test]
    fn a_visitors_current_page_is_the_last_one_visited() {
        let page = |url: &str| ingest::PageView { url: url.into(), ..Default::default() };
        let v = ingest::WebchatVisitor {
            visitor_id: "v1".into(),
            pages: vec![page("https://shop/a"), page("https://shop/b")],
            ..Default::default()
        };
        let json = serde_json::to_value(visitor(&v)).unwrap();
        assert_eq!(json["current_page"]["url"], "https://shop/b");
        assert_eq!(json["pages"].as_array().map(Vec::len), Some(2));
        let nowhere = serde_json::to_value(visitor(&ingest::WebchatVisitor::default())).unwrap();
        assert_eq!(nowhere["current_page"], Value::Null);
    }

    #[test]
    fn view_counts_sum_each_group_and_count_open_conversations_by_channel() {
        let counts = pb::ViewCounts {
            all_active: 3,
            all_pending: 2,
            all_resolved_today: 1,
            mine_needs_attention: 1,
            by_channel: vec![pb::ChannelCount { channel: Channel::Webchat as i32, open: 4 }],
            ..Default::default()
        };
        let json = serde_json::to_value(view_counts(&counts)).unwrap();
        assert_eq!(json["all"], json!({"total": 6, "active": 3, "pending": 2, "resolved_today": 1}));
        assert_eq!(json["mine"]["total"], 1);
        assert_eq!(json["team"]["total"], 0);
        assert_eq!(json["by_channel"], json!({"webchat": 4}));
    }
}
