//! Tokens, by the hash of their secret: issued under a per-user cap,
//! revoked one by one or all of a user's, purged once expired.

use sled::transaction::Transactional;

use super::*;

impl Trees {
    /// Stores a newly issued token (by its hash). Fails with `NotFound` if
    /// the user was deleted meanwhile.
    pub fn insert_token(&self, hash: &[u8; 32], token: Token) -> Result<(), Error> {
        let value = codec::encode(&token)?;
        let id = token.user_id;
        let _guard = self.lock();
        let oldest = self.tokens_past_cap(id)?;
        let result =
            (&self.users, &self.tokens, &self.user_tokens).transaction(|(users, tokens, by_user)| {
                if users.get(id.to_be_bytes())?.is_none() {
                    return abort(Error::NotFound {
                        what: "user id",
                        key: id.to_string(),
                    });
                }
                for old in &oldest {
                    tokens.remove(old.as_slice())?;
                    by_user.remove(user_token_key(id, old))?;
                }
                tokens.insert(hash.as_slice(), value.as_slice())?;
                by_user.insert(user_token_key(id, hash), &[])?;
                Ok(())
            });
        unwrap_tx(result)
    }

    /// The user's oldest tokens that must go so that one more fits under
    /// [`MAX_TOKENS_PER_USER`] (a login loop must not grow the database
    /// without bound). Called under the write lock.
    fn tokens_past_cap(&self, user_id: u64) -> Result<Vec<Vec<u8>>, Error> {
        let hashes = self.token_hashes_of(user_id)?;
        if hashes.len() < MAX_TOKENS_PER_USER {
            return Ok(Vec::new());
        }
        let mut aged = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let created = match self.tokens.get(&hash)? {
                Some(bytes) => codec::decode::<Token>(TOKENS, &hash, &bytes)?.created_at,
                None => 0,
            };
            aged.push((created, hash));
        }
        aged.sort();
        let excess = aged.len() + 1 - MAX_TOKENS_PER_USER;
        Ok(aged.into_iter().take(excess).map(|(_, hash)| hash).collect())
    }

    /// The token with this hash, if any (expired ones included: the caller
    /// checks expiry). One `get`: this is on every request's path.
    pub fn token(&self, hash: &[u8; 32]) -> Result<Option<Token>, Error> {
        match self.tokens.get(hash)? {
            Some(bytes) => Ok(Some(codec::decode(TOKENS, hash, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Removes one token; returns whether it existed.
    pub fn revoke_token(&self, hash: &[u8; 32]) -> Result<bool, Error> {
        let _guard = self.lock();
        let Some(token) = self.token(hash)? else {
            return Ok(false);
        };
        let result = (&self.tokens, &self.user_tokens).transaction(|(tokens, by_user)| {
            tokens.remove(hash.as_slice())?;
            by_user.remove(user_token_key(token.user_id, hash))?;
            Ok(())
        });
        unwrap_tx(result)?;
        Ok(true)
    }

    /// Removes every token that expired at or before `now`; returns how many.
    pub fn purge_expired_tokens(&self, now: u64) -> Result<usize, Error> {
        let mut expired = Vec::new();
        for entry in self.tokens.iter() {
            let (key, bytes) = entry?;
            let token: Token = codec::decode(TOKENS, &key, &bytes)?;
            if token.expires_at <= now {
                let hash: [u8; 32] = key.as_ref().try_into().map_err(|_| Error::Corrupt {
                    tree: TOKENS,
                    key: codec::hex(&key),
                    reason: "key is not a SHA-256".into(),
                })?;
                expired.push(hash);
            }
        }
        let mut removed = 0;
        for hash in &expired {
            if self.revoke_token(hash)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// How many tokens a user holds (for the admin listing and tests).
    pub fn token_count(&self, user_id: u64) -> Result<usize, Error> {
        Ok(self.token_hashes_of(user_id)?.len())
    }

    pub(super) fn token_hashes_of(&self, user_id: u64) -> Result<Vec<Vec<u8>>, Error> {
        self.user_tokens
            .scan_prefix(user_id.to_be_bytes())
            .map(|entry| Ok(entry?.0[8..].to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{test_hash as hash, test_token as token};

    #[test]
    fn token_for_deleted_user_is_refused() {
        let store = Store::temporary().unwrap();
        let err = store.insert_token(&[1; 32], token(42, 100)).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }

    #[test]
    fn issuing_past_the_cap_revokes_the_oldest_tokens() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        for i in 0..=MAX_TOKENS_PER_USER as u8 {
            let token = Token {
                user_id: id,
                created_at: u64::from(i),
                expires_at: 1000,
            };
            store.insert_token(&[i; 32], token).unwrap();
        }
        assert_eq!(store.token_count(id).unwrap(), MAX_TOKENS_PER_USER);
        assert!(store.token(&[0; 32]).unwrap().is_none(), "the oldest went");
        assert!(store.token(&[1; 32]).unwrap().is_some());
        assert!(store.token(&[MAX_TOKENS_PER_USER as u8; 32]).unwrap().is_some());
    }

    #[test]
    fn expired_tokens_are_purged() {
        let store = Store::temporary().unwrap();
        let (id, _) = store.create_user("alice", hash(), 5).unwrap();
        store.insert_token(&[1; 32], token(id, 10)).unwrap();
        store.insert_token(&[2; 32], token(id, 20)).unwrap();
        assert_eq!(store.purge_expired_tokens(10).unwrap(), 1);
        assert_eq!(store.token_count(id).unwrap(), 1);
        assert!(store.token(&[2; 32]).unwrap().is_some());
    }
}
