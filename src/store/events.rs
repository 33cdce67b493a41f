//! Task events: what happened to each task, in order, for the v1.0 event
//! stream (`GET /api/v1.0/events`) and its resumption with `Last-Event-ID`.
//!
//! Tree `seq_taskevent`: event id (u64 BE) → [`TaskEvent`]. An id is the
//! time the event was recorded in microseconds since the epoch, bumped
//! past the last id when the clock has not moved on (or went back), so ids
//! only grow, across restarts and restores alike, and retention is a key
//! range. The pool records a state's event before the task record that
//! holds the state, and both under the same flush: a task record that
//! says `done` has its `done` event on disk. Returns are recorded as they
//! arrive and made durable by the next flush (the final event's answer
//! holds every return in any case).
//!
//! Events are not in backups: the task records are, and they hold each
//! task's final state.

use serde::{Deserialize, Serialize};

use super::codec::{self, Record};
use super::{Error, TaskState, Trees};

/// What happened to a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskEventKind {
    /// It now has this state (queued, running, or a final one).
    State(TaskState),
    /// One minion's return arrived: the value as JSON text, and (for any
    /// function but a ping) its retcode and success.
    Return {
        minion: String,
        value: String,
        retcode: i64,
        success: bool,
    },
}

/// One event of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub task: [u8; 16],
    /// The task's owner (who may see the event, with the admins).
    pub user_id: u64,
    pub kind: TaskEventKind,
}

impl Record for TaskEvent {
    const VERSION: u8 = 1;
}

pub(super) const TASK_EVENTS: &str = "seq_taskevent";

fn decode_seq(key: &[u8]) -> Result<u64, Error> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| Error::Corrupt {
        tree: TASK_EVENTS,
        key: codec::hex(key),
        reason: "an event id is 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

impl Trees {
    /// Writes event `seq` (no flush).
    pub fn insert_task_event(&self, seq: u64, event: &TaskEvent) -> Result<(), Error> {
        self.task_events
            .insert(seq.to_be_bytes(), codec::encode(event)?)?;
        Ok(())
    }

    /// The highest event id written, if any.
    pub fn last_task_event(&self) -> Result<Option<u64>, Error> {
        match self.task_events.last()? {
            Some((key, _)) => Ok(Some(decode_seq(&key)?)),
            None => Ok(None),
        }
    }

    /// At most `limit` events with ids above `after`, oldest first.
    pub fn task_events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, TaskEvent)>, Error> {
        let mut out = Vec::new();
        let from = after.saturating_add(1).to_be_bytes();
        for entry in self.task_events.range(from..) {
            if out.len() == limit || after == u64::MAX {
                break;
            }
            let (key, value) = entry?;
            out.push((decode_seq(&key)?, codec::decode(TASK_EVENTS, &key, &value)?));
        }
        Ok(out)
    }

    /// Removes the events recorded before `before_us`; returns how many.
    pub fn purge_task_events(&self, before_us: u64) -> Result<usize, Error> {
        let mut removed = 0;
        for entry in self.task_events.range(..before_us.to_be_bytes()) {
            let (key, _) = entry?;
            self.task_events.remove(key)?;
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn event(task: u8, kind: TaskEventKind) -> TaskEvent {
        TaskEvent {
            task: [task; 16],
            user_id: 1,
            kind,
        }
    }

    #[test]
    fn events_come_back_in_id_order_after_a_cursor_and_expire_by_time() {
        let store = Store::temporary().unwrap();
        assert_eq!(store.last_task_event().unwrap(), None);
        let queued = event(1, TaskEventKind::State(TaskState::Queued));
        let ret = event(
            1,
            TaskEventKind::Return {
                minion: "m1".into(),
                value: "true".into(),
                retcode: 0,
                success: true,
            },
        );
        let done = event(1, TaskEventKind::State(TaskState::Done));
        store.insert_task_event(300, &done).unwrap();
        store.insert_task_event(100, &queued).unwrap();
        store.insert_task_event(200, &ret).unwrap();
        assert_eq!(store.last_task_event().unwrap(), Some(300));
        let all = store.task_events_after(0, 10).unwrap();
        assert_eq!(
            all,
            vec![(100, queued.clone()), (200, ret.clone()), (300, done.clone())]
        );
        assert_eq!(store.task_events_after(100, 1).unwrap(), vec![(200, ret)]);
        assert!(store.task_events_after(300, 10).unwrap().is_empty());
        assert!(store.task_events_after(u64::MAX, 10).unwrap().is_empty());
        assert_eq!(store.purge_task_events(201).unwrap(), 2);
        assert_eq!(store.task_events_after(0, 10).unwrap(), vec![(300, done)]);
    }
}
