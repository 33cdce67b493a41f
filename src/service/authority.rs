//! The one authorization check: may this user run this function on these
//! exact minions? Every way to run something (sync, async, a task when it
//! runs, a task recovered after a restart, either API surface) asks
//! [`Authority::check`] before anything is published.
//!
//! A user's rights are its roles and ACLs (docs/api.md, "Roles and ACLs"):
//! an `admin` may run anything; anyone else needs, for **every** target,
//! an ACL whose `minions` glob matches it and whose `functions` pattern
//! matches the function. Rights are compiled once per user and kept until
//! the store's ACL generation moves (any role or ACL change).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Error;
use crate::store::Store;
use crate::sync::LockAnyway as _;
use crate::targeting::{AclSet, Class};

/// What one user may do.
#[derive(Debug)]
pub enum Rights {
    Admin,
    Acls(AclSet),
}

impl Rights {
    pub fn is_admin(&self) -> bool {
        matches!(self, Rights::Admin)
    }

    /// Whether `fun` is allowed on every one of `ids` (at least one).
    pub fn permits(&self, fun: &str, ids: &[String]) -> bool {
        match self {
            Rights::Admin => !ids.is_empty(),
            Rights::Acls(acls) => acls.permits(fun, ids).is_ok(),
        }
    }

    /// Whether a class function (`@runner`, `@wheel`, `@jobs`) is allowed.
    pub fn permits_class(&self, class: Class, fun: &str) -> bool {
        match self {
            Rights::Admin => true,
            Rights::Acls(acls) => acls.permits_class(class, fun),
        }
    }
}

/// Compiled rights by user, valid for one ACL generation.
pub struct Authority {
    store: Store,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    generation: u64,
    rights: HashMap<u64, Arc<Rights>>,
}

/// Users whose rights are kept compiled at once; past it the cache starts
/// again (a rebuild costs one read of a user's ACLs).
const MAX_CACHED: usize = 10_000;

impl Authority {
    pub fn new(store: Store) -> Authority {
        Authority {
            store,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// `user_id`'s rights as the store holds them now.
    pub fn rights(&self, user_id: u64) -> Result<Arc<Rights>, Error> {
        let generation = self.store.acl_generation()?;
        {
            let mut cache = self.cache.lock_anyway();
            if cache.generation != generation {
                cache.rights.clear();
                cache.generation = generation;
            }
            if let Some(rights) = cache.rights.get(&user_id) {
                return Ok(rights.clone());
            }
        }
        let rights = Arc::new(if self.store.is_admin(user_id)? {
            Rights::Admin
        } else {
            let acls = self.store.acls_of(user_id)?;
            let entries: Vec<(&str, &str)> = acls
                .iter()
                .map(|(_, acl)| (acl.minions.as_str(), acl.functions.as_str()))
                .collect();
            Rights::Acls(AclSet::compile(&entries))
        });
        let mut cache = self.cache.lock_anyway();
        if cache.generation == generation {
            if cache.rights.len() >= MAX_CACHED {
                cache.rights.clear();
            }
            cache.rights.insert(user_id, rights.clone());
        }
        Ok(rights)
    }

    /// `Forbidden` unless `user_id` may run `fun` on every one of
    /// `targets` (exact ids). The message names the first one refused.
    pub fn check(&self, user_id: u64, fun: &str, targets: &[String]) -> Result<(), Error> {
        match &*self.rights(user_id)? {
            Rights::Admin => Ok(()),
            Rights::Acls(acls) => acls.permits(fun, targets).map_err(|denied| {
                let target = match denied.minion {
                    Some(id) => id,
                    None => targets.join(","),
                };
                // Never the arguments: only who, what, and how wide.
                log::info!(
                    "user {user_id}: refused {fun} on {} minion(s) (not allowed on {target})",
                    targets.len()
                );
                Error::Forbidden(format!("you are not allowed to perform {fun} on {target}"))
            }),
        }
    }
}
