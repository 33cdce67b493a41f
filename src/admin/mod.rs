//! User administration (`adduser`, `passwd`, `deluser`, `users`) and the
//! users' roles and ACLs ([`access`]), the same whether or not the daemon
//! runs.
//!
//! sled lets one process open the database. While the daemon runs, the
//! command sends its request over the daemon's local Unix socket
//! ([`socket`]); when no daemon answers there, it opens the database itself.
//! Both paths end in [`execute`], so the output is the same. One JSON line
//! each way; never TCP.

pub mod access;
pub mod db;
pub mod socket;

use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{check_nickname, password};
use crate::civil::utc;
use crate::store::{self, Store};
use crate::unix_now;

/// An administrative action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    AddUser {
        name: String,
    },
    Passwd {
        name: String,
    },
    DelUser {
        name: String,
    },
    Users,
    CreateRole {
        name: String,
        role: String,
    },
    DelRole {
        name: String,
        role: String,
    },
    Roles {
        name: String,
    },
    CreateAcl {
        name: String,
        minions: String,
        functions: String,
    },
    Acls {
        name: String,
    },
    DelAcl {
        name: String,
        id: u64,
    },
    /// `db check` on the running daemon's database.
    Check,
    /// `db backup`: the daemon answers `BackupFollows`, then the backup's
    /// bytes until it closes the connection.
    Backup,
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    Created {
        name: String,
        password: String,
    },
    PasswordChanged {
        name: String,
        password: String,
        revoked: usize,
    },
    Deleted {
        name: String,
    },
    Users {
        users: Vec<UserRow>,
    },
    Checked {
        report: store::check::Report,
    },
    RoleCreated {
        name: String,
        role: String,
        id: u64,
    },
    RoleDeleted {
        name: String,
        role: String,
    },
    Roles {
        name: String,
        roles: Vec<access::RoleRow>,
    },
    AclCreated {
        name: String,
        id: u64,
    },
    Acls {
        name: String,
        acls: Vec<access::AclRow>,
    },
    AclDeleted {
        name: String,
        id: u64,
    },
    BackupFollows,
    Failed {
        kind: FailKind,
        message: String,
    },
}

/// One line of `projetyd users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: u64,
    pub nickname: String,
    pub created_at: u64,
    pub last_seen_at: Option<u64>,
    pub tokens: usize,
}

/// Why an action failed, as the command line reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailKind {
    InvalidName,
    /// A role name or an ACL field the store refuses.
    Invalid,
    Exists,
    NotFound,
    Internal,
}

/// Why an admin command could not be carried out at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Refused { kind: FailKind, message: String },
    #[error("{0}")]
    Store(#[from] store::Error),
    #[error("permission denied on the admin socket {}: run this as root or as the daemon's user", path.display())]
    Permission { path: PathBuf },
    #[error("the daemon on {} did not answer properly: {reason}", path.display())]
    Protocol { path: PathBuf, reason: String },
}

/// Carries out `request` on `store`. Blocking (PBKDF2, sled).
pub fn execute(store: &Store, request: &Request) -> Reply {
    match run(store, request) {
        Ok(reply) => reply,
        Err(err) => {
            let kind = match &err {
                store::Error::AlreadyExists { .. } => FailKind::Exists,
                store::Error::NotFound { .. } => FailKind::NotFound,
                store::Error::Invalid { .. } => FailKind::Invalid,
                _ => FailKind::Internal,
            };
            let message = match kind {
                FailKind::Exists | FailKind::NotFound | FailKind::Invalid => err.to_string(),
                _ => format!("database error: {err}"),
            };
            Reply::Failed { kind, message }
        }
    }
}

fn run(store: &Store, request: &Request) -> Result<Reply, store::Error> {
    if let Some(done) = access::run(store, request) {
        return done;
    }
    if let Request::AddUser { name } | Request::Passwd { name } | Request::DelUser { name } = request {
        if let Err(message) = check_nickname(name) {
            return Ok(Reply::Failed {
                kind: FailKind::InvalidName,
                message,
            });
        }
    }
    let new_password = || -> Result<(String, store::PasswordHash), store::Error> {
        let internal = |err: password::RandomError| store::Error::Failed {
            what: "making a password",
            reason: err.to_string(),
        };
        let text = password::generate().map_err(internal)?;
        let hash = password::hash(&text, password::ITERATIONS).map_err(internal)?;
        Ok((text, hash))
    };
    let reply = match request {
        Request::AddUser { name } => {
            let (text, hash) = new_password()?;
            store.create_user(name, hash, unix_now())?;
            store.flush()?;
            Reply::Created {
                name: name.clone(),
                password: text,
            }
        }
        Request::Passwd { name } => {
            let (text, hash) = new_password()?;
            let (_, revoked) = store.set_password(name, hash, unix_now())?;
            store.flush()?;
            Reply::PasswordChanged {
                name: name.clone(),
                password: text,
                revoked,
            }
        }
        Request::DelUser { name } => {
            store.delete_user(name)?;
            store.flush()?;
            Reply::Deleted { name: name.clone() }
        }
        Request::Users => {
            let mut users = Vec::new();
            for (id, user) in store.users()? {
                users.push(UserRow {
                    id,
                    tokens: store.token_count(id)?,
                    nickname: user.nickname,
                    created_at: user.created_at,
                    last_seen_at: user.last_seen_at,
                });
            }
            Reply::Users { users }
        }
        Request::Check => Reply::Checked {
            report: store.check()?,
        },
        // Carried out by `access::run` above.
        Request::CreateRole { .. }
        | Request::DelRole { .. }
        | Request::Roles { .. }
        | Request::CreateAcl { .. }
        | Request::Acls { .. }
        | Request::DelAcl { .. } => Reply::Failed {
            kind: FailKind::Internal,
            message: "a role or acl request went astray".into(),
        },
        // Streamed by the socket (see `socket`), or written by `db::backup`.
        Request::Backup => Reply::Failed {
            kind: FailKind::Internal,
            message: "a backup is streamed, not answered".into(),
        },
    };
    Ok(reply)
}

/// How long the command waits for the daemon (PBKDF2 takes well under it).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `request` through the daemon listening on `socket`, or directly on
/// the database at `db` when no daemon answers. `Failed` replies become
/// `Error::Refused`.
pub fn command(db: &Path, socket: &Path, request: &Request) -> Result<Reply, Error> {
    let reply = match UnixStream::connect(socket) {
        Ok(stream) => over_socket(stream, socket, request)?,
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(Error::Permission { path: socket.into() })
        }
        // No socket file, or a stale one nobody listens on: no daemon.
        Err(_) => execute(&Store::open(db)?, request),
    };
    match reply {
        Reply::Failed { kind, message } => Err(Error::Refused { kind, message }),
        ok => Ok(ok),
    }
}

fn over_socket(stream: UnixStream, path: &Path, request: &Request) -> Result<Reply, Error> {
    send(&stream, path, request)?;
    receive(&mut BufReader::new(&stream), path)
}

/// Sends one request line.
pub(crate) fn send(stream: &UnixStream, path: &Path, request: &Request) -> Result<(), Error> {
    let protocol = |reason: String| Error::Protocol {
        path: path.into(),
        reason,
    };
    stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(|e| protocol(e.to_string()))?;
    let mut line = serde_json::to_vec(request).map_err(|e| protocol(e.to_string()))?;
    line.push(b'\n');
    let mut writer = stream;
    writer.write_all(&line).map_err(|e| protocol(e.to_string()))
}

/// Reads one reply line.
pub(crate) fn receive(reader: &mut impl BufRead, path: &Path) -> Result<Reply, Error> {
    let protocol = |reason: String| Error::Protocol {
        path: path.into(),
        reason,
    };
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .map_err(|e| protocol(e.to_string()))?;
    if answer.is_empty() {
        return Err(protocol("the connection was closed without an answer".into()));
    }
    serde_json::from_str(&answer).map_err(|e| protocol(e.to_string()))
}

/// The text the command prints for a successful reply.
pub fn render(reply: &Reply) -> String {
    if let Some(text) = access::render(reply) {
        return text;
    }
    match reply {
        Reply::Created { name, password } => {
            format!("User {name} created with password {password}")
        }
        Reply::PasswordChanged {
            name,
            password,
            revoked,
        } => format!("User {name} has a new password {password} ({revoked} token(s) revoked)"),
        Reply::Deleted { name } => format!("User {name} deleted"),
        Reply::Users { users } => render_table(users),
        Reply::Checked { report } => report.render(),
        Reply::BackupFollows => "backup follows".into(),
        Reply::Failed { message, .. } => message.clone(),
        // Rendered by `access::render` above.
        Reply::RoleCreated { .. }
        | Reply::RoleDeleted { .. }
        | Reply::Roles { .. }
        | Reply::AclCreated { .. }
        | Reply::Acls { .. }
        | Reply::AclDeleted { .. } => String::new(),
    }
}

fn render_table(users: &[UserRow]) -> String {
    let width = users.iter().map(|u| u.nickname.len()).max().unwrap_or(0).max(8);
    let mut out = format!(
        "{:>6}  {:width$}  {:20}  {:20}  {:>6}",
        "ID", "NICKNAME", "CREATED", "LAST SEEN", "TOKENS"
    );
    for u in users {
        let seen = u.last_seen_at.map_or_else(|| "never".to_owned(), utc);
        out.push_str(&format!(
            "\n{:>6}  {:width$}  {:20}  {:20}  {:>6}",
            u.id,
            u.nickname,
            utc(u.created_at),
            seen,
            u.tokens
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip_as_json_lines() {
        let req = Request::AddUser { name: "alice".into() };
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(text, r#"{"op":"adduser","name":"alice"}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), req);
        let reply = Reply::Failed {
            kind: FailKind::Exists,
            message: "m".into(),
        };
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), reply);
    }

    #[test]
    fn execute_covers_each_action_and_failure() {
        let store = Store::temporary().unwrap();
        let add = Request::AddUser { name: "alice".into() };
        let Reply::Created { password, .. } = execute(&store, &add) else {
            panic!("adduser failed")
        };
        let (_, user) = store.user_by_name("alice").unwrap().unwrap();
        assert!(password::verify(password.as_bytes(), &user.password));
        assert!(matches!(
            execute(&store, &add),
            Reply::Failed {
                kind: FailKind::Exists,
                ..
            }
        ));
        let bad = Request::AddUser { name: "a:b".into() };
        assert!(matches!(
            execute(&store, &bad),
            Reply::Failed {
                kind: FailKind::InvalidName,
                ..
            }
        ));
        let passwd = Request::Passwd { name: "alice".into() };
        assert!(matches!(
            execute(&store, &passwd),
            Reply::PasswordChanged { revoked: 0, .. }
        ));
        let Reply::Users { users } = execute(&store, &Request::Users) else {
            panic!("users failed")
        };
        assert_eq!(users.len(), 1);
        assert!(render_table(&users).contains("alice"));
        let del = Request::DelUser { name: "alice".into() };
        assert_eq!(execute(&store, &del), Reply::Deleted { name: "alice".into() });
        assert!(matches!(
            execute(&store, &del),
            Reply::Failed {
                kind: FailKind::NotFound,
                ..
            }
        ));
    }
}
