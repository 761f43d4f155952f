//! What a provider's own words may not carry to our callers: phone numbers. Twilio's and Meta's
//! refusals quote the numbers they were given ("The 'To' number +14155550111 is not a valid
//! phone number"), which can be a colleague's phone or another company's number; an error we
//! pass on says which kind of number was wrong, never which number.

/// Fewest digits that make a run of digits a phone number (error codes have at most six).
const MIN_DIGITS: usize = 7;

/// `text` with every phone-number-like run (an optional `+`, then digits with single spaces,
/// dashes or dots between them, at least seven digits) replaced by `[number]`.
pub fn phone_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts =
            chars[i].is_ascii_digit() || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i + usize::from(chars[i] == '+');
        let mut digits = 0;
        while end < chars.len() {
            if chars[end].is_ascii_digit() {
                digits += 1;
                end += 1;
            } else if matches!(chars[end], ' ' | '-' | '.') && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
                end += 1;
            } else {
                break;
            }
        }
        if digits >= MIN_DIGITS {
            out.push_str("[number]");
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_replaced_and_error_codes_kept() {
        assert_eq!(
            phone_numbers("The 'To' number +14155550111 is not a valid phone number (21211)"),
            "The 'To' number [number] is not a valid phone number (21211)"
        );
        assert_eq!(phone_numbers("call +1 415-555-0111 now"), "call [number] now");
        assert_eq!(
            phone_numbers("(#131030) Recipient 16505551234 not allowed"),
            "(#131030) Recipient [number] not allowed"
        );
        assert_eq!(
            phone_numbers("Object with ID '106540352242922' does not exist"),
            "Object with ID '[number]' does not exist"
        );
        assert_eq!(phone_numbers("version 23.0, code 100, subcode 33"), "version 23.0, code 100, subcode 33");
        assert_eq!(phone_numbers("a+b 1-2 ünïcode"), "a+b 1-2 ünïcode");
    }
}
