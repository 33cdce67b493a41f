//! The v1.0 route table's tests: the contract's paths resolve to their
//! calls, others are 404 or 405 with their `Allow`, no endpoint twice.

use super::*;
use crate::http::route::{find, Found};

fn resolve(method: Method, path: &str) -> Option<(Call, String)> {
    match find(TABLE, &method, path) {
        Found::Endpoint(endpoint, params) => Some((endpoint.call, params.get(0).to_owned())),
        _ => None,
    }
}

#[test]
fn the_contract_paths_resolve() {
    let cases = [
        (Method::GET, "/healthz", Call::Health, ""),
        (Method::POST, "/api/v1.0/tokens", Call::Login, ""),
        (Method::DELETE, "/api/v1.0/tokens", Call::Logout, ""),
        (Method::GET, "/api/v1.0/users/7", Call::UserGet, "7"),
        (Method::GET, "/api/v1.0/users/", Call::UserGet, ""),
        (Method::POST, "/api/v1.0/users", Call::UserCreate, ""),
        (Method::DELETE, "/api/v1.0/users/7", Call::UserDelete, "7"),
        (
            Method::POST,
            "/api/v1.0/users/7/password",
            Call::UserPassword,
            "7",
        ),
        (Method::GET, "/api/v1.0/users/7/roles", Call::RoleList, "7"),
        (Method::POST, "/api/v1.0/users/7/roles", Call::RoleCreate, "7"),
        (Method::GET, "/api/v1.0/users/7/roles/3", Call::RoleGet, "7"),
        (Method::HEAD, "/api/v1.0/users/7/roles/3", Call::RoleGet, "7"),
        (Method::DELETE, "/api/v1.0/users/7/roles/3", Call::RoleDelete, "7"),
        (Method::GET, "/api/v1.0/users/7/acls", Call::AclList, "7"),
        (Method::POST, "/api/v1.0/users/7/acls", Call::AclCreate, "7"),
        (Method::GET, "/api/v1.0/users/7/acls/3", Call::AclGet, "7"),
        (Method::PUT, "/api/v1.0/users/7/acls/3", Call::AclUpdate, "7"),
        (Method::DELETE, "/api/v1.0/users/7/acls/3", Call::AclDelete, "7"),
        (Method::POST, "/api/v1.0/ping/web%2A", Call::PingOne, "web*"),
        (Method::POST, "/api/v1.0/minions/m1/ping", Call::PingOne, "m1"),
        (Method::POST, "/api/v1.0/tasks/ping", Call::TaskPingMany, ""),
        (Method::POST, "/api/v1.0/tasksping", Call::TaskPingMany, ""),
        (Method::POST, "/api/v1.0/tasks/ping/m1", Call::TaskPingOne, "m1"),
        (Method::GET, "/api/v1.0/tasks/status/abc", Call::TaskStatus, "abc"),
        (Method::HEAD, "/api/v1.0/jobs/abc", Call::JobGet, "abc"),
        (Method::POST, "/api/v1.0/jobs/abc/cancel", Call::JobCancel, "abc"),
        (Method::GET, "/api/v1.0/minions", Call::MinionList, ""),
        (
            Method::GET,
            "/api/v1.0/minions/m1/tasks",
            Call::MinionFunctions,
            "m1",
        ),
        (
            Method::GET,
            "/api/v1.0/minions/m1/tasks/test.arg",
            Call::MinionDoc,
            "m1",
        ),
        (
            Method::POST,
            "/api/v1.0/minions/m1/tasks/test.arg",
            Call::MinionRun,
            "m1",
        ),
    ];
    for (method, path, call, param) in cases {
        assert_eq!(
            resolve(method.clone(), path),
            Some((call, param.to_owned())),
            "{method} {path}"
        );
    }
}

#[test]
fn unknown_paths_are_404_and_known_ones_list_their_methods() {
    for unknown in [
        "",
        "/",
        "/api",
        "/api/v1.0",
        "/api/v1.0/users/1/x",
        "/api/v1.0/users/1/roles/2/x",
        "/api/v1.0/users/1/acls/2/x",
        "/api/v2.0/users",
        "healthz",
        "/api/v1.0/ping/%ff",
        "/api/v1.0/ping/%2",
        "/api/v1.0/ping/%+1",
        "/api/v1.0/ping/%-1",
    ] {
        assert!(
            matches!(find(TABLE, &Method::GET, unknown), Found::NotFound),
            "{unknown}"
        );
    }
    for (method, path, allow) in [
        (Method::GET, "/api/v1.0/tokens", "POST, DELETE"),
        (Method::DELETE, "/api/v1.0/users", "GET, HEAD, POST"),
        (Method::PUT, "/api/v1.0/users/1", "GET, HEAD, DELETE"),
        (Method::GET, "/api/v1.0/users/1/password", "POST"),
        (Method::PUT, "/api/v1.0/users/1/roles", "GET, HEAD, POST"),
        (
            Method::POST,
            "/api/v1.0/users/1/roles/2",
            "GET, HEAD, PUT, DELETE",
        ),
        (Method::DELETE, "/api/v1.0/users/1/acls", "GET, HEAD, POST"),
        (Method::POST, "/api/v1.0/users/1/acls/2", "GET, HEAD, PUT, DELETE"),
        (Method::GET, "/api/v1.0/ping/m1", "POST"),
        (Method::DELETE, "/healthz", "GET, HEAD"),
    ] {
        match find(TABLE, &method, path) {
            Found::MethodNotAllowed(got) => assert_eq!(got, allow, "{method} {path}"),
            other => panic!("{method} {path}: {other:?}"),
        }
    }
}

#[test]
fn every_endpoint_has_a_unique_method_and_path() {
    for (i, a) in TABLE.iter().enumerate() {
        assert!(a.path.starts_with('/'), "{}", a.path);
        for b in &TABLE[i + 1..] {
            assert!(
                !(a.method == b.method && a.path == b.path),
                "{} {} twice",
                a.method,
                a.path
            );
        }
    }
}
