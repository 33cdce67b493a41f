//! API tokens: 32 random bytes shown once as base64url; only their SHA-256
//! is stored, so checking one is a hash and one database `get`.

use base64::Engine as _;
use ring::digest;

use super::password::{random_bytes, RandomError};

/// Length of a token's text form: 32 bytes in unpadded base64url.
pub const TEXT_LEN: usize = 43;

/// Makes a new token; returns its text (for the client) and its hash (for
/// the store).
pub fn mint() -> Result<(String, [u8; 32]), RandomError> {
    let mut raw = [0u8; 32];
    random_bytes(&mut raw)?;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let hash = hash(&text);
    Ok((text, hash))
}

/// The store key of a token: SHA-256 of its text form.
pub fn hash(text: &str) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether `text` has the shape of a token this server issues; anything
/// else is refused before it is hashed or looked up.
pub fn well_formed(text: &str) -> bool {
    text.len() == TEXT_LEN
        && text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_well_formed_unique_and_hash_to_their_key() {
        let (a, ha) = mint().unwrap();
        let (b, _) = mint().unwrap();
        assert!(well_formed(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(hash(&a), ha);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let (good, _) = mint().unwrap();
        assert!(!well_formed(""));
        assert!(!well_formed(&good[..42]));
        assert!(!well_formed(&format!("{good}A")));
        assert!(!well_formed(&format!("+{}", &good[1..])));
        assert!(!well_formed(&"é".repeat(21)));
        assert!(!well_formed(&"A".repeat(100_000)));
    }
}
