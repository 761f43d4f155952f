//! The send guard: a reply written on an out-of-date view of the conversation is refused rather
//! than sent over someone else's answer (two agents answering one customer at once).
//!
//! The sender names the newest message they had seen. What counts as "someone acted" after it:
//! a reply or an internal note by another person, or a message of the AI agent. Not the
//! customer (answering a customer who wrote again is the point of replying), not the system
//! (hand-off and automatic messages announce what a person or rule already did), and not the
//! sender's own earlier messages (sent from another tab, say). A note counts: a colleague who
//! writes "I'm on it" has acted even though the customer saw nothing.

use super::SenderKind;

/// Whether a message by `sender_id` (of `kind`) written after the sender's last seen one means
/// someone else acted, so the reply of `author` must not go out unnoticed.
pub fn someone_else_acted(kind: SenderKind, sender_id: &str, author: &str) -> bool {
    match kind {
        SenderKind::Agent | SenderKind::Ai => sender_id != author,
        SenderKind::Customer | SenderKind::System => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_person_or_the_ai_acted_but_not_the_customer_the_system_or_the_sender() {
        let me = "user:sarah";
        assert!(someone_else_acted(SenderKind::Agent, "user:tom", me), "a colleague's reply or note");
        assert!(someone_else_acted(SenderKind::Ai, "ai:assistant", me), "the AI answered");
        assert!(!someone_else_acted(SenderKind::Agent, me, me), "my own earlier message");
        assert!(!someone_else_acted(SenderKind::Customer, "15551234567", me), "the customer wrote again");
        assert!(!someone_else_acted(SenderKind::System, "system:handoff", me), "an automatic message");
    }
}
