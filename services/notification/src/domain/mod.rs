//! The notification rules, pure: no I/O, time passed in. `docs/notifications.md` and
//! `docs/webhooks.md` state them for people.

pub mod address;
pub mod facts;
pub mod kinds;
pub mod preferences;
pub mod recipients;
pub mod sla;
pub mod webhook;

pub use kinds::{Kind, Level};
pub use preferences::{Decision, Preferences, QuietHours};
pub use recipients::{Directory, Person, PersonRole, Seen};
