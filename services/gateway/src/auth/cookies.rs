//! The web app's cookies and the CSRF check on their path.
//!
//! The refresh token travels in `inbox_refresh` (`HttpOnly`: no script reads it; sent only to
//! `/v1/auth`). A request that relies on that cookie must also carry `X-CSRF-Token` equal to
//! the `inbox_csrf` cookie, which the page can read and another site can neither read nor set
//! (double submit; `SameSite=Strict` on both is a second wall).

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use subtle::ConstantTimeEq;

pub const REFRESH_COOKIE: &str = "inbox_refresh";
pub const CSRF_COOKIE: &str = "inbox_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `Set-Cookie` for the refresh token, kept `max_age_seconds`.
pub fn refresh_cookie(token: &str, max_age_seconds: i64) -> String {
    format!("{REFRESH_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/v1/auth; Max-Age={max_age_seconds}")
}

/// `Set-Cookie` for the CSRF token: readable by the page, sent everywhere on this site.
pub fn csrf_cookie(token: &str, max_age_seconds: i64) -> String {
    format!("{CSRF_COOKIE}={token}; Secure; SameSite=Strict; Path=/; Max-Age={max_age_seconds}")
}

/// `Set-Cookie` values that remove both cookies.
pub fn cleared_cookies() -> [String; 2] {
    [refresh_cookie("", 0), csrf_cookie("", 0)]
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Whether the request proves it comes from our own page: an `X-CSRF-Token` header equal to
/// the `inbox_csrf` cookie (compared in constant time), both present and not empty.
pub fn csrf_confirmed(headers: &HeaderMap) -> bool {
    let header = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    match (header, cookie(headers, CSRF_COOKIE)) {
        (Some(sent), Some(cookie)) => bool::from(sent.as_bytes().ct_eq(cookie.as_bytes())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_refresh_cookie_is_http_only_secure_strict_and_scoped_to_the_auth_path() {
        let cookie = refresh_cookie("rt_abc", 2_592_000);
        let attributes: Vec<&str> = cookie.split("; ").collect();
        assert_eq!(
            attributes,
            ["inbox_refresh=rt_abc", "HttpOnly", "Secure", "SameSite=Strict", "Path=/v1/auth", "Max-Age=2592000"]
        );
    }

    #[test]
    fn the_csrf_cookie_is_readable_by_the_page_and_sent_on_every_path() {
        let cookie = csrf_cookie("c5rf", 60);
        assert_eq!(cookie, "inbox_csrf=c5rf; Secure; SameSite=Strict; Path=/; Max-Age=60");
        assert!(!cookie.contains("HttpOnly"));
    }

    #[test]
    fn clearing_expires_both_cookies_on_their_own_paths() {
        let [refresh, csrf] = cleared_cookies();
        assert!(
            refresh.starts_with("inbox_refresh=;")
                && refresh.contains("Path=/v1/auth")
                && refresh.ends_with("Max-Age=0")
        );
        assert!(csrf.starts_with("inbox_csrf=;") && csrf.contains("Path=/;") && csrf.ends_with("Max-Age=0"));
    }

    #[test]
    fn a_cookie_is_found_among_several_headers_and_pairs() {
        let h = headers(&[("cookie", "theme=dark; inbox_csrf=abc"), ("cookie", "inbox_refresh=rt_1")]);
        assert_eq!(cookie(&h, "inbox_csrf"), Some("abc"));
        assert_eq!(cookie(&h, "inbox_refresh"), Some("rt_1"));
        assert_eq!(cookie(&h, "inbox"), None);
        assert_eq!(cookie(&headers(&[("cookie", "inbox_refresh=")]), "inbox_refresh"), None);
    }

    #[test]
    fn csrf_needs_the_header_equal_to_the_cookie() {
        assert!(csrf_confirmed(&headers(&[("cookie", "inbox_csrf=abc"), ("x-csrf-token", "abc")])));
        assert!(!csrf_confirmed(&headers(&[("cookie", "inbox_csrf=abc"), ("x-csrf-token", "abd")])));
        assert!(!csrf_confirmed(&headers(&[("cookie", "inbox_csrf=abc")])), "no header");
        assert!(!csrf_confirmed(&headers(&[("x-csrf-token", "abc")])), "no cookie");
        assert!(!csrf_confirmed(&headers(&[("cookie", "inbox_csrf="), ("x-csrf-token", "")])), "both empty");
    }
}
