//! Password hashing with argon2id (PHC strings, salt included).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::CoreError;

/// Shortest password accepted: anything shorter is guessed in seconds.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes a password into a PHC string. Slow by design: call it off the async threads.
pub fn hash(password: &str) -> Result<String, CoreError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(CoreError::Invalid(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| CoreError::Invalid(format!("cannot salt the password: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches a PHC string made by [`hash`]. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse", &a));
        assert!(!verify("correct hors", &a));
        assert!(!verify("correct horse", "not a phc string"));
        assert!(matches!(hash("short"), Err(CoreError::Invalid(_))));
    }
}
