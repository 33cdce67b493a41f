//! The v1.0 API surface (docs/api.md): its route table, and one file of
//! handlers per resource. Handlers turn a request into a service or store
//! call and render the answer in the v1.0 shape; the rules are in
//! `service`, `auth` and `store`.

// One file per resource. `deferred`: the task routes (`/tasks/ping...`
// answers 202, `/tasks/status/<id>`); `history`: the caller's tasks
// (`/jobs`). Named apart from the pool (`crate::pool`), the task records
// (`store::tasks`) and Salt's jobs (`salt::job`).
pub(crate) mod deferred;
mod functions;
mod health;
mod history;
mod keys;
mod minions;
pub(crate) mod outcome;
pub(crate) mod ping;
pub(crate) mod tokens;
mod users;

use hyper::Method;

use super::body::Reply;
use super::route::{Access, Endpoint};
use super::{ApiError, AppState, Req};

/// What a v1.0 endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Health,
    Login,
    Logout,
    UserList,
    UserGet,
    KeyList,
    FunctionList,
    PingMany,
    PingOne,
    TaskPingMany,
    TaskPingOne,
    TaskStatus,
    JobList,
    JobGet,
    JobCancel,
    MinionList,
    MinionFunctions,
    MinionDoc,
    MinionRun,
}

const fn endpoint(
    method: Method,
    path: &'static str,
    access: Access,
    name: &'static str,
    call: Call,
) -> Endpoint<Call> {
    Endpoint {
        method,
        path,
        access,
        name,
        call,
    }
}

use Access::{Open, Token};

/// Every v1.0 endpoint. The same path with another method answers 405
/// with the methods listed here (`HEAD` wherever `GET` is).
pub static TABLE: &[Endpoint<Call>] = &[
    endpoint(Method::GET, "/healthz", Open, "health", Call::Health),
    // The login reads Basic credentials itself; the logout takes a token.
    endpoint(
        Method::POST,
        "/api/v1.0/tokens",
        Open,
        "tokens.create",
        Call::Login,
    ),
    endpoint(
        Method::DELETE,
        "/api/v1.0/tokens",
        Token,
        "tokens.delete",
        Call::Logout,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/users",
        Token,
        "users.list",
        Call::UserList,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/users/{id}",
        Token,
        "users.get",
        Call::UserGet,
    ),
    endpoint(Method::GET, "/api/v1.0/keys", Token, "keys.list", Call::KeyList),
    // `GET /tasks` lists the Salt functions (the 2016 README's name).
    endpoint(
        Method::GET,
        "/api/v1.0/tasks",
        Token,
        "functions.list",
        Call::FunctionList,
    ),
    endpoint(Method::POST, "/api/v1.0/ping", Token, "ping.many", Call::PingMany),
    endpoint(
        Method::POST,
        "/api/v1.0/ping/{minion}",
        Token,
        "ping.one",
        Call::PingOne,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/minions/{minion}/ping",
        Token,
        "ping.one",
        Call::PingOne,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/tasks/ping",
        Token,
        "task.ping.many",
        Call::TaskPingMany,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/tasksping",
        Token,
        "task.ping.many",
        Call::TaskPingMany,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/tasks/ping/{minion}",
        Token,
        "task.ping.one",
        Call::TaskPingOne,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/tasks/status/{id}",
        Token,
        "task.status",
        Call::TaskStatus,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/minions",
        Token,
        "minions.list",
        Call::MinionList,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/minions/{minion}/tasks",
        Token,
        "minions.functions",
        Call::MinionFunctions,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/minions/{minion}/tasks/{function}",
        Token,
        "minions.doc",
        Call::MinionDoc,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/minions/{minion}/tasks/{function}",
        Token,
        "minions.run",
        Call::MinionRun,
    ),
    endpoint(Method::GET, "/api/v1.0/jobs", Token, "jobs.list", Call::JobList),
    endpoint(
        Method::GET,
        "/api/v1.0/jobs/{id}",
        Token,
        "jobs.get",
        Call::JobGet,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/jobs/{id}/cancel",
        Token,
        "jobs.cancel",
        Call::JobCancel,
    ),
];

/// Runs `call` for a request whose caller was authenticated as its table
/// entry says and whose body has been read.
pub(super) async fn dispatch(state: &AppState, call: Call, req: &Req) -> Result<Reply, ApiError> {
    let param = req.params.get(0);
    match call {
        Call::Health => health::get(state),
        Call::Login => tokens::create(state, req).await,
        Call::Logout => tokens::delete(state, req).await,
        Call::UserList => users::list(state, req),
        Call::UserGet => users::get(state, req, param),
        Call::KeyList => keys::list(state, req).await,
        Call::FunctionList => functions::list(state, req).await,
        Call::PingMany => ping::many(state, req).await,
        Call::PingOne => ping::one(state, req, param).await,
        Call::TaskPingMany => deferred::ping_many(state, req).await,
        Call::TaskPingOne => deferred::ping_one(state, req, param).await,
        Call::TaskStatus => deferred::status(state, req, param).await,
        Call::JobList => history::list(state, req),
        Call::JobGet => history::get(state, req, param),
        Call::JobCancel => history::cancel(state, req, param).await,
        Call::MinionList => minions::list(state, req).await,
        Call::MinionFunctions => minions::functions(state, req, param).await,
        Call::MinionDoc => minions::documentation(state, req, param, req.params.get(1)).await,
        Call::MinionRun => minions::run(state, req, param, req.params.get(1)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::super::route::{find, Found};
    use super::*;

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
            (Method::POST, "/api/v1.0/users", "GET, HEAD"),
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
}
