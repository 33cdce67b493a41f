//! Roles and ACLs: what a user is (`admin` is the role with meaning) and
//! what it may run (a minion glob and a function pattern, as Salt's
//! `publisher_acl`). Stored and administered here; matching them against
//! a call is the service's business, which caches its compiled sets by
//! [`Trees::acl_generation`].
//!
//! Trees:
//! - `roleid_role`: role id (u64 BE) → [`Role`]
//! - `userrole_roleid`: user id ++ name → role id (a user holds a name once)
//! - `aclid_acl`: ACL id (u64 BE) → [`Acl`]
//! - `useracl_aclid`: user id ++ minions ++ 0 ++ functions → ACL id (no two
//!   identical ACLs for a user; fields have no control characters, so the
//!   0 byte cannot occur in them)
//! - `meta`: `next_role_id`, `next_acl_id` (from 1, never reused) and
//!   `acl_generation` (bumped by every change to roles or ACLs, in the
//!   transaction that makes it)
//!
//! Every write takes the store's write lock: `delete_user` lists a user's
//! roles and ACLs before its transaction, and one added in between must
//! not outlive its user.

use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use super::*;

pub(super) const ROLES: &str = "roleid_role";
pub(super) const USER_ROLES: &str = "userrole_roleid";
pub(super) const ACLS: &str = "aclid_acl";
pub(super) const USER_ACLS: &str = "useracl_aclid";
pub(super) const NEXT_ROLE_ID: &[u8] = b"next_role_id";
pub(super) const NEXT_ACL_ID: &[u8] = b"next_acl_id";
const ACL_GENERATION: &[u8] = b"acl_generation";

/// The role that lets a user manage users, roles and ACLs and run anything.
pub const ADMIN: &str = "admin";
/// Longest role name, in bytes (names are ASCII).
pub const MAX_ROLE_NAME: usize = 64;
/// Longest `minions` or `functions` of an ACL, in characters.
pub const MAX_ACL_FIELD: usize = 256;
/// The ACL every new user gets (api.md Part B): the seed README's flows
/// (`test.ping` anywhere) work for a fresh user; an admin may remove it.
pub const DEFAULT_ACL: (&str, &str) = ("*", "test.ping");

type TxResult<T> = Result<T, ConflictableTransactionError<Error>>;

/// A role name: 1 to 64 ASCII letters, digits, `_` and `-`.
pub fn check_role_name(name: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::Invalid {
        what: "role name",
        reason,
    };
    if name.is_empty() || name.len() > MAX_ROLE_NAME {
        return Err(invalid(format!(
            "{name:?} must be 1 to {MAX_ROLE_NAME} characters"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(invalid(format!(
            "{name:?} may hold only ASCII letters, digits, '_' and '-'"
        )));
    }
    Ok(())
}

/// An ACL field (`what` is `minions` or `functions`): 1 to 256
/// characters, no control characters.
pub fn check_acl_field(what: &'static str, value: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::Invalid { what, reason };
    let chars = value.chars().count();
    if chars == 0 || chars > MAX_ACL_FIELD {
        return Err(invalid(format!("must be 1 to {MAX_ACL_FIELD} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid("must not hold control characters".into()));
    }
    Ok(())
}

pub(super) fn role_key(user_id: u64, name: &str) -> Vec<u8> {
    [&user_id.to_be_bytes()[..], name.as_bytes()].concat()
}

pub(super) fn acl_key(user_id: u64, minions: &str, functions: &str) -> Vec<u8> {
    [
        &user_id.to_be_bytes()[..],
        minions.as_bytes(),
        &[0],
        functions.as_bytes(),
    ]
    .concat()
}

/// Takes the next id from the `meta` counter `key` (1 for a new one).
fn take_id(meta: &TransactionalTree, key: &'static [u8]) -> TxResult<u64> {
    let id = match meta.get(key)? {
        Some(raw) => decode_id(META, key, &raw).or_else(abort)?,
        None => 1,
    };
    meta.insert(key, &(id + 1).to_be_bytes())?;
    Ok(id)
}

/// Bumps `acl_generation`; every transaction that changes a role or an
/// ACL calls it, so a cache keyed by the generation is never stale.
pub(super) fn bump_generation(meta: &TransactionalTree) -> TxResult<()> {
    let now = match meta.get(ACL_GENERATION)? {
        Some(raw) => decode_id(META, ACL_GENERATION, &raw).or_else(abort)?,
        None => 0,
    };
    meta.insert(ACL_GENERATION, &(now + 1).to_be_bytes())?;
    Ok(())
}

/// Inserts an ACL for `user_id` inside a transaction; `AlreadyExists` if
/// the user holds an identical one. Shared by `create_acl`, `create_user`
/// (the default ACL) and the schema step that gives old users theirs.
pub(super) fn insert_acl(
    (acls, by_user, meta): (&TransactionalTree, &TransactionalTree, &TransactionalTree),
    user_id: u64,
    minions: &str,
    functions: &str,
) -> TxResult<u64> {
    let key = acl_key(user_id, minions, functions);
    if by_user.get(&key)?.is_some() {
        return abort(Error::AlreadyExists {
            what: "acl",
            key: format!("{minions} {functions}"),
        });
    }
    let record = Acl {
        user_id,
        minions: minions.into(),
        functions: functions.into(),
    };
    let value = codec::encode(&record).or_else(abort)?;
    let id = take_id(meta, NEXT_ACL_ID)?;
    acls.insert(&id.to_be_bytes(), value)?;
    by_user.insert(key, &id.to_be_bytes())?;
    bump_generation(meta)?;
    Ok(id)
}

fn user_must_exist(users: &TransactionalTree, user_id: u64) -> TxResult<()> {
    match users.get(user_id.to_be_bytes())? {
        Some(_) => Ok(()),
        None => abort(Error::NotFound {
            what: "user id",
            key: user_id.to_string(),
        }),
    }
}

fn not_found(what: &'static str, id: u64) -> Error {
    Error::NotFound {
        what,
        key: id.to_string(),
    }
}

impl Trees {
    /// Gives user `user_id` the role `name`; returns the role's id.
    /// `Invalid` for a bad name, `NotFound` for no such user,
    /// `AlreadyExists` if the user holds it already.
    pub fn create_role(&self, user_id: u64, name: &str) -> Result<u64, Error> {
        check_role_name(name)?;
        let value = codec::encode(&Role {
            user_id,
            name: name.into(),
        })?;
        let key = role_key(user_id, name);
        let _guard = self.lock();
        let result = (&self.users, &self.roles, &self.user_roles, &self.meta).transaction(
            |(users, roles, by_user, meta)| {
                user_must_exist(users, user_id)?;
                if by_user.get(&key)?.is_some() {
                    return abort(Error::AlreadyExists {
                        what: "role",
                        key: name.into(),
                    });
                }
                let id = take_id(meta, NEXT_ROLE_ID)?;
                roles.insert(&id.to_be_bytes(), value.as_slice())?;
                by_user.insert(key.as_slice(), &id.to_be_bytes())?;
                bump_generation(meta)?;
                Ok(id)
            },
        );
        unwrap_tx(result)
    }

    /// The role with this id, if any.
    pub fn role(&self, id: u64) -> Result<Option<Role>, Error> {
        let key = id.to_be_bytes();
        match self.roles.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(ROLES, &key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// A user's roles, in id order.
    pub fn roles_of(&self, user_id: u64) -> Result<Vec<(u64, Role)>, Error> {
        let ids = self.ids_of(&self.user_roles, USER_ROLES, user_id)?;
        let mut roles = Vec::with_capacity(ids.len());
        for id in ids {
            let role = self.role(id)?.ok_or_else(|| Error::Corrupt {
                tree: USER_ROLES,
                key: user_id.to_string(),
                reason: format!("points at missing role {id}"),
            })?;
            roles.push((id, role));
        }
        Ok(roles)
    }

    /// Renames a role (it stays its user's, under its id; the seed's `PUT`).
    /// `NotFound` if there is none with this id, `AlreadyExists` if its
    /// user holds a role of that name; the same name is a no-op.
    pub fn rename_role(&self, id: u64, name: &str) -> Result<(), Error> {
        check_role_name(name)?;
        let _guard = self.lock();
        let old = self.role(id)?.ok_or_else(|| not_found("role", id))?;
        if old.name == name {
            return Ok(());
        }
        let old_key = role_key(old.user_id, &old.name);
        let new_key = role_key(old.user_id, name);
        let value = codec::encode(&Role {
            user_id: old.user_id,
            name: name.into(),
        })?;
        let result = (&self.roles, &self.user_roles, &self.meta).transaction(|(roles, by_user, meta)| {
            if by_user.get(new_key.as_slice())?.is_some() {
                return abort(Error::AlreadyExists {
                    what: "role",
                    key: name.into(),
                });
            }
            roles.insert(&id.to_be_bytes(), value.as_slice())?;
            by_user.remove(old_key.as_slice())?;
            by_user.insert(new_key.as_slice(), &id.to_be_bytes())?;
            bump_generation(meta)
        });
        unwrap_tx(result)
    }

    /// Removes a role; `NotFound` if there is none with this id.
    pub fn delete_role(&self, id: u64) -> Result<(), Error> {
        let _guard = self.lock();
        let role = self.role(id)?.ok_or_else(|| not_found("role", id))?;
        let key = role_key(role.user_id, &role.name);
        let result = (&self.roles, &self.user_roles, &self.meta).transaction(|(roles, by_user, meta)| {
            roles.remove(&id.to_be_bytes())?;
            by_user.remove(key.as_slice())?;
            bump_generation(meta)
        });
        unwrap_tx(result)
    }

    /// Whether the user holds the `admin` role. One `get`: this is on the
    /// path of every administrative request.
    pub fn is_admin(&self, user_id: u64) -> Result<bool, Error> {
        Ok(self.user_roles.get(role_key(user_id, ADMIN))?.is_some())
    }

    /// Gives user `user_id` an ACL; returns its id. `Invalid` for a bad
    /// field, `NotFound` for no such user, `AlreadyExists` if the user
    /// holds an identical one.
    pub fn create_acl(&self, user_id: u64, minions: &str, functions: &str) -> Result<u64, Error> {
        check_acl_field("minions", minions)?;
        check_acl_field("functions", functions)?;
        let _guard = self.lock();
        let result = (&self.users, &self.acls, &self.user_acls, &self.meta).transaction(
            |(users, acls, by_user, meta)| {
                user_must_exist(users, user_id)?;
                insert_acl((acls, by_user, meta), user_id, minions, functions)
            },
        );
        unwrap_tx(result)
    }

    /// The ACL with this id, if any.
    pub fn acl(&self, id: u64) -> Result<Option<Acl>, Error> {
        let key = id.to_be_bytes();
        match self.acls.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(ACLS, &key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// A user's ACLs, in id order.
    pub fn acls_of(&self, user_id: u64) -> Result<Vec<(u64, Acl)>, Error> {
        let ids = self.ids_of(&self.user_acls, USER_ACLS, user_id)?;
        let mut acls = Vec::with_capacity(ids.len());
        for id in ids {
            let acl = self.acl(id)?.ok_or_else(|| Error::Corrupt {
                tree: USER_ACLS,
                key: user_id.to_string(),
                reason: format!("points at missing acl {id}"),
            })?;
            acls.push((id, acl));
        }
        Ok(acls)
    }

    /// Replaces an ACL's fields (it stays its user's, under its id).
    /// `NotFound` if there is none with this id, `AlreadyExists` if its
    /// user holds another identical one; unchanged fields are a no-op.
    pub fn update_acl(&self, id: u64, minions: &str, functions: &str) -> Result<(), Error> {
        check_acl_field("minions", minions)?;
        check_acl_field("functions", functions)?;
        let _guard = self.lock();
        let old = self.acl(id)?.ok_or_else(|| not_found("acl", id))?;
        if old.minions == minions && old.functions == functions {
            return Ok(());
        }
        let old_key = acl_key(old.user_id, &old.minions, &old.functions);
        let new_key = acl_key(old.user_id, minions, functions);
        let value = codec::encode(&Acl {
            user_id: old.user_id,
            minions: minions.into(),
            functions: functions.into(),
        })?;
        let result = (&self.acls, &self.user_acls, &self.meta).transaction(|(acls, by_user, meta)| {
            if by_user.get(new_key.as_slice())?.is_some() {
                return abort(Error::AlreadyExists {
                    what: "acl",
                    key: format!("{minions} {functions}"),
                });
            }
            acls.insert(&id.to_be_bytes(), value.as_slice())?;
            by_user.remove(old_key.as_slice())?;
            by_user.insert(new_key.as_slice(), &id.to_be_bytes())?;
            bump_generation(meta)
        });
        unwrap_tx(result)
    }

    /// Removes an ACL; `NotFound` if there is none with this id.
    pub fn delete_acl(&self, id: u64) -> Result<(), Error> {
        let _guard = self.lock();
        let acl = self.acl(id)?.ok_or_else(|| not_found("acl", id))?;
        let key = acl_key(acl.user_id, &acl.minions, &acl.functions);
        let result = (&self.acls, &self.user_acls, &self.meta).transaction(|(acls, by_user, meta)| {
            acls.remove(&id.to_be_bytes())?;
            by_user.remove(key.as_slice())?;
            bump_generation(meta)
        });
        unwrap_tx(result)
    }

    /// A counter bumped by every change to any role or ACL (a user's
    /// creation and deletion included), durable with the change: whoever
    /// caches what the ACLs compile to keys the cache by it.
    pub fn acl_generation(&self) -> Result<u64, Error> {
        match self.meta.get(ACL_GENERATION)? {
            Some(raw) => decode_id(META, ACL_GENERATION, &raw),
            None => Ok(0),
        }
    }

    /// Bumps `acl_generation` outside a transaction (`db repair`, `db
    /// restore`: the records changed wholesale).
    pub(super) fn bump_acl_generation(&self) -> Result<(), Error> {
        let now = self.acl_generation()?;
        self.meta.insert(ACL_GENERATION, &(now + 1).to_be_bytes())?;
        Ok(())
    }

    /// The ids an index (`userrole_roleid`, `useracl_aclid`) holds for a
    /// user, in id order.
    fn ids_of(&self, index: &Tree, name: &'static str, user_id: u64) -> Result<Vec<u64>, Error> {
        let mut ids = index
            .scan_prefix(user_id.to_be_bytes())
            .map(|entry| {
                let (key, raw) = entry?;
                decode_id(name, &key, &raw)
            })
            .collect::<Result<Vec<u64>, Error>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// The index keys and ids of a user's roles and ACLs, for
    /// `delete_user` (called under the write lock).
    pub(super) fn access_of(&self, user_id: u64) -> Result<Access, Error> {
        let entries = |index: &Tree, name: &'static str| {
            index
                .scan_prefix(user_id.to_be_bytes())
                .map(|entry| {
                    let (key, raw) = entry?;
                    Ok((key.to_vec(), decode_id(name, &key, &raw)?))
                })
                .collect::<Result<Vec<(Vec<u8>, u64)>, Error>>()
        };
        Ok(Access {
            roles: entries(&self.user_roles, USER_ROLES)?,
            acls: entries(&self.user_acls, USER_ACLS)?,
        })
    }
}

/// A user's roles and ACLs as (index key, id) pairs.
pub(super) struct Access {
    pub roles: Vec<(Vec<u8>, u64)>,
    pub acls: Vec<(Vec<u8>, u64)>,
}

impl Access {
    /// Removes them all inside a transaction.
    pub fn remove(
        &self,
        (roles, user_roles, acls, user_acls): (
            &TransactionalTree,
            &TransactionalTree,
            &TransactionalTree,
            &TransactionalTree,
        ),
    ) -> TxResult<()> {
        for (key, id) in &self.roles {
            roles.remove(&id.to_be_bytes())?;
            user_roles.remove(key.as_slice())?;
        }
        for (key, id) in &self.acls {
            acls.remove(&id.to_be_bytes())?;
            user_acls.remove(key.as_slice())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_hash as hash;

    fn store_with(names: &[&str]) -> (Store, Vec<u64>) {
        let store = Store::temporary().unwrap();
        let ids = names
            .iter()
            .map(|name| store.create_user(name, hash(), 1).unwrap().0)
            .collect();
        (store, ids)
    }

    #[test]
    fn roles_are_created_listed_and_deleted() {
        let (store, ids) = store_with(&["alice", "bob"]);
        let (a, b) = (ids[0], ids[1]);
        assert!(!store.is_admin(a).unwrap());
        let admin = store.create_role(a, "admin").unwrap();
        let ops = store.create_role(a, "ops-team_2").unwrap();
        store.create_role(b, "admin").unwrap();
        assert!(store.is_admin(a).unwrap());
        assert_eq!(
            store.role(admin).unwrap(),
            Some(Role {
                user_id: a,
                name: "admin".into()
            })
        );
        let names: Vec<(u64, String)> = store
            .roles_of(a)
            .unwrap()
            .into_iter()
            .map(|(id, r)| (id, r.name))
            .collect();
        assert_eq!(names, [(admin, "admin".into()), (ops, "ops-team_2".into())]);
        store.delete_role(admin).unwrap();
        assert!(!store.is_admin(a).unwrap());
        assert!(store.is_admin(b).unwrap(), "only alice's went");
        assert!(store.role(admin).unwrap().is_none());
        assert!(matches!(store.delete_role(admin), Err(Error::NotFound { .. })));
        // The name is free again; the id is not reused.
        assert!(store.create_role(a, "admin").unwrap() > ops);
    }

    #[test]
    fn a_role_is_renamed_in_place_and_its_index_follows() {
        let (store, users) = store_with(&["alice"]);
        let id = store.create_role(users[0], "ops").unwrap();
        store.create_role(users[0], "dev").unwrap();
        let before = store.acl_generation().unwrap();
        store.rename_role(id, "admin").unwrap();
        assert_eq!(store.role(id).unwrap().unwrap().name, "admin");
        assert!(store.is_admin(users[0]).unwrap());
        assert!(store.acl_generation().unwrap() > before);
        assert!(matches!(
            store.rename_role(id, "dev"),
            Err(Error::AlreadyExists { .. })
        ));
        assert!(matches!(
            store.rename_role(id, "bad name"),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(store.rename_role(999, "x"), Err(Error::NotFound { .. })));
        store.rename_role(id, "admin").unwrap();
        store.rename_role(id, "ops").unwrap();
        assert!(!store.is_admin(users[0]).unwrap());
        assert_eq!(store.check().unwrap().problems, Vec::<String>::new());
    }

    #[test]
    fn a_role_is_held_once_by_a_user_that_exists_with_a_valid_name() {
        let (store, ids) = store_with(&["alice"]);
        store.create_role(ids[0], "admin").unwrap();
        let err = store.create_role(ids[0], "admin").unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { what: "role", .. }), "{err}");
        let err = store.create_role(99, "admin").unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let long = "a".repeat(MAX_ROLE_NAME + 1);
        for bad in ["", "a b", "a.b", "é", "a\0", long.as_str()] {
            let err = store.create_role(ids[0], bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        what: "role name",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
        assert!(store.create_role(ids[0], &"a".repeat(MAX_ROLE_NAME)).is_ok());
        assert_eq!(store.roles_of(ids[0]).unwrap().len(), 2);
    }

    #[test]
    fn a_new_user_has_the_default_acl() {
        let (store, ids) = store_with(&["alice"]);
        let acls = store.acls_of(ids[0]).unwrap();
        assert_eq!(acls.len(), 1);
        let (_, acl) = &acls[0];
        assert_eq!(
            (acl.user_id, acl.minions.as_str(), acl.functions.as_str()),
            (ids[0], DEFAULT_ACL.0, DEFAULT_ACL.1)
        );
    }

    #[test]
    fn acls_are_created_updated_and_deleted() {
        let (store, ids) = store_with(&["alice", "bob"]);
        let (a, b) = (ids[0], ids[1]);
        let web = store.create_acl(a, "web*", "pkg.*").unwrap();
        let runner = store.create_acl(a, "@runner", "jobs.list_jobs").unwrap();
        // Another user may hold the same one.
        store.create_acl(b, "web*", "pkg.*").unwrap();
        let err = store.create_acl(a, "web*", "pkg.*").unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { what: "acl", .. }), "{err}");
        let listed: Vec<u64> = store.acls_of(a).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(listed.len(), 3, "the default ACL and two");
        assert_eq!(&listed[1..], [web, runner]);
        store.update_acl(web, "web*", "test.*").unwrap();
        assert_eq!(store.acl(web).unwrap().unwrap().functions, "test.*");
        // The old pair is free, the new one taken.
        store.create_acl(a, "web*", "pkg.*").unwrap();
        let err = store.update_acl(runner, "web*", "test.*").unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        store.update_acl(web, "web*", "test.*").unwrap();
        store.delete_acl(web).unwrap();
        assert!(store.acl(web).unwrap().is_none());
        assert!(matches!(store.delete_acl(web), Err(Error::NotFound { .. })));
        assert!(matches!(
            store.update_acl(web, "a", "b"),
            Err(Error::NotFound { .. })
        ));
        assert!(store.check().unwrap().is_healthy());
    }

    #[test]
    fn acl_fields_are_checked() {
        let (store, ids) = store_with(&["alice"]);
        let long = "x".repeat(MAX_ACL_FIELD + 1);
        for (minions, functions, field) in [
            ("", "test.ping", "minions"),
            ("*", "", "functions"),
            ("a\nb", "test.ping", "minions"),
            ("*", "test\0ping", "functions"),
            (long.as_str(), "test.ping", "minions"),
        ] {
            let err = store.create_acl(ids[0], minions, functions).unwrap_err();
            assert!(
                matches!(err, Error::Invalid { what, .. } if what == field),
                "{minions:?} {functions:?}: {err}"
            );
        }
        let most = "é".repeat(MAX_ACL_FIELD);
        store.create_acl(ids[0], &most, "test.*").unwrap();
        assert!(matches!(
            store.create_acl(42, "*", "x"),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn every_change_bumps_the_generation() {
        let store = Store::temporary().unwrap();
        let mut last = store.acl_generation().unwrap();
        let mut bumped = |store: &Store| {
            let now = store.acl_generation().unwrap();
            assert!(now > last, "{now} after {last}");
            last = now;
        };
        let (a, _) = store.create_user("alice", hash(), 1).unwrap();
        bumped(&store);
        let role = store.create_role(a, "admin").unwrap();
        bumped(&store);
        store.delete_role(role).unwrap();
        bumped(&store);
        let acl = store.create_acl(a, "m", "f").unwrap();
        bumped(&store);
        store.update_acl(acl, "m", "g").unwrap();
        bumped(&store);
        store.delete_acl(acl).unwrap();
        bumped(&store);
        store.delete_user("alice").unwrap();
        bumped(&store);
    }

    #[test]
    fn deleting_a_user_deletes_its_roles_and_acls() {
        let (store, ids) = store_with(&["alice", "bob"]);
        let (a, b) = (ids[0], ids[1]);
        let role = store.create_role(a, "admin").unwrap();
        let acl = store.create_acl(a, "web*", "pkg.*").unwrap();
        store.create_role(b, "admin").unwrap();
        store.delete_user("alice").unwrap();
        assert!(store.role(role).unwrap().is_none());
        assert!(store.acl(acl).unwrap().is_none());
        assert!(store.roles_of(a).unwrap().is_empty());
        assert!(store.acls_of(a).unwrap().is_empty());
        assert!(!store.is_admin(a).unwrap());
        assert!(store.is_admin(b).unwrap());
        assert_eq!(store.acls_of(b).unwrap().len(), 1);
        assert!(store.check().unwrap().is_healthy());
    }
}
