//! Running a validated job on the master: the one place a job is
//! published (for the sync call and for the pool's executor alike), its
//! returns turned into an [`Outcome`], and the re-check of keys a task
//! makes when it runs.

use std::collections::BTreeMap;

use rmpv::Value;

use super::{Error, JobRequest, Outcome, TaskKind};
use crate::salt::{json, JobSpec, Progress, Salt};
use crate::store::MinionResult;

/// Runs `job` under `jid` (a new one when `None`; `attach` after a
/// restart), and reads its returns, for each target that is not missing:
/// for a ping, `true` for a minion that answered and `false` for one that
/// did not answer in time; for any other function, what each minion
/// returned, or that it never did.
pub(super) async fn run(
    salt: &Salt,
    job: &JobRequest,
    jid: Option<String>,
    attach: bool,
    progress: Option<Progress>,
) -> Result<Outcome, Error> {
    let args = job
        .args
        .iter()
        .map(|text| stored_json(text))
        .collect::<Result<Vec<_>, _>>()?;
    let kwargs = job
        .kwargs
        .iter()
        .map(|(name, text)| Ok((name.clone(), stored_json(text)?)))
        .collect::<Result<BTreeMap<_, _>, Error>>()?;
    let spec = JobSpec {
        jid,
        attach,
        arg: json::call_args(&args, &kwargs),
        progress,
        ..JobSpec::new(
            &job.function,
            job.targets.clone(),
            job.timeout,
            salt.master().gather_job_timeout,
        )
    };
    // Never the arguments: they may hold secrets (a password to
    // `user.present`, a token in `cmd.run`).
    log::debug!(
        "user {}: {} on {} minion(s), {} argument(s)",
        job.user_id,
        job.function,
        job.targets.len(),
        job.args.len() + job.kwargs.len()
    );
    let outcome = salt.run(&spec).await?;
    let targets = job.targets.iter().filter(|id| !outcome.missing.contains(id));
    Ok(match job.kind {
        TaskKind::Ping => Outcome::Returned(
            targets
                .map(|id| {
                    let up = outcome
                        .returns
                        .get(id)
                        .is_some_and(|r| r.value == Value::Boolean(true));
                    (id.clone(), up.to_string())
                })
                .collect(),
        ),
        TaskKind::Run { .. } => {
            let results: BTreeMap<String, MinionResult> = targets
                .map(|id| {
                    let result = match outcome.returns.get(id) {
                        Some(ret) => MinionResult::Returned {
                            value: json::to_json(&ret.value).to_string(),
                            retcode: ret.retcode,
                            success: ret.success,
                            exception: ret.is_exception(),
                        },
                        None => MinionResult::Silent,
                    };
                    (id.clone(), result)
                })
                .collect();
            log_outcome(job, &results);
            Outcome::Ran(results)
        }
    })
}

/// One line per run of any function (pings, which dashboards send every
/// few seconds, are left to the access log): who, what, how many minions,
/// how it went. Never the arguments or the returns.
fn log_outcome(job: &JobRequest, results: &BTreeMap<String, MinionResult>) {
    let (mut ok, mut failed, mut silent) = (0, 0, 0);
    for result in results.values() {
        match result {
            MinionResult::Returned { success: true, .. } => ok += 1,
            MinionResult::Returned { .. } => failed += 1,
            MinionResult::Silent => silent += 1,
        }
    }
    log::info!(
        "user {}: {} on {} minion(s): {ok} succeeded, {failed} failed, {silent} silent",
        job.user_id,
        job.function,
        job.targets.len()
    );
}

/// An argument as the request gave it and the task record holds it.
fn stored_json(text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text)
        .map_err(|err| Error::Internal(format!("an argument does not decode: {err}").into()))
}

/// The same job, keeping only the targets that are accepted keys now: a
/// task runs as the synchronous call would at the time it runs, so a key
/// removed after the task was accepted is a `NotFound`, not a `false`.
pub(super) async fn still_accepted(salt: &Salt, mut job: JobRequest) -> Result<JobRequest, Error> {
    let keys = salt.keys().await?;
    let (known, unknown): (Vec<String>, Vec<String>) =
        job.targets.into_iter().partition(|id| keys.is_accepted(id));
    match (known.is_empty(), unknown.as_slice()) {
        (true, [one]) => Err(Error::NotFound(format!("minion {one:?} is not an accepted key"))),
        (true, _) => Err(Error::NotFound(format!(
            "none of the targets is an accepted minion key: {unknown:?}"
        ))),
        (false, _) => {
            job.targets = known;
            Ok(job)
        }
    }
}
