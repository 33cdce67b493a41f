//! `Store`: the handle every part of the daemon holds. It opens the
//! database, forwards each typed call to the open sled instance, notices
//! when writes fail, and can reopen the database once they can succeed
//! again.
//!
//! Why reopening: sled 0.34 keeps the first I/O error it meets (a full
//! disk, say) and returns it from then on, even after space is freed. A
//! write failure marks the store `failing` (health answers 503 with the
//! reason); `reopen` drops the broken instance, waits for its last user to
//! let go, and opens the files again through the same checks as a start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use super::{access, check, durable, events, migrate, tasks, Error, PasswordHash, Task, Token, Trees, User};
use super::{Acl, Role};
use super::{CACHE_BYTES, TOKENS, USERS, USER_NAMES, USER_TOKENS};
use crate::sync::{LockAnyway as _, RwLockAnyway as _};

/// A cheap, cloneable handle on the database.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    /// Where the database lives; `None` for a temporary one.
    path: Option<PathBuf>,
    /// The open instance; `None` only while it is being reopened.
    current: RwLock<Option<Arc<Trees>>>,
    /// Why writes fail, since the first failure and until a reopen works.
    failing: Mutex<Option<String>>,
}

/// How long `reopen` waits for calls still using the old instance.
const LET_GO: Duration = Duration::from_secs(10);

impl Store {
    /// Opens (or creates) the database in directory `path`, checks it
    /// against its seal and its own indexes, and refuses a damaged one
    /// (`Error::Damaged`) rather than start without data it once held.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Ok(Store::wrap(Trees::open(path, true)?, Some(path)))
    }

    /// Opens the database and checks it, with a copy of its files as they
    /// were before sled's recovery touched them (when it was sealed). A
    /// database sled itself reports as corrupt is `Error::Damaged`.
    pub fn open_and_check(path: &Path) -> Result<(Store, check::Report, Option<durable::Preserved>), Error> {
        let (trees, report, preserved) = Trees::open_and_check(path, true)?;
        Ok((Store::wrap(trees, Some(path)), report, preserved))
    }

    /// Opens the database without judging its state: `db check` and
    /// `db repair` look at a damaged one through this.
    pub fn open_unchecked(path: &Path) -> Result<Store, Error> {
        Ok(Store::wrap(Trees::open_unchecked(path)?, Some(path)))
    }

    /// A throwaway database that disappears when dropped (tests, benches).
    pub fn temporary() -> Result<Store, Error> {
        let db = sled::Config::new().temporary(true).open()?;
        Ok(Store::wrap(Trees::from_db(db, None)?, None))
    }

    fn wrap(trees: Trees, path: Option<&Path>) -> Store {
        Store {
            shared: Arc::new(Shared {
                path: path.map(Path::to_path_buf),
                current: RwLock::new(Some(Arc::new(trees))),
                failing: Mutex::new(None),
            }),
        }
    }

    /// The open instance.
    pub(super) fn trees(&self) -> Result<Arc<Trees>, Error> {
        let current = self.shared.current.read_anyway();
        current.clone().ok_or(Error::Reopening)
    }

    /// Runs `f` on the open instance; a failed write marks the store
    /// failing.
    fn with<T>(&self, f: impl FnOnce(&Trees) -> Result<T, Error>) -> Result<T, Error> {
        let result = f(&*self.trees()?);
        if let Err(err) = &result {
            if err.is_write_failure() {
                self.fail(err);
            }
        }
        result
    }

    fn fail(&self, err: &Error) {
        let mut failing = self.shared.failing.lock_anyway();
        if failing.is_none() {
            log::error!("database writes fail: {err}; retrying until they succeed");
        }
        *failing = Some(err.write_failure_reason());
    }

    /// Why writes fail, while they do: a short reason without paths.
    pub fn failing(&self) -> Option<String> {
        self.shared.failing.lock_anyway().clone()
    }

    /// Can the database's directory take a write now? Writes and syncs a
    /// 1 MiB scratch file there (and removes it), without touching sled.
    pub fn probe(&self) -> bool {
        let Some(path) = &self.shared.path else {
            return true;
        };
        let scratch = path.join("probe");
        let ok = std::fs::File::create(&scratch).and_then(|mut file| {
            std::io::Write::write_all(&mut file, &vec![0u8; 1 << 20])?;
            file.sync_all()
        });
        let _ = std::fs::remove_file(&scratch);
        ok.is_ok()
    }

    /// Drops the open instance and opens the database again (with the
    /// checks of a start, without the pre-open copy). On success the store
    /// is no longer failing.
    pub fn reopen(&self) -> Result<(), Error> {
        let Some(path) = &self.shared.path else {
            return Ok(());
        };
        let old = self.shared.current.write_anyway().take();
        if let Some(old) = old {
            let weak = Arc::downgrade(&old);
            drop(old);
            wait_let_go(&weak);
        }
        let opened = Trees::open(path, false);
        let mut current = self.shared.current.write_anyway();
        match opened {
            Ok(trees) => {
                *current = Some(Arc::new(trees));
                *self.shared.failing.lock_anyway() = None;
                log::info!("database reopened: writes succeed again");
                Ok(())
            }
            Err(err) => {
                drop(current);
                self.fail(&err);
                Err(err)
            }
        }
    }

    /// Writes everything to stable storage; called where losing data would
    /// break a promise (a password was printed, a token handed out, a 202
    /// answered, a result reported, shutdown). See `durable`.
    pub fn flush(&self) -> Result<(), Error> {
        self.with(Trees::flush)
    }

    /// The state of the database (`db check`).
    pub fn check(&self) -> Result<check::Report, Error> {
        self.with(check::run)
    }

    /// `db repair`: see `check::repair`.
    pub fn repair(&self) -> Result<Vec<String>, Error> {
        self.with(check::repair)
    }

    /// Writes a backup to `out` (see `backup`).
    pub fn backup(&self, out: impl std::io::Write) -> Result<super::backup::Summary, Error> {
        self.with(|t| super::backup::write(t, out))
    }
}

/// `Error::Damaged` for `path`; the pre-open copy, if any, is kept and
/// named in the message.
fn damaged(path: &Path, mut problem: String, preserved: Option<durable::Preserved>) -> Error {
    if let Some(preserved) = preserved {
        let kept = preserved.keep("damaged");
        problem.push_str(&format!(
            "; its files as they were are kept in {}",
            kept.display()
        ));
    }
    Error::Damaged {
        path: path.into(),
        problem,
    }
}

fn wait_let_go(weak: &Weak<Trees>) {
    let deadline = Instant::now() + LET_GO;
    while weak.strong_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `Store` methods that run on the open instance as they are.
macro_rules! forward {
    ($( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $( $(#[$meta])* pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret, Error> {
                self.with(|trees| trees.$name($($arg),*))
            } )*
        }
    };
}

forward! {
    /// The database's size on disk, in bytes (for `/metrics`).
    fn size_on_disk(&self) -> u64;
    /// Creates a user with the next free id; `AlreadyExists` if the
    /// nickname is taken.
    fn create_user(&self, nickname: &str, password: PasswordHash, now: u64) -> (u64, User);
    /// The user with this id, if any.
    fn user(&self, id: u64) -> Option<User>;
    /// The user with this nickname and its id, if any.
    fn user_by_name(&self, nickname: &str) -> Option<(u64, User)>;
    /// All users, in id order.
    fn users(&self) -> Vec<(u64, User)>;
    /// Replaces a user's password and revokes all of its tokens; returns
    /// the user's id and how many tokens were revoked.
    fn set_password(&self, nickname: &str, password: PasswordHash, now: u64) -> (u64, usize);
    /// Replaces the password of user `id` and revokes all of its tokens;
    /// returns the user's nickname and how many tokens were revoked.
    fn set_password_of(&self, id: u64, password: PasswordHash, now: u64) -> (String, usize);
    /// Deletes a user, its name, tokens, roles and ACLs; returns its id.
    fn delete_user(&self, nickname: &str) -> u64;
    /// Deletes user `id`, its name, tokens, roles and ACLs; returns it.
    fn delete_user_id(&self, id: u64) -> User;
    /// Records `last_seen_at` for several users at once.
    fn record_last_seen(&self, seen: &[(u64, u64)]) -> ();
    /// Stores a newly issued token (by its hash).
    fn insert_token(&self, hash: &[u8; 32], token: Token) -> ();
    /// The token with this hash, if any (expired ones included).
    fn token(&self, hash: &[u8; 32]) -> Option<Token>;
    /// Removes one token; returns whether it existed.
    fn revoke_token(&self, hash: &[u8; 32]) -> bool;
    /// Removes every token that expired at or before `now`.
    fn purge_expired_tokens(&self, now: u64) -> usize;
    /// How many tokens a user holds.
    fn token_count(&self, user_id: u64) -> usize;
    /// Gives a user a role; returns the role's id.
    fn create_role(&self, user_id: u64, name: &str) -> u64;
    /// The role with this id, if any.
    fn role(&self, id: u64) -> Option<Role>;
    /// A user's roles, in id order.
    fn roles_of(&self, user_id: u64) -> Vec<(u64, Role)>;
    /// Removes a role.
    fn delete_role(&self, id: u64) -> ();
    /// Renames a role.
    fn rename_role(&self, id: u64, name: &str) -> ();
    /// Whether the user holds the `admin` role.
    fn is_admin(&self, user_id: u64) -> bool;
    /// Gives a user an ACL; returns its id.
    fn create_acl(&self, user_id: u64, minions: &str, functions: &str) -> u64;
    /// The ACL with this id, if any.
    fn acl(&self, id: u64) -> Option<Acl>;
    /// A user's ACLs, in id order.
    fn acls_of(&self, user_id: u64) -> Vec<(u64, Acl)>;
    /// Replaces an ACL's fields.
    fn update_acl(&self, id: u64, minions: &str, functions: &str) -> ();
    /// Removes an ACL.
    fn delete_acl(&self, id: u64) -> ();
    /// Bumped by every change to any role or ACL.
    fn acl_generation(&self) -> u64;
    /// Writes a new task with its index entries.
    fn insert_task(&self, id: &[u8; 16], task: &Task) -> ();
    /// Replaces a task's record.
    fn update_task(&self, id: &[u8; 16], task: &Task) -> ();
    /// The task `id`, if any.
    fn task(&self, id: &[u8; 16]) -> Option<Task>;
    /// The task that ran (or runs) Salt job `jid`, if any.
    fn task_by_jid(&self, jid: &str) -> Option<([u8; 16], Task)>;
    /// Tasks that are not finished, oldest first.
    fn unfinished_tasks(&self) -> Vec<([u8; 16], Task)>;
    /// A user's tasks, newest first, paginated.
    fn user_tasks(&self, user_id: u64, limit: usize, after: Option<&[u8; 16]>) -> Vec<([u8; 16], Task)>;
    /// Every user's tasks, newest first, paginated.
    fn all_tasks(&self, limit: usize, after: Option<&[u8; 16]>) -> Vec<([u8; 16], Task)>;
    /// Removes finished tasks created before `before_us`.
    fn purge_tasks(&self, before_us: u64) -> usize;
    /// Writes task event `seq` (no flush).
    fn insert_task_event(&self, seq: u64, event: &crate::store::TaskEvent) -> ();
    /// The highest task event id written, if any.
    fn last_task_event(&self) -> Option<u64>;
    /// At most `limit` task events after id `after`, oldest first.
    fn task_events_after(&self, after: u64, limit: usize) -> Vec<(u64, crate::store::TaskEvent)>;
    /// Removes the task events recorded before `before_us`.
    fn purge_task_events(&self, before_us: u64) -> usize;
}

impl Trees {
    /// Opens and checks; `preserve` copies the files first (see
    /// `Store::open_and_check`).
    fn open(path: &Path, preserve: bool) -> Result<Trees, Error> {
        let (trees, report, preserved) = Trees::open_and_check(path, preserve)?;
        if let Some(problem) = report.problems.first() {
            let problem = match report.problems.len() - 1 {
                0 => problem.clone(),
                n => format!("{problem} (and {n} more problem(s))"),
            };
            return Err(damaged(path, problem, preserved));
        }
        if let Some(preserved) = preserved {
            preserved.discard();
        }
        // Seals a database that has no seal yet (new, or from before seals).
        trees.flush()?;
        Ok(trees)
    }

    fn open_and_check(
        path: &Path,
        preserve: bool,
    ) -> Result<(Trees, check::Report, Option<durable::Preserved>), Error> {
        durable::prepare_dir(path)?;
        let preserved = match preserve {
            true => durable::Preserved::take(path)?,
            false => None,
        };
        match Trees::open_unchecked(path) {
            Ok(trees) => {
                let report = check::run(&trees)?;
                Ok((trees, report, preserved))
            }
            Err(Error::Open {
                source: sled::Error::Corruption { .. },
                ..
            }) => Err(damaged(
                path,
                "sled found corrupted data in its log while opening it".into(),
                preserved,
            )),
            Err(err) => {
                if let Some(preserved) = preserved {
                    preserved.discard();
                }
                Err(err)
            }
        }
    }

    fn open_unchecked(path: &Path) -> Result<Trees, Error> {
        durable::prepare_dir(path)?;
        let db = sled::Config::new()
            .path(path)
            // sled's page cache defaults to 1 GiB; the daemon's working set
            // is users, tokens and a week of task records.
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| match &source {
                // sled 0.34 reports the lock as a formatted `Other` error.
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().starts_with("could not acquire lock") =>
                {
                    Error::Locked { path: path.into() }
                }
                _ => Error::Open {
                    path: path.into(),
                    source,
                },
            })?;
        let durable = durable::Durable::open(path)?;
        Trees::from_db(db, Some(Arc::new(durable)))
    }

    fn from_db(db: sled::Db, durable: Option<Arc<durable::Durable>>) -> Result<Trees, Error> {
        let meta = db.open_tree("meta")?;
        migrate::run(&db, &meta)?;
        Ok(Trees {
            durable,
            users: db.open_tree(USERS)?,
            user_names: db.open_tree(USER_NAMES)?,
            tokens: db.open_tree(TOKENS)?,
            user_tokens: db.open_tree(USER_TOKENS)?,
            tasks: db.open_tree(tasks::TASKS)?,
            task_created: db.open_tree(tasks::CREATED)?,
            task_user: db.open_tree(tasks::USER_CREATED)?,
            task_jids: db.open_tree(tasks::JIDS)?,
            task_events: db.open_tree(events::TASK_EVENTS)?,
            roles: db.open_tree(access::ROLES)?,
            user_roles: db.open_tree(access::USER_ROLES)?,
            acls: db.open_tree(access::ACLS)?,
            user_acls: db.open_tree(access::USER_ACLS)?,
            meta,
            db,
            writes: Arc::new(Mutex::new(())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> PasswordHash {
        crate::store::test_hash()
    }

    /// Reopening releases sled's lock on the files and finds everything
    /// flushed before, through every clone of the handle.
    #[test]
    fn reopen_swaps_the_instance_under_every_clone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let clone = store.clone();
        store.create_user("alice", hash(), 1).unwrap();
        store.flush().unwrap();
        store.fail(&Error::Reopening);
        assert!(clone.failing().is_some());
        assert!(store.probe());
        store.reopen().unwrap();
        assert!(clone.failing().is_none());
        assert!(clone.user_by_name("alice").unwrap().is_some());
        assert_eq!(clone.create_user("bob", hash(), 2).unwrap().0, 2);
    }
}
