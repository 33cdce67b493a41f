//! Running lowstates: `POST /` (the session's token), `POST /run` (the
//! credentials or token inside each lowstate) and `POST /minions`
//! (`local_async`). Each client goes to the service layer, where targets
//! are expanded to exact ids and the caller's ACLs checked before anything
//! is published; answers take salt-api's shapes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::lowstate::{Batch, Client, Lowstate};
use super::{Answer, SaltReq};
use crate::config::SaltApiSettings;
use crate::http::{ApiError, AppState};
use crate::service::{self, Call, JobRequest, MasterCall, Outcome, Service};
use crate::store::{FailureKind, MinionResult};
use crate::targeting::TargetExpr;

/// `POST /`: every lowstate under the session's token.
pub(super) async fn lowstates(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
) -> Result<Answer, ApiError> {
    let user_id = req.caller()?.user_id;
    let out = execute_all(state, settings, user_id, req.lowstates()?).await?;
    Ok(Answer::ok(json!({ "return": out })))
}

/// Every lowstate for `user_id`: all checked first (a list with one
/// lowstate refused runs none of them), then run in order; their answers
/// in one list.
async fn execute_all(
    state: &AppState,
    settings: &SaltApiSettings,
    user_id: u64,
    lowstates: Vec<Lowstate>,
) -> Result<Vec<Value>, ApiError> {
    let mut checked = Vec::with_capacity(lowstates.len());
    for lowstate in lowstates {
        checked.push((user_id, prepare(state, settings, user_id, lowstate).await?));
    }
    perform_all(state, checked).await
}

/// Each checked lowstate, in order, for its user.
async fn perform_all(state: &AppState, checked: Vec<(u64, Checked)>) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for (user_id, one) in checked {
        out.extend(perform(state, user_id, one).await?);
    }
    Ok(out)
}

/// `POST /run`: each lowstate carries its own token, or its own user
/// name, password and eauth (checked as a login is, throttled alike).
pub(super) async fn run(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
) -> Result<Answer, ApiError> {
    let lowstates = req.lowstates()?;
    let mut checked = Vec::with_capacity(lowstates.len());
    for lowstate in lowstates {
        let creds = &lowstate.credentials;
        let user_id = match (&creds.token, &creds.username, &creds.password, &creds.eauth) {
            (Some(token), ..) => super::caller_of(state, token)?.user_id,
            (None, Some(user), Some(password), Some(eauth)) => {
                super::login::check(state, settings, req, user, password, eauth).await?
            }
            _ => {
                return Err(ApiError::Unauthorized(
                    "No authentication credentials given".into(),
                ))
            }
        };
        checked.push((user_id, prepare(state, settings, user_id, lowstate).await?));
    }
    let out = perform_all(state, checked).await?;
    Ok(Answer::ok(json!({ "return": out })))
}

/// `POST /minions`: each lowstate as `local_async`; 202 with links to
/// each job.
pub(super) async fn minions_async(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
) -> Result<Answer, ApiError> {
    let user_id = req.caller()?.user_id;
    // The client is set before the lowstates are checked: a body need
    // not name it (salt-api sets it the same way).
    let lowstates = req.lowstates_as(Client::LocalAsync)?;
    let out = execute_all(state, settings, user_id, lowstates).await?;
    let links: Vec<Value> = out
        .iter()
        .filter_map(|job| job.get("jid").and_then(Value::as_str))
        .map(|jid| json!({"href": format!("/jobs/{jid}")}))
        .collect();
    let mut answer = Answer::ok(json!({"return": out, "_links": {"jobs": links}}));
    answer.status = StatusCode::ACCEPTED;
    Ok(answer)
}

/// The clients that may run: the `saltapi-client` setting, else the
/// master's `netapi_enable_clients`.
fn enabled(state: &AppState, settings: &SaltApiSettings, client: Client) -> bool {
    let name = client.name();
    if !settings.clients.is_empty() {
        return settings.clients.iter().any(|c| c == name);
    }
    state
        .salt
        .as_ref()
        .is_some_and(|salt| salt.master().netapi_enable_clients.iter().any(|c| c == name))
}

/// A lowstate that passed every check: its client is enabled, and the
/// caller may run it (a `local*` one with its target expanded to exact
/// ids and authorized, a runner or wheel with its function allowed).
/// Nothing is published before every lowstate of a request is checked.
enum Checked {
    Local(Lowstate, JobRequest),
    Master(Lowstate),
}

/// The checks of one lowstate for `user_id`, run before any is performed.
async fn prepare(
    state: &AppState,
    settings: &SaltApiSettings,
    user_id: u64,
    lowstate: Lowstate,
) -> Result<Checked, ApiError> {
    let client = lowstate.client;
    if !enabled(state, settings, client) {
        return Err(ApiError::BadRequest(format!(
            "Client disabled: '{}'. Add to 'netapi_enable_clients' master config option to enable.",
            client.name()
        )));
    }
    if lowstate.ret.is_some() {
        return Err(ApiError::BadRequest(
            "ret (a returner for the job) is not supported by projetyd; the job's returns are kept in its task record and the master's job cache".into(),
        ));
    }
    let service = &state.service;
    match client {
        Client::Ssh => Err(ApiError::BadRequest(
            "the ssh client (salt-ssh) is not supported by projetyd".into(),
        )),
        Client::Local | Client::LocalAsync | Client::LocalBatch | Client::LocalSubset => {
            let job = local_job(service, user_id, &lowstate).await?;
            // The whole target, before anything runs: a subset is drawn
            // from a target the caller may run on, not the other way round.
            service.authorize(&job)?;
            Ok(Checked::Local(lowstate, job))
        }
        Client::Runner | Client::RunnerAsync => {
            service.check_runner(user_id, &lowstate.fun)?;
            Ok(Checked::Master(lowstate))
        }
        Client::Wheel | Client::WheelAsync => {
            service.check_wheel(user_id, &lowstate.fun)?;
            Ok(Checked::Master(lowstate))
        }
    }
}

/// Runs one checked lowstate for `user_id`; what it yields (several
/// answers for `local_batch`, one for the others).
async fn perform(state: &AppState, user_id: u64, checked: Checked) -> Result<Vec<Value>, ApiError> {
    let service = &state.service;
    let (lowstate, job) = match checked {
        Checked::Local(lowstate, job) => (lowstate, Some(job)),
        Checked::Master(lowstate) => (lowstate, None),
    };
    let full_return = lowstate.full_return;
    let client = lowstate.client;
    match (client, job) {
        (Client::Local, Some(job)) => {
            let jid = chosen_jid(&lowstate)?;
            let outcome = service.run_under(&job, jid.clone()).await?;
            Ok(vec![Value::Object(returns(outcome, &jid, full_return)?)])
        }
        (Client::LocalAsync, Some(job)) => {
            let jid = chosen_jid(&lowstate)?;
            let minions = job.targets.clone();
            service.submit_under(job, Some(jid.clone())).await?;
            Ok(vec![json!({"jid": jid, "minions": minions})])
        }
        (Client::LocalBatch, Some(job)) => {
            let size = batch_size(lowstate.batch, job.targets.len());
            batch(service.clone(), job, size, full_return).await
        }
        (Client::LocalSubset, Some(mut job)) => {
            let count = lowstate.subset.unwrap_or(1) as usize;
            job.targets = subset(state, &job, count).await?;
            let jid = service::new_jid();
            let outcome = service.run_under(&job, jid.clone()).await?;
            Ok(vec![Value::Object(returns(outcome, &jid, full_return)?)])
        }
        (Client::Runner, None) => {
            let timeout = lowstate.timeout.map(Duration::from_secs_f64);
            let ret = service.runner(user_id, master_call(lowstate), timeout).await?;
            let value = crate::salt::json::to_json(&ret.ret);
            Ok(vec![match full_return {
                true => json!({"tag": format!("salt/run/{}/ret", ret.jid), "data": {
                    "fun": ret.fun,
                    "jid": ret.jid,
                    "user": nickname(state, user_id)?,
                    "fun_args": crate::salt::json::to_json(&ret.fun_args),
                    "_stamp": ret.stamp.unwrap_or_else(stamp),
                    "return": value,
                    "success": ret.success,
                }}),
                false => value,
            }])
        }
        (Client::RunnerAsync, None) => {
            let jid = service.runner_async(user_id, master_call(lowstate)).await?;
            Ok(vec![json!({"tag": format!("salt/run/{jid}"), "jid": jid})])
        }
        (Client::Wheel | Client::WheelAsync, None) => {
            let fun = lowstate.fun.clone();
            let ret = service.wheel(user_id, master_call(lowstate)).await?;
            let tag = format!("salt/wheel/{}", ret.jid);
            // The master's wheel command answers once the function ran,
            // so `wheel_async` has its jid (and its return) at once.
            Ok(vec![match client {
                Client::WheelAsync => json!({"tag": tag, "jid": ret.jid}),
                _ => {
                    let mut data = json!({
                        "fun": format!("wheel.{fun}"),
                        "jid": ret.jid,
                        "tag": tag,
                        "user": nickname(state, user_id)?,
                        "return": crate::salt::json::to_json(&ret.ret),
                        "success": ret.success,
                    });
                    // As the master sent it: 3008 has no `_stamp` here.
                    if let Some(stamp) = ret.stamp {
                        data["_stamp"] = stamp.into();
                    }
                    json!({"tag": tag, "data": data})
                }
            }])
        }
        // `prepare` pairs every local client with its job and no other;
        // ssh never gets here.
        (client, _) => Err(ApiError::Internal(
            format!("the {} client reached perform unchecked", client.name()).into(),
        )),
    }
}

/// The job a `local*` lowstate stands for: its target expanded to exact
/// accepted ids, its function one some minion offers.
async fn local_job(
    service: &Arc<Service>,
    user_id: u64,
    lowstate: &Lowstate,
) -> Result<JobRequest, ApiError> {
    let expr = match &lowstate.tgt {
        Some(Value::String(text)) => TargetExpr::One(text.clone()),
        Some(Value::Array(items)) => TargetExpr::List(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => return Err(ApiError::BadRequest("tgt is required".into())),
    };
    let call = Call {
        function: lowstate.fun.clone(),
        args: lowstate.arg.clone(),
        kwargs: lowstate.kwarg.clone().into_iter().collect::<BTreeMap<_, _>>(),
        timeout: lowstate
            .timeout
            .map(|t| Duration::from_secs_f64(t).min(service.max_timeout())),
        full_return: lowstate.full_return,
    };
    let job = service
        .run_on_target(user_id, &lowstate.tgt_type, expr, call)
        .await?;
    Ok(job)
}

/// The lowstate's `jid` (a Salt jid: 20 digits), or a new one.
fn chosen_jid(lowstate: &Lowstate) -> Result<String, ApiError> {
    match &lowstate.jid {
        None => Ok(service::new_jid()),
        Some(jid) if jid.len() == 20 && jid.bytes().all(|b| b.is_ascii_digit()) => Ok(jid.clone()),
        Some(_) => Err(ApiError::BadRequest(
            "jid must be a Salt job id (20 digits)".into(),
        )),
    }
}

/// The name `user_id` logged in with, as salt-api's answers show the
/// eauth user ("" for a user deleted meanwhile).
pub(super) fn nickname(state: &AppState, user_id: u64) -> Result<String, ApiError> {
    Ok(state.store.user(user_id)?.map(|u| u.nickname).unwrap_or_default())
}

/// A finished job's answer, by minion: the return, or with
/// `full_return` `{ret, retcode, jid}` (and `success`); a minion that
/// never returned is `false`, or with `full_return` the `no_return` entry
/// Salt 3008 gives.
pub(super) fn returns(
    outcome: Outcome,
    jid: &str,
    full_return: bool,
) -> Result<Map<String, Value>, ApiError> {
    let results = match outcome {
        Outcome::Ran(results) => results,
        Outcome::Returned(pings) => pings
            .into_iter()
            .map(|(id, up)| {
                (
                    id,
                    MinionResult::Returned {
                        value: up,
                        retcode: 0,
                        success: true,
                        exception: false,
                    },
                )
            })
            .collect(),
        Outcome::Failed(failure) => return Err(failed(failure.kind, failure.message)),
    };
    let mut out = Map::new();
    for (id, result) in results {
        let value = match result {
            MinionResult::Returned {
                value,
                retcode,
                success,
                ..
            } => {
                let value: Value = serde_json::from_str(&value).unwrap_or(Value::String(value));
                match full_return {
                    true => json!({"ret": value, "retcode": retcode, "success": success, "jid": jid}),
                    false => value,
                }
            }
            MinionResult::Silent => match full_return {
                true => json!({
                    "out": "no_return",
                    "ret": "Minion did not return. [No response]",
                    "retcode": 1,
                    "jid": jid,
                }),
                false => Value::Bool(false),
            },
        };
        out.insert(id, value);
    }
    Ok(out)
}

/// A recorded failure as this surface's error.
fn failed(kind: FailureKind, message: String) -> ApiError {
    match kind {
        FailureKind::Invalid => ApiError::BadRequest(message),
        FailureKind::NotFound => ApiError::NotFound(message),
        FailureKind::Forbidden => ApiError::Forbidden(message),
        FailureKind::Unavailable => ApiError::Unavailable {
            message,
            retry_after: Duration::from_secs(5),
        },
        _ => ApiError::ServerError(message),
    }
}

/// How many minions run at once: a count, or a share of the target
/// rounded up (at least one), as Salt's batch reads it.
fn batch_size(batch: Option<Batch>, targets: usize) -> usize {
    match batch {
        Some(Batch::Count(n)) => (n as usize).max(1),
        Some(Batch::Percent(share)) => ((targets as f64 * share / 100.0).ceil() as usize).max(1),
        None => targets.max(1),
    }
}

/// `local_batch`: at most `size` minions run at once, a new one starting
/// as each returns (rolling, as Salt's batch); each minion's answer is
/// one item, in the order they return. The whole target is checked
/// before the first runs.
async fn batch(
    service: Arc<Service>,
    job: JobRequest,
    size: usize,
    full_return: bool,
) -> Result<Vec<Value>, ApiError> {
    service.authorize(&job)?;
    let mut waiting = job.targets.clone().into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    let start = |running: &mut tokio::task::JoinSet<_>, id: String| {
        let service = service.clone();
        let one = JobRequest {
            targets: vec![id],
            ..job.clone()
        };
        running.spawn(async move {
            let jid = service::new_jid();
            let outcome = service.run_under(&one, jid.clone()).await;
            (outcome, jid)
        });
    };
    for id in waiting.by_ref().take(size) {
        start(&mut running, id);
    }
    while let Some(done) = running.join_next().await {
        let (outcome, jid) = done.map_err(|err| ApiError::Internal(Box::new(err)))?;
        out.push(Value::Object(returns(outcome?, &jid, full_return)?));
        if let Some(id) = waiting.next() {
            start(&mut running, id);
        }
    }
    Ok(out)
}

/// `local_subset`: `count` of the target's minions that offer the
/// function, picked at random (Salt's `cmd_subset`).
async fn subset(state: &AppState, job: &JobRequest, count: usize) -> Result<Vec<String>, ApiError> {
    let salt = state.service.salt()?;
    let mut offering = Vec::new();
    for id in &job.targets {
        if salt.may_offer(id, &job.function).await? {
            offering.push(id.clone());
        }
    }
    if offering.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no minion of the target offers {}",
            job.function
        )));
    }
    // Fisher-Yates with the system's random source.
    for i in (1..offering.len()).rev() {
        let mut bytes = [0u8; 8];
        crate::auth::password::random_bytes(&mut bytes).map_err(|err| ApiError::Internal(Box::new(err)))?;
        let j = (u64::from_le_bytes(bytes) % (i as u64 + 1)) as usize;
        offering.swap(i, j);
    }
    offering.truncate(count);
    offering.sort();
    Ok(offering)
}

/// A runner or wheel lowstate's call: `arg`, and as keyword arguments its
/// `kwarg`, every other field, and the `name=value` strings of `arg`
/// (Salt's `parse_input`, as salt-api's runner client reads them).
fn master_call(lowstate: Lowstate) -> MasterCall {
    let mut args = Vec::new();
    let mut kwargs: Vec<(String, Value)> = Vec::new();
    for arg in lowstate.arg {
        match arg.as_str().and_then(keyword) {
            Some((name, value)) => kwargs.push((name, Value::String(value))),
            None => args.push(arg),
        }
    }
    let mut named: Map<String, Value> = lowstate.extra;
    named.extend(lowstate.kwarg);
    kwargs.extend(named);
    MasterCall {
        function: lowstate.fun,
        args,
        kwargs,
    }
}

/// `name=value` as Salt's `KWARG_REGEX` reads it: a name that starts with
/// a letter or `_`, then letters, digits, `_`, `.` or `-`; `==` is not it.
fn keyword(text: &str) -> Option<(String, String)> {
    let (name, value) = text.split_once('=')?;
    if value.starts_with('=') {
        return None;
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    let ok = (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
    ok.then(|| (name.to_owned(), value.to_owned()))
}

/// Now as Salt's `_stamp`: `YYYY-MM-DDTHH:MM:SS.ffffff`, UTC.
fn stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ((y, mo, d), (h, mi, s)) = crate::civil::utc_parts(now.as_secs());
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}",
        now.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_arguments_are_read_as_salt_reads_them() {
        assert_eq!(keyword("jid=123"), Some(("jid".into(), "123".into())));
        assert_eq!(keyword("a.b-c=x=y"), Some(("a.b-c".into(), "x=y".into())));
        assert_eq!(keyword("a==b"), None);
        assert_eq!(keyword("=b"), None);
        assert_eq!(keyword("1a=b"), None);
        assert_eq!(keyword("a b=c"), None);
        assert_eq!(keyword("plain"), None);
    }

    #[test]
    fn batch_sizes_are_counts_or_shares_rounded_up() {
        assert_eq!(batch_size(Some(Batch::Count(2)), 10), 2);
        assert_eq!(batch_size(Some(Batch::Percent(25.0)), 10), 3);
        assert_eq!(batch_size(Some(Batch::Percent(1.0)), 3), 1);
        assert_eq!(batch_size(Some(Batch::Percent(100.0)), 3), 3);
        assert_eq!(batch_size(None, 0), 1);
    }

    #[test]
    fn runner_calls_take_fields_kwarg_and_name_value_args() {
        let lowstate = Lowstate {
            client: Client::Runner,
            fun: "jobs.lookup_jid".into(),
            tgt: None,
            tgt_type: "glob".into(),
            arg: vec![json!("jid=2026"), json!(7), json!("plain")],
            kwarg: json!({"ext_source": "x"}).as_object().unwrap().clone(),
            timeout: None,
            full_return: false,
            batch: None,
            subset: None,
            jid: None,
            ret: None,
            credentials: Default::default(),
            extra: json!({"missing": true}).as_object().unwrap().clone(),
        };
        let call = master_call(lowstate);
        assert_eq!(call.args, vec![json!(7), json!("plain")]);
        assert_eq!(
            call.kwargs,
            vec![
                ("jid".into(), json!("2026")),
                ("ext_source".into(), json!("x")),
                ("missing".into(), json!(true)),
            ]
        );
    }

    #[test]
    fn silent_minions_and_full_returns_take_salt_api_shapes() {
        let outcome = Outcome::Ran(BTreeMap::from([
            (
                "m1".to_owned(),
                MinionResult::Returned {
                    value: "true".into(),
                    retcode: 0,
                    success: true,
                    exception: false,
                },
            ),
            ("m2".to_owned(), MinionResult::Silent),
        ]));
        let plain = returns(outcome.clone(), "1", false).unwrap();
        assert_eq!(Value::Object(plain), json!({"m1": true, "m2": false}));
        let full = returns(outcome, "1", true).unwrap();
        assert_eq!(
            full["m1"],
            json!({"ret": true, "retcode": 0, "success": true, "jid": "1"})
        );
        assert_eq!(full["m2"]["out"], json!("no_return"));
    }
}
