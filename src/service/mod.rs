//! The service layer: what projetyd does, with no HTTP in it (after
//! mini-redis, whose `Db` knows no frames, and garage, whose API crates call
//! model helpers). A request is parsed by its API surface, then applied
//! here:
//!
//! - [`JobRequest`]: a Salt job to run, validated against the accepted keys
//!   and the timeout policy ([`Service::ping_one`], [`Service::ping_many`]);
//! - [`Service::run`] runs it now, [`Service::submit`] hands it to the task
//!   pool, [`Service::status`] waits on a task, [`Service::task`] and
//!   [`Service::tasks`] read records; all under one ownership rule
//!   ([`Task::belongs_to`], or the caller is an admin);
//! - every outcome is data ([`Outcome`]): each surface renders it in its
//!   own shape, live or replayed from a task record;
//! - [`SaltExecutor`] runs tasks for the pool, through the same code as a
//!   synchronous call.

mod authority;
mod error;
pub mod events;
mod executor;
mod functions;
mod master;
pub mod presence;
mod running;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use authority::{Authority, Rights};
pub use error::Error;
pub use executor::SaltExecutor;
pub use functions::Call;
pub use master::MasterCall;
use running::run;

use crate::pool::{self, SubmitError, TaskPool};
use crate::salt::{Heard, Progress, Salt};
use crate::store::{self, Store, Task, TaskState};
pub use crate::store::{Failure, FailureKind, Outcome, TaskKind};
use crate::sync::LockAnyway as _;

/// The longest `?timeout=` when the daemon runs without Salt settings.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a cancel waits for a running task to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// A validated Salt job: who asks, what runs where, how long to wait. The
/// synchronous and asynchronous paths share it, so both refuse the same
/// requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub user_id: u64,
    /// How its outcome is told: a ping's `true`/`false`, or returns.
    pub kind: TaskKind,
    pub function: String,
    /// Positional arguments, as JSON text each.
    pub args: Vec<String>,
    /// Keyword arguments, values as JSON text.
    pub kwargs: BTreeMap<String, String>,
    /// Exact minion ids, all accepted keys when validated.
    pub targets: Vec<String>,
    pub timeout: Duration,
}

/// Whose tasks a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The caller's own (the default).
    Caller,
    /// One user's (an admin's listing, or the caller's own id).
    User(u64),
    /// Everyone's (admins only).
    All,
}

/// Where a task stands for its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    /// Queued or running; for a running job of any function, which of its
    /// minions have returned so far.
    Pending {
        kind: TaskKind,
        state: TaskState,
        heard: Option<Heard>,
    },
    Finished {
        kind: TaskKind,
        outcome: Outcome,
    },
}

/// The progress of the jobs tasks are running, by jid: the executor
/// writes it, [`Service::status`] shows it.
#[derive(Default)]
pub struct Watching(Mutex<HashMap<String, Progress>>);

impl Watching {
    /// A new progress for `jid` (that tells `listener` of each return),
    /// shown until the guard is dropped.
    fn watch(self: &Arc<Watching>, jid: &str, listener: crate::salt::Listener) -> (Progress, Unwatch) {
        let progress = Progress::with_listener(listener);
        self.0.lock_anyway().insert(jid.to_owned(), progress.clone());
        let guard = Unwatch {
            watching: self.clone(),
            jid: jid.to_owned(),
        };
        (progress, guard)
    }

    fn heard(&self, jid: &str) -> Option<Heard> {
        self.0.lock_anyway().get(jid).map(Progress::snapshot)
    }
}

/// Ends what [`Watching::watch`] started.
struct Unwatch {
    watching: Arc<Watching>,
    jid: String,
}

impl Drop for Unwatch {
    fn drop(&mut self) {
        self.watching.0.lock_anyway().remove(&self.jid);
    }
}

/// The service; one per daemon, shared as `Arc<Service>`.
pub struct Service {
    store: Store,
    salt: Option<Arc<Salt>>,
    pool: Arc<TaskPool>,
    watching: Arc<Watching>,
    authority: Arc<Authority>,
    max_timeout: Duration,
    presence: Arc<presence::Presence>,
}

impl Service {
    /// `watching` and `authority` are the ones the pool's
    /// [`SaltExecutor`] uses.
    pub fn new(
        store: Store,
        salt: Option<Arc<Salt>>,
        pool: Arc<TaskPool>,
        watching: Arc<Watching>,
        authority: Arc<Authority>,
        max_timeout: Duration,
    ) -> Service {
        Service {
            store,
            salt,
            pool,
            watching,
            authority,
            max_timeout,
            presence: Arc::new(presence::Presence::new()),
        }
    }

    /// Every task's events, recorded and live.
    pub fn task_events(&self) -> Arc<pool::TaskEvents> {
        self.pool.events().clone()
    }

    /// Which minions answer (see [`presence`]).
    pub fn presence(&self) -> &Arc<presence::Presence> {
        &self.presence
    }

    /// Tasks waiting in the queue, and running now.
    pub fn task_load(&self) -> (usize, usize) {
        self.pool.load()
    }

    /// What `user_id` may do (see [`Authority`]).
    pub fn rights(&self, user_id: u64) -> Result<Arc<Rights>, Error> {
        self.authority.rights(user_id)
    }

    /// The Salt client, or `Unavailable` when the daemon runs without one.
    pub fn salt(&self) -> Result<&Arc<Salt>, Error> {
        self.salt.as_ref().ok_or_else(Error::no_salt)
    }

    /// The longest job timeout a caller may ask for.
    pub fn max_timeout(&self) -> Duration {
        self.max_timeout
    }

    /// The timeout policy: what the caller asked for (capped at
    /// [`Service::max_timeout`] by its parser), or the master's `timeout`.
    fn timeout(&self, salt: &Salt, asked: Option<Duration>) -> Duration {
        asked.unwrap_or(salt.master().timeout)
    }

    /// `test.ping` to one minion, which must be an accepted key.
    pub async fn ping_one(
        &self,
        user_id: u64,
        minion: &str,
        timeout: Option<Duration>,
    ) -> Result<JobRequest, Error> {
        let salt = self.salt()?;
        let timeout = self.timeout(salt, timeout);
        let keys = salt.keys().await?;
        if !keys.is_accepted(minion) {
            return Err(Error::NotFound(format!(
                "minion {minion:?} is not an accepted key"
            )));
        }
        Ok(ping(user_id, vec![minion.to_owned()], timeout))
    }

    /// `test.ping` to several minions; ids that are not accepted keys are
    /// left out, and at least one must be.
    pub async fn ping_many(
        &self,
        user_id: u64,
        targets: BTreeSet<String>,
        timeout: Option<Duration>,
    ) -> Result<JobRequest, Error> {
        let salt = self.salt()?;
        let timeout = self.timeout(salt, timeout);
        let keys = salt.keys().await?;
        let (known, unknown): (Vec<String>, Vec<String>) =
            targets.into_iter().partition(|id| keys.is_accepted(id));
        if known.is_empty() {
            return Err(Error::NotFound(format!(
                "none of the targets is an accepted minion key: {unknown:?}"
            )));
        }
        Ok(ping(user_id, known, timeout))
    }

    /// Runs a validated job now and waits for its returns, if its user
    /// may run it on every target.
    pub async fn run(&self, job: &JobRequest) -> Result<Outcome, Error> {
        let salt = self.salt()?;
        self.authority.check(job.user_id, &job.function, &job.targets)?;
        run(salt, job, None, false, None).await
    }

    /// `Forbidden` unless the job's user may run it on every target (what
    /// [`Service::run`] and [`Service::submit`] check first), for a caller
    /// that runs it in parts.
    pub fn authorize(&self, job: &JobRequest) -> Result<(), Error> {
        self.authority.check(job.user_id, &job.function, &job.targets)
    }

    /// [`Service::run`] under a jid the caller chose ([`new_jid`]), for a
    /// surface that shows each return's jid.
    pub async fn run_under(&self, job: &JobRequest, jid: String) -> Result<Outcome, Error> {
        let salt = self.salt()?;
        self.authority.check(job.user_id, &job.function, &job.targets)?;
        run(salt, job, Some(jid), false, None).await
    }

    /// Records a validated job as a task (durably) and queues it, if its
    /// user may run it on every target (checked again when it runs).
    pub async fn submit(&self, job: JobRequest) -> Result<[u8; 16], Error> {
        self.submit_under(job, None).await
    }

    /// [`Service::submit`], the job to be published under `jid` (known to
    /// the caller at once, and the key of [`Service::task_by_jid`]).
    pub async fn submit_under(&self, job: JobRequest, jid: Option<String>) -> Result<[u8; 16], Error> {
        self.authority.check(job.user_id, &job.function, &job.targets)?;
        // A master known to be away: refuse now, rather than accept a task
        // that can only wait.
        if let Some(salt) = &self.salt {
            salt.status()?;
        }
        let task = Task {
            user_id: job.user_id,
            kind: job.kind,
            function: job.function,
            args: job.args,
            kwargs: job.kwargs,
            target: job.targets,
            timeout: job.timeout.as_secs(),
            state: TaskState::Queued,
            jid,
            created_us: pool::now_us(),
            started_at: None,
            finished_at: None,
            outcome: None,
            attempts: 0,
        };
        self.pool.submit(task).await.map_err(|err| match err {
            SubmitError::Full | SubmitError::ShuttingDown => Error::Unavailable {
                message: format!("{err}; retry later"),
                retry_after: Duration::from_secs(1),
            },
            SubmitError::Store(err) => err.into(),
        })
    }

    /// The caller's task `id` once finished, or after `wait`; `None` for an
    /// unknown id or another user's task, unless the caller is an admin
    /// (known before any waiting).
    pub async fn status(
        &self,
        user_id: u64,
        id: [u8; 16],
        wait: Duration,
    ) -> Result<Option<TaskStatus>, Error> {
        let admin = self.rights(user_id)?.is_admin();
        let task = self
            .pool
            .wait(id, wait, |task| admin || task.belongs_to(user_id))
            .await?;
        Ok(task.map(|task| match task.outcome {
            Some(outcome) if task.state.is_final() => TaskStatus::Finished {
                kind: task.kind,
                outcome,
            },
            _ => TaskStatus::Pending {
                heard: task.jid.as_deref().and_then(|jid| self.watching.heard(jid)),
                kind: task.kind,
                state: task.state,
            },
        }))
    }

    /// Cancels the caller's task `id` (see [`pool::TaskPool::cancel`]) and
    /// gives its record a moment to reach its final state; `None` for an
    /// unknown id or another user's task (an admin may cancel any).
    pub async fn cancel(&self, user_id: u64, id: [u8; 16]) -> Result<Option<(pool::Cancel, Task)>, Error> {
        let admin = self.rights(user_id)?.is_admin();
        let visible = |task: &Task| admin || task.belongs_to(user_id);
        let Some(answer) = self.pool.cancel(id, visible).await? else {
            return Ok(None);
        };
        // A running job stops once kill_job is published: a round trip.
        let wait = match answer {
            pool::Cancel::Stopping => CANCEL_WAIT,
            _ => Duration::ZERO,
        };
        let task = self.pool.wait(id, wait, |_| true).await?;
        Ok(task.map(|task| (answer, task)))
    }

    /// The caller's task that ran (or runs) Salt job `jid`, if it is
    /// theirs (an admin sees any).
    pub fn task_by_jid(&self, user_id: u64, jid: &str) -> Result<Option<([u8; 16], Task)>, Error> {
        let admin = self.rights(user_id)?.is_admin();
        Ok(self
            .store
            .task_by_jid(jid)?
            .filter(|(_, t)| admin || t.belongs_to(user_id)))
    }

    /// The caller's task record `id`, if it is theirs.
    pub fn task(&self, user_id: u64, id: [u8; 16]) -> Result<Option<Task>, Error> {
        let admin = self.rights(user_id)?.is_admin();
        Ok(self.store.task(&id)?.filter(|t| admin || t.belongs_to(user_id)))
    }

    /// A page of tasks, newest first, after task `after` (which must be
    /// in the listing: else `InvalidCursor`): the caller's own, or (for an
    /// admin only, else `Forbidden`) one user's or everyone's.
    pub fn tasks(
        &self,
        user_id: u64,
        whose: Whose,
        limit: usize,
        after: Option<[u8; 16]>,
    ) -> Result<Vec<([u8; 16], Task)>, Error> {
        let admin = || Ok::<_, Error>(self.rights(user_id)?.is_admin());
        let listed = match whose {
            Whose::Caller => self.store.user_tasks(user_id, limit, after.as_ref()),
            Whose::User(other) if other == user_id || admin()? => {
                self.store.user_tasks(other, limit, after.as_ref())
            }
            Whose::All if admin()? => self.store.all_tasks(limit, after.as_ref()),
            Whose::User(_) | Whose::All => {
                return Err(Error::Forbidden(
                    "only an admin may list other users' jobs".into(),
                ))
            }
        };
        match listed {
            Err(store::Error::NotFound { .. }) => Err(Error::InvalidCursor),
            other => Ok(other?),
        }
    }
}

/// A new Salt job id, as the master would make one.
pub fn new_jid() -> String {
    crate::salt::wire::new_jid()
}

fn ping(user_id: u64, targets: Vec<String>, timeout: Duration) -> JobRequest {
    JobRequest {
        user_id,
        kind: TaskKind::Ping,
        function: "test.ping".into(),
        args: Vec::new(),
        kwargs: BTreeMap::new(),
        targets,
        timeout,
    }
}
