//! JSON bodies as projetyd parses them: `POST /api/v1.0/ping` targets and
//! the admin socket's request and reply lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Ok(targets) = fuzzing::parse_targets(data) {
        assert!(!targets.is_empty());
        assert!(targets.iter().all(|t| !t.is_empty()));
    }
    // The admin socket reads one line as a String, then parses it.
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = fuzzing::admin_request(line);
    }
    if let Ok(reply) = fuzzing::admin_reply(data) {
        let _ = projetyd::admin::render(&reply);
    }
});
