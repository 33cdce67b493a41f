//! What makes a flush durable, and a database on disk private.
//!
//! sled 0.34 writes its log with `pwrite` and then `sync_file_range`, which
//! pushes the pages to the device but neither flushes the device's cache
//! nor writes the file's metadata: a power loss can take writes that sled
//! reported as flushed. So after sled's flush the log file is `fdatasync`ed
//! here (on a second descriptor of the same file: a sync covers the file,
//! not the descriptor), and only then is the seal advanced.
//!
//! The directory is made 0700 and every file in it 0600 whatever the umask,
//! at each open: the database holds password hashes and token hashes.

use std::fs::File;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::seal::{Found, Mark, Seal};
use super::{Error, Trees};
use crate::sync::LockAnyway as _;

/// The key in `meta` that holds the generation of the last flush.
pub const GENERATION: &[u8] = b"generation";

/// The on-disk half of a `Store`.
pub struct Durable {
    dir: PathBuf,
    /// sled's log, opened again only to sync it.
    log: File,
    seal: Seal,
    /// What the seal said at open.
    pub found: Found,
    /// The mark last written; the lock also serialises flushes, so marks
    /// are written in generation order.
    mark: Mutex<Mark>,
}

impl Durable {
    /// Opens the seal and sled's log in `dir` (after sled opened it).
    pub fn open(dir: &Path) -> Result<Durable, Error> {
        let files = |source| Error::Files {
            path: dir.into(),
            source,
        };
        let (seal, found) = Seal::open(dir).map_err(files)?;
        let log = File::open(dir.join("db")).map_err(files)?;
        restrict(dir).map_err(files)?;
        // The seal may be new: its directory entry must outlive a power loss.
        File::open(dir).and_then(|d| d.sync_all()).map_err(files)?;
        let mark = match found {
            Found::Mark(mark) => mark,
            Found::Missing | Found::Damaged => Mark {
                generation: 0,
                next_user_id: 1,
            },
        };
        Ok(Durable {
            dir: dir.into(),
            log,
            seal,
            found,
            mark: Mutex::new(mark),
        })
    }

    pub fn seal_path(&self) -> &Path {
        self.seal.path()
    }

    /// The mark last written (or read at open).
    pub fn mark(&self) -> Mark {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mark> {
        // A `Mark` is two words written whole: a panic cannot tear it.
        self.mark.lock_anyway()
    }

    /// Bumps the generation, flushes sled, syncs its log, then seals.
    pub fn flush(&self, store: &Trees) -> Result<(), Error> {
        let mut mark = self.lock();
        let generation = store.generation()?.max(mark.generation) + 1;
        store.meta.insert(GENERATION, &generation.to_be_bytes())?;
        store.db.flush()?;
        let sync = |source| Error::Files {
            path: self.dir.clone(),
            source,
        };
        self.log.sync_data().map_err(sync)?;
        let next = Mark {
            generation,
            next_user_id: store.next_user_id()?.max(mark.next_user_id),
        };
        self.seal.write(next).map_err(sync)?;
        *mark = next;
        Ok(())
    }
}

impl Trees {
    /// The generation sled holds (0 for a database never flushed with a
    /// seal).
    pub(super) fn generation(&self) -> Result<u64, Error> {
        match self.meta.get(GENERATION)? {
            Some(raw) => super::decode_id("meta", GENERATION, &raw),
            None => Ok(0),
        }
    }
}

/// Creates `dir` if needed; it is made 0700 before sled creates anything
/// in it.
pub fn prepare_dir(dir: &Path) -> Result<(), Error> {
    let files = |source| Error::OpenDir {
        path: dir.into(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(files)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(files)
}

/// 0700 for `dir` and its folders, 0600 for its files.
fn restrict(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            restrict(&entry.path())?;
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// A copy of sled's files taken before sled opened them: sled's recovery
/// overwrites a damaged log's tail as it opens it, so this copy is the
/// only record of what a damaged database held.
pub struct Preserved {
    path: PathBuf,
}

/// The copy's folder inside the database directory (sled ignores it).
const PRE_OPEN: &str = "pre-open";

impl Preserved {
    /// Copies sled's files and the seal of a sealed database in `dir`;
    /// `None` for a new or never-sealed one (nothing to compare with).
    pub fn take(dir: &Path) -> Result<Option<Preserved>, Error> {
        if !dir.join(super::seal::FILE).exists() || !dir.join("db").exists() {
            return Ok(None);
        }
        let path = dir.join(PRE_OPEN);
        let files = |source| Error::Files {
            path: path.clone(),
            source,
        };
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(files)?;
        }
        copy_tree(dir, &path, &[PRE_OPEN]).map_err(files)?;
        Ok(Some(Preserved { path }))
    }

    /// The database was fine: the copy goes.
    pub fn discard(self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            log::warn!("cannot remove {}: {err}", self.path.display());
        }
    }

    /// The database was damaged: the copy is kept under a name of its own
    /// (`<dir>/<label>-<time>`), which is returned.
    pub fn keep(self, label: &str) -> PathBuf {
        let stamp = crate::unix_now();
        let mut kept = self.path.with_file_name(format!("{label}-{stamp}"));
        for n in 2.. {
            if !kept.exists() {
                break;
            }
            kept = self.path.with_file_name(format!("{label}-{stamp}-{n}"));
        }
        match std::fs::rename(&self.path, &kept) {
            Ok(()) => kept,
            Err(err) => {
                log::warn!("cannot rename {}: {err}", self.path.display());
                self.path
            }
        }
    }
}

/// Copies the files of `from` (and its folders but `skip`) into `to`.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let keep = name.to_str().is_some_and(|n| n == "blobs") && !skip.iter().any(|s| name == *s);
            if keep {
                copy_tree(&entry.path(), &to.join(&name), &[])?;
            }
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}
