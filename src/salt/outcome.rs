//! What a job gives back: each minion's [`Return`] and the
//! [`JobOutcome`] of the whole job. Plain data, shared by the job runner
//! (`job.rs`, from the event bus) and the job-cache reader (`cache.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::sync::LockAnyway as _;

use rmpv::Value;

use super::wire;

/// One minion's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Return {
    pub value: Value,
    pub retcode: i64,
    pub success: bool,
    /// The outputter the minion named (`out`), if any: `nested` on the
    /// string of an exception.
    pub out: Option<String>,
}

impl Return {
    pub(crate) fn from_data(data: &Value) -> Return {
        Return {
            value: wire::get(data, "return").cloned().unwrap_or(Value::Nil),
            retcode: wire::get(data, "retcode").and_then(Value::as_i64).unwrap_or(0),
            success: wire::get(data, "success")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            out: wire::get(data, "out").and_then(wire::text).map(str::to_owned),
        }
    }

    /// Whether the function raised instead of returning: the minion then
    /// answers the exception as a string, `success: false`, a non-zero
    /// retcode and the `nested` outputter (Salt's minion.py,
    /// `_thread_return`); a function that returns with a non-zero retcode
    /// does not name that outputter.
    pub fn is_exception(&self) -> bool {
        !self.success
            && self.retcode != 0
            && self.out.as_deref() == Some("nested")
            && matches!(self.value, Value::String(_))
    }
}

/// How a job ended.
#[derive(Debug, Clone, Default)]
pub struct JobOutcome {
    pub jid: String,
    /// Minions that returned, with their answers.
    pub returns: BTreeMap<String, Return>,
    /// Targets the master has no accepted key for.
    pub missing: Vec<String>,
    /// Expected minions that never returned (down, or lost the job).
    pub silent: Vec<String>,
}

/// A running job as it stands: which minions it waits for and which have
/// returned. Shared between the job runner, which writes it, and whoever
/// shows a task's progress or cancels it; and, if it has one, told of
/// each return as it arrives (the task's event stream).
#[derive(Clone, Default)]
pub struct Progress {
    heard: Arc<Mutex<Heard>>,
    listener: Option<Listener>,
}

/// Called with each return a job hears (minion id, its return), on the
/// job's own task: it must not block for long.
pub type Listener = Arc<dyn Fn(&str, &Return) + Send + Sync>;

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("heard", &self.heard)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

/// What [`Progress`] holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// The jid, once the job is published (or re-attached).
    pub jid: Option<String>,
    /// The minions the master published to.
    pub expected: BTreeSet<String>,
    pub returned: BTreeSet<String>,
}

impl Heard {
    /// Expected minions that have not returned yet.
    pub fn pending(&self) -> Vec<String> {
        self.expected.difference(&self.returned).cloned().collect()
    }
}

impl Progress {
    /// A progress that tells `listener` of every return.
    pub fn with_listener(listener: Listener) -> Progress {
        Progress {
            heard: Arc::default(),
            listener: Some(listener),
        }
    }

    pub fn snapshot(&self) -> Heard {
        self.heard.lock_anyway().clone()
    }

    /// The job is published (or re-attached, with the `returns` its
    /// cache already held, which the listener is told of).
    pub(super) fn start(&self, jid: &str, expected: &BTreeSet<String>, returns: &BTreeMap<String, Return>) {
        if let Some(listener) = &self.listener {
            for (id, ret) in returns.iter().filter(|(id, _)| expected.contains(*id)) {
                listener(id, ret);
            }
        }
        let mut heard = self.heard.lock_anyway();
        heard.jid = Some(jid.to_owned());
        heard.expected = expected.clone();
        heard.returned = returns
            .keys()
            .filter(|id| expected.contains(*id))
            .cloned()
            .collect();
    }

    /// Minion `id` returned `ret`; a minion the job was not published
    /// to is not counted, nor told of.
    pub(super) fn returned(&self, id: &str, ret: &Return) {
        let mut heard = self.heard.lock_anyway();
        if !heard.expected.contains(id) {
            return;
        }
        heard.returned.insert(id.to_owned());
        drop(heard);
        if let Some(listener) = &self.listener {
            listener(id, ret);
        }
    }
}
