//! Backups: a logical copy of the database in one file, and its restore.
//!
//! The file is `PROJETYD-BACKUP 2\n`, then entries `[kind u8][key len u32]
//! [key][value len u32][value]` (big-endian lengths), then a `0` byte, the
//! entry count (u64) and the SHA-256 of every byte before the digest.
//! Entries are records as the database stores them (format-version byte +
//! bincode); indexes are not copied but rebuilt by restore from the records.
//! Format 2 adds roles, ACLs and their id counters to format 1 (users,
//! tokens, tasks, the user id counter). A format-1 file still restores: its
//! users get the default ACL, as the v3 schema step gives old users theirs.
//!
//! Consistency while the daemon runs: users, tokens, roles, ACLs and the
//! id counters are copied under the store's write lock, so they are one
//! point in time;
//! task records are copied after, each one whole as last committed. A task
//! copied while queued or running is recovered as usual after a restore.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ring::digest::{Context, SHA256};

use super::access::{ACLS, DEFAULT_ACL, NEXT_ACL_ID, NEXT_ROLE_ID, ROLES};
use super::codec;
use super::tasks::Task;
use super::{decode_id, Acl, Error, Role, Store, Token, Trees, User, NEXT_USER_ID, TOKENS, USERS};

/// What this build writes.
const MAGIC: &[u8] = b"PROJETYD-BACKUP 2\n";
/// Format 1 (before roles and ACLs), still read; same length.
const MAGIC_V1: &[u8] = b"PROJETYD-BACKUP 1\n";
const END: u8 = 0;
const USER: u8 = 1;
const TOKEN: u8 = 2;
const TASK: u8 = 3;
/// An id counter: key `next_user_id` (format 1 has only this one),
/// `next_role_id` or `next_acl_id`; value u64 big-endian.
const COUNTER: u8 = 4;
const ROLE: u8 = 5;
const ACL: u8 = 6;
/// Largest key or value accepted when reading a backup.
const MAX_FIELD: u32 = 16 * 1024 * 1024;

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// The file's format: 1 or 2.
    pub format: u8,
    pub users: usize,
    pub tokens: usize,
    pub roles: usize,
    pub acls: usize,
    pub tasks: usize,
    pub next_user_id: u64,
    pub next_role_id: u64,
    pub next_acl_id: u64,
    pub bytes: u64,
}

/// Writes a backup of `store` to `out`.
pub(super) fn write(store: &Trees, out: impl Write) -> Result<Summary, Error> {
    let mut out = Writer::new(out);
    let mut summary = Summary {
        format: 2,
        ..Summary::default()
    };
    {
        let _guard = store.lock();
        summary.next_user_id = store.next_user_id()?;
        out.entry(COUNTER, NEXT_USER_ID, &summary.next_user_id.to_be_bytes())?;
        for (counter, next) in [
            (NEXT_ROLE_ID, &mut summary.next_role_id),
            (NEXT_ACL_ID, &mut summary.next_acl_id),
        ] {
            if let Some(value) = store.meta.get(counter)? {
                *next = decode_id("meta", counter, &value)?;
                out.entry(COUNTER, counter, &value)?;
            }
        }
        for entry in store.users.iter() {
            let (key, value) = entry?;
            codec::decode::<User>(USERS, &key, &value)?;
            out.entry(USER, &key, &value)?;
            summary.users += 1;
        }
        for entry in store.tokens.iter() {
            let (key, value) = entry?;
            codec::decode::<Token>(TOKENS, &key, &value)?;
            out.entry(TOKEN, &key, &value)?;
            summary.tokens += 1;
        }
        for entry in store.roles.iter() {
            let (key, value) = entry?;
            codec::decode::<Role>(ROLES, &key, &value)?;
            out.entry(ROLE, &key, &value)?;
            summary.roles += 1;
        }
        for entry in store.acls.iter() {
            let (key, value) = entry?;
            codec::decode::<Acl>(ACLS, &key, &value)?;
            out.entry(ACL, &key, &value)?;
            summary.acls += 1;
        }
    }
    for entry in store.tasks.iter() {
        let (key, value) = entry?;
        out.entry(TASK, &key, &value)?;
        summary.tasks += 1;
    }
    summary.bytes = out.finish()?;
    Ok(summary)
}

/// Reads a whole backup, checking every record and the checksum, and
/// hands each entry to `each`. Nothing is trusted before the checksum is:
/// callers apply the entries only after this returns `Ok`.
pub fn read(
    input: impl Read,
    mut each: impl FnMut(u8, Vec<u8>, Vec<u8>) -> Result<(), Error>,
) -> Result<Summary, Error> {
    let mut input = Reader {
        inner: input,
        digest: Context::new(&SHA256),
        bytes: 0,
    };
    let bad = |reason: String| Error::Corrupt {
        tree: "backup",
        key: String::new(),
        reason,
    };
    let mut magic = vec![0; MAGIC.len()];
    input.exact(&mut magic)?;
    let format = match magic.as_slice() {
        MAGIC => 2,
        MAGIC_V1 => 1,
        _ => return Err(bad("not a projetyd backup (wrong header)".into())),
    };
    let mut summary = Summary {
        format,
        ..Summary::default()
    };
    let mut count = 0u64;
    loop {
        let kind = input.byte()?;
        if kind == END {
            break;
        }
        let key = input.field()?;
        let value = input.field()?;
        match kind {
            USER => {
                codec::decode::<User>(USERS, &key, &value)?;
                decode_id(USERS, &key, &key)?;
                summary.users += 1;
            }
            TOKEN => {
                codec::decode::<Token>(TOKENS, &key, &value)?;
                summary.tokens += 1;
            }
            TASK => {
                codec::decode::<Task>("taskid_task", &key, &value)?;
                summary.tasks += 1;
            }
            ROLE if format >= 2 => {
                codec::decode::<Role>(ROLES, &key, &value)?;
                decode_id(ROLES, &key, &key)?;
                summary.roles += 1;
            }
            ACL if format >= 2 => {
                codec::decode::<Acl>(ACLS, &key, &value)?;
                decode_id(ACLS, &key, &key)?;
                summary.acls += 1;
            }
            COUNTER => {
                let next = decode_id("meta", &key, &value)?;
                match key.as_slice() {
                    NEXT_USER_ID => summary.next_user_id = next,
                    NEXT_ROLE_ID if format >= 2 => summary.next_role_id = next,
                    NEXT_ACL_ID if format >= 2 => summary.next_acl_id = next,
                    other => return Err(bad(format!("unknown counter {}", codec::hex(other)))),
                }
            }
            other => return Err(bad(format!("unknown entry kind {other}"))),
        }
        count += 1;
        each(kind, key, value)?;
    }
    let mut word = [0u8; 8];
    input.exact(&mut word)?;
    if u64::from_be_bytes(word) != count {
        return Err(bad(
            "the entry count does not match: the file is truncated or altered".into(),
        ));
    }
    let expected = input.digest.clone().finish();
    let mut sum = [0u8; 32];
    input
        .inner
        .read_exact(&mut sum)
        .map_err(|e| bad(format!("cannot read the checksum: {e}")))?;
    if sum != expected.as_ref() {
        return Err(bad("the checksum does not match: the file is damaged".into()));
    }
    let mut rest = [0u8; 1];
    if input.inner.read(&mut rest).map_err(|e| bad(e.to_string()))? != 0 {
        return Err(bad("bytes after the checksum".into()));
    }
    summary.bytes = input.bytes + 32;
    Ok(summary)
}

/// Restores the backup at `file` into the database directory `dir`, which
/// no daemon may have open. The files already there are moved to a folder
/// beside it (returned), never deleted. User ids stay unique: the restored
/// database continues from the highest id the old one had handed out.
pub fn restore(file: &Path, dir: &Path) -> Result<(Summary, Option<PathBuf>), Error> {
    let open = |path: &Path| {
        std::fs::File::open(path)
            .map(io::BufReader::new)
            .map_err(|source| Error::Files {
                path: path.into(),
                source,
            })
    };
    // Check the whole file before touching the database.
    let summary = read(open(file)?, |_, _, _| Ok(()))?;
    let floor = previous_high_water(dir)?;
    let aside = move_aside(dir)?;
    let store = Store::open_unchecked(dir)?;
    let trees = store.trees()?;
    read(open(file)?, |kind, key, value| {
        trees.restore_entry(kind, &key, &value)
    })?;
    let next = summary.next_user_id.max(floor);
    trees.meta.insert(NEXT_USER_ID, &next.to_be_bytes())?;
    trees.restore_access(&summary)?;
    drop(trees);
    store.flush()?;
    Ok((summary, aside))
}

/// The next user id the database in `dir` would have handed out, from
/// its seal or its records, whichever is higher (1 if there is none).
fn previous_high_water(dir: &Path) -> Result<u64, Error> {
    if !dir.join("db").exists() {
        return Ok(1);
    }
    let store = match Store::open_unchecked(dir) {
        Ok(store) => store,
        Err(err @ Error::Locked { .. }) => return Err(err),
        Err(err) => {
            log::warn!("the old database cannot be opened ({err}); using its seal alone");
            let (_, found) = super::seal::Seal::open(dir).map_err(|source| Error::Files {
                path: dir.into(),
                source,
            })?;
            return Ok(match found {
                super::seal::Found::Mark(mark) => mark.next_user_id,
                _ => 1,
            });
        }
    };
    let store = store.trees()?;
    let mut next = store.next_user_id().unwrap_or(1);
    if let Some(durable) = &store.durable {
        next = next.max(durable.mark().next_user_id);
    }
    for entry in store.users.iter().flatten() {
        if let Ok(id) = decode_id(USERS, &entry.0, &entry.0) {
            next = next.max(id + 1);
        }
    }
    Ok(next)
}

/// Moves the contents of `dir` into `<dir>.pre-restore-<time>`.
fn move_aside(dir: &Path) -> Result<Option<PathBuf>, Error> {
    let files = |path: &Path, source| Error::Files {
        path: path.into(),
        source,
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let entries: Vec<_> = entries.collect::<Result<_, _>>().map_err(|e| files(dir, e))?;
    if entries.is_empty() {
        return Ok(None);
    }
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".pre-restore-{}", crate::unix_now()));
    let aside = dir.with_file_name(name);
    std::fs::create_dir(&aside).map_err(|e| files(&aside, e))?;
    for entry in entries {
        let to = aside.join(entry.file_name());
        std::fs::rename(entry.path(), &to).map_err(|e| files(&entry.path(), e))?;
    }
    Ok(Some(aside))
}

impl Trees {
    /// After the entries of a backup are written: the role and ACL
    /// counters past every restored id (role and ACL ids key nothing
    /// outside their own trees, so the backup's counters are enough), the
    /// default ACL for the users of a format-1 backup, a new generation.
    fn restore_access(&self, summary: &Summary) -> Result<(), Error> {
        for (tree, name, counter, saved) in [
            (&self.roles, ROLES, NEXT_ROLE_ID, summary.next_role_id),
            (&self.acls, ACLS, NEXT_ACL_ID, summary.next_acl_id),
        ] {
            let past = match tree.last()? {
                Some((key, _)) => decode_id(name, &key, &key)? + 1,
                None => 1,
            };
            self.meta.insert(counter, &saved.max(past).to_be_bytes())?;
        }
        if summary.format == 1 {
            let (minions, functions) = DEFAULT_ACL;
            for (id, _) in self.users()? {
                self.create_acl(id, minions, functions)?;
            }
        }
        self.bump_acl_generation()
    }

    /// Writes one backup entry and the index entries it implies.
    fn restore_entry(&self, kind: u8, key: &[u8], value: &[u8]) -> Result<(), Error> {
        match kind {
            USER => {
                let user: User = codec::decode(USERS, key, value)?;
                self.users.insert(key, value)?;
                self.user_names.insert(user.nickname.as_bytes(), key)?;
            }
            TOKEN => {
                let token: Token = codec::decode(TOKENS, key, value)?;
                self.tokens.insert(key, value)?;
                self.user_tokens
                    .insert(super::user_token_key(token.user_id, key), &[])?;
            }
            TASK => {
                let id: [u8; 16] = key.try_into().map_err(|_| Error::Corrupt {
                    tree: "backup",
                    key: codec::hex(key),
                    reason: "a task id is 16 bytes".into(),
                })?;
                let task: Task = codec::decode("taskid_task", key, value)?;
                self.insert_task(&id, &task)?;
            }
            ROLE => {
                let role: Role = codec::decode(ROLES, key, value)?;
                self.roles.insert(key, value)?;
                self.user_roles
                    .insert(super::access::role_key(role.user_id, &role.name), key)?;
            }
            ACL => {
                let acl: Acl = codec::decode(ACLS, key, value)?;
                self.acls.insert(key, value)?;
                let index = super::access::acl_key(acl.user_id, &acl.minions, &acl.functions);
                self.user_acls.insert(index, key)?;
            }
            _ => {}
        }
        Ok(())
    }
}

struct Writer<W: Write> {
    inner: W,
    digest: Context,
    count: u64,
    bytes: u64,
}

impl<W: Write> Writer<W> {
    fn new(inner: W) -> Writer<W> {
        Writer {
            inner,
            digest: Context::new(&SHA256),
            count: 0,
            bytes: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.digest.update(bytes);
        self.bytes += bytes.len() as u64;
        self.inner.write_all(bytes).map_err(write_error)
    }

    fn entry(&mut self, kind: u8, key: &[u8], value: &[u8]) -> Result<(), Error> {
        if self.count == 0 && self.bytes == 0 {
            self.put(MAGIC)?;
        }
        self.put(&[kind])?;
        for field in [key, value] {
            let len = u32::try_from(field.len()).map_err(|_| Error::Encode {
                reason: "a record is larger than 4 GiB".into(),
            })?;
            self.put(&len.to_be_bytes())?;
            self.put(field)?;
        }
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, Error> {
        if self.bytes == 0 {
            self.put(MAGIC)?;
        }
        self.put(&[END])?;
        self.put(&self.count.to_be_bytes())?;
        let sum = self.digest.clone().finish();
        self.inner.write_all(sum.as_ref()).map_err(write_error)?;
        self.inner.flush().map_err(write_error)?;
        Ok(self.bytes + 32)
    }
}

fn write_error(source: io::Error) -> Error {
    Error::Files {
        path: PathBuf::from("(backup output)"),
        source,
    }
}

struct Reader<R: Read> {
    inner: R,
    digest: Context,
    bytes: u64,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read_exact(buf).map_err(|err| Error::Corrupt {
            tree: "backup",
            key: String::new(),
            reason: match err.kind() {
                io::ErrorKind::UnexpectedEof => "the file ends too soon: it is truncated".into(),
                _ => err.to_string(),
            },
        })?;
        self.digest.update(buf);
        self.bytes += buf.len() as u64;
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn field(&mut self) -> Result<Vec<u8>, Error> {
        let mut len = [0u8; 4];
        self.exact(&mut len)?;
        let len = u32::from_be_bytes(len);
        if len > MAX_FIELD {
            return Err(Error::Corrupt {
                tree: "backup",
                key: String::new(),
                reason: format!("a field of {len} bytes is larger than any record"),
            });
        }
        let mut field = vec![0; len as usize];
        self.exact(&mut field)?;
        Ok(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PasswordHash, TaskKind, TaskState};

    fn hash() -> PasswordHash {
        crate::store::test_hash()
    }

    fn filled(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        let (a, _) = store.create_user("alice", hash(), 1).unwrap();
        store.create_user("bob", hash(), 1).unwrap();
        store.delete_user("bob").unwrap();
        store.create_role(a, "admin").unwrap();
        store.create_acl(a, "web*", "pkg.*").unwrap();
        store
            .insert_token(
                &[3; 32],
                Token {
                    user_id: a,
                    created_at: 1,
                    expires_at: u64::MAX,
                },
            )
            .unwrap();
        let task = Task {
            user_id: a,
            kind: TaskKind::Ping,
            function: "test.ping".into(),
            args: Vec::new(),
            kwargs: Default::default(),
            target: vec!["m".into()],
            timeout: 5,
            state: TaskState::Queued,
            jid: None,
            created_us: 7,
            started_at: None,
            finished_at: None,
            outcome: None,
            attempts: 0,
        };
        store.insert_task(&[5; 16], &task).unwrap();
        store.flush().unwrap();
        store
    }

    #[test]
    fn backup_and_restore_round_trip_and_keep_ids_unique() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let file = dir.path().join("backup");
        {
            let store = filled(&db);
            let summary = store.backup(std::fs::File::create(&file).unwrap()).unwrap();
            assert_eq!(
                (summary.users, summary.tokens, summary.tasks, summary.next_user_id),
                (1, 1, 1, 3)
            );
            // alice's and bob's default ACLs (bob's went with him), one more.
            assert_eq!((summary.roles, summary.acls, summary.next_acl_id), (1, 2, 4));
            // Ids handed out after the backup must not come back.
            store.create_user("carol", hash(), 2).unwrap();
            store.flush().unwrap();
        }
        let (summary, aside) = restore(&file, &db).unwrap();
        assert_eq!(summary.users, 1);
        assert!(aside.unwrap().join("seal").exists(), "the old files are kept");
        let store = Store::open(&db).unwrap();
        assert!(store.user_by_name("alice").unwrap().is_some());
        assert!(store.user_by_name("carol").unwrap().is_none());
        assert_eq!(store.token_count(1).unwrap(), 1);
        assert_eq!(store.unfinished_tasks().unwrap().len(), 1);
        assert!(store.is_admin(1).unwrap());
        let acls: Vec<(u64, String)> = store
            .acls_of(1)
            .unwrap()
            .into_iter()
            .map(|(id, acl)| (id, acl.functions))
            .collect();
        assert_eq!(acls, [(1, "test.ping".into()), (3, "pkg.*".into())]);
        assert_eq!(store.create_acl(1, "m", "f").unwrap(), 4, "ACL ids go on");
        assert_eq!(
            store.create_user("dave", hash(), 3).unwrap().0,
            4,
            "never an old id"
        );
    }

    #[test]
    fn a_damaged_or_truncated_backup_is_refused_before_anything_changes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let store = filled(&db);
        let mut bytes = Vec::new();
        store.backup(&mut bytes).unwrap();
        drop(store);
        for broken in [bytes[..bytes.len() - 1].to_vec(), {
            let mut b = bytes.clone();
            b[30] ^= 1;
            b
        }] {
            let file = dir.path().join("broken");
            std::fs::write(&file, &broken).unwrap();
            let err = restore(&file, &db).unwrap_err();
            assert!(matches!(err, Error::Corrupt { tree: "backup", .. }), "{err}");
        }
        assert!(Store::open(&db).unwrap().user_by_name("alice").unwrap().is_some());
    }

    /// A format-1 backup made by projetyd before roles and ACLs
    /// (tests/fixtures/README.md) still restores, and its users get the
    /// default ACL.
    #[test]
    fn a_format_1_backup_restores_with_the_default_acl() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backup-v1");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let (summary, _) = restore(&file, &db).unwrap();
        assert_eq!((summary.format, summary.users, summary.roles), (1, 2, 0));
        let store = Store::open(&db).unwrap();
        for (id, user) in store.users().unwrap() {
            let acls = store.acls_of(id).unwrap();
            assert_eq!(acls.len(), 1, "{}: {acls:?}", user.nickname);
            let (_, acl) = &acls[0];
            assert_eq!((acl.minions.as_str(), acl.functions.as_str()), DEFAULT_ACL);
        }
        assert!(store.check().unwrap().is_healthy());
    }
}
