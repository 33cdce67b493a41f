//! `Authorization` header parsing: HTTP Basic for logins, Bearer for
//! every other request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::auth::{header, token};

fuzz_target!(|data: &[u8]| {
    if let Some(basic) = header::basic(data) {
        assert!(data.len() <= header::MAX_LEN);
        assert!(!basic.user.is_empty());
        assert!(!basic.user.contains(':'), "only the first colon splits");
        let _ = projetyd::auth::check_nickname(&basic.user);
    }
    if let Some(text) = header::bearer(data) {
        assert!(data.len() <= header::MAX_LEN);
        assert!(!text.is_empty());
        assert!(text.is_ascii());
        assert!(!text.bytes().any(|b| b.is_ascii_whitespace()));
        if token::well_formed(text) {
            let _ = token::hash(text);
        }
    }
});
