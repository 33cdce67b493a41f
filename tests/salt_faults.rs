#![allow(clippy::unwrap_used)]
//! Protocol-level faults that a real Salt master cannot easily be made to
//! produce, against a small in-test fake master (issue #3): a reply that
//! never comes, torn event frames, unknown msgpack ext types, a 1 MiB event,
//! both event-bus framings, the event bus going away mid-job, and a key that
//! changes under an authentication error. The real lab (`tests/api/salt_e2e.rs`)
//! is the proof that projetyd talks to Salt; these only add the edge cases.
//!
//! The fake is the shared harness's [`FakeMaster`] (a ZeroMQ ROUTER that can
//! leave one request unanswered and go on serving the others, and an event
//! bus writing frames bare or with a 4-byte big-endian length), with a real
//! master's events and its requests recorded. The client under test is the
//! library's `projetyd::salt::Salt`, started on the fake's master config.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use projetyd::salt::{Error, JobOutcome, JobSpec, MasterConfig, Options, Salt};
use projetyd_testkit::fake_master::{
    self, job_events, map, pack, publish_reply, standard_value, Answer, Emit, FakeMaster, Framing, KEY,
};
use rmpv::Value;

// ---------------------------------------------------------------------------
// The fake, as these tests use it
// ---------------------------------------------------------------------------

const FRAMINGS: [Framing; 2] = [Framing::Prefixed, Framing::Bare];

/// A master with one accepted minion, `m1`, that sends a real master's
/// events and records every request.
fn faulty(framing: Framing) -> fake_master::Builder {
    FakeMaster::builder()
        .minions(&["m1"])
        .framing(framing)
        .master_events(true)
        .record_requests(true)
}

fn start(framing: Framing) -> FakeMaster {
    faulty(framing).start().unwrap()
}

/// A client on `fake`, settled: the request server answered and the event
/// bus is connected.
async fn client(fake: &FakeMaster, options: Options) -> Arc<Salt> {
    let salt = Salt::start(
        MasterConfig::load(&fake.config).unwrap(),
        options,
        &projetyd::background::Background::new(),
    )
    .unwrap();
    salt.settle(Duration::from_secs(5)).await;
    salt.status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.counts.connected.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the event reader never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    salt
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

fn ping_m1() -> JobSpec {
    JobSpec::new(
        "test.ping",
        vec!["m1".into()],
        Duration::from_secs(5),
        Duration::from_secs(2),
    )
}

fn options(request_timeout: Duration, sockets: usize) -> Options {
    Options {
        request_timeout,
        sockets,
        ..Options::default()
    }
}

fn returned(outcome: &JobOutcome, minion: &str) -> Option<Value> {
    outcome.returns.get(minion).map(|r| r.value.clone())
}

/// (i) A publish whose reply never comes fails within the request timeout
/// (not the job's timeout), and the one socket of the pool is replaced: a
/// reply the fake sends late to the old socket reaches nobody, and the
/// next request gets its own answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_that_never_comes_fails_fast_and_the_socket_is_reset() {
    let fake = start(Framing::Bare);
    let mut first = true;
    fake.on_publish(move |req| {
        if req.fun != "test.ping" || !std::mem::take(&mut first) {
            return None;
        }
        // No reply within the client's time; a stale error reply later,
        // which a socket that was not reset would hand to the next caller.
        let stale = map(vec![(
            "error",
            map(vec![("name", "Stale".into()), ("message", "old reply".into())]),
        )]);
        Some(Answer {
            reply: Some((Duration::from_millis(1_500), stale)),
            emit: Vec::new(),
        })
    });
    // One socket, so the request after the timeout must use the same slot.
    let salt = client(&fake, options(Duration::from_secs(1), 1)).await;

    let start = Instant::now();
    let err = salt.run(&ping_m1()).await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::Timeout | Error::Down(_)), "{err:?}");
    assert!(
        // At the request timeout, not before; the upper bound only says
        // "it did not hang".
        took >= Duration::from_millis(900) && took < Duration::from_secs(30),
        "failed after {took:?}, request timeout 1 s"
    );

    // The next job runs normally on a fresh socket (a timed-out request
    // does not mark the master down: only the health check does).
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        match salt.run(&ping_m1()).await {
            Ok(outcome) => break outcome,
            Err(Error::Down(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the pool did not recover: {err:?}"),
        }
    };
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
    assert!(outcome.silent.is_empty());

    let pings = fake.publishes("test.ping");
    assert_eq!(pings.len(), 2, "{pings:?}");
    assert_ne!(
        pings[0].identity, pings[1].identity,
        "the request after a timeout must come from a new socket"
    );
    // Long after the stale reply was sent, requests still get their own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outcome = salt.run(&ping_m1()).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
}

/// (ii) + (v) Event frames written a byte at a time, with pauses, in both
/// framings: the job still completes with the return.
#[tokio::test(flavor = "multi_thread")]
async fn torn_frames_are_reassembled() {
    for framing in FRAMINGS {
        let fake = faulty(framing).torn_writes(true).start().unwrap();
        let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
        let start = Instant::now();
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
        assert!(outcome.silent.is_empty(), "{framing:?}");
        assert!(
            fake.publishes("saltutil.find_job").is_empty(),
            "{framing:?}: the return came by the event, not a find_job round ({:?})",
            start.elapsed()
        );
    }
}

/// Ext values of every msgpack encoding size, unknown to the client.
fn ext_zoo() -> Value {
    let ext = |kind: i8, len: usize| Value::Ext(kind, (0..len).map(|i| i as u8).collect());
    Value::Array(vec![
        Value::Ext(78, b"20261126T17:29:03.755465".to_vec()),
        ext(79, 1),
        ext(42, 2),
        ext(-1, 4),
        ext(-1, 8),
        ext(99, 16),
        ext(100, 3),
        ext(101, 300),
        ext(102, 70_000),
    ])
}

/// (iii) + (v) Unknown ext types in the publish reply and in event data
/// (in the return value, beside it, and in events of other jobs) decode
/// without failing, in both framings.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_ext_types_decode_in_replies_and_events() {
    for framing in FRAMINGS {
        let fake = start(framing);
        fake.on_publish(|req| {
            if req.fun != "test.ping" {
                return None;
            }
            let mut reply = publish_reply(req);
            if let Value::Map(pairs) = &mut reply {
                pairs.push(("_stamp".into(), Value::Ext(78, b"20261126T17:29:03.1".to_vec())));
                if let Some((_, Value::Map(load))) =
                    pairs.iter_mut().find(|(k, _)| k.as_str() == Some("load"))
                {
                    load.push(("extra".into(), ext_zoo()));
                }
            }
            let mut emit = vec![Emit::Event(
                "salt/job/20260101000000000000/ret/m9".into(),
                map(vec![("return", ext_zoo())]),
            )];
            for item in job_events(req, |_| map(vec![("ok", true.into()), ("zoo", ext_zoo())])) {
                emit.push(match item {
                    Emit::Event(tag, Value::Map(mut data)) => {
                        data.push(("when".into(), Value::Ext(78, b"20261126T17:29:03.2".to_vec())));
                        Emit::Event(tag, Value::Map(data))
                    }
                    other => other,
                });
            }
            Some(Answer {
                reply: Some((Duration::ZERO, reply)),
                emit,
            })
        });
        let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(map(vec![("ok", true.into()), ("zoo", ext_zoo())])),
            "{framing:?}"
        );
        // The bus is still in step after them: a second job works.
        fake.on_publish(|_| None);
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
    }
}

/// Deterministic printable text, so that a shifted or dropped chunk shows.
fn big_text(len: usize) -> String {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'!' + ((x >> 16) % 94) as u8)
        })
        .collect()
}

/// (iv) + (v) A return of 1 MiB (the master's default max_event_size)
/// arrives intact in both framings, followed by a normal job.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_mebibyte_event_is_delivered_intact() {
    let big = big_text(1 << 20);
    for framing in FRAMINGS {
        let fake = start(framing);
        let value = big.clone();
        fake.on_publish(move |req| {
            (req.fun == "test.ping").then(|| Answer {
                reply: Some((Duration::ZERO, publish_reply(req))),
                emit: job_events(req, |_| Value::from(value.as_str())),
            })
        });
        let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
        let outcome = salt.run(&ping_m1()).await.unwrap();
        let got = returned(&outcome, "m1").unwrap();
        let got = got.as_str().unwrap_or_default();
        assert_eq!(got.len(), big.len(), "{framing:?}");
        assert!(got == big, "{framing:?}: the 1 MiB return differs");
        fake.on_publish(|_| None);
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
    }
}

/// Writes `m1`'s return of `jid` in the master's job cache, as the master
/// does before it sends the event.
fn write_cached_return(cachedir: &Path, jid: &str, value: Value) {
    let hash: String = ring::digest::digest(&ring::digest::SHA256, jid.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cachedir.join("jobs").join(&hash[..2]).join(&hash[2..]).join("m1");
    std::fs::create_dir_all(&dir).unwrap();
    let data = map(vec![
        ("return", value),
        ("retcode", 0.into()),
        ("success", true.into()),
    ]);
    std::fs::write(dir.join("return.p"), pack(&data)).unwrap();
}

/// (vi) + (v) The event bus closes (the listener too) and reopens after
/// the publish, so the return event is lost: the job still returns, from
/// the master's job cache, once m1's find_job answer says it is done.
#[tokio::test(flavor = "multi_thread")]
async fn the_event_bus_reopening_mid_job_falls_back_to_the_job_cache() {
    for framing in FRAMINGS {
        let fake = start(framing);
        let cachedir = fake.cachedir.clone();
        fake.on_publish(move |req| {
            if req.fun != "test.ping" {
                return None;
            }
            write_cached_return(&cachedir, &req.jid, Value::Boolean(true));
            let mut emit = job_events(req, standard_value);
            emit.truncate(2); // the bare jid and salt/job/<jid>/new only
            emit.push(Emit::Restart(Duration::from_millis(300)));
            Some(Answer {
                reply: Some((Duration::ZERO, publish_reply(req))),
                emit,
            })
        });
        let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
        let accepted = fake.counts.readers.load(Ordering::SeqCst);
        let spec = JobSpec::new(
            "test.ping",
            vec!["m1".into()],
            // Long enough for the reader to be back (its backoff) before
            // the find_job round starts.
            Duration::from_secs(2),
            Duration::from_secs(5),
        );
        let start = Instant::now();
        let outcome = salt.run(&spec).await.unwrap();
        let took = start.elapsed();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
        assert!(outcome.silent.is_empty(), "{framing:?}");
        assert!(
            fake.counts.readers.load(Ordering::SeqCst) > accepted,
            "{framing:?}: the reader did not reconnect"
        );
        // The job noticed the reconnect and read the cache at once: no
        // find_job round (which would start once the 2 s timeout passed).
        assert_eq!(
            fake.publishes("saltutil.find_job").len(),
            0,
            "{framing:?}: took {took:?}"
        );
        // And the reconnected bus serves the next job by its events.
        fake.on_publish(|_| None);
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
    }
}

/// (vii) An AuthenticationError, because the master wrote a new key (3006
/// does at every start) after the client read the old one: the client
/// reads the key file again and the retry succeeds. A key that stays wrong
/// is an `Auth` error after one retry, and the key is never in it.
#[tokio::test(flavor = "multi_thread")]
async fn an_authentication_error_rereads_the_key() {
    let fake = start(Framing::Prefixed);
    let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
    let outcome = salt.run(&ping_m1()).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));

    const NEW_KEY: &str = "rotated-master-key-11111111111111111111111111111111111111111111111111111111";
    let key = fake.key();
    let mut rotated = false;
    fake.on_publish(move |req| {
        if req.fun == "test.ping" && !std::mem::replace(&mut rotated, true) {
            key.rotate(NEW_KEY).unwrap();
        }
        None // the standard answer: an auth error for the old key
    });
    let outcome = salt.run(&ping_m1()).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
    let keys: Vec<String> = fake.publishes("test.ping").into_iter().map(|r| r.key).collect();
    assert_eq!(keys, [KEY, KEY, NEW_KEY]);

    // A key that is never accepted: two attempts, then Auth.
    fake.key().accept("something else");
    let err = salt.run(&ping_m1()).await.unwrap_err();
    assert!(matches!(err, Error::Auth), "{err:?}");
    assert!(!err.to_string().contains(NEW_KEY));
    assert!(!format!("{err:?}").contains(NEW_KEY));
    assert_eq!(fake.publishes("test.ping").len(), 5);
}

/// Not a fault: the fake answers like a master, so a plain job works and
/// a target without an accepted key is reported missing, not silent.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_answers_like_a_master() {
    let fake = start(Framing::Bare);
    let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
    let spec = JobSpec::new(
        "test.ping",
        vec!["m1".into(), "ghost".into()],
        Duration::from_secs(5),
        Duration::from_secs(2),
    );
    let outcome = salt.run(&spec).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
    assert_eq!(outcome.missing, ["ghost"]);
    assert!(outcome.silent.is_empty());
    let published = fake.publishes("test.ping");
    assert_eq!(published[0].tgt, ["m1", "ghost"]);
    let seen: BTreeMap<String, usize> = fake.requests().iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.cmd.clone()).or_default() += 1;
        m
    });
    assert!(seen.get("ping").copied().unwrap_or(0) >= 1, "{seen:?}");
}

/// Not a fault: the bench defaults (returns only, nothing recorded) serve
/// a job too, and a `silent-` minion is accepted but never returns, not
/// even to find_job.
#[tokio::test(flavor = "multi_thread")]
async fn the_bench_defaults_return_all_but_silent_minions() {
    let fake = FakeMaster::start(&["m1", "silent-1"]).unwrap();
    let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
    let spec = JobSpec::new(
        "test.ping",
        vec!["m1".into(), "silent-1".into()],
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let outcome = salt.run(&spec).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
    assert_eq!(outcome.silent, ["silent-1"]);
    assert!(outcome.missing.is_empty());
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
    assert_eq!(count(&fake.counts.test_pings), 1);
    assert!(count(&fake.counts.publishes) >= 2, "test.ping, then find_job");
    assert!(count(&fake.counts.pings) >= 1);
    assert_eq!(count(&fake.counts.readers), 1);
}

/// Issue #8 part 3: the master stops answering between the publish and the
/// find_job round. Before, the silent minion came back as `silent` (a
/// `false` to the client); now the job fails as the master's outage.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_lost_before_find_job_fails_the_job_not_the_minion() {
    let fake = start(Framing::Bare);
    fake.on_publish(|req| match req.fun.as_str() {
        // Published, but the minion's return never comes.
        "test.ping" => Some(Answer {
            reply: Some((Duration::ZERO, publish_reply(req))),
            emit: Vec::new(),
        }),
        // The master is gone: no reply at all.
        "saltutil.find_job" => Some(Answer {
            reply: None,
            emit: Vec::new(),
        }),
        _ => None,
    });
    let salt = client(&fake, options(Duration::from_secs(1), 2)).await;
    let spec = JobSpec::new(
        "test.ping",
        vec!["m1".into()],
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let err = salt.run(&spec).await.unwrap_err();
    assert!(matches!(err, Error::Down(_)), "{err:?}");
}

/// A runner's return can be fired before the reply that names its jid
/// reaches the client (the master forks the runner first): the client
/// listens to runner events from before it sends, keeps its own jid's
/// `/ret`, and skips other runners' events. Here the first call's reply is
/// held while the second call's answer fires both returns.
#[tokio::test(flavor = "multi_thread")]
async fn a_runner_return_fired_before_its_reply_is_kept() {
    let fake = start(Framing::Bare);
    let ret = |jid: &str, value: &str| {
        Emit::Event(
            format!("salt/run/{jid}/ret"),
            map(vec![
                ("fun", "runner.test.arg".into()),
                ("jid", jid.into()),
                ("user", "root".into()),
                ("return", value.into()),
                ("success", true.into()),
            ]),
        )
    };
    let accepted = |jid: &str| {
        map(vec![
            ("tag", format!("salt/run/{jid}").into()),
            ("jid", jid.into()),
        ])
    };
    let mut calls = 0;
    fake.on_publish(move |req| {
        if req.cmd != "runner" {
            return None;
        }
        calls += 1;
        Some(match calls {
            1 => Answer {
                reply: Some((Duration::from_millis(800), accepted("11111111111111111111"))),
                emit: Vec::new(),
            },
            _ => Answer {
                reply: Some((Duration::ZERO, accepted("22222222222222222222"))),
                emit: vec![
                    ret("11111111111111111111", "first"),
                    ret("22222222222222222222", "second"),
                ],
            },
        })
    });
    let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
    let first = {
        let salt = salt.clone();
        tokio::spawn(async move {
            salt.runner("test.arg", Vec::new(), Vec::new(), Duration::from_secs(10))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = salt
        .runner("test.arg", Vec::new(), Vec::new(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (second.jid.as_str(), second.ret.as_str()),
        ("22222222222222222222", Some("second"))
    );
    let first = first.await.unwrap().unwrap();
    assert_eq!(
        (first.jid.as_str(), first.ret.as_str()),
        ("11111111111111111111", Some("first"))
    );
}

/// The master's `{"error": {"name", "message"}}` answer to a runner or
/// wheel call is `Error::Refused` with both; an authentication error is
/// `Error::Auth`; a runner accepted but never returning is
/// `Error::RunnerTimeout` with its jid.
#[tokio::test(flavor = "multi_thread")]
async fn runner_and_wheel_errors_are_typed() {
    let fake = start(Framing::Bare);
    fake.on_publish(|req| {
        let error = |name: &str| {
            map(vec![(
                "error",
                map(vec![("name", name.into()), ("message", "no good".into())]),
            )])
        };
        let reply = match req.fun.as_str() {
            "raises.here" => error("SaltInvocationError"),
            "denied.here" => error("EauthAuthenticationError"),
            _ => map(vec![
                ("tag", "salt/run/3".into()),
                ("jid", "33333333333333333333".into()),
            ]),
        };
        Some(Answer {
            reply: Some((Duration::ZERO, reply)),
            emit: Vec::new(),
        })
    });
    let salt = client(&fake, options(Duration::from_secs(5), 2)).await;
    let timeout = Duration::from_millis(300);
    match salt.runner("raises.here", Vec::new(), Vec::new(), timeout).await {
        Err(Error::Refused { name, message }) => {
            assert_eq!((&*name, &*message), ("SaltInvocationError", "no good"))
        }
        other => panic!("{other:?}"),
    }
    match salt.wheel("raises.here", Vec::new(), Vec::new()).await {
        Err(Error::Refused { name, .. }) => assert_eq!(name, "SaltInvocationError"),
        other => panic!("{other:?}"),
    }
    let denied = salt.runner_async("denied.here", Vec::new(), Vec::new()).await;
    assert!(matches!(denied, Err(Error::Auth)), "{denied:?}");
    match salt
        .runner("never.returns", Vec::new(), Vec::new(), timeout)
        .await
    {
        Err(Error::RunnerTimeout { jid }) => assert_eq!(jid, "33333333333333333333"),
        other => panic!("{other:?}"),
    }
}
