//! Notification types and delivery levels, with the product guide's defaults.

use crate::proto::{Level as PbLevel, NotificationType};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    NewConversation,
    Assigned,
    CustomerReplied,
    Urgent,
    SlaWarning,
    SlaBreached,
    StatusChanged,
    WebhookDisabled,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::NewConversation,
        Kind::Assigned,
        Kind::CustomerReplied,
        Kind::Urgent,
        Kind::SlaWarning,
        Kind::SlaBreached,
        Kind::StatusChanged,
        Kind::WebhookDisabled,
    ];

    /// The stored and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewConversation => "new_conversation",
            Kind::Assigned => "assigned",
            Kind::CustomerReplied => "customer_replied",
            Kind::Urgent => "urgent",
            Kind::SlaWarning => "sla_warning",
            Kind::SlaBreached => "sla_breached",
            Kind::StatusChanged => "status_changed",
            Kind::WebhookDisabled => "webhook_disabled",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The guide's defaults ("Settings > Notifications > Inbox"): new conversations sound +
    /// visual, assigned to me all alerts, customer reply visual only, status changes none; the
    /// types the guide does not set: urgent sound + visual, SLA warnings and breaches all,
    /// a disabled webhook visual.
    pub fn default_level(self) -> Level {
        match self {
            Kind::NewConversation | Kind::Urgent => Level::SoundVisual,
            Kind::Assigned | Kind::SlaWarning | Kind::SlaBreached => Level::All,
            Kind::CustomerReplied | Kind::WebhookDisabled => Level::Visual,
            Kind::StatusChanged => Level::None,
        }
    }

    /// The browser notification's title.
    pub fn title(self) -> &'static str {
        match self {
            Kind::NewConversation => "New conversation",
            Kind::Assigned => "Assigned to you",
            Kind::CustomerReplied => "Customer replied",
            Kind::Urgent => "Urgent conversation",
            Kind::SlaWarning => "SLA warning",
            Kind::SlaBreached => "SLA breached",
            Kind::StatusChanged => "Status changed",
            Kind::WebhookDisabled => "Webhook endpoint disabled",
        }
    }

    pub fn to_proto(self) -> NotificationType {
        match self {
            Kind::NewConversation => NotificationType::NewConversation,
            Kind::Assigned => NotificationType::Assigned,
            Kind::CustomerReplied => NotificationType::CustomerReplied,
            Kind::Urgent => NotificationType::Urgent,
            Kind::SlaWarning => NotificationType::SlaWarning,
            Kind::SlaBreached => NotificationType::SlaBreached,
            Kind::StatusChanged => NotificationType::StatusChanged,
            Kind::WebhookDisabled => NotificationType::WebhookDisabled,
        }
    }

    pub fn from_proto(t: NotificationType) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.to_proto() == t)
    }
}

/// How loudly an agent hears about a type; ordered from quietest to loudest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    None,
    Visual,
    SoundVisual,
    All,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Visual => "visual",
            Level::SoundVisual => "sound_visual",
            Level::All => "all",
        }
    }

    pub fn parse(name: &str) -> Option<Level> {
        [Level::None, Level::Visual, Level::SoundVisual, Level::All].into_iter().find(|l| l.as_str() == name)
    }

    pub fn to_proto(self) -> PbLevel {
        match self {
            Level::None => PbLevel::None,
            Level::Visual => PbLevel::Visual,
            Level::SoundVisual => PbLevel::SoundVisual,
            Level::All => PbLevel::All,
        }
    }

    /// `None` for LEVEL_UNSPECIFIED (which means "the default").
    pub fn from_proto(level: PbLevel) -> Option<Level> {
        match level {
            PbLevel::Unspecified => None,
            PbLevel::None => Some(Level::None),
            PbLevel::Visual => Some(Level::Visual),
            PbLevel::SoundVisual => Some(Level::SoundVisual),
            PbLevel::All => Some(Level::All),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_guides() {
        assert_eq!(Kind::NewConversation.default_level(), Level::SoundVisual);
        assert_eq!(Kind::Assigned.default_level(), Level::All);
        assert_eq!(Kind::CustomerReplied.default_level(), Level::Visual);
        assert_eq!(Kind::StatusChanged.default_level(), Level::None);
    }

    #[test]
    fn names_and_proto_values_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(Kind::from_proto(kind.to_proto()), Some(kind));
        }
        for level in [Level::None, Level::Visual, Level::SoundVisual, Level::All] {
            assert_eq!(Level::parse(level.as_str()), Some(level));
            assert_eq!(Level::from_proto(level.to_proto()), Some(level));
        }
    }
}
