//! What a visitor may send, parsed before anything is written: each check names the field.

use serde::Deserialize;

/// Longest message text a visitor may send, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
const MAX_URL: usize = 2048;
const MAX_TITLE: usize = 300;
const MAX_NAME: usize = 100;
const MAX_EMAIL: usize = 254;
const MAX_LOCALE: usize = 35;
const MAX_USER_AGENT: usize = 512;

/// A page as the widget reports it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    #[serde(deserialize_with = "clipped_url")]
    pub url: String,
    #[serde(default, deserialize_with = "clipped_title")]
    pub title: String,
    #[serde(default, deserialize_with = "clipped_url")]
    pub referrer: String,
}

/// Page context is clipped, never a reason to refuse a visitor's message: a site's long
/// tracking URLs or titles are cut (at a character boundary), not rejected.
fn clipped_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let mut url = String::deserialize(deserializer)?;
    if url.len() > MAX_URL {
        let mut end = MAX_URL;
        while !url.is_char_boundary(end) {
            end -= 1;
        }
        url.truncate(end);
    }
    Ok(url)
}

fn clipped_title<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let title = String::deserialize(deserializer)?;
    Ok(title.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_TITLE).collect())
}

/// `POST .../sessions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// The token the widget kept from an earlier session, to resume it.
    #[serde(default)]
    pub visitor_token: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub page: Option<PageInput>,
}

/// `POST .../messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// The widget's idempotency key: a resend with the same key is stored once.
    pub client_message_id: String,
    pub text: String,
    #[serde(default)]
    pub page: Option<PageInput>,
}

/// An input problem: which field, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub reason: &'static str,
}

fn invalid(field: &'static str, reason: &'static str) -> InvalidInput {
    InvalidInput { field, reason }
}

fn no_control_chars(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
}

impl PageInput {
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let url_ok = |u: &str| {
            (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= MAX_URL
                && !u.contains(char::is_whitespace)
        };
        if !url_ok(&self.url) {
            return Err(invalid("page.url", "an http(s) URL of at most 2048 characters"));
        }
        if !self.referrer.is_empty() && !url_ok(&self.referrer) {
            return Err(invalid("page.referrer", "empty or an http(s) URL of at most 2048 characters"));
        }
        if self.title.chars().count() > MAX_TITLE || !no_control_chars(&self.title) {
            return Err(invalid("page.title", "at most 300 characters, no control characters"));
        }
        Ok(())
    }
}

/// A name, trimmed; empty means "not given".
pub fn parse_name(name: &str) -> Result<String, InvalidInput> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME || !no_control_chars(name) || name.contains(['\n', '\r']) {
        return Err(invalid("name", "at most 100 characters on one line"));
    }
    Ok(name.to_owned())
}

/// An email, trimmed and lowercased; empty means "not given".
pub fn parse_email(email: &str) -> Result<String, InvalidInput> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Ok(email);
    }
    let valid = email.len() <= MAX_EMAIL
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        });
    if !valid {
        return Err(invalid("email", "an email address like ana@example.com"));
    }
    Ok(email)
}

/// A BCP 47 language tag as browsers report it (`fr-FR`); empty means unknown.
pub fn parse_locale(locale: &str) -> Result<String, InvalidInput> {
    let locale = locale.trim();
    let valid = locale.len() <= MAX_LOCALE && locale.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(invalid("locale", "a language tag like fr-FR"));
    }
    Ok(locale.to_owned())
}

impl MessageInput {
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let key = &self.client_message_id;
        if key.is_empty() || key.len() > 64 || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid("client_message_id", "1 to 64 characters among A-Z a-z 0-9 - _"));
        }
        if self.text.trim().is_empty() {
            return Err(invalid("text", "must not be empty"));
        }
        if self.text.chars().count() > MAX_TEXT_CHARS || !no_control_chars(&self.text) {
            return Err(invalid("text", "at most 4000 characters, no control characters"));
        }
        if let Some(page) = &self.page {
            page.validate()?;
        }
        Ok(())
    }
}

/// The `User-Agent` header, cut to a sane length.
pub fn clip_user_agent(user_agent: &str) -> String {
    user_agent.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT).collect()
}

/// "Chrome 131", "Firefox 133", "Safari 17.4", "Edge 131" from a user agent; "" when unknown.
pub fn browser_of(user_agent: &str) -> String {
    let version_after = |marker: &str| {
        user_agent.split(marker).nth(1).map(|rest| {
            let version: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            version.split('.').next().unwrap_or_default().to_owned()
        })
    };
    // Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
    let families = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
    ];
    for (marker, name) in families {
        if let Some(version) = version_after(marker) {
            return format!("{name} {version}").trim().to_owned();
        }
    }
    if user_agent.contains("Safari/") {
        if let Some(version) = user_agent.split("Version/").nth(1) {
            let version: String = version.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            return format!("Safari {version}");
        }
        return "Safari".to_owned();
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &str, text: &str) -> MessageInput {
        MessageInput { client_message_id: key.into(), text: text.into(), page: None }
    }

    #[test]
    fn a_message_needs_a_key_and_some_text() {
        assert!(message("m-1", "Hello").validate().is_ok());
        assert_eq!(message("", "Hello").validate().unwrap_err().field, "client_message_id");
        assert_eq!(message("a b", "Hello").validate().unwrap_err().field, "client_message_id");
        assert_eq!(message("m-1", "   ").validate().unwrap_err().field, "text");
        assert_eq!(message("m-1", &"x".repeat(4001)).validate().unwrap_err().field, "text");
        assert_eq!(message("m-1", "bell\u{7}").validate().unwrap_err().field, "text");
    }

    #[test]
    fn pages_are_http_urls() {
        let page =
            |url: &str, referrer: &str| PageInput { url: url.into(), title: "Shoes".into(), referrer: referrer.into() };
        assert!(page("https://shop.example/shoes", "").validate().is_ok());
        assert!(page("https://shop.example/shoes", "https://google.com/").validate().is_ok());
        assert_eq!(page("javascript:alert(1)", "").validate().unwrap_err().field, "page.url");
        assert_eq!(page("https://a", "ftp://b").validate().unwrap_err().field, "page.referrer");
    }

    #[test]
    fn long_page_context_is_clipped_not_refused() {
        let url = format!("https://shop.example/search?q={}", "é".repeat(3000));
        let title = format!("Shoes\u{0007}{}", "🙂 ".repeat(400));
        let json = serde_json::json!({"url": url, "title": title, "referrer": url});
        let page: PageInput = serde_json::from_value(json).unwrap();
        assert!(page.validate().is_ok(), "{:?}", page.validate());
        assert!(page.url.len() <= MAX_URL && url.starts_with(&page.url));
        assert_eq!(page.referrer, page.url);
        assert_eq!(page.title.chars().count(), MAX_TITLE);
        assert!(page.title.starts_with("Shoes 🙂"), "the control character became a space");
    }

    #[test]
    fn emails_names_and_locales_are_checked() {
        assert_eq!(parse_email(" Ana@Example.COM ").unwrap(), "ana@example.com");
        assert_eq!(parse_email("").unwrap(), "");
        assert!(parse_email("ana").is_err());
        assert!(parse_email("ana@localhost").is_err());
        assert_eq!(parse_name("  Ana ").unwrap(), "Ana");
        assert!(parse_name("a\nb").is_err());
        assert_eq!(parse_locale("fr-FR").unwrap(), "fr-FR");
        assert!(parse_locale("fr_FR;q=1").is_err());
    }

    #[test]
    fn the_browser_is_named_from_its_user_agent() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(browser_of(chrome), "Chrome 131");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86";
        assert_eq!(browser_of(edge), "Edge 131");
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(browser_of(firefox), "Firefox 133");
        let safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
        assert_eq!(browser_of(safari), "Safari 17.4");
        assert_eq!(browser_of("curl/8.0"), "");
    }
}
