//! Phone numbers as the index knows them: the digits of the E.164 form, without the `+`.
//!
//! `+1 555 123 4567`, `+1 (555) 123-4567`, `0015551234567` and `15551234567` are the same
//! number and become `15551234567`. A number written without its country code (`555 123
//! 4567`, `(0)20 7946 0958`) still finds the full one through its trailing digits: the index
//! also keeps every suffix of at least [`MIN_SUFFIX`] digits.

use std::fmt;

/// E.164 allows at most 15 digits.
pub const MAX_DIGITS: usize = 15;
/// Fewer digits than this is not a phone number we search for (short codes aside).
pub const MIN_DIGITS: usize = 7;
/// The shortest trailing part of a number that finds it.
pub const MIN_SUFFIX: usize = 7;

/// The digits of a phone number in E.164 form (country code first, no `+`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneDigits(String);

/// Why a text is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("a phone number has digits, spaces and + ( ) - . / only; found {0:?}")]
    BadCharacter(char),
    #[error("a phone number has {MIN_DIGITS} to {MAX_DIGITS} digits; this one has {0}")]
    Length(usize),
}

impl PhoneDigits {
    /// Parses any common writing of a phone number: `+`, an international `00` prefix, spaces,
    /// dots, dashes, slashes and parentheses. A national trunk `0` in parentheses (`+44 (0)20`)
    /// is dropped.
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let trimmed = text.trim();
        // `+44 (0)20 7946 0958`: the `(0)` is the trunk prefix, never dialled internationally.
        let without_trunk = trimmed.replace("(0)", "");
        let mut digits = String::with_capacity(trimmed.len());
        for c in without_trunk.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' | ' ' | '(' | ')' | '-' | '.' | '/' | '\u{a0}' => {}
                other => return Err(PhoneError::BadCharacter(other)),
            }
        }
        let international = without_trunk.trim_start().starts_with('+');
        let digits = if !international && digits.starts_with("00") { digits[2..].to_owned() } else { digits };
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            return Err(PhoneError::Length(digits.len()));
        }
        Ok(Self(digits))
    }

    /// The address of a WhatsApp or telephony customer (`15551234567`, `+15551234567`) as a
    /// phone number; `None` for anything else (web chat visitor ids).
    pub fn of_address(address: &str) -> Option<Self> {
        let digits = address.strip_prefix('+').unwrap_or(address);
        (digits.bytes().all(|b| b.is_ascii_digit()) && (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()))
            .then(|| Self(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every trailing part of the number of at least [`MIN_SUFFIX`] digits, shorter than the
    /// whole: what a search for the number without its country code matches.
    pub fn suffixes(&self) -> impl Iterator<Item = &str> {
        let len = self.0.len();
        (1..=len.saturating_sub(MIN_SUFFIX)).map(move |start| &self.0[start..])
    }

    /// The digits a search for this text should also try as a trailing part: a national number
    /// written with its trunk `0` (`020 7946 0958`) without it. `None` when the text was
    /// international or has no trunk zero.
    pub fn national_significant(text: &str) -> Option<String> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('+') || trimmed.starts_with("00") {
            return None;
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let rest = digits.strip_prefix('0')?;
        (rest.len() >= MIN_SUFFIX).then(|| rest.to_owned())
    }
}

impl fmt::Display for PhoneDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(text: &str) -> String {
        PhoneDigits::parse(text).unwrap().as_str().to_owned()
    }

    #[test]
    fn every_writing_of_the_same_number_gives_the_same_digits() {
        for text in [
            "+1 555 123 4567",
            "+1 (555) 123-4567",
            "15551234567",
            "+15551234567",
            "0015551234567",
            "+1.555.123.4567",
            " +1-555-123-4567 ",
            "+1 555/123 4567",
        ] {
            assert_eq!(digits(text), "15551234567", "{text}");
        }
    }

    #[test]
    fn a_trunk_zero_in_parentheses_is_dropped() {
        assert_eq!(digits("+44 (0)20 7946 0958"), "442079460958");
    }

    #[test]
    fn letters_and_wrong_lengths_are_refused() {
        assert_eq!(PhoneDigits::parse("+1 555 CALL NOW"), Err(PhoneError::BadCharacter('C')));
        assert_eq!(PhoneDigits::parse("12345"), Err(PhoneError::Length(5)));
        assert_eq!(PhoneDigits::parse("+1234567890123456"), Err(PhoneError::Length(16)));
        assert_eq!(PhoneDigits::parse(""), Err(PhoneError::Length(0)));
    }

    #[test]
    fn customer_addresses_are_phones_only_when_they_are_digits() {
        assert_eq!(PhoneDigits::of_address("15551234567").unwrap().as_str(), "15551234567");
        assert_eq!(PhoneDigits::of_address("+15551234567").unwrap().as_str(), "15551234567");
        assert_eq!(PhoneDigits::of_address("visitor-01HZX"), None);
        assert_eq!(PhoneDigits::of_address("0190b1c2-7a3e-7c4d-9a8b-1c2d3e4f5a6b"), None);
        assert_eq!(PhoneDigits::of_address("123"), None);
    }

    #[test]
    fn suffixes_cover_the_number_without_its_country_code() {
        let phone = PhoneDigits::parse("+1 555 123 4567").unwrap();
        let suffixes: Vec<&str> = phone.suffixes().collect();
        assert_eq!(suffixes, vec!["5551234567", "551234567", "51234567", "1234567"]);
        let seven = PhoneDigits::parse("1234567").unwrap();
        assert_eq!(seven.suffixes().count(), 0, "the whole number is not its own suffix");
    }

    #[test]
    fn a_national_number_is_also_tried_without_its_trunk_zero() {
        assert_eq!(PhoneDigits::national_significant("020 7946 0958").as_deref(), Some("2079460958"));
        assert_eq!(PhoneDigits::national_significant("+44 20 7946 0958"), None);
        assert_eq!(PhoneDigits::national_significant("0044 20 7946 0958"), None);
        assert_eq!(PhoneDigits::national_significant("555 123 4567"), None);
    }

    #[test]
    fn it_displays_in_e164() {
        assert_eq!(PhoneDigits::parse("0015551234567").unwrap().to_string(), "+15551234567");
    }
}
