//! Strict, consistent parsing of the numeric query parameters
//! (`?expiration=`, `?timeout=`, `?wait=`) and of the `Host` header that
//! `Location` URLs are built from.

use super::ApiError;

/// Seconds as plain decimal digits (no sign, space or other character),
/// at least `min`, capped at `max`: a value past `max`, or with more digits
/// than a u64 holds, is `max`. Anything else is a 400 naming `name`.
pub fn seconds(name: &str, text: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    let kind = if min == 0 { "a non-negative" } else { "a positive" };
    let bad = || ApiError::BadRequest(format!("{name} parameter is not {kind} integer of seconds"));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let value = text.parse::<u64>().unwrap_or(u64::MAX);
    if value < min {
        return Err(bad());
    }
    Ok(value.min(max))
}

/// Whether `host` is a valid `Host` value to build a URL from: a DNS name
/// or IPv4 address, or a bracketed IPv6 address, with an optional port.
/// Anything else (paths, quotes, markup, user info) is refused, so a
/// client cannot make `Location` point elsewhere or carry markup.
pub fn valid_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match tail {
                    "" => return true,
                    _ => match tail.strip_prefix(':') {
                        Some(port) => ("x", Some(port)),
                        None => return false,
                    },
                }
            }
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    port_ok && name_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_strict_and_capped() {
        assert_eq!(seconds("t", "5", 1, 300).unwrap(), 5);
        assert_eq!(seconds("t", "900", 1, 300).unwrap(), 300);
        assert_eq!(seconds("t", "99999999999999999999999", 1, 300).unwrap(), 300);
        assert_eq!(seconds("w", "0", 0, 60).unwrap(), 0);
        for bad in ["", "0", "-1", "+1", " 1", "1 ", "1.5", "0x10", "%31"] {
            assert!(seconds("t", bad, 1, 300).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts() {
        for good in [
            "127.0.0.1:5000",
            "salt.example.org",
            "a-b.c",
            "[::1]:5000",
            "[::1]",
            "localhost:1",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "",
            "evil.example/phish?",
            "\"><script>",
            "a@b",
            "host:",
            "host:99999",
            "[::1",
            "[zz]:1",
            "-a.b",
            "a..b",
            "a b",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
