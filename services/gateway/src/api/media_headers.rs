//! How a customer's file is served from the API's origin. The sender chooses the bytes and,
//! through the provider, the declared type; a file the browser renders as a page (HTML, SVG,
//! XML, script) would run with the API origin's authority. So:
//!
//! - only a short list of image, audio and video types is shown `inline`, under its own type;
//! - every other type is an `attachment`, and a type that a browser could render as a page or
//!   run (HTML, SVG, XML, script, style, multipart), or one that does not parse, becomes
//!   `application/octet-stream`;
//! - every answer is sandboxed (`Content-Security-Policy: sandbox; default-src 'none'`) and
//!   never sniffed (`X-Content-Type-Options: nosniff`), so even a file whose bytes disagree
//!   with its type cannot run.
//!
//! Pure: [`media_headers`] decides, the handler writes what it decided.

/// What a file is never served as: the type a browser downloads without looking inside.
pub const OPAQUE_TYPE: &str = "application/octet-stream";

/// The policy every customer file is served under: no script, no plugin, no same origin, no
/// fetch of anything else.
pub const MEDIA_CSP: &str = "sandbox; default-src 'none'";

/// Types shown in the page (`inline`), with the file name extension each is saved with.
const INLINE_TYPES: &[(&str, &str)] = &[
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("audio/ogg", "ogg"),
    ("audio/mpeg", "mp3"),
    ("audio/mp4", "m4a"),
    ("audio/aac", "aac"),
    ("audio/amr", "amr"),
    ("audio/wav", "wav"),
    ("audio/webm", "weba"),
    ("video/mp4", "mp4"),
    ("video/3gpp", "3gp"),
    ("video/webm", "webm"),
];

/// Parts of a type's name that mark what a browser may render as a document or run.
const ACTIVE_MARKS: &[&str] = &["html", "xml", "svg", "script", "css", "multipart/"];

/// The longest media id kept in a file name.
const MAX_NAME_CHARS: usize = 64;

/// The headers a customer's file is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaHeaders {
    /// `Content-Type`: the declared type's essence (no parameters) or [`OPAQUE_TYPE`].
    pub content_type: String,
    /// `Content-Disposition`: `inline` or `attachment`, with a file name made of safe
    /// characters only.
    pub disposition: String,
}

impl MediaHeaders {
    pub fn is_inline(&self) -> bool {
        self.disposition.starts_with("inline")
    }
}

/// How to serve a file the provider declared as `declared_type`, named after `media_id`.
pub fn media_headers(declared_type: &str, media_id: &str) -> MediaHeaders {
    let essence = type_essence(declared_type);
    let inline = essence.as_deref().and_then(|t| INLINE_TYPES.iter().find(|(name, _)| *name == t));
    let stem = file_stem(media_id);
    match (inline, essence) {
        (Some((name, extension)), _) => MediaHeaders {
            content_type: (*name).to_owned(),
            disposition: format!("inline; filename=\"{stem}.{extension}\""),
        },
        (None, Some(essence)) if !is_active(&essence) => {
            MediaHeaders { content_type: essence, disposition: format!("attachment; filename=\"{stem}\"") }
        }
        (None, _) => MediaHeaders {
            content_type: OPAQUE_TYPE.to_owned(),
            disposition: format!("attachment; filename=\"{stem}.bin\""),
        },
    }
}

/// `type/subtype` in lower case, without parameters; `None` unless both are RFC 9110 tokens.
fn type_essence(declared: &str) -> Option<String> {
    let essence = declared.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/')?;
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    (token(kind) && token(subtype)).then_some(essence)
}

fn is_active(essence: &str) -> bool {
    ACTIVE_MARKS.iter().any(|mark| essence.contains(mark))
}

/// `media-` and the media id's letters, digits, `-` and `_` (at most [`MAX_NAME_CHARS`]):
/// nothing a header, a path or a shell could read otherwise.
fn file_stem(media_id: &str) -> String {
    let safe: String =
        media_id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).take(MAX_NAME_CHARS).collect();
    if safe.is_empty() { "media".to_owned() } else { format!("media-{safe}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(declared: &str) -> MediaHeaders {
        media_headers(declared, "1003383421387256")
    }

    #[test]
    fn photos_voice_notes_and_videos_are_shown_inline_under_their_own_type() {
        let photo = served("image/jpeg");
        assert_eq!(photo.content_type, "image/jpeg");
        assert_eq!(photo.disposition, "inline; filename=\"media-1003383421387256.jpg\"");
        let voice = served("audio/ogg; codecs=opus");
        assert_eq!((voice.content_type.as_str(), voice.is_inline()), ("audio/ogg", true));
        assert!(served("Audio/MPEG").is_inline(), "type names are case-insensitive");
        for kind in ["image/png", "image/gif", "image/webp", "audio/amr", "audio/wav", "video/mp4", "video/3gpp"] {
            assert!(served(kind).is_inline(), "{kind}");
        }
    }

    #[test]
    fn documents_are_downloaded_under_their_own_type() {
        for kind in ["application/pdf", "text/plain", "application/zip", "image/heic", "text/csv"] {
            let file = served(kind);
            assert_eq!(file.content_type, kind);
            assert_eq!(file.disposition, "attachment; filename=\"media-1003383421387256\"", "{kind}");
        }
    }

    #[test]
    fn pages_images_that_are_documents_and_scripts_are_never_served_as_what_they_claim() {
        for kind in [
            "text/html",
            "text/html; charset=utf-8",
            "application/xhtml+xml",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/rss+xml",
            "application/javascript",
            "text/javascript",
            "application/ecmascript",
            "text/css",
            "multipart/x-mixed-replace; boundary=x",
            "TEXT/HTML",
        ] {
            let file = served(kind);
            assert_eq!(file.content_type, OPAQUE_TYPE, "{kind}");
            assert!(file.disposition.starts_with("attachment; "), "{kind}");
        }
    }

    #[test]
    fn a_type_that_does_not_parse_is_an_opaque_download() {
        for kind in ["", "jpeg", "image/", "/png", "image/png\r\nx-evil: 1", "image/jp eg", "text/html,image/png"] {
            let file = served(kind);
            assert_eq!(file.content_type, OPAQUE_TYPE, "{kind:?}");
            assert_eq!(file.disposition, "attachment; filename=\"media-1003383421387256.bin\"", "{kind:?}");
        }
    }

    #[test]
    fn the_file_name_keeps_only_safe_characters_of_the_media_id() {
        let file = media_headers("image/png", "../../etc/passwd\"; x=\r\n");
        assert_eq!(file.disposition, "inline; filename=\"media-etcpasswdx.png\"");
        assert_eq!(media_headers("image/png", "\"/;").disposition, "inline; filename=\"media.png\"");
        let long = media_headers("application/pdf", &"a".repeat(500));
        assert_eq!(long.disposition.len(), "attachment; filename=\"media-\"".len() + MAX_NAME_CHARS);
    }
}
