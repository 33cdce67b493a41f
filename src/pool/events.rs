//! The task events hub: records each event (see `store::events` for what
//! is durable when) and hands it at once to every live subscriber, in the
//! order of its id.
//!
//! One lock orders the two: an id is taken, written and sent under it, so
//! no subscriber sees a higher id before a lower one, and a stream that
//! resumes (subscribe first, then read the store after `Last-Event-ID`,
//! then drop live events it already read) misses nothing and repeats
//! nothing.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::store::{self, Store, TaskEvent, TaskEventKind};
use crate::sync::LockAnyway as _;

/// Events a live subscriber may fall behind by before it is cut off (the
/// stream then ends, saying so; its client resumes from the store).
pub const LIVE_BUFFER: usize = 4096;

/// One recorded event and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub seq: u64,
    pub event: TaskEvent,
}

/// Shared as `Arc<TaskEvents>`.
pub struct TaskEvents {
    store: Store,
    /// The last id given out; the lock that orders ids and sends.
    last: Mutex<u64>,
    live: broadcast::Sender<Arc<Recorded>>,
}

impl TaskEvents {
    /// Ids go on from the highest one on disk.
    pub fn new(store: Store) -> Result<TaskEvents, store::Error> {
        let last = store.last_task_event()?.unwrap_or(0);
        Ok(TaskEvents {
            store,
            last: Mutex::new(last),
            live: broadcast::channel(LIVE_BUFFER).0,
        })
    }

    /// Writes an event (no flush: the caller's next flush covers it) and
    /// sends it to the live subscribers. Blocks on the store.
    pub fn record(&self, task: [u8; 16], user_id: u64, kind: TaskEventKind) -> Result<u64, store::Error> {
        self.record_with(task, user_id, kind, || Ok(()))
    }

    /// [`TaskEvents::record`], with `write` (the task record the event
    /// tells of) done after the event and before subscribers hear of it,
    /// so that what they read of the task is at least as new as the event.
    pub fn record_with(
        &self,
        task: [u8; 16],
        user_id: u64,
        kind: TaskEventKind,
        write: impl FnOnce() -> Result<(), store::Error>,
    ) -> Result<u64, store::Error> {
        let event = TaskEvent { task, user_id, kind };
        let mut last = self.last.lock_anyway();
        let seq = super::now_us().max(last.saturating_add(1));
        self.store.insert_task_event(seq, &event)?;
        *last = seq;
        write()?;
        // No subscriber is no error.
        let _ = self.live.send(Arc::new(Recorded { seq, event }));
        Ok(seq)
    }

    /// Every event recorded from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Recorded>> {
        self.live.subscribe()
    }

    /// At most `limit` recorded events after id `after`, oldest first.
    /// Blocks on the store.
    pub fn after(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, store::Error> {
        // Under the lock: every event read has its task record written.
        let _writes = self.last.lock_anyway();
        Ok(self
            .store
            .task_events_after(after, limit)?
            .into_iter()
            .map(|(seq, event)| Recorded { seq, event })
            .collect())
    }

    /// Removes events recorded before `before_us`. Blocks on the store.
    pub fn purge(&self, before_us: u64) -> Result<usize, store::Error> {
        self.store.purge_task_events(before_us)
    }
}

/// Where a running task's returns go: its events.
#[derive(Clone)]
pub struct ReturnSink {
    events: Arc<TaskEvents>,
    task: [u8; 16],
    user_id: u64,
}

impl ReturnSink {
    pub(super) fn new(events: Arc<TaskEvents>, task: [u8; 16], user_id: u64) -> ReturnSink {
        ReturnSink {
            events,
            task,
            user_id,
        }
    }

    /// Records minion `minion`'s return (its value as JSON text). One
    /// sled insert, in memory until the next flush, so it is done in
    /// place; a failure is only logged: the task's final answer holds the
    /// return in any case.
    pub fn returned(&self, minion: &str, value: String, retcode: i64, success: bool) {
        let kind = TaskEventKind::Return {
            minion: minion.to_owned(),
            value,
            retcode,
            success,
        };
        if let Err(err) = self.events.record(self.task, self.user_id, kind) {
            log::warn!(
                "task {}: a return event could not be recorded: {err}",
                uuid::Uuid::from_bytes(self.task)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskState;

    #[test]
    fn ids_grow_across_a_restart_and_subscribers_get_them_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let store = Store::open(dir.path()).unwrap();
            let events = TaskEvents::new(store.clone()).unwrap();
            let mut live = events.subscribe();
            let a = events
                .record([1; 16], 1, TaskEventKind::State(TaskState::Queued))
                .unwrap();
            let b = events
                .record([1; 16], 1, TaskEventKind::State(TaskState::Running))
                .unwrap();
            assert!(b > a);
            assert_eq!(live.try_recv().unwrap().seq, a);
            assert_eq!(live.try_recv().unwrap().seq, b);
            store.flush().unwrap();
            b
        };
        let store = Store::open(dir.path()).unwrap();
        let events = TaskEvents::new(store).unwrap();
        let c = events
            .record([1; 16], 1, TaskEventKind::State(TaskState::Done))
            .unwrap();
        assert!(c > first);
        let after: Vec<u64> = events.after(first, 10).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(after, vec![c]);
    }
}
