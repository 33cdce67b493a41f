//! Users: ids counted from 1 and never reused, the unique name index, and
//! what changes with a user (password, deletion, `last_seen_at`).

use sled::transaction::Transactional;

use super::*;

impl Trees {
    /// Creates a user with the next free id, and its default ACL
    /// ([`access::DEFAULT_ACL`]) in the same transaction; `AlreadyExists`
    /// if the nickname is taken.
    pub fn create_user(
        &self,
        nickname: &str,
        password: PasswordHash,
        now: u64,
    ) -> Result<(u64, User), Error> {
        let user = User {
            nickname: nickname.into(),
            password,
            created_at: now,
            updated_at: now,
            last_seen_at: None,
            roles: Vec::new(),
        };
        let value = codec::encode(&user)?;
        let (minions, functions) = access::DEFAULT_ACL;
        let _guard = self.lock();
        let trees = (
            &self.users,
            &self.user_names,
            &self.meta,
            &self.acls,
            &self.user_acls,
        );
        let id = trees.transaction(|(users, names, meta, acls, user_acls)| {
            if names.get(nickname)?.is_some() {
                return abort(Error::AlreadyExists {
                    what: "user",
                    key: nickname.into(),
                });
            }
            let id = match meta.get(NEXT_USER_ID)? {
                Some(raw) => decode_id(META, NEXT_USER_ID, &raw).or_else(abort)?,
                None => 1,
            };
            meta.insert(NEXT_USER_ID, &(id + 1).to_be_bytes())?;
            users.insert(&id.to_be_bytes(), value.as_slice())?;
            names.insert(nickname, &id.to_be_bytes())?;
            access::insert_acl((acls, user_acls, meta), id, minions, functions)?;
            Ok(id)
        });
        Ok((unwrap_tx(id)?, user))
    }

    /// The user with this id, if any.
    pub fn user(&self, id: u64) -> Result<Option<User>, Error> {
        let key = id.to_be_bytes();
        match self.users.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(USERS, &key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The user with this nickname and its id, if any.
    pub fn user_by_name(&self, nickname: &str) -> Result<Option<(u64, User)>, Error> {
        let Some(raw) = self.user_names.get(nickname)? else {
            return Ok(None);
        };
        let id = decode_id(USER_NAMES, nickname.as_bytes(), &raw)?;
        match self.user(id)? {
            Some(user) => Ok(Some((id, user))),
            None => Err(Error::Corrupt {
                tree: USER_NAMES,
                key: nickname.into(),
                reason: format!("points at missing user {id}"),
            }),
        }
    }

    /// All users, in id order.
    pub fn users(&self) -> Result<Vec<(u64, User)>, Error> {
        self.users
            .iter()
            .map(|entry| {
                let (key, bytes) = entry?;
                let id = decode_id(USERS, &key, &key)?;
                Ok((id, codec::decode(USERS, &key, &bytes)?))
            })
            .collect()
    }

    /// Replaces a user's password and revokes all of its tokens; returns the
    /// user's id and how many tokens were revoked.
    pub fn set_password(
        &self,
        nickname: &str,
        password: PasswordHash,
        now: u64,
    ) -> Result<(u64, usize), Error> {
        let _guard = self.lock();
        let (id, user) = self.user_by_name(nickname)?.ok_or_else(|| Error::NotFound {
            what: "user",
            key: nickname.into(),
        })?;
        Ok((id, self.change_password(id, user, password, now)?))
    }

    /// Replaces the password of user `id` and revokes all of its tokens;
    /// returns the user's nickname and how many tokens were revoked.
    pub fn set_password_of(
        &self,
        id: u64,
        password: PasswordHash,
        now: u64,
    ) -> Result<(String, usize), Error> {
        let _guard = self.lock();
        let user = self.user(id)?.ok_or_else(|| Error::NotFound {
            what: "user id",
            key: id.to_string(),
        })?;
        let nickname = user.nickname.clone();
        Ok((nickname, self.change_password(id, user, password, now)?))
    }

    /// `set_password`'s write, under the write lock.
    fn change_password(
        &self,
        id: u64,
        mut user: User,
        password: PasswordHash,
        now: u64,
    ) -> Result<usize, Error> {
        user.password = password;
        user.updated_at = now;
        let value = codec::encode(&user)?;
        let hashes = self.token_hashes_of(id)?;
        let result =
            (&self.users, &self.tokens, &self.user_tokens).transaction(|(users, tokens, by_user)| {
                users.insert(&id.to_be_bytes(), value.as_slice())?;
                for hash in &hashes {
                    tokens.remove(hash.as_slice())?;
                    by_user.remove(user_token_key(id, hash))?;
                }
                Ok(())
            });
        unwrap_tx(result)?;
        Ok(hashes.len())
    }

    /// Deletes a user, its name and all of its tokens, roles and ACLs;
    /// returns its id.
    pub fn delete_user(&self, nickname: &str) -> Result<u64, Error> {
        let _guard = self.lock();
        let (id, _) = self.user_by_name(nickname)?.ok_or_else(|| Error::NotFound {
            what: "user",
            key: nickname.into(),
        })?;
        self.remove_user(id, nickname)?;
        Ok(id)
    }

    /// Deletes user `id`, its name and all of its tokens, roles and ACLs;
    /// returns the user it was.
    pub fn delete_user_id(&self, id: u64) -> Result<User, Error> {
        let _guard = self.lock();
        let user = self.user(id)?.ok_or_else(|| Error::NotFound {
            what: "user id",
            key: id.to_string(),
        })?;
        self.remove_user(id, &user.nickname)?;
        Ok(user)
    }

    /// `delete_user`'s write, under the write lock.
    fn remove_user(&self, id: u64, nickname: &str) -> Result<(), Error> {
        let hashes = self.token_hashes_of(id)?;
        let access = self.access_of(id)?;
        let trees = (
            &self.users,
            &self.user_names,
            &self.tokens,
            &self.user_tokens,
            &self.roles,
            &self.user_roles,
            &self.acls,
            &self.user_acls,
            &self.meta,
        );
        let result = trees.transaction(
            |(users, names, tokens, by_user, roles, user_roles, acls, user_acls, meta)| {
                users.remove(&id.to_be_bytes())?;
                names.remove(nickname)?;
                for hash in &hashes {
                    tokens.remove(hash.as_slice())?;
                    by_user.remove(user_token_key(id, hash))?;
                }
                access.remove((roles, user_roles, acls, user_acls))?;
                // Its ACLs go even if it held none: a cache keyed by the
                // generation must not keep serving a deleted user's set.
                access::bump_generation(meta)
            },
        );
        unwrap_tx(result)
    }

    /// Records `last_seen_at` for several users at once (the coalesced
    /// writes of `auth::LastSeen`). Users deleted meanwhile are skipped.
    pub fn record_last_seen(&self, seen: &[(u64, u64)]) -> Result<(), Error> {
        for &(id, at) in seen {
            let key = id.to_be_bytes();
            // Read-modify-write in a CAS loop: an admin change to the same
            // user between the read and the write is kept, not overwritten.
            loop {
                let Some(old) = self.users.get(key)? else {
                    break;
                };
                let mut user: User = codec::decode(USERS, &key, &old)?;
                if user.last_seen_at >= Some(at) {
                    break;
                }
                user.last_seen_at = Some(at);
                let new = codec::encode(&user)?;
                if self.users.compare_and_swap(key, Some(old), Some(new))?.is_ok() {
                    break;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{test_hash as hash, test_token as token};

    #[test]
    fn ids_count_from_one_and_names_are_unique() {
        let store = Store::temporary().unwrap();
        assert_eq!(store.create_user("alice", hash(), 5).unwrap().0, 1);
        assert_eq!(store.create_user("bob", hash(), 5).unwrap().0, 2);
        let err = store.create_user("alice", hash(), 6).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(store.user_by_name("bob").unwrap().unwrap().0, 2);
        assert_eq!(store.users().unwrap().len(), 2);
    }

    #[test]
    fn deleting_a_user_frees_its_name_and_revokes_its_tokens() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        store.insert_token(&[1; 32], token(id, 100)).unwrap();
        assert_eq!(store.delete_user("alice").unwrap(), id);
        assert!(store.token(&[1; 32]).unwrap().is_none());
        assert!(store.user(id).unwrap().is_none());
        let (new_id, _) = store.create_user("alice", hash(), 6).unwrap();
        assert_ne!(new_id, id, "ids are never reused");
        assert!(matches!(store.delete_user("nobody"), Err(Error::NotFound { .. })));
    }

    #[test]
    fn password_change_revokes_only_that_users_tokens() {
        let store = Store::temporary().unwrap();
        let (a, _) = store.create_user("alice", hash(), 5).unwrap();
        let (b, _) = store.create_user("bob", hash(), 5).unwrap();
        store.insert_token(&[1; 32], token(a, 100)).unwrap();
        store.insert_token(&[2; 32], token(a, 100)).unwrap();
        store.insert_token(&[3; 32], token(b, 100)).unwrap();
        assert_eq!(store.set_password("alice", hash(), 9).unwrap(), (a, 2));
        assert!(store.token(&[1; 32]).unwrap().is_none());
        assert!(store.token(&[3; 32]).unwrap().is_some());
        assert_eq!(store.user(a).unwrap().unwrap().updated_at, 9);
    }

    #[test]
    fn last_seen_only_moves_forward() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        store.record_last_seen(&[(id, 50), (999, 50)]).unwrap();
        store.record_last_seen(&[(id, 40)]).unwrap();
        assert_eq!(store.user(id).unwrap().unwrap().last_seen_at, Some(50));
    }
}
