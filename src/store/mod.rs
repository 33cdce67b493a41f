//! The sled database: typed trees for users and tokens, record encoding,
//! schema versions. Knows nothing of HTTP or Salt.
//!
//! Trees (named `<key>_<value>`):
//! - `userid_user`: user id (u64 big-endian) → [`User`]
//! - `username_userid`: nickname → user id (the unique name index)
//! - `tokenhash_token`: SHA-256 of a token → [`Token`]
//! - `userid_tokenhash`: user id ++ token hash → empty (to revoke a user's tokens)
//! - `meta`: `schema_version`, `next_user_id`
//! - task records and their indexes: see `tasks`
//!
//! Every method here blocks (sled does I/O); async callers run writes on the
//! blocking pool. Plain reads are served from sled's page cache.

pub mod backup;
pub mod check;
pub(crate) mod codec;
mod durable;
mod handle;
pub mod migrate;
mod records;
pub mod seal;
mod tasks;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::sync::LockAnyway as _;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use sled::Tree;

pub use handle::Store;
pub use records::{PasswordHash, Token, User};
pub use tasks::{Failure, FailureKind, Outcome, Task, TaskKind, TaskState};

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
    /// Serialises the writes that must see a consistent set of a user's
    /// tokens (issue, revoke-all, delete): revoking scans `userid_tokenhash`
    /// before its transaction, and a token issued in between must not escape.
    writes: Arc<Mutex<()>>,
}

impl Trees {
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

    /// Creates a user with the next free id; `AlreadyExists` if the
    /// nickname is taken.
    pub fn create_user(
        &self,
        nickname: &str,
        password: PasswordHash,
        now: u64,
    ) -> Result<(u64, User), Error> {
        let user = User {
            nickname: nickname.into(),
            password,
            created_at: now,
            updated_at: now,
            last_seen_at: None,
            roles: Vec::new(),
        };
        let value = codec::encode(&user)?;
        let _guard = self.lock();
        let id = (&self.users, &self.user_names, &self.meta).transaction(|(users, names, meta)| {
            if names.get(nickname)?.is_some() {
                return abort(Error::AlreadyExists {
                    what: "user",
                    key: nickname.into(),
                });
            }
            let id = match meta.get(NEXT_USER_ID)? {
                Some(raw) => decode_id(META, NEXT_USER_ID, &raw).or_else(abort)?,
                None => 1,
            };
            meta.insert(NEXT_USER_ID, &(id + 1).to_be_bytes())?;
            users.insert(&id.to_be_bytes(), value.as_slice())?;
            names.insert(nickname, &id.to_be_bytes())?;
            Ok(id)
        });
        Ok((unwrap_tx(id)?, user))
    }

    /// The user with this id, if any.
    pub fn user(&self, id: u64) -> Result<Option<User>, Error> {
        let key = id.to_be_bytes();
        match self.users.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(USERS, &key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The user with this nickname and its id, if any.
    pub fn user_by_name(&self, nickname: &str) -> Result<Option<(u64, User)>, Error> {
        let Some(raw) = self.user_names.get(nickname)? else {
            return Ok(None);
        };
        let id = decode_id(USER_NAMES, nickname.as_bytes(), &raw)?;
        match self.user(id)? {
            Some(user) => Ok(Some((id, user))),
            None => Err(Error::Corrupt {
                tree: USER_NAMES,
                key: nickname.into(),
                reason: format!("points at missing user {id}"),
            }),
        }
    }

    /// All users, in id order.
    pub fn users(&self) -> Result<Vec<(u64, User)>, Error> {
        self.users
            .iter()
            .map(|entry| {
                let (key, bytes) = entry?;
                let id = decode_id(USERS, &key, &key)?;
                Ok((id, codec::decode(USERS, &key, &bytes)?))
            })
            .collect()
    }

    /// Replaces a user's password and revokes all of its tokens; returns the
    /// user's id and how many tokens were revoked.
    pub fn set_password(
        &self,
        nickname: &str,
        password: PasswordHash,
        now: u64,
    ) -> Result<(u64, usize), Error> {
        let _guard = self.lock();
        let (id, mut user) = self.user_by_name(nickname)?.ok_or_else(|| Error::NotFound {
            what: "user",
            key: nickname.into(),
        })?;
        user.password = password;
        user.updated_at = now;
        let value = codec::encode(&user)?;
        let hashes = self.token_hashes_of(id)?;
        let result =
            (&self.users, &self.tokens, &self.user_tokens).transaction(|(users, tokens, by_user)| {
                users.insert(&id.to_be_bytes(), value.as_slice())?;
                for hash in &hashes {
                    tokens.remove(hash.as_slice())?;
                    by_user.remove(user_token_key(id, hash))?;
                }
                Ok(())
            });
        unwrap_tx(result)?;
        Ok((id, hashes.len()))
    }

    /// Deletes a user, its name and all of its tokens; returns its id.
    pub fn delete_user(&self, nickname: &str) -> Result<u64, Error> {
        let _guard = self.lock();
        let (id, _) = self.user_by_name(nickname)?.ok_or_else(|| Error::NotFound {
            what: "user",
            key: nickname.into(),
        })?;
        let hashes = self.token_hashes_of(id)?;
        let result = (&self.users, &self.user_names, &self.tokens, &self.user_tokens).transaction(
            |(users, names, tokens, by_user)| {
                users.remove(&id.to_be_bytes())?;
                names.remove(nickname)?;
                for hash in &hashes {
                    tokens.remove(hash.as_slice())?;
                    by_user.remove(user_token_key(id, hash))?;
                }
                Ok(())
            },
        );
        unwrap_tx(result)?;
        Ok(id)
    }

    /// Records `last_seen_at` for several users at once (the coalesced
    /// writes of `auth::LastSeen`). Users deleted meanwhile are skipped.
    pub fn record_last_seen(&self, seen: &[(u64, u64)]) -> Result<(), Error> {
        for &(id, at) in seen {
            let key = id.to_be_bytes();
            // Read-modify-write in a CAS loop: an admin change to the same
            // user between the read and the write is kept, not overwritten.
            loop {
                let Some(old) = self.users.get(key)? else {
                    break;
                };
                let mut user: User = codec::decode(USERS, &key, &old)?;
                if user.last_seen_at >= Some(at) {
                    break;
                }
                user.last_seen_at = Some(at);
                let new = codec::encode(&user)?;
                if self.users.compare_and_swap(key, Some(old), Some(new))?.is_ok() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Stores a newly issued token (by its hash). Fails with `NotFound` if
    /// the user was deleted meanwhile.
    pub fn insert_token(&self, hash: &[u8; 32], token: Token) -> Result<(), Error> {
        let value = codec::encode(&token)?;
        let id = token.user_id;
        let _guard = self.lock();
        let oldest = self.tokens_past_cap(id)?;
        let result =
            (&self.users, &self.tokens, &self.user_tokens).transaction(|(users, tokens, by_user)| {
                if users.get(id.to_be_bytes())?.is_none() {
                    return abort(Error::NotFound {
                        what: "user id",
                        key: id.to_string(),
                    });
                }
                for old in &oldest {
                    tokens.remove(old.as_slice())?;
                    by_user.remove(user_token_key(id, old))?;
                }
                tokens.insert(hash.as_slice(), value.as_slice())?;
                by_user.insert(user_token_key(id, hash), &[])?;
                Ok(())
            });
        unwrap_tx(result)
    }

    /// The user's oldest tokens that must go so that one more fits under
    /// [`MAX_TOKENS_PER_USER`] (a login loop must not grow the database
    /// without bound). Called under the write lock.
    fn tokens_past_cap(&self, user_id: u64) -> Result<Vec<Vec<u8>>, Error> {
        let hashes = self.token_hashes_of(user_id)?;
        if hashes.len() < MAX_TOKENS_PER_USER {
            return Ok(Vec::new());
        }
        let mut aged = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let created = match self.tokens.get(&hash)? {
                Some(bytes) => codec::decode::<Token>(TOKENS, &hash, &bytes)?.created_at,
                None => 0,
            };
            aged.push((created, hash));
        }
        aged.sort();
        let excess = aged.len() + 1 - MAX_TOKENS_PER_USER;
        Ok(aged.into_iter().take(excess).map(|(_, hash)| hash).collect())
    }

    /// The token with this hash, if any (expired ones included: the caller
    /// checks expiry). One `get`: this is on every request's path.
    pub fn token(&self, hash: &[u8; 32]) -> Result<Option<Token>, Error> {
        match self.tokens.get(hash)? {
            Some(bytes) => Ok(Some(codec::decode(TOKENS, hash, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Removes one token; returns whether it existed.
    pub fn revoke_token(&self, hash: &[u8; 32]) -> Result<bool, Error> {
        let _guard = self.lock();
        let Some(token) = self.token(hash)? else {
            return Ok(false);
        };
        let result = (&self.tokens, &self.user_tokens).transaction(|(tokens, by_user)| {
            tokens.remove(hash.as_slice())?;
            by_user.remove(user_token_key(token.user_id, hash))?;
            Ok(())
        });
        unwrap_tx(result)?;
        Ok(true)
    }

    /// Removes every token that expired at or before `now`; returns how many.
    pub fn purge_expired_tokens(&self, now: u64) -> Result<usize, Error> {
        let mut expired = Vec::new();
        for entry in self.tokens.iter() {
            let (key, bytes) = entry?;
            let token: Token = codec::decode(TOKENS, &key, &bytes)?;
            if token.expires_at <= now {
                let hash: [u8; 32] = key.as_ref().try_into().map_err(|_| Error::Corrupt {
                    tree: TOKENS,
                    key: codec::hex(&key),
                    reason: "key is not a SHA-256".into(),
                })?;
                expired.push(hash);
            }
        }
        let mut removed = 0;
        for hash in &expired {
            if self.revoke_token(hash)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// How many tokens a user holds (for the admin listing and tests).
    pub fn token_count(&self, user_id: u64) -> Result<usize, Error> {
        Ok(self.token_hashes_of(user_id)?.len())
    }

    fn token_hashes_of(&self, user_id: u64) -> Result<Vec<Vec<u8>>, Error> {
        self.user_tokens
            .scan_prefix(user_id.to_be_bytes())
            .map(|entry| Ok(entry?.0[8..].to_vec()))
            .collect()
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
fn test_hash() -> PasswordHash {
    PasswordHash {
        salt: vec![0; 16],
        iterations: 1,
        hash: vec![0; 32],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> PasswordHash {
        test_hash()
    }

    fn token(user_id: u64, expires_at: u64) -> Token {
        Token {
            user_id,
            created_at: 0,
            expires_at,
        }
    }

    #[test]
    fn ids_count_from_one_and_names_are_unique() {
        let store = Store::temporary().unwrap();
        assert_eq!(store.create_user("alice", hash(), 5).unwrap().0, 1);
        assert_eq!(store.create_user("bob", hash(), 5).unwrap().0, 2);
        let err = store.create_user("alice", hash(), 6).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(store.user_by_name("bob").unwrap().unwrap().0, 2);
        assert_eq!(store.users().unwrap().len(), 2);
    }

    #[test]
    fn deleting_a_user_frees_its_name_and_revokes_its_tokens() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        store.insert_token(&[1; 32], token(id, 100)).unwrap();
        assert_eq!(store.delete_user("alice").unwrap(), id);
        assert!(store.token(&[1; 32]).unwrap().is_none());
        assert!(store.user(id).unwrap().is_none());
        let (new_id, _) = store.create_user("alice", hash(), 6).unwrap();
        assert_ne!(new_id, id, "ids are never reused");
        assert!(matches!(store.delete_user("nobody"), Err(Error::NotFound { .. })));
    }

    #[test]
    fn password_change_revokes_only_that_users_tokens() {
        let store = Store::temporary().unwrap();
        let (a, _) = store.create_user("alice", hash(), 5).unwrap();
        let (b, _) = store.create_user("bob", hash(), 5).unwrap();
        store.insert_token(&[1; 32], token(a, 100)).unwrap();
        store.insert_token(&[2; 32], token(a, 100)).unwrap();
        store.insert_token(&[3; 32], token(b, 100)).unwrap();
        assert_eq!(store.set_password("alice", hash(), 9).unwrap(), (a, 2));
        assert!(store.token(&[1; 32]).unwrap().is_none());
        assert!(store.token(&[3; 32]).unwrap().is_some());
        assert_eq!(store.user(a).unwrap().unwrap().updated_at, 9);
    }

    #[test]
    fn token_for_deleted_user_is_refused() {
        let store = Store::temporary().unwrap();
        let err = store.insert_token(&[1; 32], token(42, 100)).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }

    #[test]
    fn issuing_past_the_cap_revokes_the_oldest_tokens() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        for i in 0..=MAX_TOKENS_PER_USER as u8 {
            let token = Token {
                user_id: id,
                created_at: u64::from(i),
                expires_at: 1000,
            };
            store.insert_token(&[i; 32], token).unwrap();
        }
        assert_eq!(store.token_count(id).unwrap(), MAX_TOKENS_PER_USER);
        assert!(store.token(&[0; 32]).unwrap().is_none(), "the oldest went");
        assert!(store.token(&[1; 32]).unwrap().is_some());
        assert!(store.token(&[MAX_TOKENS_PER_USER as u8; 32]).unwrap().is_some());
    }

    #[test]
    fn expired_tokens_are_purged() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        store.insert_token(&[1; 32], token(id, 10)).unwrap();
        store.insert_token(&[2; 32], token(id, 20)).unwrap();
        assert_eq!(store.purge_expired_tokens(10).unwrap(), 1);
        assert_eq!(store.token_count(id).unwrap(), 1);
        assert!(store.token(&[2; 32]).unwrap().is_some());
    }

    #[test]
    fn last_seen_only_moves_forward() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        store.record_last_seen(&[(id, 50), (999, 50)]).unwrap();
        store.record_last_seen(&[(id, 40)]).unwrap();
        assert_eq!(store.user(id).unwrap().unwrap().last_seen_at, Some(50));
    }

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
