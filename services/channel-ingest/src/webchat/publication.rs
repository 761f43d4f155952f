//! A visitor message as the bus carries it: on `ingest.webchat.<tenant>` under the event id
//! `webchat:<tenant>:<message>`. The first publish, a resend and a replay all build it here, so
//! they are identical and the message is stored once.

use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::ingest::v1 as pb;

use super::visitor_input::{PageInput, browser_of};
use crate::store::{Visitor, WebchatMessage};

/// The name the inbox shows: the one the visitor gave, else "Visitor" and the end of their
/// id, so anonymous visitors can be told apart (a name given later renames the customer).
fn display_name(visitor: &Visitor) -> String {
    if visitor.name.is_empty() {
        format!("Visitor {}", &visitor.id.simple().to_string()[24..])
    } else {
        visitor.name.clone()
    }
}

/// A visitor message on `ingest.webchat.<tenant>` under the event id `webchat:<tenant>:<message>`,
/// the same whenever it is published (first time, resend, replay), so it is stored once.
pub fn publication(
    account_id: uuid::Uuid,
    visitor: &Visitor,
    message: &WebchatMessage,
    page: Option<&PageInput>,
    raw_id: uuid::Uuid,
) -> (String, inbox_bus::Envelope) {
    let tenant = visitor.tenant_id.to_string();
    let inbound = inbound_message(account_id, visitor, message, page, raw_id);
    let envelope = new_envelope(format!("webchat:{tenant}:{}", message.id), &tenant, Payload::InboundMessage(inbound));
    (subjects::ingest(Channel::Webchat, &tenant), envelope)
}

fn inbound_message(
    account_id: uuid::Uuid,
    visitor: &Visitor,
    message: &WebchatMessage,
    page: Option<&PageInput>,
    raw_id: uuid::Uuid,
) -> pb::InboundMessage {
    let sent_at = inbox_proto::timestamp_from(message.sent_at);
    pb::InboundMessage {
        tenant_id: visitor.tenant_id.to_string(),
        channel: Channel::Webchat as i32,
        channel_account_id: account_id.to_string(),
        external_id: message.id.to_string(),
        sent_at: Some(sent_at),
        sender: Some(pb::Sender { address: visitor.id.to_string(), display_name: display_name(visitor) }),
        content: Some(MessageContent {
            kind: Some(Kind::Text(TextContent { body: message.body.clone() })),
            ..Default::default()
        }),
        raw_payload_id: raw_id.to_string(),
        visitor: Some(pb::WebVisitorContext {
            visitor_id: visitor.id.to_string(),
            name: visitor.name.clone(),
            email: visitor.email.clone(),
            user_agent: visitor.user_agent.clone(),
            browser: browser_of(&visitor.user_agent),
            locale: visitor.locale.clone(),
            page: page.map(|p| pb::PageView {
                url: p.url.clone(),
                title: p.title.clone(),
                referrer: p.referrer.clone(),
                at: Some(sent_at),
            }),
        }),
    }
}
