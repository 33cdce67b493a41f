//! `projetyd db check`: what a database holds and whatever is wrong with
//! it. The same check runs at every open; any problem keeps the daemon
//! from starting (see `Store::open`).
//!
//! Checked: the seal against sled's own generation and id counter (lost
//! writes), every record decodes, the name, token, role and ACL indexes
//! agree with the records they point at (roles and ACLs of existing users
//! only), and every task record has its index entries.
//! An index entry without its task record is normal after a crash (entries
//! are written first) and is not a problem.

use std::collections::{HashMap, HashSet};

use super::codec;
use super::seal::Found;
use super::tasks::{self, Task};
use super::{decode_id, Error, Token, Trees, User, TOKENS, USERS, USER_NAMES, USER_TOKENS};

mod access;

/// The state of a database.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub users: usize,
    pub tokens: usize,
    /// Roles and ACLs (`serde(default)`: an older daemon's report has none).
    #[serde(default)]
    pub roles: usize,
    #[serde(default)]
    pub acls: usize,
    pub tasks: usize,
    pub unfinished_tasks: usize,
    /// The generation sled holds, and the one the seal recorded (`None`
    /// without a seal file: a new database, or a temporary one).
    pub generation: u64,
    pub sealed_generation: Option<u64>,
    pub next_user_id: u64,
    /// One sentence each; empty for a healthy database.
    pub problems: Vec<String>,
}

impl Report {
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// What `projetyd db check` prints.
    pub fn render(&self) -> String {
        let sealed = self
            .sealed_generation
            .map_or_else(|| "none".to_owned(), |g| g.to_string());
        let mut out = format!(
            "users: {}\ntokens: {}\nroles: {}\nacls: {}\ntasks: {} ({} unfinished)\nnext user id: {}\nflush generation: {} (sealed: {sealed})\n",
            self.users, self.tokens, self.roles, self.acls, self.tasks, self.unfinished_tasks, self.next_user_id, self.generation
        );
        if self.problems.is_empty() {
            out.push_str("state: healthy");
        } else {
            out.push_str(&format!("state: DAMAGED, {} problem(s):", self.problems.len()));
            for problem in &self.problems {
                out.push_str(&format!("\n  - {problem}"));
            }
            out.push_str("\nRestore a backup with `projetyd db restore FILE` (daemon stopped), or keep what is left with `projetyd db repair`.");
        }
        out
    }
}

/// Checks `store`. Errors reading sled itself become problems too; only an
/// error that stops the check from running at all is returned.
pub(super) fn run(store: &Trees) -> Result<Report, Error> {
    let mut report = Report {
        generation: store.generation().unwrap_or(0),
        next_user_id: store.next_user_id().unwrap_or(0),
        ..Report::default()
    };
    let mut problems = Vec::new();
    if let Err(err) = store.generation().and_then(|_| store.next_user_id()) {
        problems.push(format!("the meta tree is unreadable: {err}"));
    }
    seal(store, &mut report, &mut problems);
    let users = users(store, &mut report, &mut problems);
    tokens(store, &users, &mut report, &mut problems);
    report.roles = access::roles(store, &users, &mut problems);
    report.acls = access::acls(store, &users, &mut problems);
    tasks(store, &mut report, &mut problems);
    report.problems = problems;
    Ok(report)
}

fn seal(store: &Trees, report: &mut Report, problems: &mut Vec<String>) {
    let Some(durable) = &store.durable else {
        return;
    };
    match durable.found {
        Found::Missing => {}
        Found::Damaged => problems.push(format!(
            "its seal {} is unreadable, so lost writes cannot be ruled out",
            durable.seal_path().display()
        )),
        Found::Mark(mark) => {
            report.sealed_generation = Some(mark.generation);
            if report.generation < mark.generation {
                problems.push(format!(
                    "it holds writes up to flush {} but flush {} had reached the disk: recent writes were lost (sled drops a damaged log from the damaged point on)",
                    report.generation, mark.generation
                ));
            }
            if report.next_user_id < mark.next_user_id {
                problems.push(format!(
                    "user ids up to {} were handed out but it would give out {} again",
                    mark.next_user_id - 1,
                    report.next_user_id
                ));
            }
        }
    }
}

/// Entries of `tree`, with a sled read error turned into a problem that
/// ends the walk of that tree.
pub(super) fn entries<'a>(
    tree: &'a sled::Tree,
    name: &'static str,
    problems: &'a mut Vec<String>,
) -> impl Iterator<Item = (sled::IVec, sled::IVec)> + 'a {
    let mut failed = false;
    tree.iter().map_while(move |entry| match entry {
        Ok(kv) if !failed => Some(kv),
        Ok(_) => None,
        Err(err) => {
            failed = true;
            problems.push(format!("reading {name} failed: {err}"));
            None
        }
    })
}

/// Checks users and the name index; returns user id → nickname.
fn users(store: &Trees, report: &mut Report, problems: &mut Vec<String>) -> HashMap<u64, String> {
    let mut found = Vec::new();
    let mut bad = Vec::new();
    for (key, bytes) in entries(&store.users, USERS, problems) {
        let user =
            decode_id(USERS, &key, &key).and_then(|id| Ok((id, codec::decode::<User>(USERS, &key, &bytes)?)));
        match user {
            Ok(user) => found.push(user),
            Err(err) => bad.push(err.to_string()),
        }
    }
    problems.extend(bad);
    let mut names = HashMap::new();
    for (id, user) in found {
        if id >= report.next_user_id {
            problems.push(format!(
                "user {id} is at or past the next id {}",
                report.next_user_id
            ));
        }
        names.insert(id, user.nickname);
    }
    report.users = names.len();
    let mut indexed = HashSet::new();
    let mut index_problems = Vec::new();
    for (name, raw) in entries(&store.user_names, USER_NAMES, problems) {
        let nickname = String::from_utf8_lossy(&name).into_owned();
        match decode_id(USER_NAMES, &name, &raw) {
            Ok(id) if names.get(&id) == Some(&nickname) => {
                indexed.insert(id);
            }
            Ok(id) => index_problems.push(format!(
                "the name {nickname:?} points at user {id}, which is not {nickname:?}"
            )),
            Err(err) => index_problems.push(err.to_string()),
        }
    }
    problems.extend(index_problems);
    for (id, nickname) in &names {
        if !indexed.contains(id) {
            problems.push(format!("user {id} ({nickname:?}) is missing from the name index"));
        }
    }
    names
}

fn tokens(store: &Trees, users: &HashMap<u64, String>, report: &mut Report, problems: &mut Vec<String>) {
    let mut owners = HashMap::new();
    let mut found = Vec::new();
    for (hash, bytes) in entries(&store.tokens, TOKENS, problems) {
        found.push((hash.to_vec(), codec::decode::<Token>(TOKENS, &hash, &bytes)));
    }
    for (hash, token) in found {
        match token {
            Ok(token) if users.contains_key(&token.user_id) => {
                owners.insert(hash, token.user_id);
            }
            Ok(token) => problems.push(format!(
                "token {} belongs to user {}, who does not exist",
                codec::hex(&hash[..4]),
                token.user_id
            )),
            Err(err) => problems.push(err.to_string()),
        }
    }
    report.tokens = owners.len();
    let mut indexed = 0;
    let mut bad = Vec::new();
    for (key, _) in entries(&store.user_tokens, USER_TOKENS, problems) {
        let owner = key
            .get(..8)
            .and_then(|id| id.try_into().ok())
            .map(u64::from_be_bytes);
        match (owner, owners.get(&key[8.min(key.len())..])) {
            (Some(id), Some(&user)) if id == user => indexed += 1,
            _ => bad.push(format!(
                "token index entry {} points at no token of that user",
                codec::hex(&key)
            )),
        }
    }
    problems.extend(bad);
    if indexed != owners.len() {
        problems.push(format!(
            "{} token(s) are missing from the per-user token index",
            owners.len().saturating_sub(indexed)
        ));
    }
}

fn tasks(store: &Trees, report: &mut Report, problems: &mut Vec<String>) {
    let mut created = HashSet::new();
    for (key, _) in entries(&store.task_created, tasks::CREATED, problems) {
        created.insert(key.to_vec());
    }
    let mut found = Vec::new();
    for (id, bytes) in entries(&store.tasks, tasks::TASKS, problems) {
        found.push((id.to_vec(), codec::decode::<Task>(tasks::TASKS, &id, &bytes)));
    }
    for (id, task) in found {
        match task {
            Ok(task) => {
                report.tasks += 1;
                if !task.state.is_final() {
                    report.unfinished_tasks += 1;
                }
                let key = [&task.created_us.to_be_bytes()[..], &id].concat();
                if !created.contains(&key) {
                    problems.push(format!(
                        "task {} is missing from the creation index",
                        codec::hex(&id)
                    ));
                }
            }
            Err(err) => problems.push(err.to_string()),
        }
    }
}

/// `projetyd db repair`: keeps what the database still holds and makes it
/// consistent again. Records that do not decode are removed (each one is
/// named in the returned list), the indexes are rebuilt from the records,
/// and the id counter is raised past every id the seal or a record shows
/// was handed out, so no id is ever given twice. Then it is sealed anew.
pub(super) fn repair(store: &Trees) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    let mut high = store.next_user_id().unwrap_or(1);
    let mut generation = store.generation().unwrap_or(0);
    if let Some(durable) = &store.durable {
        if let Found::Mark(mark) = durable.found {
            high = high.max(mark.next_user_id);
            generation = generation.max(mark.generation);
        }
    }
    let _guard = store.lock();
    // Users, and the name index rebuilt from them.
    let mut users = HashMap::new();
    for entry in store.users.iter() {
        let (key, bytes) = entry?;
        let user =
            decode_id(USERS, &key, &key).and_then(|id| Ok((id, codec::decode::<User>(USERS, &key, &bytes)?)));
        match user {
            Ok((id, user)) => {
                high = high.max(id + 1);
                users.insert(id, user.nickname);
            }
            Err(err) => {
                store.users.remove(&key)?;
                done.push(format!("removed an unreadable user record ({err})"));
            }
        }
    }
    store.user_names.clear()?;
    for (id, nickname) in &users {
        store.user_names.insert(nickname.as_bytes(), &id.to_be_bytes())?;
    }
    // Tokens of known users, and their index.
    store.user_tokens.clear()?;
    for entry in store.tokens.iter() {
        let (hash, bytes) = entry?;
        match codec::decode::<Token>(TOKENS, &hash, &bytes) {
            Ok(token) if users.contains_key(&token.user_id) => {
                store
                    .user_tokens
                    .insert(super::user_token_key(token.user_id, &hash), &[])?;
            }
            Ok(_) => {
                store.tokens.remove(&hash)?;
                done.push("removed a token of a user that no longer exists".into());
            }
            Err(err) => {
                store.tokens.remove(&hash)?;
                done.push(format!("removed an unreadable token ({err})"));
            }
        }
    }
    access::repair(store, &users, &mut done)?;
    // Tasks, and both of their indexes.
    store.task_created.clear()?;
    store.task_user.clear()?;
    store.task_jids.clear()?;
    for entry in store.tasks.iter() {
        let (id, bytes) = entry?;
        let task = codec::decode::<Task>(tasks::TASKS, &id, &bytes);
        match (<[u8; 16]>::try_from(id.as_ref()), task) {
            (Ok(key), Ok(task)) => store.insert_task(&key, &task)?,
            (_, Err(err)) => {
                store.tasks.remove(&id)?;
                done.push(format!("removed an unreadable task record ({err})"));
            }
            (Err(_), Ok(_)) => {
                store.tasks.remove(&id)?;
                done.push(format!("removed a task record with a bad id {}", codec::hex(&id)));
            }
        }
    }
    store.meta.insert(super::NEXT_USER_ID, &high.to_be_bytes())?;
    store
        .meta
        .insert(super::durable::GENERATION, &generation.to_be_bytes())?;
    done.push(format!("rebuilt the indexes; the next user id is {high}"));
    drop(_guard);
    store.flush()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PasswordHash;
    use crate::store::Store;

    fn hash() -> PasswordHash {
        crate::store::test_hash()
    }

    #[test]
    fn a_healthy_database_has_no_problems() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 1).unwrap();
        store
            .insert_token(
                &[1; 32],
                Token {
                    user_id: id,
                    created_at: 1,
                    expires_at: 9,
                },
            )
            .unwrap();
        let report = store.check().unwrap();
        assert!(report.is_healthy(), "{:?}", report.problems);
        assert_eq!((report.users, report.tokens, report.next_user_id), (1, 1, 2));
    }

    #[test]
    fn broken_records_and_indexes_are_each_reported() {
        let store = Store::temporary().unwrap();
        store.create_user("alice", hash(), 1).unwrap();
        store.create_user("bob", hash(), 1).unwrap();
        let trees = store.trees().unwrap();
        trees.users.insert(1u64.to_be_bytes(), &[1, 2, 3][..]).unwrap();
        trees.user_names.remove("bob").unwrap();
        trees
            .tokens
            .insert(
                [9; 32],
                codec::encode(&Token {
                    user_id: 77,
                    created_at: 0,
                    expires_at: 0,
                })
                .unwrap(),
            )
            .unwrap();
        let problems = store.check().unwrap().problems.join("\n");
        assert!(problems.contains("userid_user"), "{problems}");
        assert!(problems.contains("missing from the name index"), "{problems}");
        assert!(problems.contains("who does not exist"), "{problems}");
    }

    /// A database that rolled back to before its last sealed flush is
    /// refused at open; this is what a torn sled log looks like.
    #[test]
    fn lost_writes_are_detected_by_the_seal() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.create_user("alice", hash(), 1).unwrap();
            store.flush().unwrap();
            // Roll sled back behind the seal's back.
            let store = store.trees().unwrap();
            store
                .meta
                .insert(super::super::durable::GENERATION, &1u64.to_be_bytes())
                .unwrap();
            store
                .meta
                .insert(super::super::NEXT_USER_ID, &1u64.to_be_bytes())
                .unwrap();
            store.db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().expect("refused");
        let text = err.to_string();
        assert!(matches!(err, Error::Damaged { .. }), "{text}");
        assert!(text.contains("recent writes were lost"), "{text}");
        assert!(text.contains("projetyd db restore"), "{text}");
        let store = Store::open_unchecked(dir.path()).unwrap();
        store.repair().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert!(store.user_by_name("alice").unwrap().is_some());
        assert_eq!(
            store.create_user("bob", hash(), 2).unwrap().0,
            2,
            "alice's id is not reused"
        );
    }
}
