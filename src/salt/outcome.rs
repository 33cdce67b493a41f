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
/// shows a task's progress or cancels it.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Heard>>);

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
    pub fn snapshot(&self) -> Heard {
        self.0.lock_anyway().clone()
    }

    pub(super) fn start(&self, jid: &str, expected: &BTreeSet<String>, returns: &BTreeMap<String, Return>) {
        let mut heard = self.0.lock_anyway();
        heard.jid = Some(jid.to_owned());
        heard.expected = expected.clone();
        heard.returned = returns
            .keys()
            .filter(|id| expected.contains(*id))
            .cloned()
            .collect();
    }

    pub(super) fn returned(&self, id: &str) {
        let mut heard = self.0.lock_anyway();
        if heard.expected.contains(id) {
            heard.returned.insert(id.to_owned());
        }
    }
}
