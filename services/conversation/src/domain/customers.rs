//! Customer profiles: the keys that make one customer across channels (phone numbers, emails),
//! channel preferences, custom attributes and integration cards, each parsed from what a client
//! sent so an invalid value cannot exist. Errors name the field.

use std::collections::BTreeMap;

use inbox_proto::common::v1::Channel;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most phone numbers, and most emails, on one profile.
pub const MAX_KEYS_PER_KIND: usize = 20;
/// Most custom attributes a person can set on one profile.
pub const MAX_ATTRIBUTES: usize = 50;
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 1000;
/// Integration card limits: a card is a short panel, not a document.
pub const MAX_CARD_TITLE_CHARS: usize = 200;
pub const MAX_CARD_FIELDS: usize = 50;
pub const MAX_CARD_FIELD_KEY_CHARS: usize = 100;
pub const MAX_CARD_FIELD_VALUE_CHARS: usize = 1000;
pub const MAX_SEGMENT_CHARS: usize = 64;

/// A phone number in E.164 form (`+15551230001`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// A number as a person typed it: international, with a leading `+` or `00`; spaces,
    /// dashes, dots and parentheses are ignored. National numbers are refused: without a
    /// country they cannot be matched across channels.
    pub fn parse(text: &str) -> Result<Self, String> {
        let compact: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let digits = compact
            .strip_prefix('+')
            .or_else(|| compact.strip_prefix("00"))
            .ok_or_else(|| format!("'{text}' is not an international number (start with + and the country code)"))?;
        Self::from_digits(digits).ok_or_else(|| format!("'{text}' is not a valid phone number"))
    }

    /// The number behind a WhatsApp `wa_id`: the international number's digits without `+`.
    pub fn from_wa_id(wa_id: &str) -> Option<Self> {
        Self::from_digits(wa_id)
    }

    /// The phone number a channel address stands for: WhatsApp `wa_id`s and telephony E.164
    /// numbers have one, web chat visitor ids do not.
    pub fn of_address(channel: Channel, address: &str) -> Option<Self> {
        match channel {
            Channel::Whatsapp => Self::from_wa_id(address),
            Channel::Telephony => address.strip_prefix('+').and_then(Self::from_digits),
            Channel::Webchat | Channel::Unspecified => None,
        }
    }

    /// E.164: a country code that does not start with 0, at most 15 digits in all.
    fn from_digits(digits: &str) -> Option<Self> {
        let valid =
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        valid.then(|| Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as WhatsApp names the customer.
    pub fn wa_id(&self) -> &str {
        &self.0[1..]
    }
}

/// An email address, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// A plausible address: `local@domain.tld`, no spaces, at most 254 characters. Lowercased
    /// whole, because in practice mailboxes are case-insensitive and the key must match.
    pub fn parse(text: &str) -> Result<Self, String> {
        let email = text.trim().to_lowercase();
        let invalid = || format!("'{}' is not a valid email address", text.trim());
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if email.len() > 254 || !local_ok || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a contact key is: each value belongs to at most one customer of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Phone,
    Email,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Phone => "phone",
            KeyKind::Email => "email",
        }
    }

    /// The request field that carries keys of this kind, for error messages.
    pub fn field(self) -> &'static str {
        match self {
            KeyKind::Phone => "phones",
            KeyKind::Email => "emails",
        }
    }
}

/// Where the customer wants to be reached, and where not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelPreferences {
    pub preferred: Option<Channel>,
    pub opted_out: Vec<Channel>,
}

impl ChannelPreferences {
    /// The preferred channel may not be one the customer opted out of; duplicates collapse.
    pub fn new(preferred: Option<Channel>, opted_out: impl IntoIterator<Item = Channel>) -> Result<Self, String> {
        let mut opted_out: Vec<Channel> = opted_out.into_iter().collect();
        if opted_out.contains(&Channel::Unspecified) || preferred == Some(Channel::Unspecified) {
            return Err("channel_preferences: channels must be whatsapp, telephony or webchat".into());
        }
        opted_out.sort_by_key(|c| *c as i32);
        opted_out.dedup();
        if let Some(p) = preferred.filter(|p| opted_out.contains(p)) {
            return Err(format!(
                "channel_preferences: the preferred channel {} is also opted out",
                inbox_bus::subjects::channel_token(p)
            ));
        }
        Ok(Self { preferred, opted_out })
    }
}

/// Custom attributes: `[a-z0-9_]{1,64}` keys, at most [`MAX_ATTRIBUTES`], values of at most
/// [`MAX_ATTRIBUTE_VALUE_CHARS`] characters.
pub fn parse_attributes(attributes: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(format!("attributes: at most {MAX_ATTRIBUTES} attributes (got {})", attributes.len()));
    }
    for (key, value) in &attributes {
        if !is_identifier(key, MAX_ATTRIBUTE_KEY_CHARS) {
            return Err(format!("attributes: key '{key}' must be 1-64 characters of a-z, 0-9 and _"));
        }
        if value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS {
            return Err(format!("attributes: value of '{key}' is longer than {MAX_ATTRIBUTE_VALUE_CHARS} characters"));
        }
    }
    Ok(attributes)
}

fn is_identifier(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A display name set by a person: trimmed, at most [`MAX_NAME_CHARS`] characters.
pub fn parse_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("display_name is longer than {MAX_NAME_CHARS} characters"));
    }
    Ok(name.to_owned())
}

/// A segment (`vip`): lowercased, `[a-z0-9_]`; empty for none.
pub fn parse_segment(segment: &str) -> Result<String, String> {
    let segment = segment.trim().to_lowercase();
    if !segment.is_empty() && !is_identifier(&segment, MAX_SEGMENT_CHARS) {
        return Err(format!("segment '{segment}' must be 1-64 characters of a-z, 0-9 and _ (or empty)"));
    }
    Ok(segment)
}

/// Parses a list of keys of one kind; duplicates (after normalisation) collapse, order is kept.
fn parse_keys<T: PartialEq>(
    kind: KeyKind,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut parsed: Vec<T> = Vec::with_capacity(values.len());
    for value in values {
        let key = parse(value).map_err(|e| format!("{}: {e}", kind.field()))?;
        if !parsed.contains(&key) {
            parsed.push(key);
        }
    }
    if parsed.len() > MAX_KEYS_PER_KIND {
        return Err(format!("{}: at most {MAX_KEYS_PER_KIND}", kind.field()));
    }
    Ok(parsed)
}

pub fn parse_phones(values: &[String]) -> Result<Vec<PhoneNumber>, String> {
    parse_keys(KeyKind::Phone, values, PhoneNumber::parse)
}

pub fn parse_emails(values: &[String]) -> Result<Vec<EmailAddress>, String> {
    parse_keys(KeyKind::Email, values, EmailAddress::parse)
}

/// A change to a profile. `None` leaves a field as it is; `Some` replaces it whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
    pub phones: Option<Vec<PhoneNumber>>,
    pub emails: Option<Vec<EmailAddress>>,
    pub channel_preferences: Option<ChannelPreferences>,
    pub segment: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Data from a CRM or calendar shown as a card: ordered key/value fields. A card is known by
/// its source and title, so a sync that runs twice writes it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationCard {
    pub source: String,
    pub title: String,
    pub fields: Vec<(String, String)>,
}

impl IntegrationCard {
    pub fn parse(source: &str, title: &str, fields: Vec<(String, String)>) -> Result<Self, String> {
        let source = parse_card_source(source)?;
        let title = parse_card_title(title)?;
        if fields.len() > MAX_CARD_FIELDS {
            return Err(format!("fields: at most {MAX_CARD_FIELDS} per card"));
        }
        for (key, value) in &fields {
            if key.trim().is_empty() || key.chars().count() > MAX_CARD_FIELD_KEY_CHARS {
                return Err(format!("fields: key '{key}' must be 1-{MAX_CARD_FIELD_KEY_CHARS} characters"));
            }
            if value.chars().count() > MAX_CARD_FIELD_VALUE_CHARS {
                return Err(format!("fields: value of '{key}' is longer than {MAX_CARD_FIELD_VALUE_CHARS} characters"));
            }
        }
        Ok(Self { source, title, fields })
    }
}

/// An integration's name (`hubspot`, `google_calendar`): `[a-z0-9_]{1,64}`.
pub fn parse_card_source(source: &str) -> Result<String, String> {
    if is_identifier(source, 64) {
        Ok(source.to_owned())
    } else {
        Err(format!("source '{source}' must be 1-64 characters of a-z, 0-9 and _"))
    }
}

pub fn parse_card_title(title: &str) -> Result<String, String> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_CARD_TITLE_CHARS {
        return Err(format!("title is required (at most {MAX_CARD_TITLE_CHARS} characters)"));
    }
    Ok(title.to_owned())
}

/// The fields of a profile that belong to the contact itself, as merging sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileFields {
    pub display_name: String,
    /// A person set the name; providers' profile names no longer replace it.
    pub name_set_by_person: bool,
    pub segment: String,
    pub channel_preferences: ChannelPreferences,
    pub attributes: BTreeMap<String, String>,
}

impl ProfileFields {
    /// Takes in a customer found to be the same person. The edited profile wins: its attributes
    /// override on conflicting keys, and its name, segment and preferred channel are kept unless
    /// empty. Opt-outs add up, since the customer asked for each, and an opt-out beats a
    /// preference. Merged attributes may exceed [`MAX_ATTRIBUTES`]: a merge never drops data.
    pub fn absorb(&mut self, other: ProfileFields) {
        if self.display_name.is_empty() {
            self.display_name = other.display_name;
            self.name_set_by_person = other.name_set_by_person;
        }
        if self.segment.is_empty() {
            self.segment = other.segment;
        }
        let mut attributes = other.attributes;
        attributes.append(&mut self.attributes);
        self.attributes = attributes;
        let prefs = &mut self.channel_preferences;
        prefs.preferred = prefs.preferred.or(other.channel_preferences.preferred);
        prefs.opted_out.extend(other.channel_preferences.opted_out);
        prefs.opted_out.sort_by_key(|c| *c as i32);
        prefs.opted_out.dedup();
        if prefs.preferred.is_some_and(|p| prefs.opted_out.contains(&p)) {
            prefs.preferred = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_phone_number_is_normalised_to_e164() {
        for typed in ["+1 (555) 123-0001", "+1.555.123.0001", "0015551230001", " +15551230001 "] {
            assert_eq!(PhoneNumber::parse(typed).unwrap().as_str(), "+15551230001", "{typed}");
        }
    }

    #[test]
    fn national_and_malformed_phone_numbers_are_refused() {
        for typed in ["5551230001", "+0555123", "+1555", "+1234567890123456", "+1555abc0001", "", "+"] {
            assert!(PhoneNumber::parse(typed).is_err(), "{typed}");
        }
    }

    #[test]
    fn a_whatsapp_id_and_an_e164_number_are_the_same_phone() {
        let from_whatsapp = PhoneNumber::of_address(Channel::Whatsapp, "15551230001").unwrap();
        let from_telephony = PhoneNumber::of_address(Channel::Telephony, "+15551230001").unwrap();
        assert_eq!(from_whatsapp, from_telephony);
        assert_eq!(from_whatsapp.wa_id(), "15551230001");
        assert_eq!(PhoneNumber::parse("+15551230001").unwrap(), from_whatsapp);
    }

    #[test]
    fn web_chat_visitors_and_odd_addresses_have_no_phone() {
        assert_eq!(PhoneNumber::of_address(Channel::Webchat, "15551230001"), None);
        assert_eq!(PhoneNumber::of_address(Channel::Whatsapp, "+15551230001"), None);
        assert_eq!(PhoneNumber::of_address(Channel::Telephony, "15551230001"), None);
        assert_eq!(PhoneNumber::of_address(Channel::Telephony, "client:alice"), None);
    }

    #[test]
    fn emails_are_lowercased_and_validated() {
        assert_eq!(
            EmailAddress::parse("  Ana.Silva+news@Example.COM ").unwrap().as_str(),
            "ana.silva+news@example.com"
        );
        for bad in
            ["ana", "ana@", "@example.com", "ana@example", "ana silva@example.com", "ana@@example.com", "a..b@x.io"]
        {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        assert!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn lists_of_keys_collapse_duplicates_and_name_the_field_of_a_bad_one() {
        let phones = parse_phones(&["+15551230001".into(), "+1 555 123 0001".into(), "+442079460000".into()]).unwrap();
        assert_eq!(phones.len(), 2);
        let err = parse_emails(&["ana@example.com".into(), "nope".into()]).unwrap_err();
        assert!(err.starts_with("emails:") && err.contains("nope"), "{err}");
        let many: Vec<String> = (0..21).map(|i| format!("+1555123{i:04}")).collect();
        assert!(parse_phones(&many).unwrap_err().contains("at most 20"));
    }

    #[test]
    fn attributes_have_simple_keys_bounded_values_and_a_limit() {
        let ok: BTreeMap<String, String> = [("plan".into(), "pro".into()), ("account_no_2".into(), "x".into())].into();
        assert_eq!(parse_attributes(ok.clone()).unwrap(), ok);
        for key in ["Plan", "", "has space", "dash-ed", &"k".repeat(65)] {
            let err = parse_attributes([(key.to_owned(), "v".to_owned())].into()).unwrap_err();
            assert!(err.contains("attributes: key"), "{key}: {err}");
        }
        assert!(parse_attributes([("k".into(), "v".repeat(1000))].into()).is_ok());
        assert!(parse_attributes([("k".into(), "v".repeat(1001))].into()).unwrap_err().contains("value of 'k'"));
        let fifty: BTreeMap<String, String> = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(parse_attributes(fifty.clone()).is_ok());
        let mut fifty_one = fifty;
        fifty_one.insert("k50".into(), "v".into());
        assert!(parse_attributes(fifty_one).unwrap_err().contains("at most 50"));
    }

    #[test]
    fn the_preferred_channel_cannot_be_opted_out() {
        let err = ChannelPreferences::new(Some(Channel::Whatsapp), [Channel::Whatsapp]).unwrap_err();
        assert!(err.contains("whatsapp"), "{err}");
        let prefs = ChannelPreferences::new(
            Some(Channel::Webchat),
            [Channel::Telephony, Channel::Whatsapp, Channel::Telephony],
        )
        .unwrap();
        assert_eq!(prefs.opted_out, [Channel::Whatsapp, Channel::Telephony]);
        assert!(ChannelPreferences::new(None, [Channel::Unspecified]).is_err());
    }

    #[test]
    fn segments_and_names_are_tidied() {
        assert_eq!(parse_segment(" VIP ").unwrap(), "vip");
        assert_eq!(parse_segment("").unwrap(), "");
        assert!(parse_segment("very important").is_err());
        assert_eq!(parse_name("  Ana Silva ").unwrap(), "Ana Silva");
        assert!(parse_name(&"n".repeat(201)).is_err());
    }

    #[test]
    fn an_integration_card_needs_a_source_and_title_and_bounded_fields() {
        let card = IntegrationCard::parse("hubspot", " Deal ", vec![("Stage".into(), "Won".into())]).unwrap();
        assert_eq!((card.source.as_str(), card.title.as_str()), ("hubspot", "Deal"));
        assert!(IntegrationCard::parse("HubSpot", "Deal", vec![]).unwrap_err().contains("source"));
        assert!(IntegrationCard::parse("hubspot", " ", vec![]).unwrap_err().contains("title"));
        assert!(IntegrationCard::parse("hubspot", "Deal", vec![(" ".into(), "v".into())]).unwrap_err().contains("key"));
        let many = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(IntegrationCard::parse("hubspot", "Deal", many).unwrap_err().contains("at most 50"));
    }

    #[test]
    fn a_merge_keeps_the_edited_profile_and_fills_in_from_the_other() {
        let mut edited = ProfileFields {
            display_name: "Ana Silva".into(),
            name_set_by_person: true,
            segment: String::new(),
            channel_preferences: ChannelPreferences::new(None, [Channel::Telephony]).unwrap(),
            attributes: [("plan".into(), "pro".into())].into(),
        };
        let other = ProfileFields {
            display_name: "Ana".into(),
            name_set_by_person: false,
            segment: "vip".into(),
            channel_preferences: ChannelPreferences::new(Some(Channel::Telephony), [Channel::Webchat]).unwrap(),
            attributes: [("plan".into(), "free".into()), ("city".into(), "Lisbon".into())].into(),
        };
        edited.absorb(other);
        assert_eq!(edited.display_name, "Ana Silva");
        assert_eq!(edited.segment, "vip");
        assert_eq!(edited.attributes["plan"], "pro");
        assert_eq!(edited.attributes["city"], "Lisbon");
        assert_eq!(edited.channel_preferences.opted_out, [Channel::Telephony, Channel::Webchat]);
        assert_eq!(edited.channel_preferences.preferred, None, "an opt-out beats a preference");
    }
}
