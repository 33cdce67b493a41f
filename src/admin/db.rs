//! `projetyd db check | backup | restore | repair`: the database's state,
//! a consistent copy of it while the daemon runs, and the two ways back
//! from damage (both only while the daemon is stopped).

use std::io::{BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::{receive, send, Error, FailKind, Reply, Request};
use crate::store::{self, backup, Store};

/// What `db check` found; `healthy` decides the exit status.
pub struct Checked {
    pub text: String,
    pub healthy: bool,
}

/// `db check`: through the daemon when it runs, else on the files, which
/// are looked at as they are (a damaged database is reported, not refused).
pub fn check(db: &Path, socket: &Path) -> Result<Checked, Error> {
    let report = match daemon(socket)? {
        Some(stream) => {
            send(&stream, socket, &Request::Check)?;
            match receive(&mut BufReader::new(&stream), socket)? {
                Reply::Checked { report } => report,
                Reply::Failed { kind, message } => return Err(Error::Refused { kind, message }),
                other => return Err(unexpected(socket, &other)),
            }
        }
        None => {
            let (_store, report, preserved) = Store::open_and_check(db)?;
            let mut text = report.render();
            if let Some(preserved) = preserved {
                if report.is_healthy() {
                    preserved.discard();
                } else {
                    let kept = preserved.keep("damaged");
                    text.push_str(&format!(
                        "\nIts files as they were are kept in {}.",
                        kept.display()
                    ));
                }
            }
            return Ok(Checked {
                healthy: report.is_healthy(),
                text,
            });
        }
    };
    Ok(Checked {
        text: report.render(),
        healthy: report.is_healthy(),
    })
}

/// `db backup FILE`: writes `FILE` whole or not at all (a partial file is
/// removed), verified by reading it back before it is renamed into place.
pub fn backup(db: &Path, socket: &Path, file: &Path) -> Result<String, Error> {
    let partial = partial_path(file);
    let result = write_backup(db, socket, &partial).and_then(|()| {
        let input = std::fs::File::open(&partial).map_err(|e| files(&partial, e))?;
        let summary = backup::read(BufReader::new(input), |_, _, _| Ok(()))?;
        std::fs::rename(&partial, file).map_err(|e| files(file, e))?;
        sync_parent(file)?;
        Ok(summary)
    });
    match result {
        Ok(s) => Ok(format!(
            "Backup written to {}: {} user(s), {} token(s), {} role(s), {} acl(s), {} task(s), {} bytes",
            file.display(),
            s.users,
            s.tokens,
            s.roles,
            s.acls,
            s.tasks,
            s.bytes
        )),
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            Err(err)
        }
    }
}

fn write_backup(db: &Path, socket: &Path, partial: &Path) -> Result<(), Error> {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(partial)
        .map_err(|e| files(partial, e))?;
    match daemon(socket)? {
        Some(stream) => {
            send(&stream, socket, &Request::Backup)?;
            let mut reader = BufReader::new(&stream);
            match receive(&mut reader, socket)? {
                Reply::BackupFollows => {}
                Reply::Failed { kind, message } => return Err(Error::Refused { kind, message }),
                other => return Err(unexpected(socket, &other)),
            }
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(|e| protocol(socket, e.to_string()))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(|e| files(partial, e))?;
            }
        }
        None => {
            let store = Store::open(db)?;
            store.backup(std::io::BufWriter::new(&mut out))?;
        }
    }
    out.sync_all().map_err(|e| files(partial, e))
}

/// `db restore FILE`, daemon stopped.
pub fn restore(db: &Path, socket: &Path, file: &Path) -> Result<String, Error> {
    refuse_if_running(socket, "restore")?;
    let (s, aside) = backup::restore(file, db)?;
    let kept = aside.map_or_else(String::new, |dir| {
        format!("; the files it held before are in {}", dir.display())
    });
    let defaults = match s.format {
        1 => " (a backup from before roles and ACLs: each user was given the default acl)",
        _ => "",
    };
    Ok(format!(
        "Restored {} user(s), {} token(s), {} role(s), {} acl(s), {} task(s){defaults} from {} into {}{kept}",
        s.users,
        s.tokens,
        s.roles,
        s.acls,
        s.tasks,
        file.display(),
        db.display()
    ))
}

/// `db repair`, daemon stopped.
pub fn repair(db: &Path, socket: &Path) -> Result<String, Error> {
    refuse_if_running(socket, "repair")?;
    let (store, before, preserved) = match Store::open_and_check(db) {
        Ok(opened) => opened,
        // sled refuses a log that ends before its snapshot says it should;
        // without the snapshot it recovers the log up to the damage. The
        // snapshot is in the copy kept of the damaged files.
        Err(store::Error::Damaged { problem, .. }) => {
            remove_snapshots(db)?;
            let (store, mut report, preserved) = Store::open_and_check(db)?;
            report.problems.insert(0, problem);
            (store, report, preserved)
        }
        Err(err) => return Err(err.into()),
    };
    let done = store.repair()?;
    let after = store.check()?;
    let mut out = String::new();
    if let Some(preserved) = preserved {
        let kept = preserved.keep("pre-repair");
        out.push_str(&format!(
            "The files as they were are kept in {}.\n",
            kept.display()
        ));
    }
    out.push_str(&format!("Found {} problem(s):", before.problems.len()));
    for p in &before.problems {
        out.push_str(&format!("\n  - {p}"));
    }
    for d in &done {
        out.push_str(&format!("\nRepair: {d}"));
    }
    out.push('\n');
    out.push_str(&after.render());
    Ok(out)
}

/// Removes sled's snapshot files from `db` (its log is the source of truth).
fn remove_snapshots(db: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(db).map_err(|e| files(db, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| files(db, e))?;
        if entry.file_name().to_string_lossy().starts_with("snap.") {
            std::fs::remove_file(entry.path()).map_err(|e| files(&entry.path(), e))?;
        }
    }
    Ok(())
}

/// The daemon's socket, if a daemon answers there.
fn daemon(socket: &Path) -> Result<Option<UnixStream>, Error> {
    match UnixStream::connect(socket) {
        Ok(stream) => Ok(Some(stream)),
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(Error::Permission { path: socket.into() })
        }
        Err(_) => Ok(None),
    }
}

fn refuse_if_running(socket: &Path, what: &str) -> Result<(), Error> {
    if daemon(socket)?.is_some() {
        return Err(Error::Refused {
            kind: FailKind::Internal,
            message: format!(
                "the daemon is running (it answers on {}): stop it first (systemctl stop projetyd), then {what}",
                socket.display()
            ),
        });
    }
    Ok(())
}

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

fn sync_parent(file: &Path) -> Result<(), Error> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| files(parent, e))
}

fn files(path: &Path, source: std::io::Error) -> Error {
    Error::Store(store::Error::Files {
        path: path.into(),
        source,
    })
}

fn protocol(path: &Path, reason: String) -> Error {
    Error::Protocol {
        path: path.into(),
        reason,
    }
}

fn unexpected(path: &Path, reply: &Reply) -> Error {
    protocol(path, format!("unexpected answer {reply:?}"))
}
