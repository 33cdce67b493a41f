//! Task records: the durable half of the task pool.
//!
//! Trees:
//! - `taskid_task`: uuid (16 bytes) → [`Task`]
//! - `created_taskid`: created (µs, u64 BE) ++ uuid → empty (retention sweep)
//! - `usercreated_taskid`: user id ++ created ++ uuid → empty (a user's
//!   tasks, newest first, paginated)
//!
//! Index entries are written before their record and removed after it, so
//! an entry without a record (after a crash) is possible and skipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::transaction::Transactional;

use super::codec::{self, Record};
use super::{unwrap_tx, Error, Trees};

/// What a task does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// `test.ping` to exact minion ids; answers like `POST /ping`.
    Ping,
    /// Any function; answers like `POST /minions/<m>/tasks/<fun>`, each
    /// minion's return alone or, with `full_return`, with its retcode and
    /// success.
    Run { full_return: bool },
}

/// Where a task is in its life. Queued → Running → Done | Failed; a task
/// that could not be recovered after a crash ends as Interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    Queued,
    Running,
    Done,
    Failed,
    Interrupted,
    /// Its owner cancelled it: before it ran, or while it ran (the minions
    /// still running it were sent `saltutil.kill_job`).
    Cancelled,
}

impl TaskState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Done | TaskState::Failed | TaskState::Interrupted | TaskState::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Interrupted => "interrupted",
            TaskState::Cancelled => "cancelled",
        }
    }
}

/// How a finished task ended, as data: each API surface renders it in its
/// own shape (the v1.0 API as the synchronous call would have answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The job ran: each minion's return, as JSON text (bincode cannot
    /// hold a self-describing value), by minion id.
    Returned(BTreeMap<String, String>),
    /// It did not run, or could not be finished.
    Failed(Failure),
    /// Any function ran: what each target did, by minion id.
    Ran(BTreeMap<String, MinionResult>),
}

impl Outcome {
    /// Whether the job ran (the task is `done`, else `failed`).
    pub fn is_returned(&self) -> bool {
        matches!(self, Outcome::Returned(_) | Outcome::Ran(_))
    }
}

/// What one target of a job did. A return, a non-zero retcode, an
/// exception and silence are told apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MinionResult {
    /// The minion returned: its value as JSON text, its retcode and
    /// success as it reported them, and whether the value is the text of
    /// an exception the function raised.
    Returned {
        value: String,
        retcode: i64,
        success: bool,
        exception: bool,
    },
    /// It never returned: down, or still running at the job's end.
    Silent,
}

/// Why a task did not return: a kind and the message a client is shown
/// (never internal detail: that went to the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// The request is not valid (as the synchronous call would have said).
    Invalid,
    /// A target is not (or no longer) an accepted minion.
    NotFound,
    /// The master (or the database) could not be reached.
    Unavailable,
    /// The daemon stopped while the task ran, too often to go on.
    Interrupted,
    /// Anything else; the detail is in the log.
    Internal,
    /// The caller may not run it (or no longer may, for a task).
    Forbidden,
    /// Its owner cancelled it.
    Cancelled,
}

/// A task record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub user_id: u64,
    pub kind: TaskKind,
    pub function: String,
    /// Positional arguments, each as JSON text.
    pub args: Vec<String>,
    /// Keyword arguments, each value as JSON text.
    pub kwargs: BTreeMap<String, String>,
    /// Exact minion ids.
    pub target: Vec<String>,
    /// Seconds before silent minions are checked.
    pub timeout: u64,
    pub state: TaskState,
    /// The Salt job id, recorded before the job is published.
    pub jid: Option<String>,
    /// Microseconds since the epoch (orders the indexes).
    pub created_us: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub outcome: Option<Outcome>,
    /// Times a run was started; a task that keeps taking the daemon down
    /// with it is given up after a few.
    pub attempts: u32,
}

impl Task {
    /// The ownership rule: a task is seen only by the user who made it.
    pub fn belongs_to(&self, user_id: u64) -> bool {
        self.user_id == user_id
    }
}

impl Record for Task {
    /// 2: the outcome as data (1 held the rendered HTTP answer).
    const VERSION: u8 = 2;

    fn upgrade(version: u8, rest: &[u8]) -> Option<Result<Task, String>> {
        match version {
            1 => Some(codec::whole::<TaskV1>(rest).map(TaskV1::upgrade)),
            _ => None,
        }
    }
}

/// Format 1 of a task record (before the service layer): the finished
/// task's answer was stored as the HTTP status and JSON body it replayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskV1 {
    pub user_id: u64,
    pub kind: TaskKind,
    pub function: String,
    pub target: Vec<String>,
    pub timeout: u64,
    pub state: TaskState,
    pub jid: Option<String>,
    pub created_us: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub response: Option<(u16, Vec<u8>)>,
    pub attempts: u32,
}

impl TaskV1 {
    fn upgrade(self) -> Task {
        let outcome = self
            .response
            .map(|(status, body)| outcome_of_v1(self.state, status, &body));
        Task {
            user_id: self.user_id,
            kind: self.kind,
            function: self.function,
            args: Vec::new(),
            kwargs: BTreeMap::new(),
            target: self.target,
            timeout: self.timeout,
            state: self.state,
            jid: self.jid,
            created_us: self.created_us,
            started_at: self.started_at,
            finished_at: self.finished_at,
            outcome,
            attempts: self.attempts,
        }
    }
}

/// The outcome a format-1 answer stood for. Every answer format 1 could
/// hold (a 200 with a map of minions, or the contract's error shape) comes
/// back as an outcome that renders to the same status and body.
fn outcome_of_v1(state: TaskState, status: u16, body: &[u8]) -> Outcome {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    if status == 200 {
        if let Some(map) = json.as_object() {
            return Outcome::Returned(map.iter().map(|(id, v)| (id.clone(), v.to_string())).collect());
        }
    }
    let kind = match status {
        400 => FailureKind::Invalid,
        404 => FailureKind::NotFound,
        503 => FailureKind::Unavailable,
        _ if state == TaskState::Interrupted => FailureKind::Interrupted,
        _ => FailureKind::Internal,
    };
    let message = json["message"]
        .as_str()
        .unwrap_or("the server could not complete the request")
        .to_owned();
    Outcome::Failed(Failure { kind, message })
}

pub(super) const TASKS: &str = "taskid_task";
pub(super) const CREATED: &str = "created_taskid";
pub(super) const USER_CREATED: &str = "usercreated_taskid";
/// Salt jid → task id, for the tasks whose jid is known: the salt-api
/// surface finds a `local_async` job's record by its jid.
pub(super) const JIDS: &str = "jid_taskid";

fn created_key(task: &Task, id: &[u8; 16]) -> Vec<u8> {
    [&task.created_us.to_be_bytes()[..], id].concat()
}

fn user_key(task: &Task, id: &[u8; 16]) -> Vec<u8> {
    [
        &task.user_id.to_be_bytes()[..],
        &task.created_us.to_be_bytes(),
        id,
    ]
    .concat()
}

fn id_of(tree: &'static str, key: &[u8]) -> Result<[u8; 16], Error> {
    key.get(key.len().saturating_sub(16)..)
        .and_then(|tail| tail.try_into().ok())
        .ok_or_else(|| Error::Corrupt {
            tree,
            key: codec::hex(key),
            reason: "key too short for a task id".into(),
        })
}

impl Trees {
    /// Writes a new task with its index entries: the index entries first,
    /// the record last, as plain inserts. A crash in between leaves index
    /// entries without a record, which every reader skips; no transaction
    /// is needed, and sled's multi-tree transactions cost two extra log
    /// writes each (measured: the submit path's main cost).
    pub fn insert_task(&self, id: &[u8; 16], task: &Task) -> Result<(), Error> {
        let value = codec::encode(task)?;
        self.task_user.insert(user_key(task, id), &[])?;
        self.task_created.insert(created_key(task, id), &[])?;
        if let Some(jid) = &task.jid {
            self.task_jids.insert(jid.as_bytes(), &id[..])?;
        }
        self.tasks.insert(id, value)?;
        Ok(())
    }

    /// Replaces a task's record; a jid it gained is indexed (first).
    pub fn update_task(&self, id: &[u8; 16], task: &Task) -> Result<(), Error> {
        if let Some(jid) = &task.jid {
            self.task_jids.insert(jid.as_bytes(), &id[..])?;
        }
        self.tasks.insert(id, codec::encode(task)?)?;
        Ok(())
    }

    /// The task that ran (or runs) Salt job `jid`, if any.
    pub fn task_by_jid(&self, jid: &str) -> Result<Option<([u8; 16], Task)>, Error> {
        let Some(id) = self.task_jids.get(jid.as_bytes())? else {
            return Ok(None);
        };
        let id = id_of(JIDS, &id)?;
        // An index entry whose record is gone, or names another jid (a
        // crash between the two writes), is no answer.
        Ok(self
            .task(&id)?
            .filter(|task| task.jid.as_deref() == Some(jid))
            .map(|task| (id, task)))
    }

    pub fn task(&self, id: &[u8; 16]) -> Result<Option<Task>, Error> {
        match self.tasks.get(id)? {
            Some(bytes) => Ok(Some(codec::decode(TASKS, id, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Tasks that are not finished (for recovery at start), oldest first.
    pub fn unfinished_tasks(&self) -> Result<Vec<([u8; 16], Task)>, Error> {
        let mut out = Vec::new();
        for entry in self.task_created.iter() {
            let (key, _) = entry?;
            let id = id_of(CREATED, &key)?;
            if let Some(task) = self.task(&id)? {
                if !task.state.is_final() {
                    out.push((id, task));
                }
            }
        }
        Ok(out)
    }

    /// A user's tasks, newest first: at most `limit`, strictly older than
    /// the task `after` if given (`NotFound` if `after` is not theirs).
    pub fn user_tasks(
        &self,
        user_id: u64,
        limit: usize,
        after: Option<&[u8; 16]>,
    ) -> Result<Vec<([u8; 16], Task)>, Error> {
        let prefix = user_id.to_be_bytes();
        let upper = match after {
            None => {
                let mut end = prefix.to_vec();
                end.extend_from_slice(&[0xff; 24]);
                end
            }
            Some(id) => {
                let task =
                    self.task(id)?
                        .filter(|t| t.belongs_to(user_id))
                        .ok_or_else(|| Error::NotFound {
                            what: "task",
                            key: uuid::Uuid::from_bytes(*id).to_string(),
                        })?;
                user_key(&task, id)
            }
        };
        let mut out = Vec::new();
        for entry in self.task_user.range(prefix.to_vec()..upper).rev() {
            if out.len() == limit {
                break;
            }
            let (key, _) = entry?;
            let id = id_of(USER_CREATED, &key)?;
            if let Some(task) = self.task(&id)? {
                out.push((id, task));
            }
        }
        Ok(out)
    }

    /// Every user's tasks, newest first: at most `limit`, strictly older
    /// than the task `after` if given (`NotFound` if there is no such task).
    pub fn all_tasks(&self, limit: usize, after: Option<&[u8; 16]>) -> Result<Vec<([u8; 16], Task)>, Error> {
        let upper = match after {
            None => vec![0xff; 24],
            Some(id) => {
                let task = self.task(id)?.ok_or_else(|| Error::NotFound {
                    what: "task",
                    key: uuid::Uuid::from_bytes(*id).to_string(),
                })?;
                created_key(&task, id)
            }
        };
        let mut out = Vec::new();
        for entry in self.task_created.range(..upper).rev() {
            if out.len() == limit {
                break;
            }
            let (key, _) = entry?;
            let id = id_of(CREATED, &key)?;
            if let Some(task) = self.task(&id)? {
                out.push((id, task));
            }
        }
        Ok(out)
    }

    /// Removes finished tasks created before `before_us`; returns how many.
    /// Unfinished ones are kept whatever their age.
    pub fn purge_tasks(&self, before_us: u64) -> Result<usize, Error> {
        let mut removed = 0;
        for entry in self.task_created.range(..before_us.to_be_bytes().to_vec()) {
            let (key, _) = entry?;
            let id = id_of(CREATED, &key)?;
            let Some(task) = self.task(&id)? else {
                self.task_created.remove(&key)?;
                continue;
            };
            if !task.state.is_final() {
                continue;
            }
            let by_user = user_key(&task, &id);
            if let Some(jid) = &task.jid {
                self.task_jids.remove(jid.as_bytes())?;
            }
            let result =
                (&self.tasks, &self.task_created, &self.task_user).transaction(|(tasks, created, user)| {
                    tasks.remove(&id[..])?;
                    created.remove(&*key)?;
                    user.remove(by_user.as_slice())?;
                    Ok(())
                });
            unwrap_tx(result)?;
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn task(user_id: u64, created_us: u64, state: TaskState) -> Task {
        Task {
            user_id,
            kind: TaskKind::Ping,
            function: "test.ping".into(),
            args: Vec::new(),
            kwargs: BTreeMap::new(),
            target: vec!["m1".into()],
            timeout: 5,
            state,
            jid: None,
            created_us,
            started_at: None,
            finished_at: None,
            outcome: None,
            attempts: 0,
        }
    }

    /// A format-1 record exactly as the build before the service layer
    /// wrote it (its types copied here, frozen).
    mod v1 {
        use serde::Serialize;

        #[derive(Serialize)]
        pub enum TaskKind {
            Ping,
        }
        #[derive(Serialize)]
        #[allow(dead_code)] // the variants' order is the format
        pub enum TaskState {
            Queued,
            Running,
            Done,
            Failed,
            Interrupted,
        }
        #[derive(Serialize)]
        pub struct TaskResponse {
            pub status: u16,
            pub body: Vec<u8>,
        }
        #[derive(Serialize)]
        pub struct Task {
            pub user_id: u64,
            pub kind: TaskKind,
            pub function: String,
            pub target: Vec<String>,
            pub timeout: u64,
            pub state: TaskState,
            pub jid: Option<String>,
            pub created_us: u64,
            pub started_at: Option<u64>,
            pub finished_at: Option<u64>,
            pub response: Option<TaskResponse>,
            pub attempts: u32,
        }
    }

    fn v1_bytes(state: v1::TaskState, response: Option<(u16, &str)>) -> Vec<u8> {
        let task = v1::Task {
            user_id: 3,
            kind: v1::TaskKind::Ping,
            function: "test.ping".into(),
            target: vec!["m1".into(), "m2".into()],
            timeout: 5,
            state,
            jid: Some("20261201000000000001".into()),
            created_us: 9,
            started_at: Some(10),
            finished_at: Some(11),
            response: response.map(|(status, body)| v1::TaskResponse {
                status,
                body: body.as_bytes().to_vec(),
            }),
            attempts: 1,
        };
        let mut bytes = vec![1];
        bytes.extend(bincode::serde::encode_to_vec(&task, bincode::config::standard()).unwrap());
        bytes
    }

    #[test]
    fn a_format_1_record_decodes_with_its_answer_as_an_outcome() {
        let decode = |bytes: Vec<u8>| codec::decode::<Task>(TASKS, b"k", &bytes).unwrap();
        let done = decode(v1_bytes(
            v1::TaskState::Done,
            Some((200, r#"{"m1":true,"m2":false}"#)),
        ));
        assert_eq!(
            (done.user_id, done.state, done.jid.as_deref(), done.attempts),
            (3, TaskState::Done, Some("20261201000000000001"), 1)
        );
        assert_eq!(
            done.outcome,
            Some(Outcome::Returned(BTreeMap::from([
                ("m1".into(), "true".into()),
                ("m2".into(), "false".into())
            ])))
        );
        let cases = [
            (
                v1::TaskState::Failed,
                404,
                FailureKind::NotFound,
                "minion \"m3\" is not an accepted key",
            ),
            (
                v1::TaskState::Failed,
                503,
                FailureKind::Unavailable,
                "Salt master unreachable",
            ),
            (
                v1::TaskState::Interrupted,
                500,
                FailureKind::Interrupted,
                "the task was interrupted",
            ),
            (
                v1::TaskState::Failed,
                500,
                FailureKind::Internal,
                "the server could not complete the request",
            ),
        ];
        for (state, status, kind, message) in cases {
            let body = serde_json::json!({"status": status, "error": "x", "message": message}).to_string();
            let task = decode(v1_bytes(state, Some((status, &body))));
            assert_eq!(
                task.outcome,
                Some(Outcome::Failed(Failure {
                    kind,
                    message: message.to_owned()
                })),
                "{status}"
            );
        }
        let queued = decode(v1_bytes(v1::TaskState::Queued, None));
        assert_eq!((queued.state, &queued.outcome), (TaskState::Queued, &None));
        // Written back, it is a format-2 record.
        assert_eq!(codec::encode(&queued).unwrap()[0], 2);
    }

    #[test]
    fn round_trip_update_and_unfinished() {
        let store = Store::temporary().unwrap();
        store
            .insert_task(&[1; 16], &task(1, 10, TaskState::Queued))
            .unwrap();
        store
            .insert_task(&[2; 16], &task(1, 20, TaskState::Done))
            .unwrap();
        let mut running = task(1, 10, TaskState::Running);
        running.jid = Some("20261126000000000001".into());
        store.update_task(&[1; 16], &running).unwrap();
        assert_eq!(store.task(&[1; 16]).unwrap(), Some(running.clone()));
        assert_eq!(
            store.unfinished_tasks().unwrap(),
            vec![([1; 16], running.clone())]
        );
        assert_eq!(
            store.task_by_jid("20261126000000000001").unwrap(),
            Some(([1; 16], running))
        );
        assert_eq!(store.task_by_jid("20261126000000000002").unwrap(), None);
        let mut preset = task(2, 30, TaskState::Queued);
        preset.jid = Some("20261126000000000003".into());
        store.insert_task(&[3; 16], &preset).unwrap();
        assert_eq!(
            store.task_by_jid("20261126000000000003").unwrap(),
            Some(([3; 16], preset))
        );
    }

    #[test]
    fn listing_is_per_user_newest_first_and_paginated() {
        let store = Store::temporary().unwrap();
        for (i, user) in [(1u8, 1u64), (2, 2), (3, 1), (4, 1)] {
            store
                .insert_task(&[i; 16], &task(user, u64::from(i), TaskState::Done))
                .unwrap();
        }
        let ids = |v: Vec<([u8; 16], Task)>| v.into_iter().map(|(id, _)| id[0]).collect::<Vec<_>>();
        assert_eq!(ids(store.user_tasks(1, 10, None).unwrap()), [4, 3, 1]);
        assert_eq!(ids(store.user_tasks(1, 2, None).unwrap()), [4, 3]);
        assert_eq!(ids(store.user_tasks(1, 2, Some(&[3; 16])).unwrap()), [1]);
        assert_eq!(ids(store.user_tasks(2, 10, None).unwrap()), [2]);
        assert!(store.user_tasks(2, 10, Some(&[3; 16])).is_err(), "not theirs");
        assert_eq!(ids(store.all_tasks(10, None).unwrap()), [4, 3, 2, 1]);
        assert_eq!(ids(store.all_tasks(2, Some(&[3; 16])).unwrap()), [2, 1]);
        assert!(store.all_tasks(2, Some(&[9; 16])).is_err(), "no such task");
    }

    #[test]
    fn purge_removes_old_finished_tasks_only() {
        let store = Store::temporary().unwrap();
        store
            .insert_task(&[1; 16], &task(1, 10, TaskState::Done))
            .unwrap();
        store
            .insert_task(&[2; 16], &task(1, 11, TaskState::Running))
            .unwrap();
        store
            .insert_task(&[3; 16], &task(1, 30, TaskState::Failed))
            .unwrap();
        assert_eq!(store.purge_tasks(20).unwrap(), 1);
        assert!(store.task(&[1; 16]).unwrap().is_none());
        assert!(store.task(&[2; 16]).unwrap().is_some());
        assert_eq!(store.user_tasks(1, 10, None).unwrap().len(), 2);
    }
}
