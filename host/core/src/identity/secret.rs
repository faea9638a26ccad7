//! Random secrets (API keys, session tokens) and how they are stored: only their SHA-256.
//!
//! Secrets are 32 random alphanumeric characters (about 190 bits), so a fast hash is enough to
//! keep a leaked database from revealing them; passwords, which people choose, use argon2.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Length of API keys and session tokens. OctoPrint clients accept any alphanumeric key; 32
/// characters match what OctoPrint itself issues.
pub const SECRET_LEN: usize = 32;

/// A new random secret.
pub fn generate() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
}

/// What the database keeps of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
