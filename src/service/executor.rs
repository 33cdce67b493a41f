//! The task pool's [`Executor`]: a task runs through the same code as the
//! synchronous call, so its outcome is what that call would have returned
//! at the time the task ran.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::running::{run, still_accepted};
use super::{Authority, Error, JobRequest, Outcome, Watching};
use crate::pool::{Executor, Retry, ReturnSink, Work};
use crate::salt::{Heard, Salt};
use crate::store::{Failure, FailureKind, Task};

/// Runs tasks on the Salt master; `None` when the daemon runs without one.
pub struct SaltExecutor {
    pub salt: Option<Arc<Salt>>,
    /// Where a running job's progress is shown (the service's).
    pub watching: Arc<Watching>,
    /// The service's: a task is checked again when it runs, so rights
    /// taken away while it waited apply.
    pub authority: Arc<Authority>,
}

impl Executor for SaltExecutor {
    fn new_jid(&self) -> String {
        crate::salt::wire::new_jid()
    }

    fn ready(&self) -> bool {
        self.salt.as_ref().is_some_and(|salt| salt.status().is_ok())
    }

    fn execute(
        &self,
        task: &Task,
        jid: String,
        attach: bool,
        stop: CancellationToken,
        returns: ReturnSink,
    ) -> Work {
        let salt = self.salt.clone();
        let job = JobRequest {
            user_id: task.user_id,
            kind: task.kind.clone(),
            function: task.function.clone(),
            args: task.args.clone(),
            kwargs: task.kwargs.clone(),
            targets: task.target.clone(),
            timeout: std::time::Duration::from_secs(task.timeout),
        };
        let watching = self.watching.clone();
        let authority = self.authority.clone();
        let targets = task.target.clone();
        Box::pin(async move {
            let listener: crate::salt::Listener = Arc::new(move |minion, ret| {
                let value = crate::salt::json::to_json(&ret.value).to_string();
                returns.returned(minion, value, ret.retcode, ret.success);
            });
            let (progress, _shown) = watching.watch(&jid, listener);
            let work = async {
                match &salt {
                    Some(salt) => match still_accepted(salt, job).await {
                        Ok(job) => match authority.check(job.user_id, &job.function, &job.targets) {
                            Ok(()) => {
                                run(salt, &job, Some(jid.clone()), attach, Some(progress.clone())).await
                            }
                            Err(err) => Err(err),
                        },
                        Err(err) => Err(err),
                    },
                    None => Err(Error::no_salt()),
                }
            };
            let result = tokio::select! {
                result = work => result,
                () = stop.cancelled() => {
                    let heard = progress.snapshot();
                    return Ok(stopped(salt.as_deref(), &jid, &targets, heard).await);
                }
            };
            // Unavailable while the master is away is an outage, not an
            // answer: the pool runs the task again once the master is back.
            let outage = matches!(result, Err(Error::Unavailable { .. }))
                && salt.as_ref().is_some_and(|salt| salt.status().is_err());
            let outcome = result.unwrap_or_else(|err| Outcome::Failed(err.failure()));
            match outage {
                true => Err(Retry(outcome)),
                false => Ok(outcome),
            }
        })
    }
}

/// Stops a job its owner cancelled: `saltutil.kill_job` to the minions
/// that have not returned yet (to every target when the cancel came while
/// the job was being published); the outcome says what was done.
async fn stopped(salt: Option<&Salt>, jid: &str, targets: &[String], heard: Heard) -> Outcome {
    let published = heard.jid.is_some();
    let pending = match published {
        true => heard.pending(),
        false => targets.to_vec(),
    };
    let so_far = match published {
        true => format!(
            "after {} of {} minion(s) returned",
            heard.returned.len(),
            heard.expected.len()
        ),
        false => "while its job was being published".to_owned(),
    };
    let message = match salt {
        _ if pending.is_empty() => format!("cancelled by its owner {so_far}; none was still running it"),
        Some(salt) => match salt.kill_job(jid, &pending).await {
            Ok(told) if told.is_empty() => format!(
                "cancelled by its owner {so_far}; saltutil.kill_job reached none of {}",
                pending.join(", ")
            ),
            Ok(told) => format!(
                "cancelled by its owner {so_far}; saltutil.kill_job sent to {}",
                told.join(", ")
            ),
            Err(err) => format!(
                "cancelled by its owner {so_far}; saltutil.kill_job could not be sent ({err}), so {} may still be running it",
                pending.join(", ")
            ),
        },
        None => format!("cancelled by its owner {so_far}"),
    };
    Outcome::Failed(Failure {
        kind: FailureKind::Cancelled,
        message,
    })
}
