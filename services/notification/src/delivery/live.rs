//! Live frames: each new notification, as protobuf, on core NATS `notify.<tenant>.<user>`
//! (never a JetStream subject; nothing is stored). Every gateway replica subscribes to
//! `notify.>` and relays a frame to that user's sockets only. A frame lost (no gateway, a
//! crash right after the commit) costs nothing but the live cue: the centre has it.

use prost::Message as _;

use crate::api::notification_to_proto;
use crate::store::NotificationRow;

/// `notify.<tenant>.<user>`.
pub fn subject(tenant_id: &str, user_id: &str) -> String {
    format!("notify.{tenant_id}.{user_id}")
}

/// Every user's live notifications (the gateway's subscription).
pub const ALL: &str = "notify.>";

/// Publishes each notification to its person; failures are logged, never retried.
pub async fn publish(client: &async_nats::Client, rows: &[NotificationRow]) {
    for row in rows {
        let frame = notification_to_proto(row);
        let subject = subject(&row.tenant_id.to_string(), &row.user_id.to_string());
        if let Err(e) = client.publish(subject, frame.encode_to_vec().into()).await {
            tracing::warn!(error = %e, tenant_id = %row.tenant_id, "live notification not published");
        }
    }
    if !rows.is_empty()
        && let Err(e) = client.flush().await
    {
        tracing::warn!(error = %e, "live notifications not flushed");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn frames_go_to_one_user_of_one_tenant_outside_the_event_streams() {
        assert_eq!(super::subject("t1", "u1"), "notify.t1.u1");
        assert!(!super::ALL.starts_with("events."));
    }
}
