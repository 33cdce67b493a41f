//! What a job gives back: each minion's [`Return`] and the
//! [`JobOutcome`] of the whole job. Plain data, shared by the job runner
//! (`job.rs`, from the event bus) and the job-cache reader (`cache.rs`).

use std::collections::BTreeMap;

use rmpv::Value;

use super::wire;

/// One minion's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Return {
    pub value: Value,
    pub retcode: i64,
    pub success: bool,
}

impl Return {
    pub(crate) fn from_data(data: &Value) -> Return {
        Return {
            value: wire::get(data, "return").cloned().unwrap_or(Value::Nil),
            retcode: wire::get(data, "retcode").and_then(Value::as_i64).unwrap_or(0),
            success: wire::get(data, "success")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        }
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
