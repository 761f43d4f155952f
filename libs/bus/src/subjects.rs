//! Subject names: the one place that spells them.

use inbox_proto::common::v1::Channel;

/// Lower-case channel token used in subjects (`whatsapp`, `telephony`, `webchat`).
pub fn channel_token(channel: Channel) -> &'static str {
    match channel {
        Channel::Whatsapp => "whatsapp",
        Channel::Telephony => "telephony",
        Channel::Webchat => "webchat",
        Channel::Unspecified => "unspecified",
    }
}

/// The channel named by a subject token; `None` for unknown tokens.
pub fn channel_from_token(token: &str) -> Option<Channel> {
    [Channel::Whatsapp, Channel::Telephony, Channel::Webchat].into_iter().find(|c| channel_token(*c) == token)
}

/// `ingest.<channel>.<tenant>`: normalised inbound provider traffic.
pub fn ingest(channel: Channel, tenant_id: &str) -> String {
    format!("ingest.{}.{}", channel_token(channel), tenant_id)
}

/// `events.<tenant>.<kind>`: domain events, e.g. `events.<tenant>.message.created`.
pub fn event(tenant_id: &str, kind: &str) -> String {
    format!("events.{tenant_id}.{kind}")
}

/// `message.created` from `events.<tenant>.message.created`; `None` when the subject is not
/// an event of `tenant_id`.
pub fn event_kind<'a>(subject: &'a str, tenant_id: &str) -> Option<&'a str> {
    subject.strip_prefix("events.")?.strip_prefix(tenant_id)?.strip_prefix('.').filter(|kind| !kind.is_empty())
}

/// `outbound.<channel>.<tenant>`: replies for channel-ingest to deliver.
pub fn outbound(channel: Channel, tenant_id: &str) -> String {
    format!("outbound.{}.{}", channel_token(channel), tenant_id)
}

/// `webchat.visitor.<tenant>.<visitor>` (core NATS, never on a stream): live frames for one
/// web chat visitor (agent replies and typing); every channel-ingest replica subscribes to
/// [`WEBCHAT_VISITORS`] and pushes them to the visitor's sockets it holds.
pub fn webchat_visitor(tenant_id: &str, visitor_id: &str) -> String {
    format!("webchat.visitor.{tenant_id}.{visitor_id}")
}

/// Every web chat visitor's live frames.
pub const WEBCHAT_VISITORS: &str = "webchat.visitor.>";

/// `typing.<tenant>.<conversation>` (core NATS, never on a stream): an agent typing; every
/// gateway replica subscribes to [`TYPING`] and tells the tenant's agents.
pub fn typing(tenant_id: &str, conversation_id: &str) -> String {
    format!("typing.{tenant_id}.{conversation_id}")
}

/// Every agent typing signal.
pub const TYPING: &str = "typing.>";

/// `dlq.<stream>.<consumer>`: messages a consumer gave up on.
pub fn dead_letter(stream: &str, consumer: &str) -> String {
    format!("dlq.{stream}.{consumer}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_design() {
        assert_eq!(ingest(Channel::Whatsapp, "t1"), "ingest.whatsapp.t1");
        assert_eq!(event("t1", "message.created"), "events.t1.message.created");
        assert_eq!(outbound(Channel::Webchat, "t1"), "outbound.webchat.t1");
        assert_eq!(dead_letter("INGEST", "conversation"), "dlq.INGEST.conversation");
        assert_eq!(webchat_visitor("t1", "v1"), "webchat.visitor.t1.v1");
        assert_eq!(typing("t1", "c1"), "typing.t1.c1");
    }

    #[test]
    fn the_event_kind_is_what_follows_the_tenant_in_the_subject() {
        assert_eq!(event_kind("events.t1.message.created", "t1"), Some("message.created"));
        assert_eq!(event_kind("events.t2.message.created", "t1"), None);
        assert_eq!(event_kind("events.t1.", "t1"), None);
    }
}
