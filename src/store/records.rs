//! The typed records kept in the database and their format versions.
//!
//! Changing a struct here means raising its `VERSION` and teaching
//! `codec::decode` callers to read the old version; `codec`'s pinned-layout
//! test is there to catch a change made by accident.

use serde::{Deserialize, Serialize};

use super::codec::Record;

/// A user of the API. Keyed by numeric id in `userid_user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub nickname: String,
    pub password: PasswordHash,
    pub created_at: u64,
    /// Changed when the record is changed by an administrator (password).
    pub updated_at: u64,
    /// Last successful authentication, written at most about once a minute.
    pub last_seen_at: Option<u64>,
    /// Unused and always empty: roles are records of their own
    /// (`roleid_role`). Kept so that version-1 user records still decode.
    pub roles: Vec<String>,
}

impl Record for User {
    const VERSION: u8 = 1;
}

/// PBKDF2-HMAC-SHA256 output with what is needed to check it again. The
/// iteration count is stored per user so that it can be raised later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub hash: Vec<u8>,
}

/// An issued API token. Keyed by the SHA-256 of the token in
/// `tokenhash_token`; the token itself is never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub user_id: u64,
    pub created_at: u64,
    pub expires_at: u64,
}

impl Record for Token {
    const VERSION: u8 = 1;
}

/// A role a user holds, keyed by role id in `roleid_role`. `admin` is the
/// one with meaning (see `access::ADMIN`); a user holds each name once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub user_id: u64,
    pub name: String,
}

impl Record for Role {
    const VERSION: u8 = 1;
}

/// What a user may run, as Salt's `publisher_acl`: `minions` is a glob on
/// minion ids (or `@runner`, `@wheel`, `@jobs`), `functions` a function
/// pattern. Keyed by ACL id in `aclid_acl`; matching is not done here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub user_id: u64,
    pub minions: String,
    pub functions: String,
}

impl Record for Acl {
    const VERSION: u8 = 1;
}
