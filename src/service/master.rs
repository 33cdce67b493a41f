//! Runner and wheel functions (they run on the master, not on minions),
//! under the same rights as minion jobs: a runner needs an `@runner` ACL
//! whose functions match it, or, for the `jobs` runner, a `@jobs` one; a
//! wheel function needs `@wheel`. An admin may run any. Checked here,
//! before anything is sent to the master.

use std::time::Duration;

use serde_json::Value as Json;

use super::{Error, Rights, Service};
use crate::salt::{json, RunnerReturn, WheelReturn};
use crate::targeting::Class;

/// A runner or wheel call as a request gives it.
#[derive(Debug, Clone, Default)]
pub struct MasterCall {
    pub function: String,
    pub args: Vec<Json>,
    pub kwargs: Vec<(String, Json)>,
}

impl Rights {
    /// Whether the runner `fun` is allowed: `@runner`, or `@jobs` for the
    /// `jobs` runner (its entry matching `jobs.<name>` or `<name>`, as
    /// Salt's `@jobs` matches the function's name within the module).
    pub fn permits_runner(&self, fun: &str) -> bool {
        if self.permits_class(Class::Runner, fun) {
            return true;
        }
        match fun.strip_prefix("jobs.") {
            Some(name) => self.permits_class(Class::Jobs, fun) || self.permits_class(Class::Jobs, name),
            None => false,
        }
    }
}

impl Service {
    /// `Forbidden` unless `user_id` may run the runner `fun`.
    pub fn check_runner(&self, user_id: u64, fun: &str) -> Result<(), Error> {
        check_name(fun, "runner")?;
        match self.rights(user_id)?.permits_runner(fun) {
            true => Ok(()),
            false => Err(refused(user_id, fun, "@runner")),
        }
    }

    /// `Forbidden` unless `user_id` may run the wheel function `fun`.
    pub fn check_wheel(&self, user_id: u64, fun: &str) -> Result<(), Error> {
        check_name(fun, "wheel")?;
        match self.rights(user_id)?.permits_class(Class::Wheel, fun) {
            true => Ok(()),
            false => Err(refused(user_id, fun, "@wheel")),
        }
    }

    /// Runs a runner and waits at most `timeout` for its return (the
    /// master's `timeout` when `None`). A runner still running then is
    /// `Unavailable`, naming its jid.
    pub async fn runner(
        &self,
        user_id: u64,
        call: MasterCall,
        timeout: Option<Duration>,
    ) -> Result<RunnerReturn, Error> {
        self.check_runner(user_id, &call.function)?;
        let salt = self.salt()?;
        let timeout = timeout.unwrap_or(salt.master().timeout).min(self.max_timeout());
        log_call(user_id, "runner", &call);
        let (args, kwargs) = wire_args(&call);
        Ok(salt.runner(&call.function, args, kwargs, timeout).await?)
    }

    /// Starts a runner; its jid once the master accepted it.
    pub async fn runner_async(&self, user_id: u64, call: MasterCall) -> Result<String, Error> {
        self.check_runner(user_id, &call.function)?;
        let salt = self.salt()?;
        log_call(user_id, "runner", &call);
        let (args, kwargs) = wire_args(&call);
        Ok(salt.runner_async(&call.function, args, kwargs).await?)
    }

    /// Runs a wheel function (the master runs it before it answers).
    pub async fn wheel(&self, user_id: u64, call: MasterCall) -> Result<WheelReturn, Error> {
        self.check_wheel(user_id, &call.function)?;
        let salt = self.salt()?;
        log_call(user_id, "wheel", &call);
        let (args, kwargs) = wire_args(&call);
        Ok(salt.wheel(&call.function, args, kwargs).await?)
    }
}

/// A runner or wheel name is `module.function`, as Salt requires ("A
/// command invocation error occurred: Check syntax." otherwise).
fn check_name(fun: &str, kind: &str) -> Result<(), Error> {
    let ok_part =
        |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match fun.split_once('.') {
        Some((module, name)) if ok_part(module) && ok_part(name) => Ok(()),
        _ => Err(Error::Invalid(format!(
            "{fun:?} is not a {kind} function name (module.function)"
        ))),
    }
}

fn refused(user_id: u64, fun: &str, class: &str) -> Error {
    log::info!("user {user_id}: refused {class} function {fun}");
    Error::Forbidden(format!("you are not allowed to perform {fun} ({class})"))
}

/// One line per call: who, what, how many arguments; never their values.
fn log_call(user_id: u64, kind: &str, call: &MasterCall) {
    log::info!(
        "user {user_id}: {kind} {} with {} argument(s)",
        call.function,
        call.args.len() + call.kwargs.len()
    );
}

fn wire_args(call: &MasterCall) -> (Vec<rmpv::Value>, Vec<(String, rmpv::Value)>) {
    let args = call.args.iter().map(json::from_json).collect();
    let kwargs = call
        .kwargs
        .iter()
        .map(|(k, v)| (k.clone(), json::from_json(v)))
        .collect();
    (args, kwargs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targeting::AclSet;

    #[test]
    fn runner_rights_take_runner_and_jobs_entries() {
        let rights = Rights::Acls(AclSet::compile(&[
            ("@runner", "manage.*"),
            ("@jobs", "list_jobs"),
        ]));
        assert!(rights.permits_runner("manage.status"));
        assert!(rights.permits_runner("jobs.list_jobs"));
        assert!(!rights.permits_runner("jobs.lookup_jid"));
        assert!(!rights.permits_runner("state.orchestrate"));
        let jobs = Rights::Acls(AclSet::compile(&[("@jobs", "jobs.*")]));
        assert!(jobs.permits_runner("jobs.lookup_jid"));
        assert!(!jobs.permits_runner("manage.up"));
        assert!(Rights::Admin.permits_runner("anything.at_all"));
        let none = Rights::Acls(AclSet::compile(&[("*", ".*")]));
        assert!(
            !none.permits_runner("jobs.list_jobs"),
            "minion ACLs give no runner"
        );
    }

    #[test]
    fn names_must_be_module_dot_function() {
        assert!(check_name("jobs.list_jobs", "runner").is_ok());
        for bad in [
            "",
            "jobs",
            ".x",
            "x.",
            "a.b.c",
            "a b.c",
            "a.b;c",
            "__import__.x y",
        ] {
            assert!(check_name(bad, "runner").is_err(), "{bad:?}");
        }
    }
}
