//! Minions and their functions: which minions there are, what one offers,
//! a function's documentation, and a job of any function on one minion or
//! on a target expanded to exact ids.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::{Error, JobRequest, Service, TaskKind};
use crate::salt::{grains, Salt};
use crate::targeting::{expand, Expansion, Fleet, Target, TargetExpr, TargetType};

/// What a caller asks to run, before it is checked: the function and its
/// arguments as the request gave them.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub function: String,
    pub args: Vec<serde_json::Value>,
    pub kwargs: BTreeMap<String, serde_json::Value>,
    pub timeout: Option<Duration>,
    /// Each minion's retcode and success beside its return.
    pub full_return: bool,
}

impl Service {
    /// The accepted minion ids, sorted.
    pub async fn minions(&self) -> Result<Vec<String>, Error> {
        let keys = self.salt()?.keys().await?;
        Ok(keys.minions.clone())
    }

    /// The functions `minion` offers; `Invalid` when it is not an accepted
    /// key (the seed API answers 400 there).
    pub async fn minion_functions(&self, minion: &str) -> Result<Arc<Vec<String>>, Error> {
        let salt = self.salt()?;
        accepted(&salt.keys().await?.minions, minion)?;
        Ok(salt.minion_functions(minion).await?)
    }

    /// The documentation of `function` on `minion`.
    pub async fn documentation(&self, minion: &str, function: &str) -> Result<String, Error> {
        offered(&self.minion_functions(minion).await?, minion, function)?;
        self.salt()?
            .doc(minion, function)
            .await?
            .ok_or_else(|| Error::Invalid(format!("minion {minion:?} has no documentation for {function:?}")))
    }

    /// `call` on one minion, which must be an accepted key that offers the
    /// function (or, not listed yet, one some other minion offers).
    pub async fn run_on_minion(&self, user_id: u64, minion: &str, call: Call) -> Result<JobRequest, Error> {
        let salt = self.salt()?;
        accepted(&salt.keys().await?.minions, minion)?;
        if !salt.may_offer(minion, &call.function).await? {
            return Err(unavailable(minion, &call.function));
        }
        let timeout = self.timeout(self.salt()?, call.timeout);
        Ok(job(user_id, vec![minion.to_owned()], call, timeout))
    }
}

impl Service {
    /// `call` on a target as a request gives it: expanded here to exact
    /// accepted ids (`targeting`), which are what is checked and
    /// published. The function must be one some minion offers.
    pub async fn run_on_target(
        &self,
        user_id: u64,
        target_type: &str,
        expr: TargetExpr,
        call: Call,
    ) -> Result<JobRequest, Error> {
        let kind = TargetType::parse(target_type).map_err(|err| Error::Invalid(err.to_string()))?;
        let target = Target { kind, expr };
        let salt = self.salt()?;
        let expansion = expand_on(salt, &target).await?;
        if expansion.ids.is_empty() {
            return Err(Error::NotFound(match expansion.unknown.as_slice() {
                [] => format!(
                    "the {kind} target {} matches no accepted minion",
                    shown(&target.expr)
                ),
                unknown => format!("none of the targets is an accepted minion key: {unknown:?}"),
            }));
        }
        let functions = salt.functions().await?;
        if functions
            .binary_search_by(|f| f.as_str().cmp(&call.function))
            .is_err()
        {
            return Err(Error::Invalid(format!(
                "function {:?} is not offered by any minion",
                call.function
            )));
        }
        let timeout = self.timeout(salt, call.timeout);
        Ok(job(user_id, expansion.ids, call, timeout))
    }
}

/// The target as the caller wrote it, for a message.
fn shown(expr: &TargetExpr) -> String {
    match expr {
        TargetExpr::One(text) => format!("{text:?}"),
        TargetExpr::List(items) => format!("{items:?}"),
    }
}

/// Expands `target` over the master's accepted keys, with the minion data
/// cache's grains (read only when the target can look at grains) and the
/// master config's nodegroups.
async fn expand_on(salt: &Salt, target: &Target) -> Result<Expansion, Error> {
    let keys = salt.keys().await?;
    let ids = keys.minions.clone();
    let needs_grains = match (target.kind, &target.expr) {
        (TargetType::Grain | TargetType::GrainPcre | TargetType::Nodegroup, _) => true,
        (TargetType::Compound, TargetExpr::One(text)) => {
            text.contains("G@") || text.contains("P@") || text.contains("N@")
        }
        (TargetType::Compound, TargetExpr::List(words)) => words
            .iter()
            .any(|w| w.contains("G@") || w.contains("P@") || w.contains("N@")),
        _ => false,
    };
    let grains = match needs_grains {
        true => {
            let cachedir = salt.master().cachedir.clone();
            let ids = ids.clone();
            tokio::task::spawn_blocking(move || grains::load(&cachedir, &ids))
                .await
                .map_err(|err| Error::Internal(Box::new(err)))?
        }
        false => HashMap::new(),
    };
    let fleet = Fleet::new(ids, grains, grains::nodegroups(&salt.master().nodegroups));
    let target = target.clone();
    // A compound over a large fleet is CPU work: off the async workers.
    tokio::task::spawn_blocking(move || expand(&target, &fleet))
        .await
        .map_err(|err| Error::Internal(Box::new(err)))?
        .map_err(|err| Error::Invalid(err.to_string()))
}

/// The job `call` stands for, on exact `targets`.
fn job(user_id: u64, targets: Vec<String>, call: Call, timeout: Duration) -> JobRequest {
    JobRequest {
        user_id,
        kind: TaskKind::Run {
            full_return: call.full_return,
        },
        function: call.function,
        args: call.args.iter().map(serde_json::Value::to_string).collect(),
        kwargs: call
            .kwargs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        targets,
        timeout,
    }
}

fn accepted(minions: &[String], minion: &str) -> Result<(), Error> {
    match minions.binary_search_by(|id| id.as_str().cmp(minion)) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::Invalid(format!(
            "minion {minion:?} is not an accepted key"
        ))),
    }
}

fn offered(functions: &[String], minion: &str, function: &str) -> Result<(), Error> {
    match functions.binary_search_by(|f| f.as_str().cmp(function)) {
        Ok(_) => Ok(()),
        Err(_) => Err(unavailable(minion, function)),
    }
}

fn unavailable(minion: &str, function: &str) -> Error {
    Error::Invalid(format!(
        "function {function:?} is not available on minion {minion:?}"
    ))
}
