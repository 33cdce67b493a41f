#![allow(clippy::unwrap_used)]
//! Runner and wheel calls against a real Salt lab (the salt-api surface of
//! issue [4/7]): the library's `Salt::wheel`, `Salt::runner` and
//! `Salt::runner_async`, no HTTP. Each test is ignored without a lab:
//! `scripts/test.sh` starts one and runs them with
//! `PROJETYD_SALT_LAB=<lab dir>/lab.env cargo test --test salt_runner_e2e -- --ignored`.
//! What Salt answers here is recorded in docs/salt-protocol.md section 8.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use projetyd::salt::{wire, Error, MasterConfig, Options, Salt};
use projetyd_testkit::lab::LabEnv;
use rmpv::Value;

const LONG: Duration = Duration::from_secs(60);

/// A client on the lab that `PROJETYD_SALT_LAB` names, settled; fails
/// loudly when there is none (these tests run only when asked for).
async fn lab() -> Arc<Salt> {
    let path = std::env::var_os("PROJETYD_SALT_LAB").expect("PROJETYD_SALT_LAB=<lab dir>/lab.env");
    let lab = LabEnv::read(Path::new(&path)).unwrap();
    let config = MasterConfig::load(Path::new(lab.var("SALT_LAB_MASTER_CONFIG").unwrap())).unwrap();
    let salt = Salt::start(
        config,
        Options::default(),
        &projetyd::background::Background::new(),
    )
    .unwrap();
    salt.settle(Duration::from_secs(10)).await;
    salt.status().unwrap();
    salt
}

fn text(value: &Value) -> &str {
    wire::text(value).unwrap_or_else(|| panic!("not a string: {value:?}"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn wheel_key_list_all_lists_the_lab_minions() {
    let salt = lab().await;
    let ret = salt.wheel("key.list_all", Vec::new(), Vec::new()).await.unwrap();
    assert!(ret.success, "{ret:?}");
    assert_eq!(ret.jid.len(), 20, "{ret:?}");
    let minions = wire::strings(wire::get(&ret.ret, "minions"));
    for id in ["minion-1", "minion-2", "minion-3"] {
        assert!(minions.iter().any(|m| m == id), "{id} not in {minions:?}");
    }
    // The key list the daemon shows comes the same way when the pki
    // directories cannot be read.
    assert_eq!(
        wire::strings(wire::get(&ret.ret, "minions_pre")),
        ["minion-pending"]
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn wheel_key_finger_takes_a_kwarg() {
    let salt = lab().await;
    let kwarg = vec![("match".to_owned(), Value::from("minion-1"))];
    let ret = salt.wheel("key.finger", Vec::new(), kwarg).await.unwrap();
    assert!(ret.success, "{ret:?}");
    let minions = wire::get(&ret.ret, "minions").unwrap().as_map().unwrap();
    assert_eq!(minions.len(), 1, "{ret:?}");
    assert_eq!(text(&minions[0].0), "minion-1");
    assert!(text(&minions[0].1).contains(':'), "a fingerprint: {ret:?}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn a_wheel_function_that_does_not_exist_fails_with_success_false() {
    let salt = lab().await;
    let ret = salt.wheel("no.such", Vec::new(), Vec::new()).await.unwrap();
    assert!(!ret.success, "{ret:?}");
    assert!(
        text(&ret.ret).starts_with("Exception occurred in wheel no.such"),
        "{ret:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn runner_test_arg_returns_its_args_and_kwargs() {
    let salt = lab().await;
    let arg = vec![Value::from(1), Value::from("two")];
    let kwarg = vec![
        ("a".to_owned(), Value::from("b")),
        ("n".to_owned(), Value::from(3)),
    ];
    let ret = salt.runner("test.arg", arg.clone(), kwarg, LONG).await.unwrap();
    assert!(ret.success, "{ret:?}");
    assert_eq!(ret.fun, "runner.test.arg");
    assert_eq!(ret.jid.len(), 20, "{ret:?}");
    assert_eq!(wire::get(&ret.ret, "args"), Some(&Value::Array(arg)));
    let kwargs = wire::get(&ret.ret, "kwargs").unwrap();
    assert_eq!(wire::get(kwargs, "a").map(text), Some("b"));
    assert_eq!(wire::get(kwargs, "n").and_then(Value::as_u64), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn runner_jobs_list_jobs_returns_a_map() {
    let salt = lab().await;
    let ret = salt
        .runner("jobs.list_jobs", Vec::new(), Vec::new(), LONG)
        .await
        .unwrap();
    assert!(ret.success, "{ret:?}");
    assert!(ret.ret.is_map(), "{:?}", ret.ret);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn runner_test_sleep_waits_and_a_short_timeout_names_the_jid() {
    let salt = lab().await;
    let started = std::time::Instant::now();
    let ret = salt
        .runner("test.sleep", vec![Value::from(1)], Vec::new(), LONG)
        .await
        .unwrap();
    assert!(ret.success, "{ret:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(ret.ret, Value::Boolean(true));

    let err = salt
        .runner(
            "test.sleep",
            vec![Value::from(3)],
            Vec::new(),
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    match err {
        Error::RunnerTimeout { jid } => assert_eq!(jid.len(), 20),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn runner_manage_status_sorts_the_minions() {
    let salt = lab().await;
    let ret = salt
        .runner("manage.status", Vec::new(), Vec::new(), LONG)
        .await
        .unwrap();
    assert!(ret.success, "{ret:?}");
    let up = wire::strings(wire::get(&ret.ret, "up"));
    for id in ["minion-1", "minion-2", "minion-3"] {
        assert!(up.iter().any(|m| m == id), "{id} not up: {ret:?}");
    }
    assert_eq!(wire::strings(wire::get(&ret.ret, "down")), ["minion-down"]);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn an_unknown_runner_is_accepted_then_returns_success_false() {
    let salt = lab().await;
    if lab_version().starts_with("3008.") {
        // 3008.4's runner process dies on an unknown function (mixins.low
        // removes a proc file it never made: UnboundLocalError), so no
        // salt/run/<jid>/ret is ever fired; only the timeout ends the wait.
        let err = salt
            .runner("no.such", Vec::new(), Vec::new(), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::RunnerTimeout { .. }), "{err:?}");
        return;
    }
    let ret = salt
        .runner("no.such", Vec::new(), Vec::new(), LONG)
        .await
        .unwrap();
    assert!(!ret.success, "{ret:?}");
    let why = text(&ret.ret);
    assert!(why.starts_with("Exception occurred in runner no.such"), "{why}");
    assert!(why.contains("'no.such' is not available"), "{why}");
}

/// The lab's Salt version (`3007.16`, ...).
fn lab_version() -> String {
    let path = std::env::var_os("PROJETYD_SALT_LAB").expect("PROJETYD_SALT_LAB=<lab dir>/lab.env");
    let lab = LabEnv::read(Path::new(&path)).unwrap();
    lab.var("SALT_LAB_VERSION").unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn a_runner_that_raises_returns_success_false() {
    let salt = lab().await;
    let raise = |name: &str| {
        vec![
            ("name".to_owned(), Value::from(name)),
            ("message".to_owned(), Value::from("raised on purpose")),
        ]
    };
    let ret = salt
        .runner("error.error", Vec::new(), raise("Exception"), LONG)
        .await
        .unwrap();
    assert!(!ret.success, "{ret:?}");
    let why = text(&ret.ret);
    assert!(
        why.starts_with("Exception occurred in runner error.error"),
        "{why}"
    );
    assert!(why.contains("raised on purpose"), "{why}");
    // Salt's runner wrapper takes a SaltInvocationError for bad arguments:
    // success stays true and the return is the usage text.
    let ret = salt
        .runner("error.error", Vec::new(), raise("SaltInvocationError"), LONG)
        .await
        .unwrap();
    assert!(ret.success, "{ret:?}");
    assert!(
        text(&ret.ret).starts_with("\nPassed invalid arguments: raised on purpose"),
        "{ret:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn runner_async_returns_a_jid_whose_return_arrives() {
    let salt = lab().await;
    // The test's own reader of the bus, connected before the call.
    let mut bus = std::os::unix::net::UnixStream::connect(salt.master().event_socket()).unwrap();
    bus.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let jid = salt
        .runner_async("test.sleep", vec![Value::from(1)], Vec::new())
        .await
        .unwrap();
    assert_eq!(jid.len(), 20, "{jid}");
    let tag = format!("salt/run/{jid}/ret");
    let data = tokio::task::spawn_blocking(move || wait_for(&mut bus, &tag, LONG))
        .await
        .unwrap();
    assert_eq!(wire::get(&data, "jid").map(text), Some(jid.as_str()));
    assert_eq!(wire::get(&data, "fun").map(text), Some("runner.test.sleep"));
    assert_eq!(wire::get(&data, "success"), Some(&Value::Boolean(true)));
    assert_eq!(wire::get(&data, "return"), Some(&Value::Boolean(true)));
    for key in ["user", "_stamp"] {
        assert!(wire::get(&data, key).is_some(), "no {key}: {data:?}");
    }
}

/// Reads the bus until an event tagged `tag`; its data.
fn wait_for(bus: &mut std::os::unix::net::UnixStream, tag: &str, within: Duration) -> Value {
    use std::io::Read as _;
    let deadline = std::time::Instant::now() + within;
    let (mut buf, mut chunk, mut framing) = (Vec::new(), vec![0u8; 65536], None);
    while std::time::Instant::now() < deadline {
        let n = match bus.read(&mut chunk) {
            Ok(0) => panic!("the master closed the event bus"),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(err) => panic!("{err}"),
        };
        buf.extend_from_slice(&chunk[..n]);
        let framing = *framing.get_or_insert_with(|| wire::Framing::detect(buf[0]).unwrap());
        while let Some(frame) = framing.take(&mut buf).unwrap() {
            let (seen, raw) = wire::split_frame(&frame).unwrap();
            if seen == tag {
                return wire::decode(raw).unwrap();
            }
        }
    }
    panic!("no {tag} within {within:?}")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
async fn a_wrong_key_is_an_authentication_error() {
    let path = std::env::var_os("PROJETYD_SALT_LAB").expect("PROJETYD_SALT_LAB=<lab dir>/lab.env");
    let lab = LabEnv::read(Path::new(&path)).unwrap();
    let config = MasterConfig::load(Path::new(lab.var("SALT_LAB_MASTER_CONFIG").unwrap())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "not the key").unwrap();
    let options = Options {
        key_file: Some(key),
        ..Options::default()
    };
    let salt = Salt::start(config, options, &projetyd::background::Background::new()).unwrap();
    salt.settle(Duration::from_secs(10)).await;
    let err = salt
        .runner("test.arg", Vec::new(), Vec::new(), LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth), "{err:?}");
}
