//! Who is calling: password logins (HTTP Basic, throttled, PBKDF2 on a
//! blocking thread), token issue and revocation, and the per-request Bearer
//! check (a SHA-256 and one database `get`, nothing slower).
//!
//! Knows the store, not HTTP: it takes raw header values and returns typed
//! outcomes that `http` turns into responses.

pub mod header;
pub mod password;
pub mod throttle;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::store::{self, Store, Token};
use crate::sync::LockAnyway as _;
use crate::unix_now;

/// Why a caller was not let in, or could not be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("too many failed logins; retry in {} s", retry_after.as_secs())]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Random(#[from] password::RandomError),
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What every bad token is told, whatever was wrong with it.
const INVALID_TOKEN: &str = "invalid or expired token";

/// A caller that presented a valid token.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: u64,
    /// The hash of the token used, so that `DELETE /tokens` can revoke it.
    pub token_hash: [u8; 32],
}

/// A freshly issued token; `text` is shown to the client once.
pub struct Issued {
    pub text: String,
    pub expires_at: u64,
}

/// Allowed user names: 1 to 64 characters, ASCII letters, digits, `.`, `_`
/// and `-`, not starting with `.` or `-`. This keeps names safe in URLs,
/// shell commands, log lines and HTTP Basic (no `:`).
pub fn check_nickname(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 {
        return Err(format!("invalid user name {name:?}: must be 1 to 64 characters"));
    }
    if !name.chars().all(ok_char) || name.starts_with(['.', '-']) {
        return Err(format!(
            "invalid user name {name:?}: use ASCII letters, digits, '.', '_' and '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

/// An attempt being checked; a failure unless `finish(true)` is called.
struct Pending<'t> {
    throttle: &'t throttle::Throttle,
    attempt: Option<throttle::Attempt>,
}

impl Pending<'_> {
    fn finish(&mut self, success: bool) {
        if let Some(attempt) = self.attempt.take() {
            self.throttle.finish(attempt, success, Instant::now());
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// The authentication service; one per daemon, shared by all requests.
pub struct Auth {
    store: Store,
    throttle: throttle::Throttle,
    /// `last_seen_at` values not yet written: the request path records here
    /// and the housekeeping loop writes them about once a minute.
    last_seen: Mutex<HashMap<u64, u64>>,
    /// Bounds concurrent PBKDF2 runs so a password-guessing flood cannot
    /// take every core from the rest of the daemon.
    hashing: Semaphore,
    /// One more PBKDF2 run at a time, only for (name, address) pairs that
    /// have logged in before: a returning user never queues behind a
    /// guessing flood spread over many addresses (each of which holds a
    /// place in `hashing`'s FIFO queue).
    known_hashing: Semaphore,
    /// Password logins by how they ended, for `/metrics`.
    logins: crate::metrics::Logins,
    /// One permit per client address with attempts in flight: its
    /// attempts are hashed one at a time (fairness across addresses).
    lanes: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

impl Auth {
    /// `logins` counts each password login by its result (one of
    /// [`crate::metrics::Metrics`]'s families, or a family of its own).
    pub fn new(
        store: Store,
        policy: throttle::Policy,
        hashing_threads: usize,
        logins: crate::metrics::Logins,
    ) -> Arc<Auth> {
        Arc::new(Auth {
            logins,
            store,
            throttle: throttle::Throttle::new(policy),
            last_seen: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(hashing_threads.max(1)),
            known_hashing: Semaphore::new(1),
            lanes: Mutex::new(HashMap::new()),
        })
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Arc<Semaphore>>> {
        // Handles only: a panic cannot leave the map torn.
        self.lanes.lock_anyway()
    }

    fn lane(&self, addr: IpAddr) -> Arc<Semaphore> {
        self.lanes()
            .entry(addr)
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone()
    }

    /// Forgets an address's lane once nobody else holds it.
    fn leave_lane(&self, addr: IpAddr, lane: Arc<Semaphore>) {
        let mut lanes = self.lanes();
        if lanes
            .get(&addr)
            .is_some_and(|l| Arc::ptr_eq(l, &lane) && Arc::strong_count(l) == 2)
        {
            lanes.remove(&addr);
        }
    }

    /// Checks a Bearer `Authorization` header value. Runs on the request
    /// path: one hash, one `get`, no PBKDF2 and no write.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Caller, Error> {
        let header = header.ok_or(Error::Unauthenticated(
            "this endpoint needs 'Authorization: Bearer <token>'; get a token with POST /api/v1.0/tokens",
        ))?;
        match header::bearer(header) {
            Some(text) => self.authenticate_token(text),
            None => Err(Error::Unauthenticated(INVALID_TOKEN)),
        }
    }

    /// Checks a token's text, however the request carried it (salt-api's
    /// `X-Auth-Token` header or `session_id` cookie, say): one hash, one
    /// `get`.
    pub fn authenticate_token(&self, text: &str) -> Result<Caller, Error> {
        if !token::well_formed(text) {
            return Err(Error::Unauthenticated(INVALID_TOKEN));
        }
        let hash = token::hash(text);
        let now = unix_now();
        match self.store.token(&hash)? {
            Some(Token {
                user_id, expires_at, ..
            }) if expires_at > now => {
                self.saw(user_id, now);
                Ok(Caller {
                    user_id,
                    token_hash: hash,
                })
            }
            _ => Err(Error::Unauthenticated(INVALID_TOKEN)),
        }
    }

    /// Whether the token `caller` used is still valid (not expired, not
    /// revoked): what a long-lived stream checks as it goes.
    pub fn still_valid(&self, caller: &Caller) -> bool {
        matches!(
            self.store.token(&caller.token_hash),
            Ok(Some(Token { expires_at, .. })) if expires_at > unix_now()
        )
    }

    /// Checks a Basic `Authorization` header value from `addr` and returns
    /// the user id. Throttled callers are refused before any hashing.
    pub async fn login(&self, header: Option<&[u8]>, addr: IpAddr) -> Result<u64, Error> {
        let header = header.ok_or(Error::Unauthenticated(
            "this endpoint needs HTTP Basic authentication with your user name and password",
        ))?;
        let basic =
            header::basic(header).ok_or(Error::Unauthenticated("malformed Basic authorization header"))?;
        self.login_with(basic, addr).await
    }

    /// Checks a user name and password from `addr` however the request
    /// gave them (salt-api's `/login` body, say), under the same throttle.
    pub async fn login_password(&self, user: &str, password: &str, addr: IpAddr) -> Result<u64, Error> {
        let basic = header::Basic {
            user: user.to_owned(),
            password: password.as_bytes().to_vec(),
        };
        self.login_with(basic, addr).await
    }

    /// Checks one login and counts it by its result.
    async fn login_with(&self, basic: header::Basic, addr: IpAddr) -> Result<u64, Error> {
        let outcome = self.check_login(basic, addr).await;
        crate::metrics::count_login(&self.logins, &outcome);
        outcome
    }

    async fn check_login(&self, basic: header::Basic, addr: IpAddr) -> Result<u64, Error> {
        let attempt = self
            .throttle
            .begin(&basic.user, addr, Instant::now())
            .map_err(|retry_after| Error::Throttled { retry_after })?;
        // Ends the attempt as a failure unless told otherwise, also when
        // this future is dropped mid-hash (the client went away).
        let known = attempt.known();
        let mut pending = Pending {
            throttle: &self.throttle,
            attempt: Some(attempt),
        };
        // One attempt per address is hashed at a time; the others of that
        // address wait here, not in the shared hashing queue.
        let lane = self.lane(addr);
        let turn = lane.clone().acquire_owned().await;
        let queue = if known { &self.known_hashing } else { &self.hashing };
        let user_id = self.check_password(queue, &basic).await;
        drop(turn);
        self.leave_lane(addr, lane);
        let user_id = user_id?;
        match user_id {
            Some(id) => {
                pending.finish(true);
                self.saw(id, unix_now());
                Ok(id)
            }
            // Same answer for an unknown user and a wrong password.
            None => Err(Error::Unauthenticated("invalid user name or password")),
        }
    }

    async fn check_password(&self, queue: &Semaphore, basic: &header::Basic) -> Result<Option<u64>, Error> {
        let _permit = queue
            .acquire()
            .await
            .expect("the hashing semaphore is never closed");
        let found = if check_nickname(&basic.user).is_ok() {
            let store = self.store.clone();
            let name = basic.user.clone();
            tokio::task::spawn_blocking(move || store.user_by_name(&name)).await??
        } else {
            None
        };
        let password = basic.password.clone();
        tokio::task::spawn_blocking(move || match found {
            Some((id, user)) => password::verify(&password, &user.password).then_some(id),
            None => {
                // Spend the same time as for a real user.
                password::verify(&password, &password::decoy());
                None
            }
        })
        .await
        .map_err(Error::from)
    }

    /// Issues a token for `user_id` valid for `lifetime` seconds, durable
    /// before it is returned.
    pub async fn issue(&self, user_id: u64, lifetime: u64) -> Result<Issued, Error> {
        let (text, hash) = token::mint()?;
        let now = unix_now();
        let record = Token {
            user_id,
            created_at: now,
            expires_at: now.saturating_add(lifetime),
        };
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store.insert_token(&hash, record)?;
            store.flush()
        })
        .await??;
        Ok(Issued {
            text,
            expires_at: record.expires_at,
        })
    }

    /// A new generated password and its hash, for a user created or
    /// reset over the API. PBKDF2 runs on a blocking thread, in turn with
    /// the logins (the same bound on concurrent hashing).
    pub async fn new_password(&self) -> Result<(String, store::PasswordHash), Error> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .expect("the hashing semaphore is never closed");
        tokio::task::spawn_blocking(|| {
            let text = password::generate()?;
            let hash = password::hash(&text, password::ITERATIONS)?;
            Ok((text, hash))
        })
        .await?
    }

    /// Revokes the token a caller used.
    pub async fn revoke(&self, caller: Caller) -> Result<(), Error> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store.revoke_token(&caller.token_hash)?;
            store.flush()
        })
        .await??;
        Ok(())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        // Plain values: a panic elsewhere cannot leave the map torn.
        self.last_seen.lock_anyway()
    }

    fn saw(&self, user_id: u64, now: u64) {
        let mut pending = self.pending();
        let at = pending.entry(user_id).or_insert(now);
        *at = (*at).max(now);
    }

    /// The newest `last_seen_at` for a user: a pending value if there is
    /// one, else what the store holds.
    pub fn last_seen(&self, user_id: u64, stored: Option<u64>) -> Option<u64> {
        let pending = self.pending().get(&user_id).copied();
        pending.max(stored)
    }

    /// Writes pending `last_seen_at` values, drops expired tokens and
    /// forgets quiet throttle entries. Blocking: run it off the runtime.
    pub fn housekeeping(&self) -> Result<(), store::Error> {
        let seen: Vec<(u64, u64)> = self.pending().iter().map(|(&id, &at)| (id, at)).collect();
        self.store.record_last_seen(&seen)?;
        {
            // Forget only what was written; a newer sighting stays pending.
            let mut pending = self.pending();
            for (id, at) in seen {
                if pending.get(&id) == Some(&at) {
                    pending.remove(&id);
                }
            }
        }
        let purged = self.store.purge_expired_tokens(unix_now())?;
        if purged > 0 {
            log::debug!("removed {purged} expired tokens");
        }
        self.throttle.prune(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames() {
        for ok in ["alice", "a", "Bob_2", "svc.deploy-1", "_x", &"a".repeat(64)] {
            assert_eq!(check_nickname(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".x",
            "-x",
            "a:b",
            "a b",
            "é",
            "a/b",
            "a\n",
            "*",
            &"a".repeat(65),
        ] {
            assert!(check_nickname(bad).is_err(), "{bad:?}");
        }
    }

    fn auth_with_user(password: &str) -> (Arc<Auth>, u64) {
        let store = Store::temporary().unwrap();
        let (id, _) = store
            .create_user("alice", password::hash(password, 1_000).unwrap(), 1)
            .unwrap();
        (
            Auth::new(store, throttle::Policy::default(), 1, Default::default()),
            id,
        )
    }

    fn basic(user: &str, pw: &str) -> Vec<u8> {
        use base64::Engine as _;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        format!("Basic {creds}").into_bytes()
    }

    const ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn login_issue_authenticate_revoke() {
        let (auth, id) = auth_with_user("pw");
        assert_eq!(auth.login(Some(&basic("alice", "pw")), ADDR).await.unwrap(), id);
        let issued = auth.issue(id, 60).await.unwrap();
        let header = format!("Bearer {}", issued.text);
        let caller = auth.authenticate(Some(header.as_bytes())).unwrap();
        assert_eq!(caller.user_id, id);
        assert!(auth.last_seen(id, None).is_some());
        auth.revoke(caller).await.unwrap();
        assert!(matches!(
            auth.authenticate(Some(header.as_bytes())),
            Err(Error::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_user_look_the_same() {
        let (auth, _) = auth_with_user("pw");
        let a = auth.login(Some(&basic("alice", "nope")), ADDR).await.unwrap_err();
        let b = auth.login(Some(&basic("mallory", "pw")), ADDR).await.unwrap_err();
        assert_eq!(a.to_string(), b.to_string());
    }

    #[tokio::test]
    async fn expired_token_is_refused() {
        let (auth, id) = auth_with_user("pw");
        let issued = auth.issue(id, 0).await.unwrap();
        let header = format!("Bearer {}", issued.text);
        assert!(auth.authenticate(Some(header.as_bytes())).is_err());
        auth.housekeeping().unwrap();
        assert_eq!(auth.store.token_count(id).unwrap(), 0);
    }

    #[tokio::test]
    async fn housekeeping_writes_last_seen() {
        let (auth, id) = auth_with_user("pw");
        auth.saw(id, 1234);
        auth.housekeeping().unwrap();
        assert_eq!(auth.store.user(id).unwrap().unwrap().last_seen_at, Some(1234));
        assert!(auth.pending().is_empty());
    }
}
