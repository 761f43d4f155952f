//! `X-Twilio-Signature`, as Twilio documents it: base64 of the HMAC-SHA1, keyed with the
//! account's auth token, of the full URL Twilio requested (with its query string) followed by
//! every POST parameter sorted by name, each name immediately followed by its value.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The header Twilio signs callbacks with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Twilio-Signature header")]
    Missing,
    #[error("X-Twilio-Signature is not base64")]
    Malformed,
    #[error("X-Twilio-Signature does not match the request")]
    Mismatch,
}

/// The signature Twilio would send for a POST of `params` to `url`, signed with `auth_token`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Checks `header` against the request in constant time.
pub fn verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let expected =
        base64::engine::general_purpose::STANDARD.decode(header.trim()).map_err(|_| SignatureError::Malformed)?;
    mac(auth_token, url, params).verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match HmacSha1::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(url.as_bytes());
    // Sorted by name; a repeated name by value (as Twilio's helper libraries do).
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    const DOCUMENTED_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn twilio_documentation_example_gives_the_published_signature() {
        assert_eq!(sign("12345", DOCUMENTED_URL, &documented_params()), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn parameter_order_in_the_body_does_not_matter() {
        let mut params = documented_params();
        params.reverse();
        assert_eq!(verify("12345", DOCUMENTED_URL, &params, Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")), Ok(()));
    }

    #[test]
    fn a_changed_value_url_or_token_is_refused() {
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        let mut params = documented_params();
        params[2].1 = "1235".into();
        assert_eq!(verify("12345", DOCUMENTED_URL, &params, Some(good)), Err(SignatureError::Mismatch));
        let params = documented_params();
        assert_eq!(
            verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", &params, Some(good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("54321", DOCUMENTED_URL, &params, Some(good)), Err(SignatureError::Mismatch));
        assert_eq!(verify("12345", DOCUMENTED_URL, &params, None), Err(SignatureError::Missing));
        assert_eq!(verify("12345", DOCUMENTED_URL, &params, Some("not base64!")), Err(SignatureError::Malformed));
    }
}
