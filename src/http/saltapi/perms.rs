//! A user's rights in Salt's `external_auth` format, as salt-api's
//! `/login` answers them in `perms` (SaltGUI and others read it to decide
//! what to offer): a bare string is a function pattern on every minion, a
//! one-key mapping limits patterns to a minion glob or a class (`@runner`,
//! `@wheel`, `@jobs`). An admin may do everything: `.*` and every class.

use serde_json::{json, Map, Value};

/// What a user may do, in `external_auth` form, from its ACL entries
/// (`(minions, functions)`, in id order).
pub fn perms(admin: bool, acls: &[(&str, &str)]) -> Value {
    if admin {
        return json!([".*", "@runner", "@wheel", "@jobs"]);
    }
    let mut out: Vec<Value> = Vec::new();
    // Entries for the same minions (or class) are gathered, in order.
    let mut scoped: Vec<(String, Vec<Value>)> = Vec::new();
    for (minions, functions) in acls {
        if matches!(*minions, "*" | ".*" | "**") {
            out.push(Value::String((*functions).to_owned()));
            continue;
        }
        match scoped.iter_mut().find(|(m, _)| m == minions) {
            Some((_, funs)) => funs.push(Value::String((*functions).to_owned())),
            None => scoped.push((
                (*minions).to_owned(),
                vec![Value::String((*functions).to_owned())],
            )),
        }
    }
    for (minions, funs) in scoped {
        let mut entry = Map::new();
        entry.insert(minions, Value::Array(funs));
        out.push(Value::Object(entry));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_become_external_auth_entries() {
        assert_eq!(perms(true, &[]), json!([".*", "@runner", "@wheel", "@jobs"]));
        assert_eq!(perms(false, &[("*", "test.ping")]), json!(["test.ping"]));
        assert_eq!(
            perms(
                false,
                &[
                    ("*", "test.ping"),
                    ("web*", "pkg.*"),
                    ("@runner", "jobs.*"),
                    ("web*", "service.restart"),
                    (".*", "grains.items"),
                ]
            ),
            json!([
                "test.ping",
                "grains.items",
                {"web*": ["pkg.*", "service.restart"]},
                {"@runner": ["jobs.*"]},
            ])
        );
        assert_eq!(perms(false, &[]), json!([]));
    }
}
