//! The names clients use for the protobuf enums, both ways: one table per enum, read by the
//! presenters (proto → name) and by request parsing (name → proto).

use inbox_errors::PublicError;
use inbox_proto::common::v1::{CallDisposition, CallEvent, Channel, MediaKind};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1::DeliveryState;
use inbox_proto::routing::v1::{Availability, RoutingPolicy};

const STATUSES: [(pb::ConversationStatus, &str); 4] = [
    (pb::ConversationStatus::Active, "active"),
    (pb::ConversationStatus::Pending, "pending"),
    (pb::ConversationStatus::Resolved, "resolved"),
    (pb::ConversationStatus::Archived, "archived"),
];

const PRIORITIES: [(pb::Priority, &str); 4] = [
    (pb::Priority::Urgent, "urgent"),
    (pb::Priority::High, "high"),
    (pb::Priority::Normal, "normal"),
    (pb::Priority::Low, "low"),
];

const AVAILABILITIES: [(Availability, &str); 3] =
    [(Availability::Online, "online"), (Availability::Away, "away"), (Availability::Offline, "offline")];

const POLICIES: [(RoutingPolicy, &str); 2] =
    [(RoutingPolicy::RoundRobin, "round_robin"), (RoutingPolicy::LeastLoaded, "least_loaded")];

const DISPOSITIONS: [(CallDisposition, &str); 5] = [
    (CallDisposition::Answered, "answered"),
    (CallDisposition::Missed, "missed"),
    (CallDisposition::Voicemail, "voicemail"),
    (CallDisposition::Busy, "busy"),
    (CallDisposition::Failed, "failed"),
];

/// Media kinds with the voice flag: a voice note is audio recorded in the chat.
const MEDIA_KINDS: [(MediaKind, bool, &str); 6] = [
    (MediaKind::Image, false, "image"),
    (MediaKind::Audio, false, "audio"),
    (MediaKind::Audio, true, "voice"),
    (MediaKind::Video, false, "video"),
    (MediaKind::Document, false, "document"),
    (MediaKind::Sticker, false, "sticker"),
];

fn name_of<T: PartialEq + Copy>(table: &[(T, &'static str)], value: Option<T>) -> Option<&'static str> {
    let value = value?;
    table.iter().find(|(v, _)| *v == value).map(|(_, name)| *name)
}

fn value_of<T: Copy>(table: &[(T, &'static str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
}

/// `active`, `pending`, `resolved`, `archived`; `unspecified` otherwise.
pub fn status_name(value: i32) -> &'static str {
    name_of(&STATUSES, pb::ConversationStatus::try_from(value).ok()).unwrap_or("unspecified")
}

pub fn status_from_name(name: &str) -> Option<pb::ConversationStatus> {
    value_of(&STATUSES, name)
}

/// The status a request body names, or `invalid_argument` listing the names.
pub fn status_named(name: &str) -> Result<pb::ConversationStatus, PublicError> {
    status_from_name(name)
        .ok_or_else(|| PublicError::invalid_argument("status must be active, pending, resolved or archived"))
}

/// `urgent`, `high`, `normal`, `low`; `unspecified` otherwise.
pub fn priority_name(value: i32) -> &'static str {
    name_of(&PRIORITIES, pb::Priority::try_from(value).ok()).unwrap_or("unspecified")
}

pub fn priority_from_name(name: &str) -> Option<pb::Priority> {
    value_of(&PRIORITIES, name)
}

/// The priority a request body names, or `invalid_argument` listing the names.
pub fn priority_named(name: &str) -> Result<pb::Priority, PublicError> {
    priority_from_name(name)
        .ok_or_else(|| PublicError::invalid_argument("priority must be urgent, high, normal or low"))
}

/// `whatsapp`, `telephony`, `webchat` (the bus's channel tokens); `unspecified` otherwise.
pub fn channel_name(value: i32) -> &'static str {
    Channel::try_from(value).map_or("unspecified", inbox_bus::subjects::channel_token)
}

pub fn channel_from_name(name: &str) -> Option<Channel> {
    inbox_bus::subjects::channel_from_token(name)
}

/// `customer`, `agent`, `ai`, `system`; `unspecified` otherwise.
pub fn sender_kind_name(value: i32) -> &'static str {
    match pb::SenderKind::try_from(value) {
        Ok(pb::SenderKind::Customer) => "customer",
        Ok(pb::SenderKind::Agent) => "agent",
        Ok(pb::SenderKind::Ai) => "ai",
        Ok(pb::SenderKind::System) => "system",
        _ => "unspecified",
    }
}

/// `image`, `audio`, `voice`, `video`, `document`, `sticker`; `file` for kinds not known here.
pub fn media_kind_name(value: i32, voice: bool) -> &'static str {
    let Ok(kind) = MediaKind::try_from(value) else { return "file" };
    let voice = voice && kind == MediaKind::Audio;
    MEDIA_KINDS.iter().find(|(k, v, _)| *k == kind && *v == voice).map_or("file", |(_, _, name)| *name)
}

/// The media kind and voice flag an attachment's `kind` names.
pub fn media_kind_from_name(name: &str) -> Option<(MediaKind, bool)> {
    MEDIA_KINDS.iter().find(|(_, _, n)| *n == name).map(|(kind, voice, _)| (*kind, *voice))
}

/// `online`, `away`; `offline` for everything else.
pub fn availability_name(value: i32) -> &'static str {
    name_of(&AVAILABILITIES, Availability::try_from(value).ok()).unwrap_or("offline")
}

pub fn availability_from_name(name: &str) -> Option<Availability> {
    value_of(&AVAILABILITIES, name)
}

/// `least_loaded`; `round_robin` for everything else (routing's default).
pub fn policy_name(value: i32) -> &'static str {
    name_of(&POLICIES, RoutingPolicy::try_from(value).ok()).unwrap_or("round_robin")
}

pub fn policy_from_name(name: &str) -> Option<RoutingPolicy> {
    value_of(&POLICIES, name)
}

/// `answered`, `missed`, `voicemail`, `busy`, `failed`; `None` when not known.
pub fn disposition_name(value: i32) -> Option<&'static str> {
    name_of(&DISPOSITIONS, CallDisposition::try_from(value).ok())
}

pub fn disposition_from_name(name: &str) -> Option<CallDisposition> {
    value_of(&DISPOSITIONS, name)
}

/// What happened in a call item; `unknown` otherwise.
pub fn call_event_name(value: i32) -> &'static str {
    match CallEvent::try_from(value).unwrap_or(CallEvent::Unspecified) {
        CallEvent::Started => "started",
        CallEvent::Ringing => "ringing",
        CallEvent::Answered => "answered",
        CallEvent::Ended => "ended",
        CallEvent::DialResult => "dial_result",
        CallEvent::Recording => "recording",
        CallEvent::Transcript => "transcript",
        CallEvent::Unspecified => "unknown",
    }
}

/// `queued`, `accepted`, `sent`, `delivered`, `read`, `failed`; `unspecified` otherwise.
pub fn delivery_state_name(value: i32) -> &'static str {
    match DeliveryState::try_from(value) {
        Ok(DeliveryState::Queued) => "queued",
        Ok(DeliveryState::Accepted) => "accepted",
        Ok(DeliveryState::Sent) => "sent",
        Ok(DeliveryState::Delivered) => "delivered",
        Ok(DeliveryState::Read) => "read",
        Ok(DeliveryState::Failed) => "failed",
        _ => "unspecified",
    }
}

/// The names a request field takes, as the OpenAPI document lists them (from the tables above,
/// so document and parsing agree).
pub mod schema {
    use utoipa::openapi::{Object, ObjectBuilder, Type};

    use super::{AVAILABILITIES, MEDIA_KINDS, POLICIES, PRIORITIES, STATUSES};

    fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> Object {
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).build()
    }

    pub fn status() -> Object {
        one_of(STATUSES.iter().map(|(_, n)| *n))
    }

    pub fn priority() -> Object {
        one_of(PRIORITIES.iter().map(|(_, n)| *n))
    }

    pub fn availability() -> Object {
        one_of(AVAILABILITIES.iter().map(|(_, n)| *n))
    }

    pub fn policy() -> Object {
        one_of(POLICIES.iter().map(|(_, n)| *n))
    }

    pub fn media_kind() -> Object {
        one_of(MEDIA_KINDS.iter().map(|(_, _, n)| *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_a_client_may_send_reads_back_as_the_same_name() {
        for (status, name) in STATUSES {
            assert_eq!((status_from_name(name), status_name(status as i32)), (Some(status), name));
        }
        for (priority, name) in PRIORITIES {
            assert_eq!((priority_from_name(name), priority_name(priority as i32)), (Some(priority), name));
        }
        for (availability, name) in AVAILABILITIES {
            assert_eq!(
                (availability_from_name(name), availability_name(availability as i32)),
                (Some(availability), name)
            );
        }
        for (policy, name) in POLICIES {
            assert_eq!((policy_from_name(name), policy_name(policy as i32)), (Some(policy), name));
        }
        for (disposition, name) in DISPOSITIONS {
            assert_eq!(
                (disposition_from_name(name), disposition_name(disposition as i32)),
                (Some(disposition), Some(name))
            );
        }
        for (kind, voice, name) in MEDIA_KINDS {
            assert_eq!((media_kind_from_name(name), media_kind_name(kind as i32, voice)), (Some((kind, voice)), name));
        }
        for channel in ["whatsapp", "telephony", "webchat"] {
            assert_eq!(channel_name(channel_from_name(channel).unwrap() as i32), channel);
        }
    }

    #[test]
    fn values_without_a_name_read_as_documented() {
        assert_eq!(status_name(0), "unspecified");
        assert_eq!(priority_name(99), "unspecified");
        assert_eq!(channel_name(0), "unspecified");
        assert_eq!(availability_name(0), "offline");
        assert_eq!(policy_name(0), "round_robin");
        assert_eq!(disposition_name(0), None);
        assert_eq!(media_kind_name(0, false), "file");
        assert_eq!(media_kind_name(MediaKind::Image as i32, true), "image", "only audio can be a voice note");
        assert_eq!(call_event_name(0), "unknown");
        assert_eq!(delivery_state_name(0), "unspecified");
        assert_eq!(status_from_name("closed"), None);
        assert_eq!(channel_from_name("web"), None);
    }
}
