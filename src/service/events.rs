//! Which master events a user may see on an event stream (`/events`).
//!
//! An admin sees every event. Anyone else sees only what its ACLs would
//! have let it run, read from the event itself; anything this module does
//! not recognise is refused (an event can carry pillar data, keys, returns
//! of other users' jobs):
//!
//! - `salt/job/<jid>/new`: when `fun` is allowed on every minion of
//!   `minions` (the whole target, as for publishing it);
//! - `salt/job/<jid>/ret/<mid>`: when `id` is `<mid>` and `fun` is allowed
//!   on it;
//! - `salt/run/<jid>/...`: when the runner `fun` is allowed (`@runner`, or
//!   `@jobs` for the `jobs` runner);
//! - `salt/wheel/<jid>/...`: when the wheel `fun` is allowed (`@wheel`);
//! - everything else, `salt/netapi/hook/...` included (a hook's body and
//!   headers are whoever fired it's, and hooks name no function an ACL
//!   could be matched against): admins only.

use rmpv::Value;

use super::Rights;
use crate::salt::wire;
use crate::targeting::Class;

/// Whether a user with `rights` may see the event `tag` with `data`.
pub fn visible(rights: &Rights, tag: &str, data: &Value) -> bool {
    let acls = match rights {
        Rights::Admin => return true,
        Rights::Acls(acls) => acls,
    };
    let fun = wire::get(data, "fun").and_then(wire::text);
    if let Some(rest) = tag.strip_prefix("salt/job/") {
        let Some(fun) = fun else { return false };
        let parts: Vec<&str> = rest.split('/').collect();
        return match parts.as_slice() {
            [jid, "new"] if !jid.is_empty() => {
                let minions = wire::strings(wire::get(data, "minions"));
                // A non-string entry would have been skipped: refuse then.
                let listed = wire::get(data, "minions")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                !minions.is_empty() && minions.len() == listed && acls.permits(fun, &minions).is_ok()
            }
            [jid, "ret", mid] if !jid.is_empty() && !mid.is_empty() => {
                wire::get(data, "id").and_then(wire::text) == Some(*mid)
                    && acls.permits(fun, &[(*mid).to_owned()]).is_ok()
            }
            _ => false,
        };
    }
    if tag.starts_with("salt/run/") {
        // The master names a runner `runner.<module>.<function>` here.
        let Some(fun) = fun else { return false };
        return rights.permits_runner(fun.strip_prefix("runner.").unwrap_or(fun));
    }
    if tag.starts_with("salt/wheel/") {
        let Some(fun) = fun else { return false };
        return rights.permits_class(Class::Wheel, fun.strip_prefix("wheel.").unwrap_or(fun));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targeting::AclSet;

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| ((*k).into(), v.clone())).collect())
    }

    fn list(ids: &[&str]) -> Value {
        Value::Array(ids.iter().map(|&id| id.into()).collect())
    }

    fn web_pinger() -> Rights {
        Rights::Acls(AclSet::compile(&[
            ("web-*", "test.ping"),
            ("@runner", "manage.*"),
            ("@jobs", "list_jobs"),
            ("@wheel", "key.list_all"),
        ]))
    }

    #[test]
    fn new_jobs_need_the_function_on_every_minion() {
        let rights = web_pinger();
        let new = |fun: &str, ids: &[&str]| map(&[("fun", fun.into()), ("minions", list(ids))]);
        let tag = "salt/job/20261203140000123456/new";
        assert!(visible(&rights, tag, &new("test.ping", &["web-1", "web-2"])));
        assert!(!visible(&rights, tag, &new("test.ping", &["web-1", "db-1"])));
        assert!(!visible(&rights, tag, &new("cmd.run", &["web-1"])));
        assert!(!visible(&rights, tag, &new("test.ping", &[])));
        let mixed = map(&[
            ("fun", "test.ping".into()),
            ("minions", Value::Array(vec!["web-1".into(), Value::from(3)])),
        ]);
        assert!(!visible(&rights, tag, &mixed));
        assert!(!visible(&rights, tag, &map(&[("minions", list(&["web-1"]))])));
    }

    #[test]
    fn returns_need_the_function_on_their_own_minion() {
        let rights = web_pinger();
        let ret = |fun: &str, id: &str| map(&[("fun", fun.into()), ("id", id.into())]);
        assert!(visible(
            &rights,
            "salt/job/1/ret/web-1",
            &ret("test.ping", "web-1")
        ));
        assert!(!visible(
            &rights,
            "salt/job/1/ret/db-1",
            &ret("test.ping", "db-1")
        ));
        assert!(
            !visible(&rights, "salt/job/1/ret/web-1", &ret("test.ping", "db-1")),
            "the id must be the tag's minion"
        );
        assert!(!visible(
            &rights,
            "salt/job/1/ret/web-1",
            &ret("cmd.run", "web-1")
        ));
        assert!(!visible(
            &rights,
            "salt/job/1/prog/web-1/0",
            &ret("test.ping", "web-1")
        ));
        assert!(!visible(
            &rights,
            "salt/job//ret/web-1",
            &ret("test.ping", "web-1")
        ));
    }

    #[test]
    fn runner_and_wheel_events_follow_their_classes() {
        let rights = web_pinger();
        let fun = |f: &str| map(&[("fun", f.into())]);
        assert!(visible(&rights, "salt/run/1/new", &fun("runner.manage.status")));
        assert!(visible(&rights, "salt/run/1/ret", &fun("runner.jobs.list_jobs")));
        assert!(!visible(
            &rights,
            "salt/run/1/ret",
            &fun("runner.jobs.lookup_jid")
        ));
        assert!(!visible(
            &rights,
            "salt/run/1/new",
            &fun("runner.state.orchestrate")
        ));
        assert!(!visible(&rights, "salt/run/1/new", &map(&[])));
        assert!(visible(&rights, "salt/wheel/1/new", &fun("wheel.key.list_all")));
        assert!(!visible(&rights, "salt/wheel/1/new", &fun("wheel.key.accept")));
    }

    #[test]
    fn everything_else_is_for_admins() {
        let rights = Rights::Acls(AclSet::compile(&[("*", ".*")]));
        let data = map(&[("fun", "test.ping".into()), ("id", "m1".into())]);
        for tag in [
            "salt/netapi/hook/e2e/ping",
            "salt/auth",
            "salt/key",
            "minion_start",
            "salt/minion/m1/start",
            "salt/beacon/m1/inotify",
            "20261203140000123456",
        ] {
            assert!(!visible(&rights, tag, &data), "{tag}");
            assert!(visible(&Rights::Admin, tag, &data), "{tag}");
        }
    }
}
