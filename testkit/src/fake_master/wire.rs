//! What the fake master says, as msgpack values: its replies, a minion's
//! returns and the other events of a job. Pure functions; no sockets.

use rmpv::Value;

use super::{Emit, Request};

/// A msgpack map with string keys.
pub fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

/// `value` as msgpack bytes.
pub fn pack(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    rmpv::encode::write_value(&mut out, value).expect("writing to a Vec cannot fail");
    out
}

pub(super) fn get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let pairs = value.as_map()?;
    pairs
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

pub(super) fn text(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn strings(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|m| Value::from(m.as_str())).collect())
}

/// The reply a master gives to an accepted publish.
pub fn publish_reply(req: &Request) -> Value {
    let load = map(vec![
        ("jid", req.jid.as_str().into()),
        ("minions", strings(&req.minions)),
        ("missing", strings(&req.missing)),
    ]);
    map(vec![("enc", "clear".into()), ("load", load)])
}

/// The reply to a publish with a wrong key.
pub fn auth_error() -> Value {
    let error = map(vec![
        ("name", "AuthenticationError".into()),
        ("message", "Authentication error occurred.".into()),
    ]);
    map(vec![("error", error)])
}

/// What a minion returns for the functions the client sends on its own,
/// and `true` for anything else.
pub fn standard_value(fun: &str) -> Value {
    match fun {
        "sys.list_functions" => Value::Array(vec![
            "state.sls".into(),
            "sys.list_functions".into(),
            "test.ping".into(),
        ]),
        // Not running that job (any more).
        "saltutil.find_job" => map(vec![]),
        _ => Value::Boolean(true),
    }
}

/// What a real master sends for a publish: the bare jid event,
/// `salt/job/<jid>/new`, an unrelated `salt/auth` event, then the full
/// return of each accepted target but the `silent-` ones, `value(fun)`.
pub fn job_events(req: &Request, value: impl Fn(&str) -> Value) -> Vec<Emit> {
    events(&req.jid, &req.fun, &req.minions, true, &value)
}

pub(super) fn events(
    jid: &str,
    fun: &str,
    minions: &[String],
    full: bool,
    value: &dyn Fn(&str) -> Value,
) -> Vec<Emit> {
    let mut emit = Vec::with_capacity(minions.len() + 3);
    if full {
        let new = map(vec![
            ("jid", jid.into()),
            ("fun", fun.into()),
            ("minions", strings(minions)),
        ]);
        emit.extend([
            Emit::Event(jid.to_owned(), map(vec![("minions", strings(minions))])),
            Emit::Event(format!("salt/job/{jid}/new"), new),
            // Other traffic on the bus, to be skipped.
            Emit::Event("salt/auth".into(), map(vec![("id", "m9".into())])),
        ]);
    }
    for minion in minions.iter().filter(|m| !m.starts_with("silent-")) {
        let mut data = vec![
            ("id", minion.as_str().into()),
            ("jid", jid.into()),
            ("fun", fun.into()),
            ("return", value(fun)),
            ("retcode", 0.into()),
            ("success", true.into()),
        ];
        if full {
            data.extend([
                ("cmd", "_return".into()),
                ("fun_args", Value::Array(vec![])),
                ("_stamp", "2026-11-26T17:29:03.755465".into()),
            ]);
        }
        emit.push(Emit::Event(format!("salt/job/{jid}/ret/{minion}"), map(data)));
    }
    emit
}
