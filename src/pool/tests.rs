//! The pool without Salt: a fake executor whose behaviour each task picks
//! by its `function`, a temporary store, and paused time, so that retries
//! and timeouts take no wall-clock time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use super::*;
use crate::background::Background;
use crate::store::TaskKind;

/// What the fake executor was asked to do: (function, jid, attach).
type Calls = Mutex<Vec<(String, String, bool)>>;

/// `ok`: returns at once. `gate`: returns once `gate` has a permit, or
/// ends cancelled when told to stop.
/// `outage`: cut short while `down`; `always-down`: cut short every time.
struct Fake {
    calls: Calls,
    gate: Arc<Semaphore>,
    down: AtomicBool,
    jids: AtomicUsize,
}

impl Default for Fake {
    fn default() -> Fake {
        Fake {
            calls: Calls::default(),
            gate: Arc::new(Semaphore::new(0)),
            down: AtomicBool::new(false),
            jids: AtomicUsize::new(0),
        }
    }
}

fn returned() -> Outcome {
    Outcome::Returned(BTreeMap::from([("m1".to_owned(), "true".to_owned())]))
}

fn cancelled() -> Outcome {
    Outcome::Failed(Failure {
        kind: FailureKind::Cancelled,
        message: "stopped".into(),
    })
}

fn outage() -> Outcome {
    Outcome::Failed(Failure {
        kind: FailureKind::Unavailable,
        message: "Salt master unreachable".into(),
    })
}

impl Executor for Fake {
    fn new_jid(&self) -> String {
        format!("fake-{}", self.jids.fetch_add(1, Ordering::SeqCst))
    }

    fn execute(
        &self,
        task: &Task,
        jid: String,
        attach: bool,
        stop: CancellationToken,
        _returns: ReturnSink,
    ) -> Work {
        self.calls
            .lock_anyway()
            .push((task.function.clone(), jid, attach));
        let function = task.function.clone();
        let gate = self.gate.clone();
        let down = self.down.load(Ordering::SeqCst);
        Box::pin(async move {
            match function.as_str() {
                "gate" => tokio::select! {
                    _permit = gate.acquire() => Ok(returned()),
                    () = stop.cancelled() => Ok(cancelled()),
                },
                "outage" if down => Err(Retry(outage())),
                "always-down" => Err(Retry(outage())),
                _ => Ok(returned()),
            }
        })
    }

    fn ready(&self) -> bool {
        !self.down.load(Ordering::SeqCst)
    }
}

fn task(function: &str) -> Task {
    Task {
        user_id: 1,
        kind: TaskKind::Ping,
        function: function.into(),
        args: Vec::new(),
        kwargs: BTreeMap::new(),
        target: vec!["m1".into()],
        timeout: 5,
        state: TaskState::Queued,
        jid: None,
        created_us: now_us(),
        started_at: None,
        finished_at: None,
        outcome: None,
        attempts: 0,
    }
}

struct Setup {
    pool: Arc<TaskPool>,
    fake: Arc<Fake>,
    store: Store,
    background: Background,
}

async fn start_on(store: Store, workers: usize, queue: usize) -> Setup {
    let fake = Arc::new(Fake::default());
    let background = Background::new();
    let settings = Settings {
        workers,
        queue,
        retention: Duration::from_secs(3600),
    };
    let pool = TaskPool::start(store.clone(), fake.clone(), settings, &background)
        .await
        .expect("the pool starts");
    Setup {
        pool,
        fake,
        store,
        background,
    }
}

async fn start(workers: usize, queue: usize) -> Setup {
    start_on(Store::temporary().expect("a store"), workers, queue).await
}

impl Setup {
    /// The record of `id` once it is final (waiting as long as it takes in
    /// paused time).
    async fn finished(&self, id: [u8; 16]) -> Task {
        loop {
            let task = self
                .pool
                .wait(id, Duration::from_secs(60), |_| true)
                .await
                .expect("readable")
                .expect("exists");
            if task.state.is_final() {
                return task;
            }
        }
    }

    fn state(&self, id: [u8; 16]) -> TaskState {
        self.store.task(&id).expect("readable").expect("exists").state
    }

    fn calls(&self) -> Vec<(String, String, bool)> {
        self.fake.calls.lock_anyway().clone()
    }

    async fn stop(self) {
        self.pool.shutdown(Duration::from_secs(1)).await;
        assert!(self.background.stop(Duration::from_secs(5)).await);
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_runs_once_to_done_and_its_waiter_is_woken() {
    let setup = start(2, 10).await;
    let id = setup.pool.submit(task("ok")).await.expect("accepted");
    let done = setup.finished(id).await;
    assert_eq!(done.state, TaskState::Done);
    assert_eq!(done.outcome, Some(returned()));
    assert_eq!(done.attempts, 1);
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    let calls = setup.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(Some(&calls[0].1), done.jid.as_ref(), "run under the recorded jid");
    assert!(!calls[0].2, "a new task is not attached");
    setup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_queue_and_the_workers_are_bounded() {
    let setup = start(1, 1).await;
    let running = setup.pool.submit(task("gate")).await.expect("accepted");
    // Let the only worker take it.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(setup.state(running), TaskState::Running);
    let queued = setup.pool.submit(task("ok")).await.expect("accepted");
    assert!(matches!(
        setup.pool.submit(task("ok")).await,
        Err(SubmitError::Full)
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(setup.state(queued), TaskState::Queued, "waits for the worker");
    setup.fake.gate.add_permits(1);
    assert_eq!(setup.finished(running).await.state, TaskState::Done);
    assert_eq!(setup.finished(queued).await.state, TaskState::Done);
    // There is room again.
    let later = setup.pool.submit(task("ok")).await.expect("accepted");
    assert_eq!(setup.finished(later).await.state, TaskState::Done);
    setup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn recovery_reruns_queued_tasks_reattaches_running_ones_and_gives_up_on_the_rest() {
    let store = Store::temporary().expect("a store");
    let queued = [1u8; 16];
    let published = [2u8; 16];
    let never_published = [3u8; 16];
    let worn_out = [4u8; 16];
    let done = [5u8; 16];
    store.insert_task(&queued, &task("queued")).unwrap();
    let mut running = task("running");
    running.state = TaskState::Running;
    running.jid = Some("20261202120000000001".into());
    running.attempts = 1;
    store.insert_task(&published, &running).unwrap();
    let mut no_jid = task("no-jid");
    no_jid.state = TaskState::Running;
    store.insert_task(&never_published, &no_jid).unwrap();
    let mut worn = running.clone();
    worn.function = "worn".into();
    worn.attempts = MAX_ATTEMPTS;
    store.insert_task(&worn_out, &worn).unwrap();
    let mut finished = task("finished");
    finished.state = TaskState::Done;
    finished.outcome = Some(returned());
    store.insert_task(&done, &finished).unwrap();

    let setup = start_on(store, 2, 10).await;
    assert_eq!(setup.finished(queued).await.state, TaskState::Done);
    let reattached = setup.finished(published).await;
    assert_eq!((reattached.state, reattached.attempts), (TaskState::Done, 2));
    for id in [never_published, worn_out] {
        let given_up = setup.finished(id).await;
        assert_eq!(given_up.state, TaskState::Interrupted);
        assert!(matches!(
            given_up.outcome,
            Some(Outcome::Failed(Failure {
                kind: FailureKind::Interrupted,
                ..
            }))
        ));
    }
    let mut calls = setup.calls();
    calls.sort();
    assert_eq!(
        calls.len(),
        2,
        "only the queued and the published one ran: {calls:?}"
    );
    assert_eq!(calls[0].0, "queued");
    assert!(!calls[0].2, "a queued task is published afresh");
    assert_eq!(
        (calls[1].0.as_str(), calls[1].1.as_str(), calls[1].2),
        ("running", "20261202120000000001", true),
        "a running task re-attaches to its jid"
    );
    setup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_cut_short_by_an_outage_runs_again_once_the_master_is_back() {
    let setup = start(2, 10).await;
    setup.fake.down.store(true, Ordering::SeqCst);
    let id = setup.pool.submit(task("outage")).await.expect("accepted");
    tokio::time::sleep(RETRY_EVERY * 5).await;
    assert_eq!(
        setup.state(id),
        TaskState::Running,
        "kept for a retry, not failed"
    );
    assert_eq!(setup.calls().len(), 1, "not retried while the master is down");
    setup.fake.down.store(false, Ordering::SeqCst);
    let done = setup.finished(id).await;
    assert_eq!((done.state, done.outcome), (TaskState::Done, Some(returned())));
    let calls = setup.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].1, calls[0].1, "the same jid");
    assert!(calls[1].2, "the retry re-attaches to the job");
    assert_eq!(done.attempts, 1, "an outage is not a crash attempt");
    setup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_cut_short_too_often_ends_with_the_outage_answer() {
    let setup = start(2, 10).await;
    let id = setup.pool.submit(task("always-down")).await.expect("accepted");
    let failed = setup.finished(id).await;
    assert_eq!(
        (failed.state, failed.outcome),
        (TaskState::Failed, Some(outage()))
    );
    assert_eq!(setup.calls().len(), MAX_OUTAGE_RETRIES as usize + 1);
    setup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_refuses_new_tasks_and_leaves_running_ones_for_recovery() {
    let setup = start(1, 10).await;
    let running = setup.pool.submit(task("gate")).await.expect("accepted");
    let queued = setup.pool.submit(task("ok")).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(10)).await;
    setup.pool.shutdown(Duration::from_secs(3)).await;
    assert!(matches!(
        setup.pool.submit(task("ok")).await,
        Err(SubmitError::ShuttingDown)
    ));
    assert_eq!(setup.state(running), TaskState::Running, "left for recovery");
    assert_eq!(setup.state(queued), TaskState::Queued, "left for recovery");
    assert!(setup.background.stop(Duration::from_secs(5)).await);

    // The next start finishes both, the running one under its jid.
    let jid = setup.store.task(&running).unwrap().unwrap().jid;
    let next = start_on(setup.store.clone(), 1, 10).await;
    next.fake.gate.add_permits(1);
    assert_eq!(next.finished(running).await.state, TaskState::Done);
    assert_eq!(next.finished(queued).await.state, TaskState::Done);
    assert!(next
        .calls()
        .iter()
        .any(|(f, j, attach)| f == "gate" && Some(j) == jid.as_ref() && *attach));
    next.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_queued_task_is_cancelled_without_running_and_a_running_one_is_stopped() {
    let setup = start(1, 10).await;
    let running = setup.pool.submit(task("gate")).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(setup.state(running), TaskState::Running);
    let queued = setup.pool.submit(task("ok")).await.expect("accepted");

    let answer = setup.pool.cancel(queued, |_| true).await.expect("cancel");
    assert_eq!(answer, Some(Cancel::Cancelled));
    let record = setup.finished(queued).await;
    assert_eq!(record.state, TaskState::Cancelled);
    assert!(matches!(
        record.outcome,
        Some(Outcome::Failed(Failure {
            kind: FailureKind::Cancelled,
            ..
        }))
    ));

    let answer = setup.pool.cancel(running, |_| true).await.expect("cancel");
    assert_eq!(answer, Some(Cancel::Stopping));
    let record = setup.finished(running).await;
    assert_eq!(record.state, TaskState::Cancelled, "the executor's stop is final");
    assert_eq!(record.outcome, Some(cancelled()));

    // The worker is free again, and the cancelled task never ran.
    let later = setup.pool.submit(task("ok")).await.expect("accepted");
    assert_eq!(setup.finished(later).await.state, TaskState::Done);
    let functions: Vec<String> = setup.calls().into_iter().map(|c| c.0).collect();
    assert_eq!(functions, ["gate", "ok"]);

    // Cancelling what has ended says so and changes nothing.
    let answer = setup.pool.cancel(later, |_| true).await.expect("cancel");
    assert_eq!(answer, Some(Cancel::Finished(TaskState::Done)));
    assert_eq!(setup.state(later), TaskState::Done);
    setup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_its_caller_may_not_see_cannot_be_cancelled() {
    let setup = start(1, 10).await;
    let id = setup.pool.submit(task("gate")).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(setup.pool.cancel(id, |_| false).await.expect("cancel"), None);
    assert_eq!(
        setup.pool.cancel([9u8; 16], |_| true).await.expect("cancel"),
        None
    );
    assert_eq!(setup.state(id), TaskState::Running, "left alone");
    setup.fake.gate.add_permits(1);
    assert_eq!(setup.finished(id).await.state, TaskState::Done);
    setup.stop().await;
}
