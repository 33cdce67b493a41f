//! Minion keys as `salt-key -L` shows them, read straight from the master's
//! pki directories (projetyd runs on the master). The listing is cached and
//! re-read only when a directory's modification time changes, so a key
//! listing costs a few `stat` calls, not a master round trip.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::sync::LockAnyway as _;
use serde::Serialize;

/// The five lists of `key.list_all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyList {
    pub local: Vec<String>,
    pub minions: Vec<String>,
    pub minions_pre: Vec<String>,
    pub minions_rejected: Vec<String>,
    pub minions_denied: Vec<String>,
}

impl KeyList {
    pub fn is_accepted(&self, id: &str) -> bool {
        self.minions.binary_search_by(|k| order(k, id)).is_ok()
    }
}

const DIRS: [&str; 4] = ["minions", "minions_pre", "minions_rejected", "minions_denied"];

/// Modification times of the pki dir and its four key dirs.
type Stamp = [Option<SystemTime>; 5];

/// The cached listing of one pki directory.
pub struct KeyCache {
    pki_dir: PathBuf,
    /// The last listing, the stamp it was read under, and whether that
    /// stamp can be trusted (see `list`).
    cached: Mutex<Option<(Stamp, Arc<KeyList>)>>,
}

/// Directory times are coarse (a kernel tick): two changes in one tick
/// share an mtime. A listing is reused only once its newest mtime is this
/// far in the past when it was read.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

impl KeyCache {
    pub fn new(pki_dir: PathBuf) -> KeyCache {
        KeyCache {
            pki_dir,
            cached: Mutex::new(None),
        }
    }

    /// The current keys. Errors only if the pki directory itself cannot be
    /// read (a missing key directory is an empty list, as in Salt).
    pub fn list(&self) -> std::io::Result<Arc<KeyList>> {
        let stamp = self.stamp();
        {
            let cached = self.cached.lock_anyway();
            if let Some((at, list)) = cached.as_ref() {
                if *at == stamp && stamp[0].is_some() {
                    return Ok(list.clone());
                }
            }
        }
        let read_at = SystemTime::now();
        let list = Arc::new(read(&self.pki_dir)?);
        let settled = stamp.iter().flatten().all(|t| *t + SETTLE < read_at);
        let mut cached = self.cached.lock_anyway();
        *cached = settled.then(|| (stamp, list.clone()));
        Ok(list)
    }

    fn stamp(&self) -> Stamp {
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut stamp = [mtime(&self.pki_dir), None, None, None, None];
        for (slot, dir) in stamp[1..].iter_mut().zip(DIRS) {
            *slot = mtime(&self.pki_dir.join(dir));
        }
        stamp
    }
}

/// Salt's `sorted_ignorecase`.
fn order(a: &str, b: &str) -> std::cmp::Ordering {
    a.to_lowercase().cmp(&b.to_lowercase()).then_with(|| a.cmp(b))
}

fn names(dir: &Path, keep: impl Fn(&str) -> bool) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        // A directory that fails mid-listing fails the listing: a key list
        // with keys silently missing would be wrong, not partial.
        let name = entry?.file_name();
        match name.into_string() {
            Ok(name) if keep(&name) => out.push(name),
            Ok(_) => {}
            // A minion id is UTF-8; JSON cannot carry another name.
            Err(name) => log::warn!(
                "key file {:?} in {} is not UTF-8; not listed",
                name,
                dir.display()
            ),
        }
    }
    out.sort_by(|a, b| order(a, b));
    Ok(out)
}

fn read(pki_dir: &Path) -> std::io::Result<KeyList> {
    let local = names(pki_dir, |n| n.ends_with(".pem") || n.ends_with(".pub"))?;
    let visible = |n: &str| !n.starts_with('.');
    let dir = |name: &str| match names(&pki_dir.join(name), visible) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    };
    Ok(KeyList {
        local,
        minions: dir(DIRS[0])?,
        minions_pre: dir(DIRS[1])?,
        minions_rejected: dir(DIRS[2])?,
        minions_denied: dir(DIRS[3])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_not_utf8_is_left_out_and_a_missing_directory_fails() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m1"), b"").unwrap();
        std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"").unwrap();
        assert_eq!(names(dir.path(), |_| true).unwrap(), ["m1"]);
        assert!(names(&dir.path().join("nowhere"), |_| true).is_err());
    }

    #[test]
    fn lists_like_salt_key_and_notices_changes() {
        let pki = tempfile::tempdir().unwrap();
        let p = pki.path();
        for d in ["minions", "minions_pre", "minions_rejected"] {
            std::fs::create_dir(p.join(d)).unwrap();
        }
        for f in ["master.pem", "master.pub", "minion_master.x"] {
            std::fs::write(p.join(f), "").unwrap();
        }
        for f in [
            "minions/web-2",
            "minions/Web-1",
            "minions/.hidden",
            "minions_pre/new",
        ] {
            std::fs::write(p.join(f), "").unwrap();
        }
        let cache = KeyCache::new(p.into());
        let keys = cache.list().unwrap();
        assert_eq!(keys.local, ["master.pem", "master.pub"]);
        assert_eq!(keys.minions, ["Web-1", "web-2"]);
        assert_eq!(keys.minions_pre, ["new"]);
        assert!(keys.minions_denied.is_empty());
        assert!(keys.is_accepted("web-2") && keys.is_accepted("Web-1"));
        assert!(!keys.is_accepted("new") && !keys.is_accepted("*"));
        std::fs::rename(p.join("minions_pre/new"), p.join("minions/new")).unwrap();
        let keys = cache.list().unwrap();
        assert_eq!(keys.minions, ["new", "Web-1", "web-2"]);
        assert!(keys.minions_pre.is_empty());
    }

    #[test]
    fn settled_listings_are_served_from_cache() {
        let pki = tempfile::tempdir().unwrap();
        std::fs::create_dir(pki.path().join("minions")).unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        for p in [pki.path().to_path_buf(), pki.path().join("minions")] {
            std::fs::File::open(&p).unwrap().set_modified(old).unwrap();
        }
        let cache = KeyCache::new(pki.path().into());
        let keys = cache.list().unwrap();
        assert!(Arc::ptr_eq(&keys, &cache.list().unwrap()));
    }
}
