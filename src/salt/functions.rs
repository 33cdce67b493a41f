//! The execution functions the minions offer (`sys.list_functions`), kept
//! per minion and as one sorted union, refreshed in the background; and a
//! function's documentation (`sys.doc`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmpv::Value;

use super::{wire, Error, JobSpec, Salt};
use crate::sync::LockAnyway as _;

/// What the last listing found.
#[derive(Clone)]
struct Listing {
    at: Instant,
    /// Every function some minion offers, sorted.
    all: Arc<Vec<String>>,
    /// Each minion's own, sorted.
    by_minion: BTreeMap<String, Arc<Vec<String>>>,
}

#[derive(Default)]
pub(super) struct FunctionCache {
    listing: Mutex<Option<Listing>>,
    /// Single flight for refreshes.
    refreshing: tokio::sync::Mutex<()>,
}

impl Salt {
    /// The sorted execution functions the minions offer, from the cache
    /// the background loop keeps fresh; fetched now only if there is none.
    pub async fn functions(&self) -> Result<Arc<Vec<String>>, Error> {
        let cached = self.functions.listing.lock_anyway().clone();
        match cached {
            Some(listing) => Ok(listing.all),
            None => self.refresh_functions().await.map(|l| l.all),
        }
    }

    /// Whether `minion` may offer `fun`: its own cached list says; for a
    /// minion not listed yet (down at the last refresh, or new), a function
    /// some other minion offers may be, and the job itself will tell, so a
    /// run on a down minion waits once, not twice; otherwise the minion is
    /// asked now.
    pub async fn may_offer(&self, minion: &str, fun: &str) -> Result<bool, Error> {
        let known = {
            let listing = self.functions.listing.lock_anyway();
            listing.as_ref().and_then(|l| match l.by_minion.get(minion) {
                Some(own) => Some(contains(own, fun)),
                None => contains(&l.all, fun).then_some(true),
            })
        };
        match known {
            Some(known) => Ok(known),
            None => Ok(contains(&self.minion_functions(minion).await?, fun)),
        }
    }

    /// The sorted functions one minion offers: from the cache, else asked
    /// of that minion now (a minion accepted since the last refresh).
    pub async fn minion_functions(&self, minion: &str) -> Result<Arc<Vec<String>>, Error> {
        let cached = self
            .functions
            .listing
            .lock_anyway()
            .as_ref()
            .and_then(|l| l.by_minion.get(minion).cloned());
        if let Some(list) = cached {
            return Ok(list);
        }
        let outcome = self
            .run(&self.spec("sys.list_functions", vec![minion.to_owned()], Vec::new()))
            .await?;
        let list = outcome
            .returns
            .get(minion)
            .and_then(|ret| names(&ret.value))
            .ok_or_else(|| {
                Error::Unanswered(format!("minion {minion:?} did not list its functions in time"))
            })?;
        let list = Arc::new(list);
        if let Some(listing) = self.functions.listing.lock_anyway().as_mut() {
            listing.by_minion.insert(minion.to_owned(), list.clone());
        }
        Ok(list)
    }

    /// The documentation of `fun` on `minion` (`sys.doc`); `None` when the
    /// minion has none for it.
    pub async fn doc(&self, minion: &str, fun: &str) -> Result<Option<String>, Error> {
        let outcome = self
            .run(&self.spec("sys.doc", vec![minion.to_owned()], vec![Value::from(fun)]))
            .await?;
        let ret = outcome
            .returns
            .get(minion)
            .ok_or_else(|| Error::Unanswered(format!("minion {minion:?} did not answer sys.doc in time")))?;
        Ok(wire::get(&ret.value, fun).map(|doc| wire::text(doc).unwrap_or_default().to_owned()))
    }

    fn spec(&self, fun: &str, targets: Vec<String>, arg: Vec<Value>) -> JobSpec {
        JobSpec {
            arg,
            ..JobSpec::new(fun, targets, self.config.timeout, self.config.gather_job_timeout)
        }
    }

    async fn refresh_functions(&self) -> Result<Listing, Error> {
        let _single = self.functions.refreshing.lock().await;
        let previous = self.functions.listing.lock_anyway().clone();
        if let Some(listing) = &previous {
            if listing.at.elapsed() <= self.options.functions_ttl {
                return Ok(listing.clone()); // refreshed while this caller waited
            }
        }
        let keys = self.keys().await?;
        if keys.minions.is_empty() {
            return Err(Error::Master(
                "no accepted minion to ask for its functions".into(),
            ));
        }
        // Silent minions get find_job rounds like any job: a minion busy
        // loading its modules (the first sys.list_functions after a start
        // is slow) is waited for, a down one costs timeout + gather once.
        let outcome = self
            .run(&self.spec("sys.list_functions", keys.minions.clone(), Vec::new()))
            .await?;
        let mut by_minion: BTreeMap<String, Arc<Vec<String>>> = outcome
            .returns
            .iter()
            .filter_map(|(id, ret)| Some((id.clone(), Arc::new(names(&ret.value)?))))
            .collect();
        if by_minion.is_empty() {
            return Err(Error::Unanswered(format!(
                "none of {} minion(s) listed its functions in time",
                keys.minions.len()
            )));
        }
        // A minion silent this time keeps what it offered before, as long
        // as it is still accepted.
        if let Some(previous) = previous {
            for id in &keys.minions {
                if let Some(list) = previous.by_minion.get(id) {
                    by_minion.entry(id.clone()).or_insert_with(|| list.clone());
                }
            }
        }
        let all: BTreeSet<&String> = by_minion.values().flat_map(|list| list.iter()).collect();
        let listing = Listing {
            at: Instant::now(),
            all: Arc::new(all.into_iter().cloned().collect()),
            by_minion,
        };
        *self.functions.listing.lock_anyway() = Some(listing.clone());
        Ok(listing)
    }
}

/// A `sys.list_functions` return as a sorted list; `None` if it is not a
/// list of names (an error string from the minion).
fn names(value: &Value) -> Option<Vec<String>> {
    let items = value.as_array()?;
    let mut names: Vec<String> = items.iter().filter_map(wire::text).map(str::to_owned).collect();
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// Keeps the function lists fresh: fetched once the master answers, then
/// every `functions_ttl`; retried sooner after a failure.
pub(super) async fn refresh_loop(salt: std::sync::Weak<Salt>) {
    const RETRY: Duration = Duration::from_secs(10);
    // Give the health loop a moment to reach the master first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    loop {
        let Some(strong) = salt.upgrade() else { return };
        let wait = if strong.check_up().is_err() {
            RETRY
        } else {
            match strong.refresh_functions().await {
                Ok(listing) => {
                    log::debug!(
                        "{} Salt functions cached from {} minion(s)",
                        listing.all.len(),
                        listing.by_minion.len()
                    );
                    strong.options.functions_ttl
                }
                Err(err) => {
                    log::warn!("cannot list the minions' functions: {err}");
                    RETRY
                }
            }
        };
        drop(strong);
        tokio::time::sleep(wait).await;
    }
}

fn contains(sorted: &[String], fun: &str) -> bool {
    sorted.binary_search_by(|f| f.as_str().cmp(fun)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_sorted_and_an_error_string_is_not_one() {
        let value = Value::Array(vec![Value::from("b.x"), Value::from("a.y"), Value::from("b.x")]);
        assert_eq!(names(&value), Some(vec!["a.y".to_owned(), "b.x".to_owned()]));
        assert_eq!(
            names(&Value::from("'sys.list_functions' is not available.")),
            None
        );
    }
}
