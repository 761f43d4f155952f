//! Channel secrets at rest (WhatsApp app secrets, access tokens and verify tokens, Twilio auth
//! tokens): sealed with AES-256-GCM under one of the configured keys, named by its key id, so
//! keys rotate. New seals use the active key; a sealed value is opened with the key its row
//! names. Every seal is bound to the account it belongs to (the associated data names the
//! channel and the provider's id of the account), so a sealed value moved to another row does
//! not open.
//!
//! Keys come from configuration (`secrets.keys` = `kid1:<base64 of 32 bytes>,kid2:...`,
//! `secrets.active_key` = `kid2`), never from the database.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;

/// Bytes of an AES-256 key.
const KEY_BYTES: usize = 32;
/// Bytes of a GCM nonce; a fresh random one is put in front of every sealed value.
const NONCE_BYTES: usize = 12;
/// The longest key id.
const MAX_KEY_ID: usize = 32;

/// The configured keys and which one seals new values. Its `Debug` names key ids only.
#[derive(Clone, Default)]
pub struct SecretKeys {
    keys: HashMap<String, Aes256Gcm>,
    active: String,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("SecretKeys").field("key_ids", &ids).field("active", &self.active).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No keys are configured (a store built without them cannot seal).
    #[error("no secret keys are configured (secrets.keys, secrets.active_key)")]
    NoKeys,
    /// A row names a key id the configuration does not hold.
    #[error("secret key {0:?} is not configured (secrets.keys)")]
    UnknownKey(String),
    /// The sealed value does not open with its key (damaged, or moved from another row).
    #[error("a sealed secret does not open with key {0:?}")]
    Damaged(String),
}

impl SecretKeys {
    /// Parses `keys` (`kid:<base64 of 32 bytes>`, comma-separated) and checks that `active`
    /// is one of them. The error never repeats key material.
    pub fn parse(keys: &str, active: &str) -> Result<Self, String> {
        let mut parsed = HashMap::new();
        for (n, entry) in keys.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let Some((id, material)) = entry.split_once(':') else {
                return Err(format!("entry {} is not of the form kid:<base64 of 32 bytes>", n + 1));
            };
            let id = id.trim();
            if id.is_empty()
                || id.len() > MAX_KEY_ID
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "entry {}: a key id is 1 to {MAX_KEY_ID} letters, digits, '-' or '_', not {id:?}",
                    n + 1
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(material.trim())
                .map_err(|_| format!("key {id:?} is not base64 (make one with: openssl rand -base64 32)"))?;
            if bytes.len() != KEY_BYTES {
                return Err(format!("key {id:?} is {} bytes; AES-256 keys are {KEY_BYTES} bytes", bytes.len()));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| format!("key {id:?} is not a key"))?;
            if parsed.insert(id.to_owned(), cipher).is_some() {
                return Err(format!("key id {id:?} is given twice"));
            }
        }
        if parsed.is_empty() {
            return Err(
                "is required: kid:<base64 of 32 bytes>[,kid2:...] (make a key with: openssl rand -base64 32)".into()
            );
        }
        let active = active.trim();
        if !parsed.contains_key(active) {
            return Err(format!("names no key: the active key {active:?} is not among secrets.keys"));
        }
        Ok(Self { keys: parsed, active: active.to_owned() })
    }

    /// The key id new values are sealed under; empty when no keys are configured.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Whether `key_id` is configured.
    pub fn holds(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Seals `plaintext` for the owner named by `binding` under the active key: the key id and
    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, binding: &[u8], plaintext: &[u8]) -> Result<(String, Vec<u8>), SecretError> {
        let cipher = self.keys.get(&self.active).ok_or(SecretError::NoKeys)?;
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: binding })
            .map_err(|_| SecretError::Damaged(self.active.clone()))?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok((self.active.clone(), out))
    }

    /// Opens a value sealed under `key_id` for the owner named by `binding`.
    pub fn open(&self, key_id: &str, binding: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        let cipher = self.keys.get(key_id).ok_or_else(|| SecretError::UnknownKey(key_id.to_owned()))?;
        if sealed.len() < NONCE_BYTES {
            return Err(SecretError::Damaged(key_id.to_owned()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SecretError::Damaged(key_id.to_owned()))?;
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: binding })
            .map_err(|_| SecretError::Damaged(key_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; KEY_BYTES])
    }

    #[test]
    fn a_value_sealed_under_one_key_opens_with_it_after_the_active_key_changed() {
        let old = SecretKeys::parse(&format!("k1:{}", key(1)), "k1").unwrap();
        let (id, sealed) = old.seal(b"whatsapp:1065", b"app-secret").unwrap();
        assert_eq!(id, "k1");
        assert!(!sealed.windows(10).any(|w| w == b"app-secret"), "sealed, not encoded");
        let rotated = SecretKeys::parse(&format!("k1:{}, k2:{}", key(1), key(2)), "k2").unwrap();
        assert_eq!(rotated.open(&id, b"whatsapp:1065", &sealed).unwrap(), b"app-secret");
        let (id2, sealed2) = rotated.seal(b"whatsapp:1065", b"app-secret").unwrap();
        assert_eq!(id2, "k2");
        assert_ne!(sealed2, sealed);
        assert_eq!(rotated.open("k2", b"whatsapp:1065", &sealed2).unwrap(), b"app-secret");
    }

    #[test]
    fn a_value_moved_to_another_account_or_under_another_key_does_not_open() {
        let keys = SecretKeys::parse(&format!("k1:{},k2:{}", key(1), key(2)), "k1").unwrap();
        let (id, sealed) = keys.seal(b"whatsapp:1065", b"s").unwrap();
        assert_eq!(keys.open(&id, b"whatsapp:9999", &sealed), Err(SecretError::Damaged("k1".into())));
        assert_eq!(keys.open("k2", b"whatsapp:1065", &sealed), Err(SecretError::Damaged("k2".into())));
        assert_eq!(keys.open("k9", b"whatsapp:1065", &sealed), Err(SecretError::UnknownKey("k9".into())));
        let mut flipped = sealed.clone();
        flipped[NONCE_BYTES] ^= 1;
        assert!(keys.open(&id, b"whatsapp:1065", &flipped).is_err());
        assert_eq!(SecretKeys::default().seal(b"x", b"y"), Err(SecretError::NoKeys));
    }

    #[test]
    fn keys_are_checked_for_form_length_and_an_active_key_without_repeating_them() {
        let secret = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        for (keys, active, expected) in [
            ("", "k1", "is required"),
            ("k1", "k1", "not of the form"),
            (":abc", "k1", "key id"),
            ("k 1:abc", "k1", "key id"),
            ("k1:%%%", "k1", "not base64"),
            (&format!("k1:{secret}"), "k1", "16 bytes"),
            (&format!("k1:{},k1:{}", key(1), key(2)), "k1", "twice"),
            (&format!("k1:{}", key(1)), "k2", "not among"),
            (&format!("k1:{}", key(1)), "", "not among"),
        ] {
            let err = SecretKeys::parse(keys, active).unwrap_err();
            assert!(err.contains(expected), "{keys:?}/{active:?}: {err}");
            assert!(!err.contains(&secret) && !err.contains(&key(1)), "{err}");
        }
        let keys = SecretKeys::parse(&format!("k1:{}", key(1)), " k1 ").unwrap();
        assert_eq!(keys.active_key_id(), "k1");
        assert!(!format!("{keys:?}").contains(&key(1)));
    }
}
