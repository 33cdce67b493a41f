//! `GET /api/v1.0/spec`: the served OpenAPI document is docs/openapi.json,
//! an independent validator takes it (openapi-spec-validator), and
//! schemathesis, generating requests from it against a daemon on a real
//! Salt lab, finds no 5xx and no answer outside its schema
//! (docs/openapi.md).

use std::path::PathBuf;
use std::process::Command;

use crate::common::Daemon;

const SPEC: &str = include_str!("../../docs/openapi.json");

/// The checkers' bin directory (scripts/py-tools.sh path); panics without
/// it: the tests that need it are `#[ignore]`d and scripts/test.sh sets it.
pub fn tools_bin() -> PathBuf {
    match std::env::var_os("PROJETYD_TOOLS_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "this test needs the Python checkers: set PROJETYD_TOOLS_BIN=$(scripts/py-tools.sh path) \
             after scripts/py-tools.sh install (./scripts/test.sh does it all)"
        ),
    }
}

#[test]
fn the_spec_is_served_as_kept_in_the_repository() {
    let server = Daemon::start(&[]);
    let spec = server.get("/api/v1.0/spec", None);
    assert_eq!(spec.status, 200, "{spec:?}");
    assert_eq!(spec.header("content-type"), Some("application/json"));
    assert_eq!(spec.json()["openapi"], "3.1.0");
    assert!(
        spec.body == SPEC.as_bytes(),
        "the served spec is not docs/openapi.json"
    );
}

#[test]
#[ignore = "needs the Python checkers (PROJETYD_TOOLS_BIN); scripts/test.sh runs it"]
fn checked_by_openapi_spec_validator() {
    let tools = tools_bin();
    let server = Daemon::start(&[]);
    let spec = server.get("/api/v1.0/spec", None);
    assert_eq!(spec.status, 200, "{spec:?}");
    let file = server.dir().join("openapi.json");
    std::fs::write(&file, &spec.body).unwrap();
    let out = Command::new(tools.join("openapi-spec-validator"))
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openapi-spec-validator: {said}");
    assert!(said.contains("OK"), "{said}");
}
