//! The in-process task pool that replaces Celery and Redis: bounded queue,
//! bounded concurrency, durable records (queued → running → done | failed),
//! recovery at start, long-polling, retention.
//!
//! A task is written and flushed before its submitter answers 202, and its
//! jid is written before its job is published, so a crash at any point
//! leaves a record that the next start can finish: queued ones run again,
//! running ones re-attach to their jid. What a task does is given by an
//! [`Executor`] (`service::SaltExecutor`, which answers exactly as the synchronous
//! call would); this module never sees HTTP.

mod commit;
mod events;

pub use events::{Recorded, ReturnSink, TaskEvents, LIVE_BUFFER};

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::background::Background;
use crate::store::{self, Failure, FailureKind, Outcome, Store, Task, TaskEventKind, TaskState};
use crate::sync::LockAnyway as _;
use crate::unix_now;

/// The work of one task, ending in its outcome, or in
/// `Retry` when what it needs (the Salt master) went away before it could
/// finish: the task is then run again once [`Executor::ready`] says so.
pub type Work = Pin<Box<dyn Future<Output = Result<Outcome, Retry>> + Send>>;

/// A task cut short by an outage; carries the outcome to end with if it is
/// cut short too many times.
#[derive(Debug, Clone)]
pub struct Retry(pub Outcome);

/// Turns a task record into its work.
pub trait Executor: Send + Sync + 'static {
    /// A new job id for a task about to run for the first time; the pool
    /// records it before [`Executor::execute`], so that after a crash the
    /// task finds its job again.
    fn new_jid(&self) -> String;

    /// Runs `task` under Salt job id `jid`; `attach` after a restart, when
    /// the job may already have been published. When `stop` is cancelled
    /// (its owner cancelled the task), the work stops what it started and
    /// ends with a [`FailureKind::Cancelled`] outcome. Each minion's
    /// return, as it arrives, goes to `returns` (the task's events).
    fn execute(
        &self,
        task: &Task,
        jid: String,
        attach: bool,
        stop: CancellationToken,
        returns: ReturnSink,
    ) -> Work;

    /// Whether tasks that asked for a retry may run again now.
    fn ready(&self) -> bool {
        true
    }
}

/// A task cut short by this many outages ends with the outage's answer.
const MAX_OUTAGE_RETRIES: u32 = 10;
/// How often tasks waiting for the master check whether it is back.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Pool settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Tasks running at once.
    pub workers: usize,
    /// Tasks waiting to run before submitters get 503.
    pub queue: usize,
    /// Finished tasks older than this are removed.
    pub retention: Duration,
}

/// Why a task could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the task queue is full")]
    Full,
    #[error("the daemon is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// What [`TaskPool::cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// The task had not started: it is now final, `cancelled`.
    Cancelled,
    /// The task is running here: it was told to stop, and ends
    /// `cancelled` once what it started is stopped.
    Stopping,
    /// The task had already ended, in this state.
    Finished(TaskState),
}

/// Who handles a task right now, so that a cancel and a start never both
/// write it.
enum Claim {
    /// Running in this process; cancelling the token stops it.
    Running(CancellationToken),
    /// Being cancelled: a start leaves it alone.
    Cancelling,
}

/// Why a task is being run.
/// How [`TaskPool::write_state`] writes a task.
#[derive(Debug, Clone, Copy)]
enum Write {
    Insert,
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// From the queue, or recovered after a restart: counts as an attempt
    /// (a task that keeps taking the daemon down is given up).
    New,
    /// Again in this process, after a write failure or an outage ended
    /// its previous run cleanly: not a crash, not counted.
    Again,
}

/// After this many starts that never finished, a task is given up.
const MAX_ATTEMPTS: u32 = 3;

/// The pool; shared as `Arc<TaskPool>`.
pub struct TaskPool {
    store: Store,
    /// Every flush goes through here, so concurrent tasks share fsyncs.
    commit: commit::GroupCommit,
    /// Each state a task reaches, and each return, as events.
    events: Arc<TaskEvents>,
    executor: Arc<dyn Executor>,
    settings: Settings,
    queue: mpsc::Sender<[u8; 16]>,
    /// Permits for running tasks; shutdown takes them all to know when
    /// running tasks are done.
    workers: Arc<Semaphore>,
    /// Where each running task is spawned: stopping it (after
    /// [`TaskPool::shutdown`]'s grace) ends the tasks still running, which
    /// the next start recovers.
    background: Background,
    accepting: AtomicBool,
    /// Wakes the dispatcher for shutdown.
    stop: Notify,
    /// Long-pollers per task, woken when it finishes.
    waiters: Mutex<HashMap<[u8; 16], Arc<Notify>>>,
    /// Tasks whose state could not be written (the disk refused): they
    /// stay as they are on disk and run again from there on `resume`.
    parked: Mutex<Vec<[u8; 16]>>,
    /// Tasks cut short by an outage, with how many times that happened.
    outages: Mutex<HashMap<[u8; 16], u32>>,
    /// Tasks cut short by an outage and not yet started again.
    cut_short: Mutex<Vec<[u8; 16]>>,
    /// Tasks being run or cancelled; see [`Claim`].
    claims: Mutex<HashMap<[u8; 16], Claim>>,
}

impl TaskPool {
    /// Starts the pool: recovers what the last run left unfinished, then
    /// runs queued tasks and sweeps old ones; its loops run in `background`.
    pub async fn start(
        store: Store,
        executor: Arc<dyn Executor>,
        settings: Settings,
        background: &Background,
    ) -> Result<Arc<TaskPool>, store::Error> {
        let (queue, receiver) = mpsc::channel(settings.queue.max(1));
        let events = Arc::new(TaskEvents::new(store.clone())?);
        let pool = Arc::new(TaskPool {
            events,
            workers: Arc::new(Semaphore::new(settings.workers.max(1))),
            background: background.clone(),
            commit: commit::GroupCommit::start(store.clone(), background),
            store,
            executor,
            settings,
            queue,
            accepting: AtomicBool::new(true),
            stop: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            parked: Mutex::new(Vec::new()),
            outages: Mutex::new(HashMap::new()),
            cut_short: Mutex::new(Vec::new()),
            claims: Mutex::new(HashMap::new()),
        });
        pool.clone().recover().await?;
        background.spawn("task dispatch", pool.clone().dispatch(receiver));
        background.spawn("task sweep", sweep(Arc::downgrade(&pool)));
        background.spawn("task outage retry", retry_outages(Arc::downgrade(&pool)));
        Ok(pool)
    }

    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, store::Error> + Send + 'static,
    ) -> impl Future<Output = Result<T, store::Error>> {
        let store = self.store.clone();
        async move {
            tokio::task::spawn_blocking(move || f(&store))
                .await
                .map_err(|err| store::Error::Failed {
                    what: "a blocking store call",
                    reason: err.to_string(),
                })?
        }
    }

    /// Writes `task` (new, or over its record) with the event of its
    /// state, the event first (a record that says `done` has its event),
    /// and makes both durable.
    async fn write_state(&self, id: [u8; 16], task: Task, write: Write) -> Result<(), store::Error> {
        let events = self.events.clone();
        self.blocking(move |store| {
            events.record_with(
                id,
                task.user_id,
                TaskEventKind::State(task.state),
                || match write {
                    Write::Insert => store.insert_task(&id, &task),
                    Write::Update => store.update_task(&id, &task),
                },
            )
        })
        .await?;
        self.commit.flush().await
    }

    /// Tasks waiting in the queue, and running in this process now.
    pub fn load(&self) -> (usize, usize) {
        let queued = self.queue.max_capacity() - self.queue.capacity();
        let running = self
            .claims
            .lock_anyway()
            .values()
            .filter(|claim| matches!(claim, Claim::Running(_)))
            .count();
        (queued, running)
    }

    /// The task events (the v1.0 event stream reads them).
    pub fn events(&self) -> &Arc<TaskEvents> {
        &self.events
    }

    /// Records `task` (durably) and queues it; returns its id.
    pub async fn submit(&self, mut task: Task) -> Result<[u8; 16], SubmitError> {
        if !self.accepting.load(Ordering::Acquire) {
            return Err(SubmitError::ShuttingDown);
        }
        if let Some(reason) = self.store.failing() {
            return Err(SubmitError::Store(store::Error::Flush(reason)));
        }
        let slot = self.queue.try_reserve().map_err(|_| SubmitError::Full)?;
        let id = *uuid::Uuid::new_v4().as_bytes();
        task.state = TaskState::Queued;
        self.write_state(id, task.clone(), Write::Insert).await?;
        slot.send(id);
        Ok(id)
    }

    /// The task `id`, once it is finished or `wait` has passed (at once
    /// for a zero wait); `None` if there is no such task, or if `visible`
    /// refuses it (then without waiting). One read, and one more after the
    /// task finished while waited on.
    pub async fn wait(
        &self,
        id: [u8; 16],
        wait: Duration,
        visible: impl Fn(&Task) -> bool,
    ) -> Result<Option<Task>, store::Error> {
        let notify = self.waiters().entry(id).or_default().clone();
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut task = self
            .blocking(move |store| store.task(&id))
            .await?
            .filter(|t| visible(t));
        let pending = task.as_ref().is_some_and(|t| !t.state.is_final()) && !wait.is_zero();
        if pending && tokio::time::timeout(wait, notified).await.is_ok() {
            task = self.blocking(move |store| store.task(&id)).await?;
        }
        let mut waiters = self.waiters();
        if waiters
            .get(&id)
            .is_some_and(|n| Arc::ptr_eq(n, &notify) && Arc::strong_count(n) == 2)
        {
            waiters.remove(&id);
        }
        Ok(task)
    }

    /// Cancels task `id`: a task that has not started ends `cancelled` now;
    /// a running one is told to stop (its executor stops the Salt job) and
    /// ends `cancelled` soon after. `None` if there is no such task or
    /// `visible` refuses it.
    pub async fn cancel(
        &self,
        id: [u8; 16],
        visible: impl Fn(&Task) -> bool,
    ) -> Result<Option<Cancel>, store::Error> {
        let seen = self.blocking(move |store| store.task(&id)).await?;
        if !seen.as_ref().is_some_and(&visible) {
            return Ok(None);
        }
        {
            let mut claims = self.claims.lock_anyway();
            match claims.get(&id) {
                Some(Claim::Running(stop)) => {
                    stop.cancel();
                    return Ok(Some(Cancel::Stopping));
                }
                Some(Claim::Cancelling) => return Ok(Some(Cancel::Stopping)),
                None => {
                    claims.insert(id, Claim::Cancelling);
                }
            }
        }
        let _release = Release { pool: self, id };
        // Read again under the claim: the record may have moved on since.
        let Some(task) = self.blocking(move |store| store.task(&id)).await? else {
            return Ok(None);
        };
        if task.state.is_final() {
            return Ok(Some(Cancel::Finished(task.state)));
        }
        let message = match (&task.state, &task.jid) {
            (TaskState::Running, Some(jid)) => format!(
                "cancelled by its owner while its Salt job {jid} was waiting for the master to come back; nothing was sent to the minions"
            ),
            _ => "cancelled by its owner before it started".to_owned(),
        };
        let outcome = Outcome::Failed(Failure {
            kind: FailureKind::Cancelled,
            message,
        });
        self.finish(id, task, TaskState::Cancelled, outcome).await?;
        Ok(Some(Cancel::Cancelled))
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], Arc<Notify>>> {
        // Plain map of handles: a panic cannot leave it torn.
        self.waiters.lock_anyway()
    }

    /// Stops taking tasks, gives running ones `grace` to finish, and leaves
    /// the rest (queued, or still running) to the next start's recovery.
    pub async fn shutdown(&self, grace: Duration) {
        self.accepting.store(false, Ordering::Release);
        self.stop.notify_one();
        let all = u32::try_from(self.settings.workers.max(1)).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, self.workers.acquire_many(all))
            .await
            .is_err()
        {
            log::warn!("tasks still running after {grace:?} are left for recovery at the next start");
        }
    }

    async fn dispatch(self: Arc<TaskPool>, mut receiver: mpsc::Receiver<[u8; 16]>) {
        loop {
            let permit = tokio::select! {
                permit = self.workers.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
                () = self.stop.notified() => return,
            };
            let id = tokio::select! {
                id = receiver.recv() => match id {
                    Some(id) => id,
                    None => return,
                },
                () = self.stop.notified() => return,
            };
            let pool = self.clone();
            self.background.spawn("task", async move {
                pool.run(id, Start::New).await;
                drop(permit);
            });
        }
    }

    /// Runs one task to its end, writing each state change.
    async fn run(&self, id: [u8; 16], start: Start) {
        match self.try_run(id, start).await {
            Ok(()) => {}
            Err(err) if err.is_write_failure() => {
                log::warn!(
                    "task {}: its state cannot be written ({err}); it runs again once the database can be written",
                    uuid::Uuid::from_bytes(id)
                );
                self.parked().push(id);
            }
            Err(err) => log::error!("task {}: {err}", uuid::Uuid::from_bytes(id)),
        }
    }

    fn outages(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], u32>> {
        // Counters only: a panic cannot leave them torn.
        self.outages.lock_anyway()
    }

    /// Starts again the tasks cut short by an outage, if the executor is
    /// ready (the master is back). They re-attach to their jid.
    fn retry_outages(self: &Arc<TaskPool>) {
        if !self.executor.ready() {
            return;
        }
        let waiting = std::mem::take(&mut *self.cut_short.lock_anyway());
        if waiting.is_empty() {
            return;
        }
        log::info!(
            "the master is back: running {} task(s) cut short again",
            waiting.len()
        );
        self.parked().extend(waiting);
        self.resume();
    }

    /// Runs task `id` on a worker without going through the bounded queue
    /// (recovery and resumption must not be refused).
    fn spawn_outside_queue(self: &Arc<TaskPool>, id: [u8; 16], start: Start) {
        let pool = self.clone();
        let workers = self.workers.clone();
        self.background.spawn("task", async move {
            let Ok(_permit) = workers.acquire_owned().await else {
                return;
            };
            pool.run(id, start).await;
        });
    }

    fn parked(&self) -> std::sync::MutexGuard<'_, Vec<[u8; 16]>> {
        // A list of ids: a panic cannot leave it torn.
        self.parked.lock_anyway()
    }

    /// Runs the tasks parked by write failures again, from the state the
    /// database holds for them (queued ones run, running ones re-attach to
    /// their jid). Called once the store can be written again.
    pub fn resume(self: &Arc<TaskPool>) -> usize {
        let parked = std::mem::take(&mut *self.parked());
        let count = parked.len();
        if count > 0 {
            log::info!("resuming {count} task(s) held back by write failures");
        }
        for id in parked {
            self.spawn_outside_queue(id, Start::Again);
        }
        count
    }

    async fn try_run(&self, id: [u8; 16], start: Start) -> Result<(), store::Error> {
        let stop = CancellationToken::new();
        {
            let mut claims = self.claims.lock_anyway();
            if claims.contains_key(&id) {
                // Being cancelled, or already running: the other side ends it.
                return Ok(());
            }
            claims.insert(id, Claim::Running(stop.clone()));
        }
        let _release = Release { pool: self, id };
        let Some(mut task) = self.blocking(move |store| store.task(&id)).await? else {
            return Ok(());
        };
        if task.state.is_final() {
            return Ok(());
        }
        let attach = task.state == TaskState::Running;
        if task.attempts >= MAX_ATTEMPTS || (attach && task.jid.is_none()) {
            return self.finish(id, task, TaskState::Interrupted, interrupted()).await;
        }
        let jid = task.jid.clone().unwrap_or_else(|| self.executor.new_jid());
        task.state = TaskState::Running;
        task.jid = Some(jid.clone());
        if start == Start::New {
            task.attempts += 1;
        }
        task.started_at = Some(unix_now());
        // The jid is durable before the job is published: after a crash,
        // recovery finds the job by it.
        self.write_state(id, task.clone(), Write::Update).await?;
        let returns = ReturnSink::new(self.events.clone(), id, task.user_id);
        let outcome = match self.executor.execute(&task, jid, attach, stop, returns).await {
            Ok(outcome) => outcome,
            Err(Retry(outcome)) => {
                let mut outages = self.outages();
                let count = outages.entry(id).or_insert(0);
                *count += 1;
                if *count <= MAX_OUTAGE_RETRIES {
                    log::warn!(
                        "task {}: cut short by an outage ({} so far); it runs again when the master is back",
                        uuid::Uuid::from_bytes(id),
                        count
                    );
                    drop(outages);
                    self.cut_short.lock_anyway().push(id);
                    return Ok(());
                }
                outages.remove(&id);
                drop(outages);
                outcome
            }
        };
        self.outages().remove(&id);
        let state = match &outcome {
            Outcome::Failed(Failure {
                kind: FailureKind::Cancelled,
                ..
            }) => TaskState::Cancelled,
            outcome if outcome.is_returned() => TaskState::Done,
            _ => TaskState::Failed,
        };
        self.finish(id, task, state, outcome).await
    }

    async fn finish(
        &self,
        id: [u8; 16],
        mut task: Task,
        state: TaskState,
        outcome: Outcome,
    ) -> Result<(), store::Error> {
        task.state = state;
        task.finished_at = Some(unix_now());
        task.outcome = Some(outcome);
        self.write_state(id, task, Write::Update).await?;
        if let Some(notify) = self.waiters().remove(&id) {
            notify.notify_waiters();
        }
        Ok(())
    }

    /// Finishes what a previous run left: queued tasks run again, running
    /// ones re-attach to their jid. They do not go through the bounded
    /// queue (recovery must not be refused), only through the workers.
    async fn recover(self: Arc<TaskPool>) -> Result<(), store::Error> {
        let unfinished = self.blocking(|store| store.unfinished_tasks()).await?;
        if unfinished.is_empty() {
            return Ok(());
        }
        log::info!("recovering {} unfinished task(s)", unfinished.len());
        for (id, _) in unfinished {
            self.spawn_outside_queue(id, Start::New);
        }
        Ok(())
    }
}

/// Ends a [`Claim`] on every way out of the code that took it.
struct Release<'a> {
    pool: &'a TaskPool,
    id: [u8; 16],
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.pool.claims.lock_anyway().remove(&self.id);
    }
}

/// The outcome of a task that cannot be finished.
fn interrupted() -> Outcome {
    Outcome::Failed(Failure {
        kind: FailureKind::Interrupted,
        message: "the task was interrupted (the daemon stopped while it ran) and could not be recovered"
            .into(),
    })
}

/// Removes finished tasks past retention, a few times per retention period
/// (at least every hour), off the async workers.
async fn sweep(pool: std::sync::Weak<TaskPool>) {
    loop {
        let Some(strong) = pool.upgrade() else { return };
        let retention = strong.settings.retention;
        let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
        drop(strong);
        tokio::time::sleep(every).await;
        let Some(strong) = pool.upgrade() else { return };
        let before = now_us().saturating_sub(u64::try_from(retention.as_micros()).unwrap_or(u64::MAX));
        match strong.blocking(move |store| store.purge_tasks(before)).await {
            Ok(0) => {}
            Ok(n) => log::info!("removed {n} task record(s) past retention"),
            Err(err) => log::error!("task retention sweep failed: {err}"),
        }
        let events = strong.events.clone();
        match strong.blocking(move |_| events.purge(before)).await {
            Ok(0) => {}
            Ok(n) => log::info!("removed {n} task event(s) past retention"),
            Err(err) => log::error!("task event retention sweep failed: {err}"),
        }
    }
}

/// Every `RETRY_EVERY`, runs again the tasks an outage cut short, once the
/// executor says it is ready.
async fn retry_outages(pool: std::sync::Weak<TaskPool>) {
    loop {
        tokio::time::sleep(RETRY_EVERY).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.retry_outages();
    }
}

/// Microseconds since the epoch (task creation times).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
