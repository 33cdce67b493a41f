//! The sled database: typed trees for users, tokens, roles, ACLs and
//! tasks, record encoding, schema versions. Knows nothing of HTTP or Salt.
//!
//! Trees (named `<key>_<value>`):
//! - `userid_user`: user id (u64 big-endian) → [`User`]
//! - `username_userid`: nickname → user id (the unique name index)
//! - `tokenhash_token`: SHA-256 of a token → [`Token`]
//! - `userid_tokenhash`: user id ++ token hash → empty (to revoke a user's tokens)
//! - `meta`: `schema_version`, `next_user_id`, `generation` (see
//!   `durable`), `next_role_id`, `next_acl_id`, `acl_generation`
//! - roles and ACLs and their indexes: see `access`
//! - task records and their indexes: see `tasks`
//! - task events (the v1.0 event stream's): see `events`
//!
//! One file per kind of record: `users`, `tokens`, `access`, `tasks` (each an
//! `impl Trees`), beside the handle (`handle`), the encoding (`codec`),
//! durability and damage detection (`durable`, `seal`, `check`), backups
//! and schema steps.
//!
//! Every method here blocks (sled does I/O); async callers run writes on the
//! blocking pool. Plain reads are served from sled's page cache.

mod access;
pub mod backup;
pub mod check;
pub(crate) mod codec;
mod durable;
mod events;
mod handle;
pub mod migrate;
mod records;
pub mod seal;
mod tasks;
mod tokens;
mod users;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::sync::LockAnyway as _;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Tree;

pub use access::{check_acl_field, check_role_name, ADMIN, DEFAULT_ACL, MAX_ACL_FIELD, MAX_ROLE_NAME};
pub use events::{TaskEvent, TaskEventKind};
pub use handle::Store;
pub use records::{Acl, PasswordHash, Role, Token, User};
pub use tasks::{Failure, FailureKind, MinionResult, Outcome, Task, TaskKind, TaskState};

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the database at {} is in use by another process (is projetyd running with another admin socket?)", path.display())]
    Locked { path: PathBuf },
    #[error("cannot open the database at {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("cannot write the database to disk: {0}")]
    Flush(String),
    #[error("corrupt record in {tree} at key {key}: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    #[error("cannot encode a record: {reason}")]
    Encode { reason: String },
    /// Work done for the store outside it failed: a blocking task that
    /// panicked or was cancelled, the system's random generator.
    #[error("{what} failed: {reason}")]
    Failed { what: &'static str, reason: String },
    #[error("{what} {key:?} already exists")]
    AlreadyExists { what: &'static str, key: String },
    #[error("no such {what}: {key:?}")]
    NotFound { what: &'static str, key: String },
    /// A value the store refuses to hold (a role name, an ACL field).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("the database schema version {found} is newer than this projetyd supports ({supported}); upgrade projetyd")]
    TooNew { found: u32, supported: u32 },
    #[error("the database at {} is damaged: {problem}; restore a backup with `projetyd db restore FILE` (daemon stopped), or keep what is left with `projetyd db repair`; `projetyd db check` shows the details", path.display())]
    Damaged { path: PathBuf, problem: String },
    #[error("the database is being reopened after a write failure; retry shortly")]
    Reopening,
    #[error("cannot open the database at {}: {source}", path.display())]
    OpenDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the database files in {}: {source}", path.display())]
    Files {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An error that says the disk refused a write (full, read-only, I/O
    /// error), as opposed to bad data or a bad request: the store is then
    /// `failing` until a reopen succeeds.
    pub fn is_write_failure(&self) -> bool {
        matches!(
            self,
            Error::Db(sled::Error::Io(_)) | Error::Files { .. } | Error::Reopening | Error::Flush(_)
        )
    }
}

impl Error {
    /// What a client may be told about a write failure: its kind, never a
    /// path or a raw OS message.
    pub fn write_failure_reason(&self) -> String {
        use std::io::ErrorKind;
        let io = match self {
            Error::Db(sled::Error::Io(io)) | Error::Files { source: io, .. } => Some(io.kind()),
            _ => None,
        };
        let text = self.to_string();
        let reason = match io {
            Some(ErrorKind::StorageFull) => "the disk is full",
            Some(ErrorKind::ReadOnlyFilesystem) => "the file system is read-only",
            Some(ErrorKind::PermissionDenied) => "permission denied",
            Some(_) => "an I/O error",
            None if text.contains("No space left") => "the disk is full",
            None if matches!(self, Error::Reopening) => "it is being reopened",
            None => "a write failed",
        };
        reason.to_owned()
    }
}

/// Live tokens one user may hold; issuing one more revokes the oldest.
pub const MAX_TOKENS_PER_USER: usize = 100;

/// Upper bound of sled's page cache.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

const USERS: &str = "userid_user";
const USER_NAMES: &str = "username_userid";
const TOKENS: &str = "tokenhash_token";
const USER_TOKENS: &str = "userid_tokenhash";
const NEXT_USER_ID: &[u8] = b"next_user_id";

/// The open sled database and its trees. `Store` (see `handle`) holds the
/// current one and swaps it for a new one when the database is reopened
/// after a write failure.
struct Trees {
    db: sled::Db,
    users: Tree,
    user_names: Tree,
    tokens: Tree,
    user_tokens: Tree,
    meta: Tree,
    /// The seal and sled's log file, for a database on disk (none for a
    /// temporary one): what makes `flush` durable and damage detectable.
    durable: Option<Arc<durable::Durable>>,
    tasks: Tree,
    task_created: Tree,
    task_user: Tree,
    task_jids: Tree,
    task_events: Tree,
    roles: Tree,
    user_roles: Tree,
    acls: Tree,
    user_acls: Tree,
    /// Serialises the writes that must see a consistent set of a user's
    /// tokens, roles or ACLs (issue, revoke-all, delete, every role and ACL
    /// write): revoking and deleting scan the per-user indexes before their
    /// transaction, and an entry written in between must not escape.
    writes: Arc<Mutex<()>>,
}

impl Trees {
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        Ok(self.db.size_on_disk()?)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is `()`: a panic elsewhere cannot leave it torn.
        self.writes.lock_anyway()
    }

    /// Writes everything to stable storage; called where losing data would
    /// break a promise (a password was printed, a token handed out, a 202
    /// answered, a result reported, shutdown). See `durable`.
    fn flush(&self) -> Result<(), Error> {
        match &self.durable {
            Some(durable) => durable.flush(self),
            None => {
                self.db.flush()?;
                Ok(())
            }
        }
    }

    /// The next user id recorded in `meta` (1 for a new database).
    fn next_user_id(&self) -> Result<u64, Error> {
        match self.meta.get(NEXT_USER_ID)? {
            Some(raw) => decode_id(META, NEXT_USER_ID, &raw),
            None => Ok(1),
        }
    }
}

const META: &str = "meta";

fn user_token_key(user_id: u64, hash: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + hash.len());
    key.extend_from_slice(&user_id.to_be_bytes());
    key.extend_from_slice(hash);
    key
}

fn decode_id(tree: &'static str, key: &[u8], raw: &[u8]) -> Result<u64, Error> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| Error::Corrupt {
        tree,
        key: codec::hex(key),
        reason: format!("{} bytes where a u64 id was expected", raw.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn abort<T>(err: Error) -> Result<T, ConflictableTransactionError<Error>> {
    Err(ConflictableTransactionError::Abort(err))
}

fn unwrap_tx<T>(result: Result<T, TransactionError<Error>>) -> Result<T, Error> {
    result.map_err(|err| match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => Error::Db(err),
    })
}

/// A cheap password hash for the store's unit tests.
#[cfg(test)]
pub(crate) fn test_hash() -> PasswordHash {
    PasswordHash {
        salt: vec![0; 16],
        iterations: 1,
        hash: vec![0; 32],
    }
}

/// A token for the store's unit tests.
#[cfg(test)]
fn test_token(user_id: u64, expires_at: u64) -> Token {
    Token {
        user_id,
        created_at: 0,
        expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::{test_hash as hash, test_token as token};

    /// A record written by this version is read back after the database is
    /// closed and opened again.
    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.create_user("alice", hash(), 5).unwrap();
            store.insert_token(&[7; 32], token(1, 100)).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let (id, user) = store.user_by_name("alice").unwrap().unwrap();
        assert_eq!((id, user.created_at, user.password), (1, 5, hash()));
        assert_eq!(store.token(&[7; 32]).unwrap(), Some(token(1, 100)));
        assert_eq!(store.create_user("bob", hash(), 6).unwrap().0, 2);
    }

    #[test]
    fn second_open_reports_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
    }
}
