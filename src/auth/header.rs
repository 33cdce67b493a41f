//! Parsing the `Authorization` header: HTTP Basic for issuing tokens,
//! Bearer for everything else. Every input is hostile until proven
//! otherwise: size-capped, scheme case-insensitive, no panics.

use base64::Engine as _;

/// Longest `Authorization` value considered at all. A Basic header for a
/// 64-character name and a long password fits easily.
pub const MAX_LEN: usize = 1024;

/// Name and password from a Basic header. The password stays bytes: it is
/// only ever fed to PBKDF2.
#[derive(PartialEq, Eq)]
pub struct Basic {
    pub user: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Basic {
    // Never print the password, even in a test failure or a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Basic")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Splits `Scheme credentials`; the scheme is matched case-insensitively and
/// any run of spaces or tabs may separate the two.
fn credentials<'a>(value: &'a [u8], scheme: &str) -> Option<&'a [u8]> {
    if value.len() > MAX_LEN {
        return None;
    }
    let value = value.trim_ascii();
    let (head, rest) = value.split_at_checked(scheme.len())?;
    if !head.eq_ignore_ascii_case(scheme.as_bytes()) {
        return None;
    }
    let after = rest.trim_ascii_start();
    // The scheme must be followed by whitespace ("Bearerxyz" is not Bearer).
    if after.len() == rest.len() || after.is_empty() {
        return None;
    }
    Some(after)
}

/// Parses `Basic base64(user:password)`. `None` for anything malformed: no
/// colon, bad base64, a name that is not UTF-8, an empty name.
pub fn basic(value: &[u8]) -> Option<Basic> {
    let encoded = credentials(value, "Basic")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let (user, password) = decoded.split_at(colon);
    let user = std::str::from_utf8(user).ok()?;
    if user.is_empty() {
        return None;
    }
    Some(Basic {
        user: user.to_owned(),
        password: password[1..].to_vec(),
    })
}

/// Parses `Bearer <token>` and returns the token text if it is ASCII; its
/// shape is checked by `token::well_formed`.
pub fn bearer(value: &[u8]) -> Option<&str> {
    let token = credentials(value, "Bearer")?;
    if token.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    std::str::from_utf8(token).ok().filter(|t| t.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn basic_of(user: &str, pw: &[u8]) -> Basic {
        Basic {
            user: user.into(),
            password: pw.to_vec(),
        }
    }

    #[test]
    fn basic_accepts_the_usual_forms() {
        let v = format!("Basic {}", b64(b"alice:s3cret"));
        assert_eq!(basic(v.as_bytes()), Some(basic_of("alice", b"s3cret")));
        let v = format!("basic   {}  ", b64(b"alice:s3cret"));
        assert_eq!(basic(v.as_bytes()), Some(basic_of("alice", b"s3cret")));
        let v = format!("BASIC\t{}", b64(b"alice:"));
        assert_eq!(basic(v.as_bytes()), Some(basic_of("alice", b"")));
        // Only the first colon splits: passwords may contain colons.
        let v = format!("Basic {}", b64(b"alice:a:b"));
        assert_eq!(basic(v.as_bytes()), Some(basic_of("alice", b"a:b")));
        // Non-UTF-8 password bytes are kept as bytes.
        let v = format!("Basic {}", b64(b"alice:\xff\xfe"));
        assert_eq!(basic(v.as_bytes()), Some(basic_of("alice", b"\xff\xfe")));
    }

    #[test]
    fn basic_refuses_hostile_input() {
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"Basic".to_vec(),
            b"Basic ".to_vec(),
            b"Basic    ".to_vec(),
            format!("Basic{}", b64(b"alice:pw")).into_bytes(),
            format!("Bearer {}", b64(b"alice:pw")).into_bytes(),
            format!("Basic {}", b64(b"alice-no-colon")).into_bytes(),
            format!("Basic {}", b64(b":pw")).into_bytes(),
            format!("Basic {}", b64(b"\xffalice:pw")).into_bytes(),
            b"Basic !!!not-base64!!!".to_vec(),
            format!("Basic {} extra", b64(b"alice:pw")).into_bytes(),
            b"Basic \xff\xfe\xfd".to_vec(),
            format!("Basic {}", b64(&vec![b'a'; 2000])).into_bytes(),
            [b"Basic ".as_slice(), &vec![b'A'; 100_000]].concat(),
        ];
        for case in cases {
            assert_eq!(basic(&case), None, "{:?}", String::from_utf8_lossy(&case));
        }
    }

    #[test]
    fn bearer_accepts_the_usual_forms() {
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer(b"BEARER\tabc"), Some("abc"));
    }

    #[test]
    fn bearer_refuses_hostile_input() {
        let huge = [b"Bearer ".as_slice(), &vec![b'A'; 100_000]].concat();
        let cases: [&[u8]; 9] = [
            b"",
            b"Bearer",
            b"Bearer ",
            b"Bearerabc",
            b"Basic abc",
            b"Bearer a b",
            b"Bearer \xff\xfe",
            "Bearer é".as_bytes(),
            &huge,
        ];
        for case in cases {
            assert_eq!(bearer(case), None, "{:?}", String::from_utf8_lossy(case));
        }
    }
}
