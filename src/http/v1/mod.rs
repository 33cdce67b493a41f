//! The v1.0 API surface (docs/api.md): its route table, and one file of
//! handlers per resource. Handlers turn a request into a service or store
//! call and render the answer in the v1.0 shape; the rules are in
//! `service`, `auth` and `store`.

// One file per resource. `deferred`: the task routes (`/tasks/ping...`
// answers 202, `/tasks/status/<id>`); `history`: the caller's tasks
// (`/jobs`). Named apart from the pool (`crate::pool`), the task records
// (`store::tasks`) and Salt's jobs (`salt::job`).
// `access`: what `users`, `roles` and `acls` share (who may, ids, bodies).
mod access;
mod acls;
pub(crate) mod deferred;
mod events;
mod functions;
mod health;
mod history;
mod keys;
mod metrics;
mod minions;
pub(crate) mod outcome;
pub(crate) mod ping;
mod roles;
mod run;
pub(crate) mod spec;
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
    Metrics,
    Spec,
    Login,
    Logout,
    UserList,
    UserGet,
    UserCreate,
    UserDelete,
    UserPassword,
    RoleList,
    RoleCreate,
    RoleGet,
    RoleRename,
    RoleDelete,
    AclList,
    AclCreate,
    AclGet,
    AclUpdate,
    AclDelete,
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
    Run,
    Events,
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
    // Checks the address, or an admin's token, itself (v1/metrics.rs).
    endpoint(Method::GET, "/metrics", Open, "metrics", Call::Metrics),
    // docs/openapi.json; a test keeps it and this table in step.
    endpoint(Method::GET, "/api/v1.0/spec", Open, "spec", Call::Spec),
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
    // User administration (admins; the handlers check the role).
    endpoint(
        Method::POST,
        "/api/v1.0/users",
        Token,
        "users.create",
        Call::UserCreate,
    ),
    endpoint(
        Method::DELETE,
        "/api/v1.0/users/{id}",
        Token,
        "users.delete",
        Call::UserDelete,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/users/{id}/password",
        Token,
        "users.password",
        Call::UserPassword,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/users/{id}/roles",
        Token,
        "roles.list",
        Call::RoleList,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/users/{id}/roles",
        Token,
        "roles.create",
        Call::RoleCreate,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/users/{id}/roles/{rid}",
        Token,
        "roles.get",
        Call::RoleGet,
    ),
    endpoint(
        Method::PUT,
        "/api/v1.0/users/{id}/roles/{rid}",
        Token,
        "roles.rename",
        Call::RoleRename,
    ),
    endpoint(
        Method::DELETE,
        "/api/v1.0/users/{id}/roles/{rid}",
        Token,
        "roles.delete",
        Call::RoleDelete,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/users/{id}/acls",
        Token,
        "acls.list",
        Call::AclList,
    ),
    endpoint(
        Method::POST,
        "/api/v1.0/users/{id}/acls",
        Token,
        "acls.create",
        Call::AclCreate,
    ),
    endpoint(
        Method::GET,
        "/api/v1.0/users/{id}/acls/{aid}",
        Token,
        "acls.get",
        Call::AclGet,
    ),
    endpoint(
        Method::PUT,
        "/api/v1.0/users/{id}/acls/{aid}",
        Token,
        "acls.update",
        Call::AclUpdate,
    ),
    endpoint(
        Method::DELETE,
        "/api/v1.0/users/{id}/acls/{aid}",
        Token,
        "acls.delete",
        Call::AclDelete,
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
    endpoint(Method::POST, "/api/v1.0/run", Token, "run", Call::Run),
    endpoint(Method::GET, "/api/v1.0/jobs", Token, "jobs.list", Call::JobList),
    // Takes its token as a Bearer header or `?token=` (v1/events.rs).
    endpoint(Method::GET, "/api/v1.0/events", Open, "events", Call::Events),
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
    let second = req.params.get(1);
    match call {
        Call::Health => health::get(state),
        Call::Metrics => metrics::get(state, req).await,
        Call::Spec => Ok(spec::get()),
        Call::Login => tokens::create(state, req).await,
        Call::Logout => tokens::delete(state, req).await,
        Call::UserList => users::list(state, req),
        Call::UserGet => users::get(state, req, param),
        Call::UserCreate => users::create(state, req).await,
        Call::UserDelete => users::delete(state, req, param).await,
        Call::UserPassword => users::password(state, req, param).await,
        Call::RoleList => roles::list(state, req, param),
        Call::RoleCreate => roles::create(state, req, param).await,
        Call::RoleGet => roles::get(state, req, param, second),
        Call::RoleRename => roles::rename(state, req, param, second).await,
        Call::RoleDelete => roles::delete(state, req, param, second).await,
        Call::AclList => acls::list(state, req, param),
        Call::AclCreate => acls::create(state, req, param).await,
        Call::AclGet => acls::get(state, req, param, second),
        Call::AclUpdate => acls::update(state, req, param, second).await,
        Call::AclDelete => acls::delete(state, req, param, second).await,
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
        Call::MinionDoc => minions::documentation(state, req, param, second).await,
        Call::MinionRun => minions::run(state, req, param, second).await,
        Call::Run => run::run(state, req).await,
        Call::Events => events::get(state, req),
    }
}

#[cfg(test)]
mod tests;
