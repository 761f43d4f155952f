//! Live notifications: the notification service publishes each new notification, as protobuf
//! `inbox.notification.v1.Notification`, on core NATS `notify.<tenant>.<user>`; every replica
//! subscribes to `notify.>` and sends it, as a `notification` frame, to that person's sockets
//! only (docs/notifications.md).

use std::sync::Arc;

use futures::StreamExt;
use inbox_notification::proto::Notification;
use prost::Message as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::frame::{Audience, LiveFrame};
use super::hub::LiveHub;
use crate::api::present::notification::notification_json;

/// Every person's live notifications.
pub const NOTIFY: &str = "notify.>";

/// The `notification` frame of one notification, for its person alone.
pub fn notification_frame(n: &Notification) -> Option<(Uuid, LiveFrame)> {
    let tenant = Uuid::parse_str(&n.tenant_id).ok()?;
    let user_id = Uuid::parse_str(&n.user_id).ok()?;
    let text = json!({"type": "notification", "notification": notification_json(n)}).to_string();
    Some((tenant, LiveFrame { seq: None, audience: Audience::Person { user_id }, text: text.into() }))
}

/// Feeds the hub with `notify.>` until `shutdown`.
pub async fn relay_notifications_to_hub(client: async_nats::Client, hub: Arc<LiveHub>, shutdown: CancellationToken) {
    let mut subscription = match client.subscribe(NOTIFY).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to live notifications; agents will not see them live");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            next = subscription.next() => match next {
                Some(m) => m,
                None => break,
            },
        };
        match Notification::decode(message.payload.clone()).ok().as_ref().and_then(notification_frame) {
            Some((tenant, frame)) => hub.publish_ephemeral(tenant, frame),
            None => tracing::warn!(subject = %message.subject, "undecodable live notification skipped"),
        }
    }
    let _ = subscription.unsubscribe().await;
}

#[cfg(test)]
mod tests {
    use inbox_notification::proto::{Level, NotificationType};
    use inbox_service::{Role, Visibility};
    use serde_json::Value;

    use super::*;
    use crate::live::frame::Watcher;

    #[test]
    fn a_notification_reaches_its_person_alone_with_what_a_browser_needs() {
        let (tenant, ana, ben) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let n = Notification {
            id: "n1".into(),
            tenant_id: tenant.to_string(),
            user_id: ana.to_string(),
            r#type: NotificationType::Assigned as i32,
            conversation_id: "c1".into(),
            title: "Assigned to you".into(),
            body: "Carla: hello".into(),
            level: Level::All as i32,
            sound: true,
            browser: true,
            ..Default::default()
        };
        let (to_tenant, frame) = notification_frame(&n).unwrap();
        assert_eq!(to_tenant, tenant);
        let body: Value = serde_json::from_str(frame.text.as_str()).unwrap();
        assert_eq!(body["type"], "notification");
        assert_eq!(body["notification"]["type"], "assigned");
        assert_eq!(
            (body["notification"]["sound"].as_bool(), body["notification"]["browser"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(body["notification"]["title"], "Assigned to you");
        let watcher = |user: Uuid, role| Watcher { user_id: Some(user), role, visibility: Visibility::All };
        assert!(frame.audience.admits(&watcher(ana, Role::Agent)));
        assert!(!frame.audience.admits(&watcher(ben, Role::Admin)), "not even an admin sees another's");
        assert!(!frame.audience.admits(&Watcher { user_id: None, role: Role::Ai, visibility: Visibility::All }));
        assert!(notification_frame(&Notification { user_id: "nobody".into(), ..n }).is_none());
    }
}
