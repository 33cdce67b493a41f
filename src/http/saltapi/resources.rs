//! salt-api's convenience URLs: `GET /` (the clients), `/minions` (live
//! grains), `/jobs` (the master's job cache, and projetyd's own task
//! records for the jobs it ran), `/keys` (the key wheel), `/stats`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::lowstate::Client;
use super::{Answer, SaltReq};
use crate::http::{ApiError, AppState};
use crate::service::{Call, MasterCall};
use crate::store::{MinionResult, Outcome, Task};
use crate::targeting::TargetExpr;

/// `GET /`: salt-api's welcome and every client it knows (enabled or
/// not, as salt-api lists them).
pub(super) fn index() -> Answer {
    let clients: Vec<&str> = Client::ALL.iter().map(|c| c.name()).collect();
    Answer::ok(json!({"return": "Welcome", "clients": clients}))
}

/// `GET /minions[/<mid>]`: `grains.items` now, on every minion or on
/// `mid` (a glob, as salt-api takes it); the caller needs `grains.items`
/// on each. A targeted minion that did not answer is `false`, as
/// salt-api has it.
pub(super) async fn minions(state: &AppState, req: &SaltReq, mid: Option<&str>) -> Result<Answer, ApiError> {
    let user_id = req.caller()?.user_id;
    let target = TargetExpr::One(mid.filter(|m| !m.is_empty()).unwrap_or("*").to_owned());
    let call = Call {
        function: "grains.items".into(),
        ..Call::default()
    };
    let job = state.service.run_on_target(user_id, "glob", target, call).await?;
    let jid = crate::service::new_jid();
    let outcome = state.service.run_under(&job, jid.clone()).await?;
    // As salt-api: a minion that did not answer is `false`.
    let out = super::clients::returns(outcome, &jid, false)?;
    Ok(Answer::ok(json!({"return": [out]})))
}

/// `GET /jobs`: the master's job cache (runner `jobs.list_jobs`, which
/// needs `@jobs` or `@runner`). `GET /jobs/<jid>`: a job projetyd ran for
/// the caller, from its task record (so it answers after a restart, and
/// whatever the master's cache kept); any other from the master
/// (`jobs.list_job`).
pub(super) async fn jobs(state: &AppState, req: &SaltReq, jid: Option<&str>) -> Result<Answer, ApiError> {
    let user_id = req.caller()?.user_id;
    let Some(jid) = jid else {
        let ret = state
            .service
            .runner(user_id, master("jobs.list_jobs", Vec::new()), None)
            .await?;
        return Ok(Answer::ok(
            json!({"return": [crate::salt::json::to_json(&ret.ret)]}),
        ));
    };
    if let Some((_, task)) = state.service.task_by_jid(user_id, jid)? {
        if task.state.is_final() {
            let user = super::clients::nickname(state, task.user_id)?;
            return Ok(Answer::ok(recorded(jid, &task, &user)));
        }
    }
    let ret = state
        .service
        .runner(
            user_id,
            master(
                "jobs.list_job",
                vec![("jid".into(), Value::String(jid.to_owned()))],
            ),
            None,
        )
        .await?;
    let info = crate::salt::json::to_json(&ret.ret);
    let mut returns = Map::new();
    if let Some(Value::Object(result)) = info.get("Result") {
        for (minion, data) in result {
            returns.insert(minion.clone(), data.get("return").cloned().unwrap_or(Value::Null));
        }
    }
    Ok(Answer::ok(json!({"info": [info], "return": [returns]})))
}

/// A finished task's job in `jobs.list_job`'s shape.
fn recorded(jid: &str, task: &Task, user: &str) -> Value {
    let mut result = BTreeMap::new();
    let mut returns = Map::new();
    if let Some(Outcome::Ran(results)) = &task.outcome {
        for (minion, r) in results {
            if let MinionResult::Returned {
                value,
                retcode,
                success,
                ..
            } = r
            {
                let value: Value = serde_json::from_str(value).unwrap_or(Value::Null);
                result.insert(
                    minion.clone(),
                    json!({"return": value.clone(), "retcode": retcode, "success": success}),
                );
                returns.insert(minion.clone(), value);
            }
        }
    }
    let arguments: Vec<Value> = task
        .args
        .iter()
        .map(|a| serde_json::from_str(a).unwrap_or(Value::Null))
        .collect();
    let mut info = json!({
        "jid": jid,
        "Function": task.function,
        "Arguments": arguments,
        "Target": task.target,
        "Target-type": "list",
        "User": user,
        "Minions": task.target,
        "StartTime": start_time(jid),
        "Result": result,
    });
    if let Some(Outcome::Failed(failure)) = &task.outcome {
        info["Error"] = Value::String(failure.message.clone());
    }
    json!({"info": [info], "return": [returns]})
}

/// A jid's time as Salt's `jid_to_time` writes it: `2026, Dec 03
/// 08:47:40.123456`.
fn start_time(jid: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if jid.len() != 20 || !jid.bytes().all(|b| b.is_ascii_digit()) {
        return String::new();
    }
    let month: usize = jid[4..6].parse().unwrap_or(0);
    let Some(name) = month.checked_sub(1).and_then(|m| MONTHS.get(m)) else {
        return String::new();
    };
    format!(
        "{}, {name} {} {}:{}:{}.{}",
        &jid[0..4],
        &jid[6..8],
        &jid[8..10],
        &jid[10..12],
        &jid[12..14],
        &jid[14..20]
    )
}

/// `GET /keys`: wheel `key.list_all`; `GET /keys/<mid>`: `key.finger`
/// (both need `@wheel` for the function, as on salt-api).
pub(super) async fn keys(state: &AppState, req: &SaltReq, mid: Option<&str>) -> Result<Answer, ApiError> {
    let user_id = req.caller()?.user_id;
    let call = match mid {
        None => master("key.list_all", Vec::new()),
        Some(mid) => master(
            "key.finger",
            vec![("match".into(), Value::String(mid.to_owned()))],
        ),
    };
    let ret = state.service.wheel(user_id, call).await?;
    Ok(Answer::ok(
        json!({"return": crate::salt::json::to_json(&ret.ret)}),
    ))
}

/// `GET /stats`: salt-api's is CherryPy's counters; projetyd's own
/// figures (its version, uptime, the master's state). Prometheus metrics
/// are issue [5/7]'s `/metrics`.
pub(super) fn stats(state: &AppState) -> Answer {
    let master = match &state.salt {
        None => "none",
        Some(salt) if salt.status().is_ok() => "up",
        Some(_) => "down",
    };
    Answer::ok(json!({"return": {
        "projetyd": {
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": state.started.elapsed().as_secs(),
            "salt_master": master,
        }
    }}))
}

fn master(function: &str, kwargs: Vec<(String, Value)>) -> MasterCall {
    MasterCall {
        function: function.into(),
        args: Vec::new(),
        kwargs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_read_off_the_jid_as_salt_writes_them() {
        assert_eq!(start_time("20261203084740123456"), "2026, Dec 03 08:47:40.123456");
        assert_eq!(start_time("2026"), "");
        assert_eq!(start_time("20261303084740123456"), "");
    }
}
