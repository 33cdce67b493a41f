//! Schema versions, stepped forward in order. A released step is never
//! edited; a database newer than this build is refused.

use sled::transaction::Transactional;

use super::access::{self, ACLS, DEFAULT_ACL, USER_ACLS};
use super::{decode_id, unwrap_tx, Error, USERS};

/// The schema this build writes.
pub const SCHEMA_VERSION: u32 = 3;

const KEY: &[u8] = b"schema_version";

/// Brings database `db` (whose `meta` tree is `meta`) up to
/// `SCHEMA_VERSION`; returns the version.
pub fn run(db: &sled::Db, meta: &sled::Tree) -> Result<u32, Error> {
    let mut version = read(meta)?;
    if version > SCHEMA_VERSION {
        return Err(Error::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        // v1: the initial layout (userid_user, username_userid,
        // tokenhash_token, userid_tokenhash, meta). Nothing to convert.
        version = write(meta, 1)?;
    }
    if version < 2 {
        // v2: task records (taskid_task, created_taskid,
        // usercreated_taskid). New trees only.
        version = write(meta, 2)?;
    }
    if version < 3 {
        // v3: roles and ACLs (roleid_role, userrole_roleid, aclid_acl,
        // useracl_aclid); every user gets the default ACL a new user gets.
        version = default_acls(db, meta)?;
    }
    Ok(version)
}

/// The v3 step: the default ACL for every user, and the new version, in
/// one transaction (a crash leaves the database at v2, to step again).
fn default_acls(db: &sled::Db, meta: &sled::Tree) -> Result<u32, Error> {
    let users = db.open_tree(USERS)?;
    let ids = users
        .iter()
        .map(|entry| {
            let (key, _) = entry?;
            decode_id(USERS, &key, &key)
        })
        .collect::<Result<Vec<u64>, Error>>()?;
    let acls = db.open_tree(ACLS)?;
    let user_acls = db.open_tree(USER_ACLS)?;
    let (minions, functions) = DEFAULT_ACL;
    let result = (&acls, &user_acls, meta).transaction(|(acls, user_acls, meta)| {
        for &id in &ids {
            if user_acls.get(access::acl_key(id, minions, functions))?.is_none() {
                access::insert_acl((acls, user_acls, meta), id, minions, functions)?;
            }
        }
        meta.insert(KEY, &3u32.to_be_bytes())?;
        Ok(3)
    });
    unwrap_tx(result)
}

fn read(meta: &sled::Tree) -> Result<u32, Error> {
    match meta.get(KEY)? {
        None => Ok(0),
        Some(bytes) => {
            let raw: [u8; 4] = bytes.as_ref().try_into().map_err(|_| Error::Corrupt {
                tree: "meta",
                key: "schema_version".into(),
                reason: format!("{} bytes, expected 4", bytes.len()),
            })?;
            Ok(u32::from_be_bytes(raw))
        }
    }
}

fn write(meta: &sled::Tree, version: u32) -> Result<u32, Error> {
    meta.insert(KEY, &version.to_be_bytes())?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn db() -> (sled::Db, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let meta = db.open_tree("meta").unwrap();
        (db, meta)
    }

    #[test]
    fn fresh_database_gets_current_version() {
        let (db, meta) = db();
        assert_eq!(run(&db, &meta).unwrap(), SCHEMA_VERSION);
        assert_eq!(run(&db, &meta).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn newer_database_is_refused() {
        let (db, meta) = db();
        meta.insert(KEY, &(SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
        assert!(matches!(run(&db, &meta), Err(Error::TooNew { .. })));
    }

    /// A v2 database (users, no ACLs) steps to v3 with the default ACL on
    /// every user, once.
    #[test]
    fn v3_gives_every_user_the_default_acl() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            for name in ["alice", "bob"] {
                store.create_user(name, crate::store::test_hash(), 1).unwrap();
            }
            // Back to v2 as it was: users without ACLs.
            let trees = store.trees().unwrap();
            trees.acls.clear().unwrap();
            trees.user_acls.clear().unwrap();
            trees.meta.remove(access::NEXT_ACL_ID).unwrap();
            trees.meta.insert(KEY, &2u32.to_be_bytes()).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        for id in [1, 2] {
            let acls = store.acls_of(id).unwrap();
            assert_eq!(acls.len(), 1, "user {id}: {acls:?}");
            let (_, acl) = &acls[0];
            assert_eq!((acl.minions.as_str(), acl.functions.as_str()), DEFAULT_ACL);
        }
        let trees = store.trees().unwrap();
        assert_eq!(run(&trees.db, &trees.meta).unwrap(), 3);
        assert_eq!(store.acls_of(1).unwrap().len(), 1, "a second run adds nothing");
        assert!(store.check().unwrap().is_healthy());
    }

    /// The schema-2 database of tests/fixtures/db-v2, made by projetyd
    /// before roles and ACLs (see its README), opens with the default ACL
    /// on each of its users.
    #[test]
    fn a_schema_2_database_made_before_acls_opens_with_the_default_acls() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/db-v2");
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let users = store.users().unwrap();
        let names: Vec<&str> = users.iter().map(|(_, u)| u.nickname.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        for (id, _) in &users {
            let acls = store.acls_of(*id).unwrap();
            assert_eq!(acls.len(), 1, "user {id}: {acls:?}");
            assert_eq!(
                (acls[0].1.minions.as_str(), acls[0].1.functions.as_str()),
                DEFAULT_ACL
            );
        }
        assert!(store.check().unwrap().is_healthy());
        assert_eq!(
            store
                .create_user("carol", crate::store::test_hash(), 1)
                .unwrap()
                .0,
            3
        );
    }
}
