//! The task pool's [`Executor`]: a task runs through the same code as the
//! synchronous call, so its outcome is what that call would have returned
//! at the time the task ran.

use std::sync::Arc;

use super::{run, still_accepted, Error, JobRequest, Outcome, Watching};
use crate::pool::{Executor, Retry, Work};
use crate::salt::Salt;
use crate::store::Task;

/// Runs tasks on the Salt master; `None` when the daemon runs without one.
pub struct SaltExecutor {
    pub salt: Option<Arc<Salt>>,
    /// Where a running job's progress is shown (the service's).
    pub watching: Arc<Watching>,
}

impl Executor for SaltExecutor {
    fn new_jid(&self) -> String {
        crate::salt::wire::new_jid()
    }

    fn ready(&self) -> bool {
        self.salt.as_ref().is_some_and(|salt| salt.status().is_ok())
    }

    fn execute(&self, task: &Task, jid: String, attach: bool) -> Work {
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
        Box::pin(async move {
            let (progress, _shown) = watching.watch(&jid);
            let result = match &salt {
                Some(salt) => match still_accepted(salt, job).await {
                    Ok(job) => run(salt, &job, Some(jid), attach, Some(progress)).await,
                    Err(err) => Err(err),
                },
                None => Err(Error::no_salt()),
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
