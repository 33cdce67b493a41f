//! Target expansion and ACL checks (`projetyd::target`): what a request's
//! `target` / `target_type` and an admin's ACL entries become.
//!
//! Input: the first byte picks the target type (modulo the seven types),
//! the rest is the expression as text; a `\n` inside it splits off ACL
//! entries, one `minions\tfunctions` per line, checked against the
//! expansion. The fleet is fixed: ids with grains, nodegroups that nest,
//! one that is a cycle.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use projetyd::targeting::{expand, glob_match, AclSet, Fleet, Minions, Nodegroup, Target, TargetExpr, TargetType};
use serde_json::json;

fn fleet() -> Fleet {
    let ids: Vec<String> = ["web-1", "web-2", "db-1", "db.2", "m[1]", "*", "a", "edge-9.dmz"]
        .map(String::from)
        .to_vec();
    let grains = HashMap::from([
        ("web-1".to_owned(), json!({"role": "web", "os": "Debian", "roles": ["a", "b"], "n": 1})),
        ("web-2".to_owned(), json!({"role": "web", "os": "Ubuntu", "nested": {"k": {"v": "x"}}})),
        ("db-1".to_owned(), json!({"role": "db", "os": "Debian", "n": null})),
        ("a".to_owned(), json!({"role": ["web", "db"]})),
    ]);
    let nodegroups = HashMap::from([
        ("webs".to_owned(), Nodegroup::Compound("G@role:web".into())),
        ("both".to_owned(), Nodegroup::Compound("N@webs or db*".into())),
        ("listed".to_owned(), Nodegroup::List(vec!["a".into(), "db-1".into()])),
        ("loop".to_owned(), Nodegroup::Compound("N@loop and a".into())),
    ]);
    Fleet::new(ids, grains, nodegroups)
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (expr, acls) = text.split_once('\n').unwrap_or((text, ""));
    let kind = TargetType::ALL[usize::from(kind) % TargetType::ALL.len()];
    let expr = match kind {
        TargetType::List | TargetType::Compound if expr.contains('\t') => {
            TargetExpr::List(expr.split('\t').map(String::from).collect())
        }
        _ => TargetExpr::One(expr.to_owned()),
    };
    let fleet = fleet();
    let target = Target { kind, expr: expr.clone() };
    if let Ok(expansion) = expand(&target, &fleet) {
        // Exact accepted ids, sorted, once each: never a pattern.
        assert!(expansion.ids.windows(2).all(|w| w[0] < w[1]), "{expansion:?}");
        assert!(expansion.ids.iter().all(|id| fleet.ids().contains(id)), "{expansion:?}");
        if let (TargetType::Glob, TargetExpr::One(pattern)) = (kind, &expr) {
            for id in fleet.ids() {
                assert_eq!(expansion.ids.contains(id), glob_match(pattern, id), "{pattern:?} {id:?}");
            }
        }
        let entries: Vec<(&str, &str)> = acls.lines().take(64).filter_map(|l| l.split_once('\t')).collect();
        let set = AclSet::compile(&entries);
        for fun in ["test.ping", "cmd.run", "state.apply"] {
            let all = set.permits(fun, &expansion.ids);
            // The whole is allowed exactly when each id is.
            let each = expansion
                .ids
                .iter()
                .all(|id| set.permits(fun, std::slice::from_ref(id)).is_ok());
            assert_eq!(all.is_ok(), each && !expansion.ids.is_empty(), "{fun} {entries:?} {expansion:?}");
            if let Err(denied) = all {
                if let Some(id) = denied.minion {
                    assert!(expansion.ids.contains(&id));
                    assert!(set.permits(fun, std::slice::from_ref(&id)).is_err());
                }
            }
        }
    }
});
