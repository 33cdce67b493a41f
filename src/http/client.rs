//! The client's address behind a reverse proxy: taken from `Forwarded`
//! (RFC 7239) or `X-Forwarded-For` only when the TCP peer is a trusted
//! proxy (`--trusted-proxy`), walking the list from the right and skipping
//! trusted hops, so a client cannot pick its own address by sending the
//! header itself.

use std::net::{IpAddr, SocketAddr};

use hyper::header::HeaderMap;

use crate::net::Net;

/// The client of a request from `peer`: the peer itself, or, when the
/// peer is trusted, the rightmost forwarded address that is not.
pub fn address(peer: SocketAddr, headers: &HeaderMap, trusted: &[Net]) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer.ip()) {
        return peer;
    }
    let hops = forwarded(headers);
    match hops.into_iter().rev().find(|ip| !is_trusted(*ip)) {
        Some(ip) => SocketAddr::new(ip, 0),
        None => peer,
    }
}

/// The `for=` addresses of `Forwarded` if present, else those of
/// `X-Forwarded-For`, in order; unparsable entries end the list there
/// (nothing left of them can be trusted).
fn forwarded(headers: &HeaderMap) -> Vec<IpAddr> {
    let joined = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    if let Some(text) = joined("forwarded") {
        let fors = text.split(',').map(|element| {
            element
                .split(';')
                .find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for").then_some(value)
                })
                .and_then(parse_node)
        });
        return valid_suffix(fors);
    }
    match joined("x-forwarded-for") {
        Some(text) => valid_suffix(text.split(',').map(|s| parse_node(s.trim()))),
        None => Vec::new(),
    }
}

/// The entries after the last unparsable one.
fn valid_suffix(entries: impl Iterator<Item = Option<IpAddr>>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            Some(ip) => out.push(ip),
            None => out.clear(),
        }
    }
    out
}

/// `1.2.3.4`, `1.2.3.4:80`, `"[::1]:80"`, `[::1]`, `::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 4000)
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_peers() {
        let trusted: Vec<Net> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3")]);
        assert_eq!(
            address(peer("127.0.0.1"), &xff, &trusted).ip(),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            address(peer("198.51.100.1"), &xff, &trusted),
            peer("198.51.100.1"),
            "untrusted peer"
        );
        assert_eq!(
            address(peer("127.0.0.1"), &xff, &[]),
            peer("127.0.0.1"),
            "no trusted proxies"
        );
        let fwd = headers(&[("forwarded", "for=6.6.6.6, for=\"[2001:db8::1]:443\";proto=https")]);
        assert_eq!(
            address(peer("127.0.0.1"), &fwd, &trusted).ip(),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let junk = headers(&[("x-forwarded-for", "203.0.113.7, garbage")]);
        assert_eq!(address(peer("127.0.0.1"), &junk, &trusted), peer("127.0.0.1"));
    }
}
