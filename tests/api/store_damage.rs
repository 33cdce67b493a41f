//! Issue #8 part 1: no silent data loss in the store. A damaged database
//! is refused at start with a one-line message that says what to do; `db
//! check` reports it; `db repair` keeps what is left without reusing an
//! id; `db backup` copies a running daemon's database and `db restore`
//! puts it back; the files are private whatever the umask.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::common::{assert_no_raw_errors, Daemon};

/// A stopped daemon's database holding users `u1`..`u8` (ids 1..8), one
/// token for `u8`, and the flushes of a daemon run.
fn filled() -> Daemon {
    let mut server = Daemon::start(&[]);
    let mut last = String::new();
    for i in 1..=8 {
        last = server.adduser(&format!("u{i}"));
    }
    server.token("u8", &last);
    assert!(server.stop().success());
    server
}

/// The five damages the hostile test tried, as edits of sled's log file.
/// An edit of sled's log file.
type Edit = fn(&mut Vec<u8>);

fn damages() -> Vec<(&'static str, Edit)> {
    fn at_name(log: &mut [u8], name: &[u8]) -> usize {
        log.windows(name.len())
            .position(|w| w == name)
            .unwrap_or_else(|| panic!("{:?} is not in the log", String::from_utf8_lossy(name)))
    }
    vec![
        ("one flipped byte in a user record", |log| {
            let i = at_name(log, b"u3");
            log[i] ^= 1;
        }),
        ("64 random bytes mid-file", |log| {
            let end = last_written(log);
            let at = end / 2;
            for (n, b) in log[at..at + 64].iter_mut().enumerate() {
                *b = (n as u8).wrapping_mul(97).wrapping_add(13);
            }
        }),
        ("a corrupted file header", |log| {
            for b in &mut log[..16] {
                *b ^= 0xff;
            }
        }),
        ("512 zero bytes", |log| {
            let at = last_written(log) / 3;
            log[at..at + 512].fill(0);
        }),
        ("one flipped byte in the token area", |log| {
            let end = last_written(log);
            log[end - 40] ^= 0x10;
        }),
    ]
}

fn last_written(log: &[u8]) -> usize {
    log.iter().rposition(|&b| b != 0).expect("an empty log") + 1
}

fn damage(db: &Path, edit: Edit, keep_snapshot: bool) {
    let path = db.join("db");
    let mut log = std::fs::read(&path).unwrap();
    edit(&mut log);
    std::fs::write(&path, log).unwrap();
    if !keep_snapshot {
        for entry in std::fs::read_dir(db).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with("snap.") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
}

/// The ids `projetyd users` lists.
fn ids(server: &Daemon) -> Vec<u64> {
    let out = server.admin("users", &[]);
    assert!(out.status.success(), "{out:?}");
    out.stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

/// Each damage, with sled's snapshot kept and without it: the daemon
/// either refuses to start with a clear one-line error, or starts with
/// every user it had. After `db repair` it starts, and a new user never
/// gets an id an old one had. (Before the seal, each of these started
/// with users missing and handed out id 1 or 3 again.)
#[test]
fn r8_a_damaged_database_is_refused_never_silently_emptied() {
    for (name, edit) in damages() {
        for keep_snapshot in [true, false] {
            let mut server = filled();
            damage(&server.db, edit, keep_snapshot);
            let case = format!("{name} (snapshot kept: {keep_snapshot})");
            match server.try_launch() {
                Ok(()) => {
                    // Nothing was lost, or it would not have started.
                    assert_eq!(ids(&server), (1..=8).collect::<Vec<_>>(), "{case}");
                    assert!(server.stop().success());
                    continue;
                }
                Err(status) => {
                    assert!(!status.success(), "{case}");
                    let log = server.log();
                    let line = log
                        .lines()
                        .find(|l| l.starts_with("projetyd: "))
                        .unwrap_or_else(|| panic!("{case}: no error line in\n{log}"));
                    assert!(line.contains("is damaged"), "{case}: {line}");
                    assert!(line.contains("projetyd db restore"), "{case}: {line}");
                    assert!(line.contains("projetyd db repair"), "{case}: {line}");
                    assert_no_raw_errors(line);
                }
            }
            let check = server.admin_db("check");
            assert!(!check.status.success(), "{case}: {check:?}");
            assert!(check.stdout.contains("DAMAGED"), "{case}: {check:?}");
            let repair = server.admin_db("repair");
            assert!(repair.status.success(), "{case}: {repair:?}");
            assert!(repair.stdout.contains("state: healthy"), "{case}: {repair:?}");
            assert!(server.admin_db("check").status.success(), "{case}");
            server.launch();
            let survivors = ids(&server);
            server.adduser("newcomer");
            let after = ids(&server);
            let new_id = after.iter().find(|id| !survivors.contains(id)).copied();
            assert_eq!(
                new_id,
                Some(9),
                "{case}: ids before {survivors:?}, after {after:?}"
            );
            assert!(server.stop().success());
        }
    }
}

#[test]
fn db_check_reports_a_healthy_database_and_exits_zero() {
    let server = filled();
    let out = server.admin_db("check");
    assert!(out.status.success(), "{out:?}");
    for needle in ["users: 8", "tokens: 1", "next user id: 9", "state: healthy"] {
        assert!(out.stdout.contains(needle), "{needle}: {out:?}");
    }
    // Through the running daemon too.
    let mut server = server;
    server.launch();
    let out = server.admin_db("check");
    assert!(out.status.success() && out.stdout.contains("users: 8"), "{out:?}");
    assert!(server.log().contains("admin request: db check"));
}

/// `db backup` while the daemon runs and serves; `db restore` after it
/// stopped puts that state back: users and tokens as they were, users
/// made after the backup gone, and their ids not given out again.
#[test]
fn backup_while_running_then_restore_while_stopped() {
    let mut server = Daemon::start(&[]);
    let alice = server.adduser("alice");
    let token = server.token("alice", &alice);
    let file = server.dir().join("backup.pyd");
    let file_arg = file.to_str().unwrap();
    let out = server.admin_db_with("backup", &[file_arg]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("1 user(s), 1 token(s)"), "{out:?}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    server.adduser("bob");

    let refused = server.admin_db_with("restore", &[file_arg]);
    refused.assert_refused("the daemon is running");
    assert!(server.stop().success());

    let out = server.admin_db_with("restore", &[file_arg]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("the files it held before are in"), "{out:?}");
    server.launch();
    assert_eq!(server.users(&token).len(), 1, "alice's token works, bob is gone");
    server.adduser("carol");
    assert_eq!(ids(&server), [1, 3], "bob's id 2 is not given to carol");

    // A damaged backup is refused before anything changes.
    assert!(server.stop().success());
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    server
        .admin_db_with("restore", &[file_arg])
        .assert_refused("damaged");
    server.launch();
    assert_eq!(ids(&server), [1, 3]);
}

/// The database directory is 0700 and its files 0600, set by the daemon
/// whatever the umask it was started with (the test runner's is 022).
#[test]
fn database_files_are_private() {
    let mut server = Daemon::start(&[]);
    server.adduser("alice");
    assert!(server.stop().success());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&server.db), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&server.db).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            files += 1;
            assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
        }
    }
    assert!(files >= 3, "db, conf and seal at least");
}
