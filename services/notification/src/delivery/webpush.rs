//! Web Push message encryption (RFC 8291, `aes128gcm` of RFC 8188) and VAPID (RFC 8292):
//! what it takes to hand a push service a message only the subscribed browser can read,
//! signed as this application server.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// Record size announced in the header: one record carries the whole message.
const RECORD_SIZE: u32 = 4096;
/// Largest payload that fits one record (4096 less the tag and the padding delimiter, less
/// room for the header push services count against it too).
pub const MAX_PAYLOAD: usize = 3_800;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushCryptoError {
    #[error("p256dh is not a base64url P-256 public key")]
    BadPublicKey,
    #[error("auth is not a base64url 16-byte secret")]
    BadAuth,
    #[error("the payload is larger than {MAX_PAYLOAD} bytes")]
    TooLarge,
    #[error("the VAPID key is not a P-256 private key")]
    BadVapidKey,
    #[error("the push endpoint is not a URL with a host")]
    BadEndpoint,
    #[error("encryption failed")]
    Encryption,
}

/// A subscription's keys, checked.
#[derive(Debug, Clone)]
pub struct SubscriberKeys {
    public: PublicKey,
    auth: [u8; 16],
}

impl SubscriberKeys {
    /// From `keys.p256dh` and `keys.auth` of `PushSubscription.toJSON()` (base64url; padding
    /// tolerated).
    pub fn parse(p256dh: &str, auth: &str) -> Result<SubscriberKeys, PushCryptoError> {
        let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim().trim_end_matches('='));
        let public = decode(p256dh)
            .ok()
            .and_then(|bytes| PublicKey::from_sec1_bytes(&bytes).ok())
            .ok_or(PushCryptoError::BadPublicKey)?;
        let auth: [u8; 16] =
            decode(auth).ok().and_then(|bytes| bytes.try_into().ok()).ok_or(PushCryptoError::BadAuth)?;
        Ok(SubscriberKeys { public, auth })
    }
}

fn random_secret_key() -> SecretKey {
    loop {
        let bytes: [u8; 32] = rand::random();
        // Out of range (a chance of about 2^-32): draw again.
        if let Ok(key) = SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

fn uncompressed(key: &PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    key.to_encoded_point(false).as_bytes().to_vec()
}

/// Encrypts `payload` for `to` with a fresh key pair and salt: the request body, header
/// included (`Content-Encoding: aes128gcm`).
pub fn encrypt(payload: &[u8], to: &SubscriberKeys) -> Result<Vec<u8>, PushCryptoError> {
    encrypt_with(payload, to, &random_secret_key(), rand::random())
}

/// [`encrypt`] with the application server's key pair and salt given (the RFC's example).
pub fn encrypt_with(
    payload: &[u8],
    to: &SubscriberKeys,
    server_key: &SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, PushCryptoError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PushCryptoError::TooLarge);
    }
    let server_public = uncompressed(&server_key.public_key());
    let subscriber_public = uncompressed(&to.public);
    let shared = p256::ecdh::diffie_hellman(server_key.to_nonzero_scalar(), to.public.as_affine());

    // RFC 8291 §3.3: IKM from the ECDH secret, keyed by the auth secret and both public keys.
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(&subscriber_public);
    key_info.extend_from_slice(&server_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&to.auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| PushCryptoError::Encryption)?;

    // RFC 8188 §2.2–2.3: content encryption key and nonce from the salt.
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|_| PushCryptoError::Encryption)?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|_| PushCryptoError::Encryption)?;

    // One record, the last: the payload then the delimiter 0x02, no further padding.
    let mut plaintext = Vec::with_capacity(payload.len() + 1);
    plaintext.extend_from_slice(payload);
    plaintext.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| PushCryptoError::Encryption)?;
    let ciphertext =
        cipher.encrypt(&Nonce::from(nonce), plaintext.as_slice()).map_err(|_| PushCryptoError::Encryption)?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + server_public.len() + ciphertext.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(server_public.len() as u8);
    body.extend_from_slice(&server_public);
    body.extend_from_slice(&ciphertext);
    Ok(body)
}

/// The application server's VAPID key (ES256).
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl VapidKey {
    pub fn generate() -> VapidKey {
        VapidKey { signing: SigningKey::from(random_secret_key()) }
    }

    /// From the 32-byte private scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<VapidKey, PushCryptoError> {
        let secret = SecretKey::from_slice(bytes).map_err(|_| PushCryptoError::BadVapidKey)?;
        Ok(VapidKey { signing: SigningKey::from(secret) })
    }

    /// From base64url of the 32-byte private scalar (as configured).
    pub fn from_base64(text: &str) -> Result<VapidKey, PushCryptoError> {
        let bytes =
            URL_SAFE_NO_PAD.decode(text.trim().trim_end_matches('=')).map_err(|_| PushCryptoError::BadVapidKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.signing.to_bytes().to_vec()
    }

    /// base64url of the uncompressed public key: the browser's `applicationServerKey`, and
    /// the `k` of the Authorization header.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(uncompressed(&PublicKey::from(self.signing.verifying_key())))
    }

    /// `Authorization: vapid t=<JWT>, k=<public key>` for a message to `endpoint`: an ES256
    /// JWT for the endpoint's origin, expiring at `expires` (at most 24 h ahead, RFC 8292 §2),
    /// naming `subject` (a `mailto:` or `https:` contact).
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: &str,
        expires: DateTime<Utc>,
    ) -> Result<String, PushCryptoError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({"aud": audience(endpoint)?, "exp": expires.timestamp(), "sub": subject});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        Ok(format!("vapid t={jwt}, k={}", self.public_key()))
    }
}

/// The origin of a push endpoint (`https://push.example.net`), the JWT's audience.
pub fn audience(endpoint: &str) -> Result<String, PushCryptoError> {
    let uri: http::Uri = endpoint.parse().map_err(|_| PushCryptoError::BadEndpoint)?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => Ok(format!("{scheme}://{}", authority.as_str())),
        _ => Err(PushCryptoError::BadEndpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// RFC 8291 Appendix A: the same keys, salt and message give the RFC's body byte for byte.
    #[test]
    fn the_rfcs_example_message_encrypts_to_the_rfcs_body() {
        let to = SubscriberKeys::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .unwrap();
        let server = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(b"When I grow up, I want to be a watermelon", &to, &server, salt).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn bad_subscription_keys_and_oversized_payloads_are_refused() {
        assert_eq!(
            SubscriberKeys::parse("not-a-key", "BTBZMqHH6r4Tts7J_aSIgg").unwrap_err(),
            PushCryptoError::BadPublicKey
        );
        let p256dh = VapidKey::generate().public_key();
        assert_eq!(SubscriberKeys::parse(&p256dh, "c2hvcnQ").unwrap_err(), PushCryptoError::BadAuth);
        let to = SubscriberKeys::parse(&p256dh, "BTBZMqHH6r4Tts7J_aSIgg").unwrap();
        assert_eq!(encrypt(&vec![b'x'; MAX_PAYLOAD + 1], &to).unwrap_err(), PushCryptoError::TooLarge);
        assert_eq!(encrypt(b"hello", &to).unwrap().len(), 16 + 4 + 1 + 65 + 6 + 16);
    }

    #[test]
    fn the_vapid_header_carries_an_es256_jwt_for_the_endpoints_origin() {
        let key = VapidKey::generate();
        let expires = chrono::TimeZone::with_ymd_and_hms(&Utc, 2031, 1, 6, 12, 0, 0).unwrap();
        let header =
            key.authorization("https://push.example.net:8443/send/abc?x=1", "mailto:ops@example.com", expires).unwrap();
        let (t, k) = header.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, key.public_key());
        let parts: Vec<&str> = t.split('.').collect();
        let claims: serde_json::Value = serde_json::from_slice(&b64(parts[1])).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], expires.timestamp());
        // The signature verifies with the public key.
        use p256::ecdsa::VerifyingKey;
        use p256::ecdsa::signature::Verifier;
        let verifying = VerifyingKey::from_sec1_bytes(&b64(k)).unwrap();
        let signature = Signature::from_slice(&b64(parts[2])).unwrap();
        assert!(verifying.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).is_ok());
        // The key survives storage.
        assert_eq!(VapidKey::from_bytes(&key.to_bytes()).unwrap().public_key(), key.public_key());
    }
}
