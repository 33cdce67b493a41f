//! The Salt master configuration reader: YAML documents applied over
//! Salt's defaults, then `root_dir`.
//!
//! Input: the main file's text, optionally followed by a NUL byte and
//! `master.d/*.conf` texts separated by NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let files: Vec<&str> = text.split('\0').take(4).collect();
    if let Ok(config) = fuzzing::master_config(&files) {
        let _ = config.validate();
        let _ = config.ret_endpoint();
        let _ = config.key_file();
        let _ = config.event_socket();
    }
});
