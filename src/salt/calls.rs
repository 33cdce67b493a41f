//! Calls of master-side functions over the request port with the master's
//! key: any wheel function (synchronous: the reply holds the return) and
//! any runner (asynchronous: the reply names the jid the master picked, the
//! return comes on the event bus as `salt/run/<jid>/ret`). Knows nothing of
//! users or HTTP and never logs arguments. Wire details:
//! `docs/salt-protocol.md` sections 7 and 8.

use std::time::Duration;

use rmpv::Value;
use tokio::time::Instant;

use super::events::Subscription;
use super::wire::{self, Event};
use super::{Error, Salt};

/// What a wheel function returned.
#[derive(Debug, Clone, PartialEq)]
pub struct WheelReturn {
    pub jid: String,
    /// Salt's own verdict. A function that raised is `false` with a
    /// "Exception occurred in wheel ..." string; one called with bad
    /// arguments is `true` with a "Passed invalid arguments" string.
    pub success: bool,
    pub ret: Value,
    /// The reply's `_stamp` (3006 and 3007 send one, 3008 does not).
    pub stamp: Option<String>,
}

/// What a runner returned (the data of its `salt/run/<jid>/ret` event).
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerReturn {
    pub jid: String,
    /// As for wheel: an unknown runner or one that raised is `false`, with
    /// an "Exception occurred in runner ..." string as `ret`.
    pub success: bool,
    pub ret: Value,
    /// `runner.<fun>`, as the master reports it.
    pub fun: String,
    /// The arguments the master ran it with (kwargs as a last map).
    pub fun_args: Value,
    pub user: String,
    /// The event's `_stamp`, when it had one.
    pub stamp: Option<String>,
}

/// How often a waiting runner checks whether the event bus reconnected.
const BUS_CHECK: Duration = Duration::from_millis(250);

impl Salt {
    /// Runs the wheel function `fun` with `arg` and `kwarg` (in that order)
    /// and returns what it returned.
    pub async fn wheel(
        &self,
        fun: &str,
        arg: Vec<Value>,
        kwarg: Vec<(String, Value)>,
    ) -> Result<WheelReturn, Error> {
        let kwarg = kwarg_map(kwarg);
        let reply = self
            .keyed_request(|key| wire::envelope(&wire::Wheel::new(fun, &arg, &kwarg, key)))
            .await?;
        wheel_return(&reply)
    }

    /// Starts the runner `fun`; its jid once the master has accepted it.
    /// Its return is fired on the event bus as `salt/run/<jid>/ret`.
    pub async fn runner_async(
        &self,
        fun: &str,
        arg: Vec<Value>,
        kwarg: Vec<(String, Value)>,
    ) -> Result<String, Error> {
        self.check_up()?;
        self.send_runner(fun, &arg, kwarg).await
    }

    /// Runs the runner `fun` and waits at most `timeout` for its return;
    /// `Error::RunnerTimeout` (with the jid, it may still be running) after.
    pub async fn runner(
        &self,
        fun: &str,
        arg: Vec<Value>,
        kwarg: Vec<(String, Value)>,
        timeout: Duration,
    ) -> Result<RunnerReturn, Error> {
        self.check_up()?;
        let deadline = Instant::now() + timeout;
        // Before sending: a quick runner fires its return before the reply
        // that names its jid reaches us. Events of other runners are
        // skipped once the jid is known.
        let mut sub = self.events.subscribe_runners();
        let generation = self.events.generation();
        let jid = self.send_runner(fun, &arg, kwarg).await?;
        self.wait_runner(&mut sub, &jid, generation, deadline).await
    }

    async fn send_runner(
        &self,
        fun: &str,
        arg: &[Value],
        kwarg: Vec<(String, Value)>,
    ) -> Result<String, Error> {
        let kwarg = kwarg_map(kwarg);
        let reply = self
            .keyed_request(|key| wire::envelope(&wire::Runner::new(fun, arg, &kwarg, key)))
            .await?;
        runner_accepted(&reply)
    }

    async fn wait_runner(
        &self,
        sub: &mut Subscription,
        jid: &str,
        generation: u64,
        deadline: Instant,
    ) -> Result<RunnerReturn, Error> {
        loop {
            tokio::select! {
                event = sub.events.recv() => match event {
                    Some(event) => if let Some(ret) = runner_return(&event, jid) {
                        return Ok(ret);
                    },
                    None => return Err(Error::Down(format!("event bus closed during runner job {jid}"))),
                },
                () = tokio::time::sleep(BUS_CHECK) => {
                    // Runner returns are not in the job cache to read back:
                    // a return sent while the bus was away is lost.
                    if self.events.generation() != generation {
                        return Err(Error::Down(format!("event bus reconnected during runner job {jid}")));
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Error::RunnerTimeout { jid: jid.to_owned() });
                }
            }
        }
    }
}

fn kwarg_map(kwarg: Vec<(String, Value)>) -> Value {
    Value::Map(kwarg.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

/// The wheel reply `{"tag", "data": {"jid", "return", "success", ...}}`
/// (already checked for `{"error": ...}`).
fn wheel_return(reply: &Value) -> Result<WheelReturn, Error> {
    let data = wire::get(reply, "data").ok_or_else(|| Error::Protocol("wheel reply without data".into()))?;
    let jid = wire::get(data, "jid")
        .and_then(wire::text)
        .ok_or_else(|| Error::Protocol("wheel reply without a jid".into()))?;
    Ok(WheelReturn {
        jid: jid.to_owned(),
        success: wire::get(data, "success").and_then(Value::as_bool) == Some(true),
        ret: wire::get(data, "return").cloned().unwrap_or(Value::Nil),
        stamp: wire::get(data, "_stamp").and_then(wire::text).map(str::to_owned),
    })
}

/// The jid of the runner reply `{"tag": "salt/run/<jid>", "jid": <jid>}`.
fn runner_accepted(reply: &Value) -> Result<String, Error> {
    wire::get(reply, "jid")
        .and_then(wire::text)
        .filter(|jid| !jid.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::Protocol("runner reply without a jid".into()))
}

/// The return in `event`, if it is `salt/run/<jid>/ret`.
fn runner_return(event: &Event, jid: &str) -> Option<RunnerReturn> {
    let rest = event.tag.strip_prefix("salt/run/")?.strip_prefix(jid)?;
    if rest != "/ret" {
        return None;
    }
    let data = &event.data;
    let text = |key| {
        wire::get(data, key)
            .and_then(wire::text)
            .unwrap_or_default()
            .to_owned()
    };
    Some(RunnerReturn {
        jid: jid.to_owned(),
        success: wire::get(data, "success").and_then(Value::as_bool) == Some(true),
        ret: wire::get(data, "return").cloned().unwrap_or(Value::Nil),
        fun: text("fun"),
        fun_args: wire::get(data, "fun_args")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
        user: text("user"),
        stamp: wire::get(data, "_stamp").and_then(wire::text).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
    }

    fn load_of(bytes: &[u8]) -> Value {
        let value = wire::decode(bytes).unwrap();
        wire::get(&value, "load").unwrap().clone()
    }

    #[test]
    fn runner_load_nests_the_arguments_in_kwarg() {
        let arg = [Value::from(1), Value::from("two")];
        let kwarg = kwarg_map(vec![("b".into(), Value::from(2)), ("a".into(), Value::from("x"))]);
        let load = load_of(&wire::envelope(&wire::Runner::new("test.arg", &arg, &kwarg, "K")).unwrap());
        let expected = map(vec![
            ("cmd", "runner".into()),
            ("fun", "test.arg".into()),
            (
                "kwarg",
                map(vec![
                    ("arg", Value::Array(arg.to_vec())),
                    ("kwarg", kwarg.clone()),
                ]),
            ),
            ("key", "K".into()),
            ("user", "root".into()),
        ]);
        assert_eq!(load, expected);
    }

    #[test]
    fn wheel_load_always_has_arg_and_kwarg() {
        let kwarg = kwarg_map(vec![("match".into(), "minion-1".into())]);
        let load = load_of(&wire::envelope(&wire::Wheel::new("key.finger", &[], &kwarg, "K")).unwrap());
        assert_eq!(wire::get(&load, "cmd").and_then(wire::text), Some("wheel"));
        assert_eq!(wire::get(&load, "arg"), Some(&Value::Array(vec![])));
        assert_eq!(wire::get(&load, "kwarg"), Some(&kwarg));
        let empty = kwarg_map(Vec::new());
        let load = load_of(&wire::envelope(&wire::Wheel::new("key.list_all", &[], &empty, "K")).unwrap());
        assert_eq!(
            wire::get(&load, "kwarg"),
            Some(&Value::Map(vec![])),
            "a map even when empty"
        );
    }

    #[test]
    fn wheel_replies_decode() {
        let reply = map(vec![
            ("tag", "salt/wheel/1".into()),
            (
                "data",
                map(vec![
                    ("fun", "wheel.key.list_all".into()),
                    ("jid", "1".into()),
                    ("return", map(vec![("minions", Value::Array(vec!["m1".into()]))])),
                    ("success", true.into()),
                ]),
            ),
        ]);
        let ret = wheel_return(&reply).unwrap();
        assert_eq!(ret.jid, "1");
        assert!(ret.success);
        assert_eq!(wire::strings(wire::get(&ret.ret, "minions")), ["m1"]);
        let failed = map(vec![(
            "data",
            map(vec![
                ("jid", "2".into()),
                ("return", "Exception occurred in wheel no.such: ...".into()),
                ("success", false.into()),
            ]),
        )]);
        assert!(!wheel_return(&failed).unwrap().success);
        assert!(matches!(wheel_return(&map(vec![])), Err(Error::Protocol(_))));
    }

    #[test]
    fn runner_replies_and_returns_decode() {
        let reply = map(vec![("tag", "salt/run/42".into()), ("jid", "42".into())]);
        assert_eq!(runner_accepted(&reply).unwrap(), "42");
        assert!(runner_accepted(&map(vec![])).is_err());
        let data = map(vec![
            ("fun", "runner.test.arg".into()),
            ("jid", "42".into()),
            ("user", "root".into()),
            ("return", map(vec![("args", Value::Array(vec![1.into()]))])),
            ("success", true.into()),
        ]);
        let event = |tag: &str| Event {
            tag: tag.into(),
            data: data.clone(),
        };
        let ret = runner_return(&event("salt/run/42/ret"), "42").unwrap();
        assert_eq!(
            (ret.jid.as_str(), ret.fun.as_str(), ret.user.as_str()),
            ("42", "runner.test.arg", "root")
        );
        assert!(ret.success);
        assert!(runner_return(&event("salt/run/42/new"), "42").is_none());
        assert!(runner_return(&event("salt/run/421/ret"), "42").is_none());
        assert!(runner_return(&event("salt/job/42/ret/m1"), "42").is_none());
    }
}
