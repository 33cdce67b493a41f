//! The roles and ACLs part of `db check` and `db repair`: every record
//! decodes, belongs to an existing user, has an id below its counter and
//! exactly its one entry in its per-user index, which holds nothing else.
//! Both kinds are walked by the same code ([`Kind`]).

use std::collections::{HashMap, HashSet};

use sled::Tree;

use super::super::access::{
    acl_key, role_key, ACLS, NEXT_ACL_ID, NEXT_ROLE_ID, ROLES, USER_ACLS, USER_ROLES,
};
use super::super::{codec, decode_id, Acl, Error, Role, Trees, META};
use super::entries;

/// A record's user and its key in the per-user index.
type Entry = Result<(u64, Vec<u8>), Error>;

/// One kind of access record and its index.
struct Kind {
    what: &'static str,
    tree: &'static str,
    index: &'static str,
    counter: &'static [u8],
    /// The record's user and its key in the index.
    entry: fn(&[u8], &[u8]) -> Entry,
}

const ROLE: Kind = Kind {
    what: "role",
    tree: ROLES,
    index: USER_ROLES,
    counter: NEXT_ROLE_ID,
    entry: |key, bytes| {
        let role: Role = codec::decode(ROLES, key, bytes)?;
        Ok((role.user_id, role_key(role.user_id, &role.name)))
    },
};

const ACL: Kind = Kind {
    what: "acl",
    tree: ACLS,
    index: USER_ACLS,
    counter: NEXT_ACL_ID,
    entry: |key, bytes| {
        let acl: Acl = codec::decode(ACLS, key, bytes)?;
        Ok((acl.user_id, acl_key(acl.user_id, &acl.minions, &acl.functions)))
    },
};

/// Checks the roles; returns how many are sound.
pub(super) fn roles(store: &Trees, users: &HashMap<u64, String>, problems: &mut Vec<String>) -> usize {
    check(&ROLE, store, &store.roles, &store.user_roles, users, problems)
}

/// Checks the ACLs; returns how many are sound.
pub(super) fn acls(store: &Trees, users: &HashMap<u64, String>, problems: &mut Vec<String>) -> usize {
    check(&ACL, store, &store.acls, &store.user_acls, users, problems)
}

fn counter(store: &Trees, key: &'static [u8]) -> Result<u64, Error> {
    match store.meta.get(key)? {
        Some(raw) => decode_id(META, key, &raw),
        None => Ok(1),
    }
}

fn check(
    kind: &Kind,
    store: &Trees,
    records: &Tree,
    index: &Tree,
    users: &HashMap<u64, String>,
    problems: &mut Vec<String>,
) -> usize {
    let next = match counter(store, kind.counter) {
        Ok(next) => next,
        Err(err) => {
            problems.push(err.to_string());
            u64::MAX
        }
    };
    let mut found = Vec::new();
    for (key, bytes) in entries(records, kind.tree, problems) {
        found.push((key.to_vec(), bytes.to_vec()));
    }
    // Index key → id, as the records say it must be.
    let mut expected: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut sound = 0;
    for (key, bytes) in found {
        let entry = decode_id(kind.tree, &key, &key).and_then(|id| Ok((id, (kind.entry)(&key, &bytes)?)));
        let (id, (user_id, index_key)) = match entry {
            Ok(entry) => entry,
            Err(err) => {
                problems.push(err.to_string());
                continue;
            }
        };
        if id >= next {
            problems.push(format!("{} {id} is at or past the next id {next}", kind.what));
        }
        if !users.contains_key(&user_id) {
            problems.push(format!(
                "{} {id} belongs to user {user_id}, who does not exist",
                kind.what
            ));
            continue;
        }
        match expected.insert(index_key, id) {
            Some(other) => problems.push(format!("{} {id} duplicates {} {other}", kind.what, kind.what)),
            None => sound += 1,
        }
    }
    let mut indexed = HashSet::new();
    let mut bad = Vec::new();
    for (key, raw) in entries(index, kind.index, problems) {
        match decode_id(kind.index, &key, &raw) {
            Ok(id) if expected.get(key.as_ref()) == Some(&id) => {
                indexed.insert(id);
            }
            Ok(id) => bad.push(format!(
                "{} index entry {} points at no such {} {id} of that user",
                kind.what,
                codec::hex(&key),
                kind.what
            )),
            Err(err) => bad.push(err.to_string()),
        }
    }
    problems.extend(bad);
    let mut missing: Vec<u64> = expected
        .values()
        .filter(|id| !indexed.contains(id))
        .copied()
        .collect();
    missing.sort_unstable();
    for id in missing {
        problems.push(format!("{} {id} is missing from its per-user index", kind.what));
    }
    sound
}

/// `db repair` for roles and ACLs: removes what does not decode, belongs
/// to no user or duplicates another, rebuilds both indexes, raises the
/// counters past every id kept, and bumps `acl_generation`.
pub(super) fn repair(
    store: &Trees,
    users: &HashMap<u64, String>,
    done: &mut Vec<String>,
) -> Result<(), Error> {
    repair_kind(&ROLE, store, &store.roles, &store.user_roles, users, done)?;
    repair_kind(&ACL, store, &store.acls, &store.user_acls, users, done)?;
    store.bump_acl_generation()
}

fn repair_kind(
    kind: &Kind,
    store: &Trees,
    records: &Tree,
    index: &Tree,
    users: &HashMap<u64, String>,
    done: &mut Vec<String>,
) -> Result<(), Error> {
    let mut high = counter(store, kind.counter).unwrap_or(1);
    let mut kept: HashMap<Vec<u8>, u64> = HashMap::new();
    for entry in records.iter() {
        let (key, bytes) = entry?;
        // An id whose record does not decode was handed out all the same.
        let entry = decode_id(kind.tree, &key, &key).and_then(|id| {
            high = high.max(id.saturating_add(1));
            Ok((id, (kind.entry)(&key, &bytes)?))
        });
        let why = match entry {
            Ok((id, (user_id, index_key))) => {
                if !users.contains_key(&user_id) {
                    Some(format!(
                        "removed {} {id} of a user that no longer exists",
                        kind.what
                    ))
                } else if let Some(other) = kept.get(&index_key) {
                    Some(format!("removed {} {id}, a duplicate of {other}", kind.what))
                } else {
                    kept.insert(index_key, id);
                    None
                }
            }
            Err(err) => Some(format!("removed an unreadable {} record ({err})", kind.what)),
        };
        if let Some(why) = why {
            records.remove(&key)?;
            done.push(why);
        }
    }
    index.clear()?;
    for (key, id) in &kept {
        index.insert(key.as_slice(), &id.to_be_bytes())?;
    }
    store.meta.insert(kind.counter, &high.to_be_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::{test_hash, Store};

    /// An ACL whose user is gone, a role missing from its index and an
    /// unreadable ACL are each reported; repair keeps what is sound.
    #[test]
    fn broken_roles_and_acls_are_reported_and_repaired() {
        let store = Store::temporary().unwrap();
        let (a, _) = store.create_user("alice", test_hash(), 1).unwrap();
        let (b, _) = store.create_user("bob", test_hash(), 1).unwrap();
        let role = store.create_role(a, "admin").unwrap();
        let kept = store.create_acl(a, "web*", "pkg.*").unwrap();
        {
            let trees = store.trees().unwrap();
            // bob vanishes without his ACL; alice's role loses its index entry.
            trees.users.remove(b.to_be_bytes()).unwrap();
            trees.user_names.remove("bob").unwrap();
            trees.user_roles.clear().unwrap();
            trees.acls.insert(99u64.to_be_bytes(), &[1, 2][..]).unwrap();
        }
        let problems = store.check().unwrap().problems.join("\n");
        assert!(problems.contains("who does not exist"), "{problems}");
        assert!(
            problems.contains(&format!("role {role} is missing")),
            "{problems}"
        );
        assert!(problems.contains("aclid_acl"), "{problems}");
        store.repair().unwrap();
        let report = store.check().unwrap();
        assert!(report.is_healthy(), "{:?}", report.problems);
        assert!(store.is_admin(a).unwrap());
        assert!(store.acl(kept).unwrap().is_some());
        assert_eq!((report.roles, report.acls), (1, 2));
        assert!(
            store.create_acl(a, "m", "f").unwrap() > 99,
            "ids past every one seen"
        );
    }
}
