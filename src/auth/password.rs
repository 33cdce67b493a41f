//! Password hashing with ring's PBKDF2-HMAC-SHA256 and password generation.
//!
//! PBKDF2 is deliberately slow: it runs only when a token is issued (and in
//! the admin commands), always on a blocking thread, never per request.

use std::num::NonZeroU32;

use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

use crate::store::PasswordHash;

/// Iterations for new hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
/// Stored per user, so raising it later leaves old hashes verifiable.
pub const ITERATIONS: u32 = 600_000;

const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
/// 18 random bytes: 144 bits, 24 base64url characters.
const GENERATED_BYTES: usize = 18;

/// The system's random source failed: nothing secure can be made.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Fills `out` from the system's CSPRNG.
pub fn random_bytes(out: &mut [u8]) -> Result<(), RandomError> {
    SystemRandom::new().fill(out).map_err(|_| RandomError)
}

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &str, iterations: u32) -> Result<PasswordHash, RandomError> {
    let mut salt = vec![0; SALT_LEN];
    random_bytes(&mut salt)?;
    let mut out = vec![0; HASH_LEN];
    pbkdf2::derive(
        ALGORITHM,
        rounds(iterations),
        &salt,
        password.as_bytes(),
        &mut out,
    );
    Ok(PasswordHash {
        salt,
        iterations,
        hash: out,
    })
}

/// Whether `password` matches `stored`, compared in constant time.
pub fn verify(password: &[u8], stored: &PasswordHash) -> bool {
    pbkdf2::verify(
        ALGORITHM,
        rounds(stored.iterations),
        &stored.salt,
        password,
        &stored.hash,
    )
    .is_ok()
}

/// A hash that no password matches, with the normal cost: checking an
/// unknown user against it takes as long as checking a real one.
pub fn decoy() -> PasswordHash {
    PasswordHash {
        salt: vec![0x5a; SALT_LEN],
        iterations: ITERATIONS,
        hash: vec![0; HASH_LEN],
    }
}

/// A new random password, base64url (no `:` so it is safe in HTTP Basic).
pub fn generate() -> Result<String, RandomError> {
    use base64::Engine as _;
    let mut bytes = [0u8; GENERATED_BYTES];
    random_bytes(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn rounds(iterations: u32) -> NonZeroU32 {
    NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let stored = hash("correct horse", 1_000).unwrap();
        assert_eq!(stored.iterations, 1_000);
        assert_eq!((stored.salt.len(), stored.hash.len()), (16, 32));
        assert!(verify(b"correct horse", &stored));
        assert!(!verify(b"correct horsf", &stored));
        assert!(!verify(b"", &stored));
    }

    #[test]
    fn salts_differ_so_hashes_differ() {
        let a = hash("pw", 10).unwrap();
        let b = hash("pw", 10).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn iteration_count_is_part_of_the_hash() {
        let mut stored = hash("pw", 10).unwrap();
        stored.iterations = 11;
        assert!(!verify(b"pw", &stored));
    }

    #[test]
    fn full_cost_hash_verifies() {
        let stored = hash("pw", ITERATIONS).unwrap();
        assert!(verify(b"pw", &stored));
    }

    #[test]
    fn nothing_matches_the_decoy() {
        assert!(!verify(b"", &decoy()));
        assert!(!verify(b"password", &decoy()));
    }

    #[test]
    fn generated_passwords_are_long_random_and_basic_safe() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
