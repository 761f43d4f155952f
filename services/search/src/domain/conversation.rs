//! The conversation attributes search filters on, as small domain values with their codes in
//! the index. Converted from and to protobuf at the edges.

use inbox_proto::common::v1::Channel as ProtoChannel;
use inbox_proto::conversation::v1::{ConversationStatus, Priority as ProtoPriority, SenderKind};

/// Where a conversation stands in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Active,
    Pending,
    Resolved,
    Archived,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Active, Status::Pending, Status::Resolved, Status::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Archived => "archived",
        }
    }

    /// The code stored in the index (1..=4, the protobuf numbers).
    pub fn code(self) -> u8 {
        self.to_proto() as u8
    }

    pub fn from_code(code: u64) -> Option<Self> {
        i32::try_from(code).ok().and_then(Self::from_proto)
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match ConversationStatus::try_from(value).ok()? {
            ConversationStatus::Active => Some(Status::Active),
            ConversationStatus::Pending => Some(Status::Pending),
            ConversationStatus::Resolved => Some(Status::Resolved),
            ConversationStatus::Archived => Some(Status::Archived),
            ConversationStatus::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> ConversationStatus {
        match self {
            Status::Active => ConversationStatus::Active,
            Status::Pending => ConversationStatus::Pending,
            Status::Resolved => ConversationStatus::Resolved,
            Status::Archived => ConversationStatus::Archived,
        }
    }
}

/// A customer-facing channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Whatsapp,
    Telephony,
    Webchat,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Whatsapp, Channel::Telephony, Channel::Webchat];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Telephony => "telephony",
            Channel::Webchat => "webchat",
        }
    }

    pub fn code(self) -> u8 {
        self.to_proto() as u8
    }

    pub fn from_code(code: u64) -> Option<Self> {
        i32::try_from(code).ok().and_then(Self::from_proto)
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match ProtoChannel::try_from(value).ok()? {
            ProtoChannel::Whatsapp => Some(Channel::Whatsapp),
            ProtoChannel::Telephony => Some(Channel::Telephony),
            ProtoChannel::Webchat => Some(Channel::Webchat),
            ProtoChannel::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> ProtoChannel {
        match self {
            Channel::Whatsapp => ProtoChannel::Whatsapp,
            Channel::Telephony => ProtoChannel::Telephony,
            Channel::Webchat => ProtoChannel::Webchat,
        }
    }
}

/// How important a conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Urgent, Priority::High, Priority::Normal, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn code(self) -> u8 {
        self.to_proto() as u8
    }

    pub fn from_code(code: u64) -> Option<Self> {
        i32::try_from(code).ok().and_then(Self::from_proto)
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match ProtoPriority::try_from(value).ok()? {
            ProtoPriority::Urgent => Some(Priority::Urgent),
            ProtoPriority::High => Some(Priority::High),
            ProtoPriority::Normal => Some(Priority::Normal),
            ProtoPriority::Low => Some(Priority::Low),
            ProtoPriority::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> ProtoPriority {
        match self {
            Priority::Urgent => ProtoPriority::Urgent,
            Priority::High => ProtoPriority::High,
            Priority::Normal => ProtoPriority::Normal,
            Priority::Low => ProtoPriority::Low,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    Customer,
    Agent,
    Ai,
    System,
}

impl Sender {
    pub fn code(self) -> u8 {
        self.to_proto() as u8
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match SenderKind::try_from(value).ok()? {
            SenderKind::Customer => Some(Sender::Customer),
            SenderKind::Agent => Some(Sender::Agent),
            SenderKind::Ai => Some(Sender::Ai),
            SenderKind::System => Some(Sender::System),
            SenderKind::Unspecified => None,
        }
    }

    pub fn from_code(code: u64) -> Option<Self> {
        i32::try_from(code).ok().and_then(Self::from_proto)
    }

    pub fn to_proto(self) -> SenderKind {
        match self {
            Sender::Customer => SenderKind::Customer,
            Sender::Agent => SenderKind::Agent,
            Sender::Ai => SenderKind::Ai,
            Sender::System => SenderKind::System,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(u64::from(s.code())), Some(s));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::from_code(u64::from(c.code())), Some(c));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::from_code(u64::from(p.code())), Some(p));
        }
        assert_eq!(Status::from_code(0), None);
        assert_eq!(Channel::from_code(99), None);
    }
}
