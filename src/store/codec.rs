//! Record encoding: one leading format-version byte, then bincode (serde).
//!
//! bincode is compact and fast but not self-describing, so a record whose
//! layout changes gets a new version number and a decode path for the old
//! one; an unknown version is reported as corruption, never guessed at.

use serde::{de::DeserializeOwned, Serialize};

use super::Error;

/// A value stored in a tree, with the format version it is written in.
pub trait Record: Serialize + DeserializeOwned {
    /// The format version written by this build.
    const VERSION: u8;

    /// Decodes the bincode `rest` of a record written in an older format
    /// `version`, into today's shape; `None` for a version this build does
    /// not know (reported as corruption).
    fn upgrade(version: u8, rest: &[u8]) -> Option<Result<Self, String>> {
        let _ = (version, rest);
        None
    }
}

/// The bincode value that is the whole of `bytes` (older record layouts
/// decode through this too).
pub fn whole<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config()).map_err(|err| err.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(value)
}

/// Most bytes a record's strings may claim when decoded, as much as a
/// backup field may hold. bincode allocates a string's length before it
/// reads the string, so without a limit a corrupt length (up to 2^64)
/// aborts the process instead of being reported as corruption.
const MAX_RECORD: usize = 16 * 1024 * 1024;

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_RECORD>,
> {
    // The limit only bounds decoding; the encoding is the same.
    bincode::config::standard().with_limit::<MAX_RECORD>()
}

/// Encodes `record` as `[VERSION] ++ bincode(record)`.
pub fn encode<R: Record>(record: &R) -> Result<Vec<u8>, Error> {
    let mut out = vec![R::VERSION];
    bincode::serde::encode_into_std_write(record, &mut out, config()).map_err(|err| Error::Encode {
        reason: err.to_string(),
    })?;
    Ok(out)
}

/// Decodes a record read from `tree` under `key`; anything that is not a
/// whole record of a known version is `Error::Corrupt`.
pub fn decode<R: Record>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<R, Error> {
    let corrupt = |reason: String| Error::Corrupt {
        tree,
        key: hex(key),
        reason,
    };
    let (&version, rest) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty record".into()))?;
    if version != R::VERSION {
        return match R::upgrade(version, rest) {
            Some(upgraded) => {
                upgraded.map_err(|reason| corrupt(format!("format version {version}: {reason}")))
            }
            None => Err(corrupt(format!("unknown format version {version}"))),
        };
    }
    whole(rest).map_err(corrupt)
}

/// Hex form of a key, for error messages (keys may be binary).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PasswordHash, Token, User};

    fn user() -> User {
        User {
            nickname: "alice".into(),
            password: PasswordHash {
                salt: vec![1; 16],
                iterations: 600_000,
                hash: vec![2; 32],
            },
            created_at: 1_700_000_000,
            updated_at: 1_700_000_001,
            last_seen_at: Some(1_700_000_002),
            roles: vec!["admin".into()],
        }
    }

    #[test]
    fn user_round_trips_with_version_byte() {
        let bytes = encode(&user()).unwrap();
        assert_eq!(bytes[0], User::VERSION);
        let back: User = decode("userid_user", b"k", &bytes).unwrap();
        assert_eq!(back, user());
    }

    #[test]
    fn token_round_trips() {
        let token = Token {
            user_id: 7,
            created_at: 10,
            expires_at: 610,
        };
        let back: Token = decode("t", b"k", &encode(&token).unwrap()).unwrap();
        assert_eq!(back, token);
    }

    /// The bytes this version writes for a token, pinned: if the layout
    /// changes, this test fails and the format version must be raised.
    #[test]
    fn token_layout_is_pinned() {
        let token = Token {
            user_id: 1,
            created_at: 2,
            expires_at: 3,
        };
        assert_eq!(encode(&token).unwrap(), vec![Token::VERSION, 1, 2, 3]);
    }

    #[test]
    fn unknown_version_is_corrupt_not_guessed() {
        let mut bytes = encode(&user()).unwrap();
        bytes[0] = 99;
        let err = decode::<User>("userid_user", &[0, 1], &bytes).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { tree: "userid_user", key, reason }
                if key == "0001" && reason.contains("version 99")),
            "{err}"
        );
    }

    /// Found by the `store_record` fuzz target: a string length of about
    /// 2^50 made bincode allocate it before reading (an abort, not an error).
    #[test]
    fn a_huge_string_length_is_corrupt_not_an_allocation() {
        let mut bytes = vec![User::VERSION, 253];
        bytes.extend_from_slice(&(1u64 << 50).to_le_bytes());
        bytes.extend_from_slice(b"alice");
        assert!(matches!(
            decode::<User>("t", b"k", &bytes),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn truncated_and_empty_records_are_corrupt() {
        let bytes = encode(&user()).unwrap();
        assert!(decode::<User>("t", b"k", &bytes[..bytes.len() - 3]).is_err());
        assert!(decode::<User>("t", b"k", &[]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<User>("t", b"k", &longer).is_err());
    }
}
