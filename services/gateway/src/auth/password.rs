//! Passwords: the policy a new one must meet, and argon2id hashes (PHC strings) made and
//! checked off the async threads, a few at a time.

use std::sync::Arc;

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use inbox_errors::PublicError;
use rand::RngCore;
use tokio::sync::{OnceCell, Semaphore};

/// Fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters a password may have: hashing cost grows with length.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// argon2id cost: memory in KiB, iterations, lanes. OWASP's minimum is m=19456 t=2 p=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashCost {
    /// The argon2 parameters, or why they are not valid.
    pub fn params(self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(|e| e.to_string())
    }
}

/// Refuses a password an admin wants to set: too short, too long, or the user's email.
pub fn check_policy(password: &str, email: &str) -> Result<(), PublicError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PublicError::invalid_argument(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PublicError::invalid_argument(format!("password must be at most {MAX_PASSWORD_CHARS} characters")));
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err(PublicError::invalid_argument("password must not be the email address"));
    }
    Ok(())
}

/// Hashes and verifies passwords with one cost; at most as many at once as the machine has
/// cores, so a burst of sign-ins queues instead of starving every other request.
#[derive(Clone)]
pub struct Passwords {
    hasher: Arc<Argon2<'static>>,
    /// A hash of no one's password with the same cost, verified when the account has none, so
    /// an unknown email takes as long as a known one. Made off the async threads on first
    /// need (or by [`Passwords::warm_up`] at start), never while the service starts.
    decoy: Arc<OnceCell<String>>,
    permits: Arc<Semaphore>,
}

/// Failure to hash: only a bug (the cost was validated at start) leads here.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Passwords {
    pub fn new(cost: HashCost) -> Result<Self, HashError> {
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params().map_err(HashError)?);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            hasher: Arc::new(hasher),
            decoy: Arc::new(OnceCell::new()),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }

    /// Makes the decoy hash now, so the first unknown email costs no more than later ones.
    pub async fn warm_up(&self) -> Result<(), HashError> {
        self.decoy().await.map(|_| ())
    }

    async fn decoy(&self) -> Result<&String, HashError> {
        self.decoy
            .get_or_try_init(|| async {
                let mut decoy_password = [0u8; 32];
                rand::rng().fill_bytes(&mut decoy_password);
                let hasher = self.hasher.clone();
                self.off_thread(move || hash_with(&hasher, &decoy_password)).await?
            })
            .await
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        self.off_thread(move || hash_with(&hasher, password.as_bytes())).await?
    }

    /// Whether `password` matches `stored`; with no stored hash (or one that does not parse)
    /// the decoy is checked instead and the answer is false, in about the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let real = stored.filter(|s| PasswordHash::new(s).is_ok()).map(str::to_owned);
        let (against, genuine) = match real {
            Some(hash) => (hash, true),
            None => match self.decoy().await {
                Ok(decoy) => (decoy.clone(), false),
                Err(e) => {
                    tracing::error!(error = %e, "decoy password hash unavailable");
                    return false;
                }
            },
        };
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        let verified = self.off_thread(move || {
            PasswordHash::new(&against).is_ok_and(|hash| hasher.verify_password(password.as_bytes(), &hash).is_ok())
        });
        genuine && verified.await.unwrap_or(false)
    }

    async fn off_thread<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let _permit = self.permits.acquire().await.map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| HashError(e.to_string()))
    }
}

fn hash_with(hasher: &Argon2<'_>, password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    Ok(hasher.hash_password(password, &salt).map_err(|e| HashError(e.to_string()))?.to_string())
}

#[cfg(test)]
mod tests {
    use inbox_errors::ErrorCode;

    use super::*;

    /// Cheap parameters: the rules do not depend on the cost.
    fn cheap() -> Passwords {
        Passwords::new(HashCost { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[test]
    fn a_password_needs_twelve_characters_and_must_not_be_the_email() {
        assert!(check_policy("correct horse", "sarah@acme.test").is_ok());
        let short = check_policy("elevenchars", "sarah@acme.test").unwrap_err();
        assert_eq!(
            (short.code, short.message.as_str()),
            (ErrorCode::InvalidArgument, "password must be at least 12 characters")
        );
        assert!(check_policy("ééééééééééé", "x@y.z").is_err(), "characters, not bytes, are counted");
        assert!(check_policy("éééééééééééé", "x@y.z").is_ok());
        let email = check_policy("Sarah@Acme.test", "sarah@acme.test").unwrap_err();
        assert_eq!(email.message, "password must not be the email address");
        assert!(check_policy(&"x".repeat(257), "x@y.z").is_err());
    }

    #[test]
    fn the_owasp_cost_is_valid_and_an_impossible_one_is_refused() {
        assert!(HashCost { memory_kib: 19456, iterations: 2, parallelism: 1 }.params().is_ok());
        assert!(HashCost { memory_kib: 4, iterations: 2, parallelism: 1 }.params().is_err(), "below 8 KiB per lane");
        assert!(HashCost { memory_kib: 19456, iterations: 0, parallelism: 1 }.params().is_err());
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_no_other_does() {
        let passwords = cheap();
        let hash = passwords.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(passwords.verify("correct horse battery", Some(&hash)).await);
        assert!(!passwords.verify("correct horse batterY", Some(&hash)).await);
        assert_ne!(hash, passwords.hash("correct horse battery").await.unwrap(), "a fresh salt each time");
    }

    #[tokio::test]
    async fn an_account_without_a_password_never_verifies() {
        let passwords = cheap();
        assert!(!passwords.verify("anything at all", None).await);
        assert!(!passwords.verify("anything at all", Some("not a phc string")).await);
        assert!(!passwords.verify("", None).await);
    }

    #[tokio::test]
    async fn a_hash_made_with_another_cost_still_verifies() {
        let older = Passwords::new(HashCost { memory_kib: 128, iterations: 2, parallelism: 1 }).unwrap();
        let hash = older.hash("correct horse battery").await.unwrap();
        assert!(cheap().verify("correct horse battery", Some(&hash)).await);
    }
}
