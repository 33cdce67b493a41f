//! Expansion of each target type over a small fleet, Salt's grain matching
//! from a table, and ACL checks.

use serde_json::json;

use super::grain::GrainQuery;
use super::*;

/// web1, web2 and db2 run Debian, web10 Ubuntu, db1 CentOS; cache1 has no
/// grains in the cache.
fn fleet() -> Fleet {
    let ids = ["web2", "web1", "web10", "db1", "db2", "cache1", "web1"];
    let grains = HashMap::from([
        (
            "web1".into(),
            json!({"os": "Debian", "roles": ["web"], "env": "prod"}),
        ),
        (
            "web2".into(),
            json!({"os": "Debian", "roles": ["web"], "env": "dev"}),
        ),
        (
            "web10".into(),
            json!({"os": "Ubuntu", "roles": ["web"], "env": "prod"}),
        ),
        (
            "db1".into(),
            json!({"os": "CentOS", "roles": ["db"], "env": "prod"}),
        ),
        (
            "db2".into(),
            json!({"os": "Debian", "roles": ["db", "backup"], "env": "dev"}),
        ),
    ]);
    let nodegroups = HashMap::from([
        ("webs".into(), Nodegroup::Compound("web*".into())),
        (
            "pair".into(),
            Nodegroup::List(vec!["db1".into(), "web2".into(), "gone".into()]),
        ),
        ("debian".into(), Nodegroup::Compound("G@os:Debian".into())),
        ("either".into(), Nodegroup::Compound("web1 or db1".into())),
        (
            "nested".into(),
            Nodegroup::Compound("N@webs and not N@debian".into()),
        ),
        ("loop_a".into(), Nodegroup::Compound("web1 or N@loop_b".into())),
        ("loop_b".into(), Nodegroup::Compound("N@loop_a".into())),
        ("regexy".into(), Nodegroup::Compound("web(1|2)".into())),
    ]);
    Fleet::new(ids.iter().map(|s| s.to_string()).collect(), grains, nodegroups)
}

fn run(kind: &str, expr: &str) -> Result<Expansion, TargetError> {
    let target = Target {
        kind: TargetType::parse(kind)?,
        expr: TargetExpr::One(expr.into()),
    };
    expand(&target, &fleet())
}

fn ids(kind: &str, expr: &str) -> Vec<String> {
    run(kind, expr)
        .unwrap_or_else(|err| panic!("{kind} {expr:?}: {err}"))
        .ids
}

fn invalid(kind: &str, expr: &str) -> String {
    match run(kind, expr) {
        Err(err @ TargetError::Invalid(_)) => err.to_string(),
        other => panic!("{kind} {expr:?}: expected Invalid, got {other:?}"),
    }
}

#[test]
fn target_types_are_salts_names_and_the_rest_are_named_in_the_error() {
    for kind in TargetType::ALL {
        assert_eq!(TargetType::parse(kind.name()), Ok(kind));
    }
    for name in ["pillar", "pillar_pcre", "ipcidr", "range", "data", "Glob", ""] {
        let err = TargetType::parse(name).unwrap_err();
        assert!(matches!(err, TargetError::Unsupported(_)));
        let text = err.to_string();
        assert!(text.contains(&format!("{name:?}")), "{text}");
        assert!(
            text.contains("list, glob, pcre, grain, grain_pcre, nodegroup, compound"),
            "{text}"
        );
    }
}

#[test]
fn fleet_ids_are_sorted_and_unique() {
    assert_eq!(fleet().ids(), ["cache1", "db1", "db2", "web1", "web10", "web2"]);
}

#[test]
fn list_keeps_accepted_ids_and_reports_the_others() {
    let got = run("list", "web2,,nope,db1,web2").unwrap();
    assert_eq!(got.ids, ["db1", "web2"]);
    assert_eq!(got.unknown, ["nope"]);
    let target = Target {
        kind: TargetType::List,
        expr: TargetExpr::List(vec!["web1".into(), "x".into()]),
    };
    let got = expand(&target, &fleet()).unwrap();
    assert_eq!((got.ids, got.unknown), (vec!["web1".into()], vec!["x".into()]));
}

#[test]
fn glob_and_pcre_over_ids() {
    assert_eq!(ids("glob", "web?"), ["web1", "web2"]);
    assert_eq!(ids("glob", "*1*"), ["cache1", "db1", "web1", "web10"]);
    assert!(ids("glob", "nothing*").is_empty(), "no match is not an error");
    // re.match: anchored at the start only.
    assert_eq!(ids("pcre", "web1"), ["web1", "web10"]);
    assert!(ids("pcre", "eb1").is_empty());
    assert_eq!(ids("pcre", r"(db|cache)\d$"), ["cache1", "db1", "db2"]);
    assert!(invalid("pcre", "web(").contains("not a valid regular expression"));
}

#[test]
fn a_list_is_only_for_list_and_compound() {
    let target = Target {
        kind: TargetType::Glob,
        expr: TargetExpr::List(vec!["web1".into()]),
    };
    assert!(matches!(expand(&target, &fleet()), Err(TargetError::Invalid(_))));
    let target = Target {
        kind: TargetType::Compound,
        expr: TargetExpr::List(vec!["web*".into(), "and".into(), "G@env:dev".into()]),
    };
    assert_eq!(expand(&target, &fleet()).unwrap().ids, ["web2"]);
}

/// (expr, regex, `salt.utils.data.subdict_match(GRAINS, expr, regex_match=regex)`)
/// from the Salt 3007.16 virtualenv.
const SUBDICT_MATCH: &[(&str, bool, bool)] = &[
    ("os:Debian", false, true),
    ("os:debian", false, true),
    ("os:Deb*", false, true),
    ("os:Ubuntu", false, false),
    ("osrelease:1?", false, true),
    ("num_cpus:4", false, true),
    ("num_cpus:[0-9]", false, true),
    ("virtual:None", false, true),
    ("ipv4:10.0.0.*", false, true),
    ("roles:web", false, true),
    ("roles:cache", false, true),
    ("roles:db", false, false),
    ("ip_interfaces:eth0:10.0.0.5", false, true),
    ("ip_interfaces:eth0", false, true),
    ("ip_interfaces:eth*", false, true),
    ("ip_interfaces:wlan0", false, false),
    ("locale_info:timezone:UTC", false, true),
    ("locale_info:*:UTC", false, true),
    ("url:http://x:80", false, true),
    ("selinux:enabled:False", false, true),
    ("disks:0:name:sda", false, true),
    ("disks:name:sda", false, true),
    ("disks:-1:size:10", false, true),
    ("*:Debian", false, true),
    ("nokey:x", false, false),
    ("empty:*", false, false),
    ("locale_info:*", false, true),
    ("roles:*", false, true),
    ("os:*", false, true),
    ("os:Deb", true, true),
    ("os:^deb.*$", true, true),
    ("os:ubu", true, false),
    ("ipv4:10\\.", true, true),
    ("roles:c.che", true, true),
    ("num_cpus:\\d", true, true),
];

#[test]
fn grain_matching_agrees_with_salts_subdict_match() {
    let grains = json!({"os": "Debian", "os_family": "Debian", "osrelease": "12", "num_cpus": 4,
        "virtual": null, "ipv4": ["127.0.0.1", "10.0.0.5"], "roles": ["web", "Cache"],
        "ip_interfaces": {"eth0": ["10.0.0.5"], "lo": ["127.0.0.1"]},
        "locale_info": {"defaultlanguage": "en_US", "timezone": "UTC"}, "url": "http://x:80",
        "selinux": {"enabled": false}, "disks": [{"name": "sda", "size": 10}], "empty": {}});
    for &(expr, regex, expected) in SUBDICT_MATCH {
        let query = GrainQuery::new(expr, ':', regex).unwrap();
        assert_eq!(query.matches(&grains), Ok(expected), "{expr:?} regex={regex}");
    }
}

#[test]
fn grain_targets_over_the_fleet() {
    assert_eq!(ids("grain", "os:debian"), ["db2", "web1", "web2"]);
    assert_eq!(ids("grain", "roles:backup"), ["db2"]);
    // cache1 has no cached grains: never matched, even by `*`.
    assert_eq!(ids("grain", "os:*").len(), 5);
    assert_eq!(ids("grain_pcre", "os:(ubuntu|centos)"), ["db1", "web10"]);
    assert!(invalid("grain", "os").contains("key:value"));
    assert!(invalid("grain_pcre", "os:[").contains("regular expression"));
}

#[test]
fn compound_precedence_is_not_then_and_then_or() {
    // or binds loosest: web* or (db* and G@os:Debian).
    assert_eq!(
        ids("compound", "web* or db* and G@os:Debian"),
        ["db2", "web1", "web10", "web2"]
    );
    assert_eq!(
        ids("compound", "( web* or db* ) and G@os:Debian"),
        ["db2", "web1", "web2"]
    );
    // A leading not is "all minions but"; not binds to the next term only.
    assert_eq!(ids("compound", "not web*"), ["cache1", "db1", "db2"]);
    assert_eq!(ids("compound", "not web* and not db*"), ["cache1"]);
    assert_eq!(ids("compound", "not ( web* or db* )"), ["cache1"]);
    // A not right after a term means "and not".
    assert_eq!(ids("compound", "web* not web1*"), ["web2"]);
    assert_eq!(ids("compound", "G@env:prod and not E@web"), ["db1"]);
    assert_eq!(
        ids("compound", "L@web1,db1 or P@os:ubu.*"),
        ["db1", "web1", "web10"]
    );
    assert_eq!(ids("compound", "G|@roles|db and G@env:prod"), ["db1"]);
}

#[test]
fn compound_reports_unknown_listed_ids_unless_negated() {
    let got = run("compound", "L@web1,ghost or L@spook").unwrap();
    assert_eq!(
        (got.ids, got.unknown),
        (
            vec!["web1".to_owned()],
            vec!["ghost".to_owned(), "spook".to_owned()]
        )
    );
    let got = run("compound", "web* and not L@web1,ghost").unwrap();
    assert_eq!(got.ids, ["web10", "web2"]);
    assert!(got.unknown.is_empty());
}

#[test]
fn malformed_compounds_are_invalid() {
    for expr in [
        "",
        "   ",
        "( web*",
        "web* )",
        "web* and",
        "and web*",
        "or web*",
        "web* db*",
        "( and web* )",
        "not",
        "not not web*",
        "web* and or db*",
        "( )",
    ] {
        invalid("compound", expr);
    }
    for (expr, engine) in [
        ("I@role:web", "I@"),
        ("J@role:w.*", "J@"),
        ("S@10.0.0.0/8", "S@"),
        ("web* or R@%x", "R@"),
    ] {
        match run("compound", expr) {
            Err(err @ TargetError::Unsupported(_)) => assert!(err.to_string().contains(engine), "{err}"),
            other => panic!("{expr}: {other:?}"),
        }
    }
    // Unknown letters and an empty pattern are globs, as in Salt.
    assert!(ids("compound", "X@y").is_empty());
    assert!(ids("compound", "L@").is_empty());
}

#[test]
fn nodegroups_expand_nest_and_refuse_cycles() {
    assert_eq!(ids("nodegroup", "webs"), ["web1", "web10", "web2"]);
    let got = run("nodegroup", "pair").unwrap();
    assert_eq!(
        (got.ids, got.unknown),
        (vec!["db1".into(), "web2".into()], vec!["gone".into()])
    );
    assert_eq!(ids("nodegroup", "nested"), ["web10"]);
    assert_eq!(ids("compound", "N@debian and not N@webs"), ["db2"]);
    // A nodegroup is a group of its own: (web1 or db1) and G@env:prod.
    assert_eq!(ids("compound", "N@either and G@os:Debian"), ["web1"]);
    // Salt reads a plain word with regex characters as E@.
    assert_eq!(ids("nodegroup", "regexy"), ["web1", "web10", "web2"]);
    let err = invalid("nodegroup", "loop_a");
    assert!(
        err.contains("cycle") && err.contains("loop_a → loop_b → loop_a"),
        "{err}"
    );
    assert!(invalid("compound", "web1 or N@nope").contains("unknown nodegroup \"nope\""));
}

#[test]
fn limits_are_errors_that_name_them() {
    let too_complex = |kind: &str, expr: &str| match run(kind, expr) {
        Err(err @ TargetError::TooComplex(_)) => err.to_string(),
        other => panic!("expected TooComplex, got {other:?}"),
    };
    let long = format!("web{}", "x".repeat(MAX_EXPR_LEN));
    assert!(too_complex("glob", &long).contains("4096"));
    assert!(too_complex("compound", &long).contains("4096"));
    let deep = format!("{} web1 {}", "( ".repeat(33), ") ".repeat(33));
    assert!(too_complex("compound", &deep).contains("32 levels"));
    let ok = format!("{} web1 {}", "( ".repeat(31), ") ".repeat(31));
    assert_eq!(ids("compound", &ok), ["web1"]);
    let many = vec!["web1"; 257].join(" or ");
    assert!(too_complex("compound", &many).contains("256 terms"));
    assert_eq!(ids("compound", &vec!["web1"; 256].join(" or ")), ["web1"]);
}

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn acl_allows_only_when_every_id_is_allowed() {
    let acl = AclSet::compile(&[
        ("web*", "test.*"),
        ("db1", "pkg.install"),
        ("db*", r"(test|state)\.(ping|apply)"),
        ("@runner", "jobs.*"),
    ]);
    assert_eq!(acl.permits("test.ping", &owned(&["web1", "web2"])), Ok(()));
    assert_eq!(acl.permits("pkg.install", &owned(&["db1"])), Ok(()));
    assert_eq!(acl.permits("state.apply", &owned(&["db2", "db1"])), Ok(()));
    // One minion of three is not allowed: the denial names it.
    assert_eq!(
        acl.permits("test.ping", &owned(&["web1", "cache1", "db1"])),
        Err(Denied {
            minion: Some("cache1".into())
        })
    );
    assert_eq!(
        acl.permits("pkg.install", &owned(&["db1", "db2"])),
        Err(Denied {
            minion: Some("db2".into())
        })
    );
    // Allowed nowhere, or nothing to allow: refused without a name.
    assert_eq!(
        acl.permits("cmd.run", &owned(&["web1"])),
        Err(Denied { minion: None })
    );
    assert_eq!(acl.permits("test.ping", &[]), Err(Denied { minion: None }));
    // The whole name must match, glob or regex.
    assert!(acl.permits("state.applyx", &owned(&["db1"])).is_err());
    assert!(acl.permits("test.ping", &owned(&["webserver.lan"])).is_ok());
    // A class entry allows no minion.
    assert!(acl.permits("jobs.list_jobs", &owned(&["web1"])).is_err());
}

#[test]
fn acl_match_all_minions_and_odd_entries() {
    for all in ["*", ".*", "**"] {
        let acl = AclSet::compile(&[(all, "test.ping")]);
        assert!(
            acl.permits("test.ping", &owned(&["a", "b.lan", "é"])).is_ok(),
            "{all}"
        );
        assert!(acl.permits("test.echo", &owned(&["a"])).is_err());
    }
    let acl = AclSet::compile(&[("@nonsense", ".*"), ("G@os:Debian", ".*"), ("[ab]-*", "*")]);
    assert_eq!(acl.permits("x.y", &owned(&["a-1", "b-2"])), Ok(()));
    assert_eq!(
        acl.permits("x.y", &owned(&["c-1"])),
        Err(Denied {
            minion: Some("c-1".into())
        })
    );
    assert!(
        acl.permits("x.y", &owned(&["G@os:Debian"])).is_ok(),
        "read as a glob, literally"
    );
    assert!(AclSet::compile(&[]).permits("test.ping", &owned(&["a"])).is_err());
    // Globs indexed by suffix, by prefix, and by neither, together.
    let acl = AclSet::compile(&[("*.dmz", "test.*"), ("web-*", "test.*"), ("?é*", "test.*")]);
    assert_eq!(
        acl.permits("test.ping", &owned(&["x.dmz", "web-1", "aé"])),
        Ok(())
    );
    assert_eq!(
        acl.permits("test.ping", &owned(&["x.dmz", "dmz", "web-1"])),
        Err(Denied {
            minion: Some("dmz".into())
        })
    );
}

#[test]
fn class_acls() {
    let acl = AclSet::compile(&[
        ("@runner", "jobs.*"),
        ("@runners", "manage.status"),
        ("@wheel", "key.list_all"),
        ("@jobs", "*"),
        ("web*", "runner.anything"),
    ]);
    assert!(acl.permits_class(Class::Runner, "jobs.lookup_jid"));
    assert!(acl.permits_class(Class::Runner, "manage.status"));
    assert!(!acl.permits_class(Class::Runner, "key.list_all"));
    assert!(acl.permits_class(Class::Wheel, "key.list_all"));
    assert!(!acl.permits_class(Class::Wheel, "key.accept"));
    assert!(acl.permits_class(Class::Jobs, "list"));
    assert!(!AclSet::compile(&[("*", ".*")]).permits_class(Class::Runner, "jobs.list_jobs"));
}
