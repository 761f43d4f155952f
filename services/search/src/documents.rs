//! What the index keeps of the conversation service's protobuf: conversations, messages and
//! customers as plain values, converted here and nowhere else.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use inbox_proto::common::v1::message_content::Kind;
use inbox_proto::common::v1::{CallDisposition, CallEvent, MessageContent};
use inbox_proto::conversation::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::domain::conversation::{Channel, Priority, Sender, Status};
use crate::domain::phone::PhoneDigits;
use crate::index::schema::TextSource;

/// A conversation as the index keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationDoc {
    pub id: Uuid,
    pub tenant: Uuid,
    pub version: i64,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub channel: Option<Channel>,
    pub assignee: Option<Uuid>,
    pub team: Option<Uuid>,
    pub contact: Option<CustomerSighting>,
    /// The customer's phone when their channel address is one (WhatsApp, telephony).
    pub address_phone: Option<PhoneDigits>,
    pub last_message_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The conversation's protobuf, returned in results.
    pub proto: Vec<u8>,
}

/// The customer as a conversation event shows it: id, name, last change, and the address they
/// wrote from.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerSighting {
    pub id: Uuid,
    pub name: String,
    pub segment: String,
    pub updated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// One message as the index keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDoc {
    pub id: Uuid,
    pub tenant: Uuid,
    pub conversation_id: Uuid,
    pub external_id: String,
    pub sender: Option<Sender>,
    pub internal_note: bool,
    pub sent_at: DateTime<Utc>,
    pub text: String,
    pub source: TextSource,
}

/// A customer's whole profile, as `inbox.conversation.v1.Customers/GetCustomer` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerProfile {
    pub id: Uuid,
    pub tenant: Uuid,
    pub name: String,
    pub phones: Vec<PhoneDigits>,
    pub emails: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub segment: String,
    pub updated_at: DateTime<Utc>,
    pub proto: Vec<u8>,
}

/// Why a protobuf cannot be indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unindexable(pub String);

fn uuid_of(value: &str, what: &str) -> Result<Uuid, Unindexable> {
    Uuid::parse_str(value).map_err(|_| Unindexable(format!("{what} {value:?} is not a uuid")))
}

fn optional_uuid(value: &str, what: &str) -> Result<Option<Uuid>, Unindexable> {
    if value.is_empty() { Ok(None) } else { uuid_of(value, what).map(Some) }
}

fn time_of(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    ts.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

impl ConversationDoc {
    pub fn from_proto(c: &pb::Conversation) -> Result<Self, Unindexable> {
        let contact = match c.contact.as_ref() {
            Some(k) if !k.id.is_empty() => Some(CustomerSighting {
                id: uuid_of(&k.id, "contact id")?,
                name: k.display_name.clone(),
                segment: k.segment.clone(),
                updated_at: time_of(k.updated_at.as_ref()),
                created_at: time_of(k.created_at.as_ref()),
            }),
            _ => None,
        };
        let channel = Channel::from_proto(c.channel);
        let address_phone = match channel {
            Some(Channel::Whatsapp | Channel::Telephony) => PhoneDigits::of_address(&c.customer_address),
            _ => None,
        };
        Ok(Self {
            id: uuid_of(&c.id, "conversation id")?,
            tenant: uuid_of(&c.tenant_id, "tenant id")?,
            version: c.version,
            status: Status::from_proto(c.status),
            priority: Priority::from_proto(c.priority),
            channel,
            assignee: optional_uuid(&c.assignee_id, "assignee id")?,
            team: optional_uuid(&c.team_id, "team id")?,
            contact,
            address_phone,
            last_message_at: time_of(c.last_message_at.as_ref()),
            created_at: time_of(c.created_at.as_ref()),
            proto: c.encode_to_vec(),
        })
    }
}

impl MessageDoc {
    pub fn from_proto(m: &pb::Message) -> Result<Self, Unindexable> {
        let (text, source) = text_of(m.content.as_ref());
        Ok(Self {
            id: uuid_of(&m.id, "message id")?,
            tenant: uuid_of(&m.tenant_id, "tenant id")?,
            conversation_id: uuid_of(&m.conversation_id, "conversation id")?,
            external_id: m.external_id.clone(),
            sender: Sender::from_proto(m.sender_kind),
            internal_note: m.internal_note,
            sent_at: time_of(m.sent_at.as_ref()),
            text,
            source,
        })
    }
}

impl CustomerProfile {
    pub fn from_proto(c: &pb::Customer) -> Result<Self, Unindexable> {
        Ok(Self {
            id: uuid_of(&c.id, "customer id")?,
            tenant: uuid_of(&c.tenant_id, "tenant id")?,
            name: c.display_name.clone(),
            phones: c.phones.iter().filter_map(|p| PhoneDigits::parse(p).ok()).collect(),
            emails: c.emails.iter().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect(),
            attributes: c.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            segment: c.segment.clone(),
            updated_at: time_of(c.updated_at.as_ref()),
            proto: c.encode_to_vec(),
        })
    }

    /// The profile a customer has before anyone edits it: what conversation events show.
    pub fn sighted(tenant: Uuid, sighting: &CustomerSighting, phones: Vec<PhoneDigits>) -> Self {
        let proto = pb::Customer {
            id: sighting.id.to_string(),
            tenant_id: tenant.to_string(),
            display_name: sighting.name.clone(),
            phones: phones.iter().map(ToString::to_string).collect(),
            segment: sighting.segment.clone(),
            created_at: Some(inbox_proto::timestamp_from(sighting.created_at)),
            updated_at: Some(inbox_proto::timestamp_from(sighting.updated_at)),
            ..Default::default()
        };
        Self {
            id: sighting.id,
            tenant,
            name: sighting.name.clone(),
            phones,
            emails: vec![],
            attributes: BTreeMap::new(),
            segment: sighting.segment.clone(),
            updated_at: sighting.updated_at,
            proto: proto.encode_to_vec(),
        }
    }
}

impl CustomerProfile {
    /// This profile updated with what a conversation event shows of the customer: a newer
    /// name and segment, and the phone they wrote from.
    pub fn with_sighting(&self, sighting: &CustomerSighting, phone: Option<&PhoneDigits>) -> Self {
        let mut merged = self.clone();
        if sighting.updated_at > self.updated_at {
            merged.name = sighting.name.clone();
            merged.segment = sighting.segment.clone();
            merged.updated_at = sighting.updated_at;
        }
        if let Some(phone) = phone
            && !merged.phones.contains(phone)
        {
            merged.phones.push(phone.clone());
        }
        let mut proto = pb::Customer::decode(self.proto.as_slice()).unwrap_or_default();
        proto.id = merged.id.to_string();
        proto.tenant_id = merged.tenant.to_string();
        proto.display_name = merged.name.clone();
        proto.segment = merged.segment.clone();
        proto.phones = merged.phones.iter().map(ToString::to_string).collect();
        proto.updated_at = Some(inbox_proto::timestamp_from(merged.updated_at));
        merged.proto = proto.encode_to_vec();
        merged
    }

    /// The profile a stored customer protobuf describes.
    pub fn decode(bytes: &[u8]) -> Result<Self, Unindexable> {
        let proto = pb::Customer::decode(bytes).map_err(|e| Unindexable(format!("stored customer: {e}")))?;
        Self::from_proto(&proto)
    }
}

/// The searchable text of a message's content, and whether it is a call transcript.
pub fn text_of(content: Option<&MessageContent>) -> (String, TextSource) {
    let Some(kind) = content.and_then(|c| c.kind.as_ref()) else { return (String::new(), TextSource::Body) };
    let join = |parts: Vec<&str>| parts.into_iter().filter(|p| !p.trim().is_empty()).collect::<Vec<_>>().join(" ");
    let text = match kind {
        Kind::Text(t) => t.body.clone(),
        Kind::Media(m) => join(vec![&m.caption, &m.filename]),
        Kind::Location(l) => join(vec![&l.name, &l.address]),
        Kind::Contacts(c) => c
            .contacts
            .iter()
            .map(|k| {
                let mut parts = vec![k.formatted_name.as_str(), k.company.as_str()];
                parts.extend(k.phones.iter().map(|p| p.phone.as_str()));
                parts.extend(k.emails.iter().map(|e| e.email.as_str()));
                join(parts)
            })
            .collect::<Vec<_>>()
            .join(" "),
        Kind::InteractiveReply(r) => join(vec![&r.title, &r.description]),
        Kind::Reaction(_) => String::new(),
        Kind::WhatsappTemplate(t) => {
            let mut parts = vec![t.name.as_str()];
            for component in &t.components {
                parts.extend(component.parameters.iter().map(|p| p.text.as_str()));
            }
            join(parts)
        }
        Kind::InteractiveButtons(b) => {
            let mut parts = vec![b.header.as_str(), b.body.as_str(), b.footer.as_str()];
            parts.extend(b.buttons.iter().map(|x| x.title.as_str()));
            join(parts)
        }
        Kind::Call(call) => {
            let event = CallEvent::try_from(call.event).unwrap_or(CallEvent::Unspecified);
            if event == CallEvent::Transcript {
                let text = call.transcript.as_ref().map(|t| t.text.clone()).unwrap_or_default();
                return (text, TextSource::Transcript);
            }
            if event == CallEvent::Recording && call.recording.as_ref().is_some_and(|r| r.voicemail) {
                return ("voicemail".to_owned(), TextSource::Body);
            }
            // "missed call", "busy call": what a person types to find a call.
            match CallDisposition::try_from(call.disposition).unwrap_or(CallDisposition::Unspecified) {
                CallDisposition::Unspecified => String::new(),
                CallDisposition::Answered => "answered call".to_owned(),
                CallDisposition::Missed => "missed call".to_owned(),
                CallDisposition::Voicemail => "voicemail call".to_owned(),
                CallDisposition::Busy => "busy call".to_owned(),
                CallDisposition::Failed => "failed call".to_owned(),
            }
        }
        Kind::Unsupported(u) => u.description.clone(),
    };
    (text, TextSource::Body)
}

#[cfg(test)]
mod tests {
    use inbox_proto::common::v1::{
        CallContent, CallRecording, CallTranscript, MediaContent, TextContent, message_content::Kind,
    };

    use super::*;

    fn content(kind: Kind) -> MessageContent {
        MessageContent { kind: Some(kind), reply_to: None }
    }

    #[test]
    fn transcripts_are_indexed_as_such_and_voicemails_by_name() {
        let transcript = content(Kind::Call(CallContent {
            event: CallEvent::Transcript as i32,
            transcript: Some(CallTranscript { text: "please call me back".into(), ..Default::default() }),
            ..Default::default()
        }));
        assert_eq!(text_of(Some(&transcript)), ("please call me back".into(), TextSource::Transcript));
        let voicemail = content(Kind::Call(CallContent {
            event: CallEvent::Recording as i32,
            recording: Some(CallRecording { voicemail: true, ..Default::default() }),
            ..Default::default()
        }));
        assert_eq!(text_of(Some(&voicemail)).0, "voicemail");
        let missed = content(Kind::Call(CallContent {
            event: CallEvent::Ended as i32,
            disposition: CallDisposition::Missed as i32,
            ..Default::default()
        }));
        assert_eq!(text_of(Some(&missed)).0, "missed call");
    }

    #[test]
    fn media_is_found_by_caption_and_file_name() {
        let media = content(Kind::Media(MediaContent {
            caption: "my invoice".into(),
            filename: "invoice-42.pdf".into(),
            ..Default::default()
        }));
        assert_eq!(text_of(Some(&media)).0, "my invoice invoice-42.pdf");
        assert_eq!(text_of(Some(&content(Kind::Text(TextContent { body: "hi".into() })))).0, "hi");
        assert_eq!(text_of(None).0, "");
    }

    #[test]
    fn a_conversation_needs_uuids_and_keeps_its_phone_address() {
        let tenant = Uuid::now_v7();
        let mut c = pb::Conversation {
            id: Uuid::now_v7().to_string(),
            tenant_id: tenant.to_string(),
            channel: Channel::Whatsapp.to_proto() as i32,
            customer_address: "15551234567".into(),
            status: Status::Active.to_proto() as i32,
            version: 3,
            ..Default::default()
        };
        let doc = ConversationDoc::from_proto(&c).unwrap();
        assert_eq!(doc.address_phone.unwrap().as_str(), "15551234567");
        assert_eq!(doc.status, Some(Status::Active));
        assert_eq!(doc.assignee, None);
        c.assignee_id = "sarah".into();
        assert!(ConversationDoc::from_proto(&c).is_err());
        c.assignee_id.clear();
        c.channel = Channel::Webchat.to_proto() as i32;
        assert_eq!(ConversationDoc::from_proto(&c).unwrap().address_phone, None, "a visitor id is no phone");
    }
}
