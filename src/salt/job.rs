//! Running one job the way Salt's own client does: subscribe to its jid,
//! publish it, collect returns, and decide that a silent minion is down only
//! after `saltutil.find_job` rounds (`timeout`, then `gather_job_timeout`).
//! Returns missed while the event bus was away are read from the master's
//! job cache at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rmpv::Value;
use tokio::time::Instant;

use super::events::Subscription;
use super::outcome::{JobOutcome, Progress, Return};
use super::wire::{self, Event};
use super::{cache, Error, Salt};

/// What to run, on whom, and how long to wait for silent minions.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub fun: String,
    pub arg: Vec<Value>,
    /// Exact minion ids (published with `tgt_type: list`).
    pub targets: Vec<String>,
    pub timeout: Duration,
    pub gather_job_timeout: Duration,
    /// The jid to use; a new one when `None`.
    pub jid: Option<String>,
    /// Re-attach to a job that may already have been published under
    /// `jid` (after a restart): if the master's job cache has it, collect
    /// its returns instead of publishing again; else publish it (minions
    /// ignore a jid they have already seen, so this is safe).
    pub attach: bool,
    /// Where the minions heard from so far are shown, if anyone watches.
    pub progress: Option<Progress>,
}

impl JobSpec {
    /// `fun` on `targets`, a new jid, no re-attach.
    pub fn new(fun: &str, targets: Vec<String>, timeout: Duration, gather_job_timeout: Duration) -> JobSpec {
        JobSpec {
            fun: fun.into(),
            arg: Vec::new(),
            targets,
            timeout,
            gather_job_timeout,
            jid: None,
            attach: false,
            progress: None,
        }
    }
}

/// A `saltutil.find_job` round in progress.
struct Check {
    sub: Subscription,
    asked: BTreeSet<String>,
    answered: BTreeSet<String>,
    /// Minions that said they are still running the job.
    running: BTreeSet<String>,
}

/// How often a running job checks whether the event bus reconnected.
const BUS_CHECK: Duration = Duration::from_millis(250);

impl Salt {
    /// Runs `spec` to completion (see the module doc).
    pub async fn run(&self, spec: &JobSpec) -> Result<JobOutcome, Error> {
        self.check_up()?;
        let jid = spec.jid.clone().unwrap_or_else(wire::new_jid);
        let mut sub = self.events.subscribe(&jid);
        let mut generation = self.events.generation();
        let mut returns = BTreeMap::new();
        let cached = match spec.attach {
            true => cache::expected(&self.config.cachedir, &jid).await,
            false => None,
        };
        let published = match cached {
            Some(minions) => {
                log::info!("re-attaching to job {jid} ({} minion(s))", minions.len());
                returns = cache::returns(&self.config.cachedir, &jid, &minions).await;
                super::Published {
                    minions,
                    missing: Vec::new(),
                }
            }
            None => self.publish(&spec.targets, &spec.fun, &spec.arg, &jid).await?,
        };
        let expected: BTreeSet<String> = published.minions.into_iter().collect();
        if let Some(progress) = &spec.progress {
            progress.start(&jid, &expected, &returns);
        }
        let start = Instant::now();
        let hard_deadline = start + self.options.max_job_time;
        let mut phase_until = start + spec.timeout;
        let mut check: Option<Check> = None;
        while !expected.iter().all(|m| returns.contains_key(m)) {
            tokio::select! {
                () = tokio::time::sleep(BUS_CHECK) => {
                    // Events sent while the bus was reconnecting are lost:
                    // look for those returns in the job cache at once.
                    if self.events.generation() != generation {
                        generation = self.events.generation();
                        let pending: Vec<String> =
                            expected.iter().filter(|m| !returns.contains_key(*m)).cloned().collect();
                        log::info!("event bus reconnected during job {jid}; reading the job cache");
                        returns.extend(cache::returns(&self.config.cachedir, &jid, &pending).await);
                    }
                }
                event = sub.events.recv() => match event {
                    Some(event) => {
                        if let (Some(id), Some(progress)) = (record_return(&event, &jid, &mut returns), &spec.progress) {
                            if let Some(ret) = returns.get(id) {
                                progress.returned(id, ret);
                            }
                        }
                    }
                    None => break,
                },
                event = next_check_event(&mut check) => {
                    if let (Some(event), Some(round)) = (event, check.as_mut()) {
                        record_check(&event, round);
                    }
                }
                () = tokio::time::sleep_until(phase_until.min(hard_deadline)) => {
                    let now = Instant::now();
                    if now >= hard_deadline {
                        break;
                    }
                    match check.take() {
                        None => {
                            let pending: Vec<String> =
                                expected.iter().filter(|m| !returns.contains_key(*m)).cloned().collect();
                            // A master that cannot take the find_job round
                            // is lost; its minions are not down.
                            check = Some(self.start_check(&jid, pending).await?);
                            phase_until = now + spec.gather_job_timeout;
                        }
                        Some(round) if !round.running.is_empty() => phase_until = now + spec.timeout,
                        Some(_) => break,
                    }
                }
            }
            // A round where every asked minion has answered need not wait
            // out gather_job_timeout.
            if let Some(round) = &check {
                let open = round
                    .asked
                    .iter()
                    .any(|m| !round.answered.contains(m) && !returns.contains_key(m));
                if !open {
                    if round.running.is_empty() {
                        break;
                    }
                    check = None;
                    phase_until = Instant::now() + spec.timeout;
                }
            }
        }
        let mut silent: Vec<String> = expected
            .into_iter()
            .filter(|m| !returns.contains_key(m))
            .collect();
        if !silent.is_empty() {
            let cached = cache::returns(&self.config.cachedir, &jid, &silent).await;
            silent.retain(|m| !cached.contains_key(m));
            returns.extend(cached);
        }
        // Silence heard while the master (or its event bus) is gone says
        // nothing about the minions.
        if !silent.is_empty() {
            if let Err(err) = self.check_up() {
                log::warn!(
                    "job {jid}: the master went away with {} minion(s) unheard: {err}",
                    silent.len()
                );
                return Err(Error::Down(format!("lost during job {jid}")));
            }
        }
        Ok(JobOutcome {
            jid,
            returns,
            missing: published.missing,
            silent,
        })
    }

    /// Asks `minions` to stop running `jid` (`saltutil.kill_job`), without
    /// waiting for their answers; the minions the master published to.
    pub async fn kill_job(&self, jid: &str, minions: &[String]) -> Result<Vec<String>, Error> {
        self.check_up()?;
        let arg = [Value::from(jid)];
        let published = self
            .publish(minions, "saltutil.kill_job", &arg, &wire::new_jid())
            .await?;
        log::info!(
            "job {jid}: kill_job sent to {} minion(s)",
            published.minions.len()
        );
        Ok(published.minions)
    }

    /// Publishes `saltutil.find_job <jid>` to `pending`; an error means the
    /// master cannot be asked, so nothing can be said about the minions.
    async fn start_check(&self, jid: &str, pending: Vec<String>) -> Result<Check, Error> {
        let check_jid = wire::new_jid();
        let sub = self.events.subscribe(&check_jid);
        let arg = [Value::from(jid)];
        match self
            .publish(&pending, "saltutil.find_job", &arg, &check_jid)
            .await
        {
            Ok(published) => Ok(Check {
                sub,
                asked: published.minions.into_iter().collect(),
                answered: BTreeSet::new(),
                running: BTreeSet::new(),
            }),
            Err(err) => {
                log::warn!("find_job for {jid} failed: {err}");
                Err(match err {
                    Error::Down(_) | Error::Timeout | Error::Busy => {
                        Error::Down(format!("lost during job {jid}"))
                    }
                    other => other,
                })
            }
        }
    }
}

async fn next_check_event(check: &mut Option<Check>) -> Option<Event> {
    match check {
        Some(round) => round.sub.events.recv().await,
        None => std::future::pending().await,
    }
}

/// The minion id of a `salt/job/<jid>/ret/<id>` tag.
fn returner<'t>(tag: &'t str, jid: &str) -> Option<&'t str> {
    tag.strip_prefix("salt/job/")?
        .strip_prefix(jid)?
        .strip_prefix("/ret/")
        .filter(|id| !id.is_empty())
}

/// Records the return `event` carries, if it is one of `jid`'s; the id.
fn record_return<'e>(event: &'e Event, jid: &str, returns: &mut BTreeMap<String, Return>) -> Option<&'e str> {
    let id = returner(&event.tag, jid)?;
    returns.insert(id.to_owned(), Return::from_data(&event.data));
    Some(id)
}

fn record_check(event: &Event, round: &mut Check) {
    let Some(rest) = event.tag.strip_prefix("salt/job/") else {
        return;
    };
    let Some((_, id)) = rest.split_once("/ret/") else {
        return;
    };
    let ret = Return::from_data(&event.data);
    round.answered.insert(id.to_owned());
    let busy = ret.retcode == 0 && ret.value.as_map().is_some_and(|m| !m.is_empty());
    if busy {
        round.running.insert(id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_tags() {
        assert_eq!(returner("salt/job/123/ret/m1", "123"), Some("m1"));
        assert_eq!(returner("salt/job/123/ret/", "123"), None);
        assert_eq!(returner("salt/job/1234/ret/m1", "123"), None);
        assert_eq!(returner("salt/job/123/new", "123"), None);
    }
}
