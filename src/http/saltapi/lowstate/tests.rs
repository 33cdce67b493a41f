use serde_json::json;

use super::*;

fn one(format: Format, body: &str) -> Result<Lowstate, BodyError> {
    let mut items = read(Some(format), body.as_bytes())?;
    assert_eq!(items.len(), 1, "{items:?}");
    check(0, items.remove(0))
}

#[test]
fn content_types_are_salt_apis() {
    assert_eq!(Format::of(None), Ok(None));
    assert_eq!(Format::of(Some("application/json")), Ok(Some(Format::Json)));
    assert_eq!(
        Format::of(Some("Application/JSON; charset=utf-8")),
        Ok(Some(Format::Json))
    );
    assert_eq!(Format::of(Some("text/yaml")), Ok(Some(Format::Yaml)));
    assert_eq!(Format::of(Some("application/x-yaml")), Ok(Some(Format::Yaml)));
    assert_eq!(
        Format::of(Some("application/x-www-form-urlencoded; charset=UTF-8")),
        Ok(Some(Format::Form))
    );
    assert_eq!(Format::of(Some("text/plain")), Ok(Some(Format::Text)));
    for other in ["application/xml", "multipart/form-data; boundary=x", "", "json"] {
        assert_eq!(Format::of(Some(other)).unwrap_err().status, 406, "{other}");
    }
}

#[test]
fn json_yaml_and_text_bodies_give_the_same_lowstate() {
    let json_body =
        r#"{"client": "local", "tgt": "*", "fun": "test.arg", "arg": [1, "a"], "kwarg": {"k": true}}"#;
    let yaml_body = "client: local\ntgt: '*'\nfun: test.arg\narg: [1, a]\nkwarg: {k: true}\n";
    let a = one(Format::Json, json_body).unwrap();
    let b = one(Format::Yaml, yaml_body).unwrap();
    let c = one(Format::Text, json_body).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.client, Client::Local);
    assert_eq!((a.fun.as_str(), a.tgt_type.as_str()), ("test.arg", "glob"));
    assert_eq!(a.arg, vec![json!(1), json!("a")]);
    assert_eq!(a.kwarg["k"], json!(true));
    let list = read(
        Some(Format::Json),
        br#"[{"client": "runner", "fun": "a.b"}, {"client": "wheel", "fun": "c.d"}]"#,
    )
    .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        read(Some(Format::Json), b"").unwrap(),
        Vec::<Map<String, Value>>::new()
    );
}

#[test]
fn form_bodies_repeat_keys_and_read_arguments_as_the_cli_does() {
    let low = one(
        Format::Form,
        "client=local&tgt=web%2A&fun=test.arg&arg=1&arg=%5B1%2C+2%5D&arg=one%3D1&arg=a+b&arg=1_000&arg=None&kwarg=%7Bx%3A+1%7D",
    )
    .unwrap();
    assert_eq!(low.tgt, Some(json!("web*")));
    assert_eq!(
        low.arg,
        vec![
            json!(1),
            json!([1, 2]),
            json!("one=1"),
            json!("a b"),
            json!("1_000"),
            Value::Null
        ]
    );
    assert_eq!(low.kwarg, json!({"x": 1}).as_object().unwrap().clone());
    // One arg is still a list; a mapping without braces stays a string.
    let low = one(Format::Form, "client=local&tgt=m1&fun=test.echo&arg=a%3A+b").unwrap();
    assert_eq!(low.arg, vec![json!("a: b")]);
    // parse_qsl's rules: `&` only, empty values left out, bad escapes kept.
    let low = one(
        Format::Form,
        "client=local&tgt=m1&fun=test.echo&arg=%23+x&arg=%zz&arg=&x&arg=a;b=c",
    )
    .unwrap();
    assert_eq!(low.arg, vec![json!("# x"), json!("%zz"), json!("a;b=c")]);
    // Numbers in forms are strings; they still make a timeout.
    let low = one(
        Format::Form,
        "client=local&tgt=m1&fun=test.ping&timeout=2.5&full_return=true",
    )
    .unwrap();
    assert_eq!((low.timeout, low.full_return), (Some(2.5), true));
}

#[test]
fn a_scalar_arg_is_wrapped_and_old_names_are_taken() {
    let low = one(
        Format::Json,
        r#"{"client": "local", "tgt": ["a", "b"], "expr_form": "list", "fun": "test.echo", "arg": "hi"}"#,
    )
    .unwrap();
    assert_eq!(low.arg, vec![json!("hi")]);
    assert_eq!(low.tgt_type, "list");
    assert_eq!(low.tgt, Some(json!(["a", "b"])));
}

#[test]
fn runners_and_wheels_take_the_other_fields_as_keyword_arguments() {
    let low = one(
        Format::Json,
        r#"{"client": "runner", "fun": "jobs.lookup_jid", "jid": "2026", "ext": [1]}"#,
    )
    .unwrap();
    assert_eq!(
        low.extra,
        json!({"jid": "2026", "ext": [1]}).as_object().unwrap().clone()
    );
    let low = one(
        Format::Json,
        r#"{"client": "wheel", "fun": "key.finger", "match": "m1", "token": "t"}"#,
    )
    .unwrap();
    assert_eq!(low.extra["match"], "m1");
    assert_eq!(low.credentials.token.as_deref(), Some("t"));
    assert!(!low.extra.contains_key("token"), "credentials are not arguments");
}

#[test]
fn batches_and_subsets() {
    let low = one(
        Format::Json,
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": "25%"}"#,
    )
    .unwrap();
    assert_eq!(low.batch, Some(Batch::Percent(25.0)));
    let low = one(
        Format::Json,
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": 2}"#,
    )
    .unwrap();
    assert_eq!(low.batch, Some(Batch::Count(2)));
    let low = one(Format::Form, "client=local_batch&tgt=*&fun=test.ping&batch=3").unwrap();
    assert_eq!(low.batch, Some(Batch::Count(3)));
    let low = one(
        Format::Json,
        r#"{"client": "local_subset", "tgt": "*", "fun": "test.ping", "subset": 1}"#,
    )
    .unwrap();
    assert_eq!(low.subset, Some(1));
    for bad in [
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping"}"#,
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": "0%"}"#,
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": "101%"}"#,
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": -1}"#,
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": 1.5}"#,
        r#"{"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": [1]}"#,
        r#"{"client": "local_subset", "tgt": "*", "fun": "test.ping"}"#,
        r#"{"client": "local_subset", "tgt": "*", "fun": "test.ping", "subset": 0}"#,
    ] {
        assert_eq!(one(Format::Json, bad).unwrap_err().status, 400, "{bad}");
    }
}

#[test]
fn hostile_bodies_are_400s_naming_what_is_wrong() {
    let cases: &[(Format, &str, &str)] = &[
        (Format::Json, "{", "Invalid JSON document"),
        (Format::Yaml, "a: [", "Invalid YAML document"),
        (Format::Yaml, "&a [*a]", "Invalid YAML document"),
        (Format::Json, "[1, 2]", "lowstate 0 is not a mapping"),
        (Format::Json, "\"text\"", "mapping or a list"),
        (Format::Json, "7", "mapping or a list"),
    ];
    for (format, body, message) in cases {
        let err = read(Some(*format), body.as_bytes()).unwrap_err();
        assert_eq!(err.status, 400, "{body}");
        assert!(err.message.contains(message), "{body}: {}", err.message);
    }
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    assert!(read(Some(Format::Yaml), deep.as_bytes()).is_err(), "too deep");
    let many = format!("[{}]", vec![r#"{"client":"local"}"#; MAX_LOWSTATES + 1].join(","));
    assert!(read(Some(Format::Json), many.as_bytes())
        .unwrap_err()
        .message
        .contains("at most"));
    assert!(read(Some(Format::Json), b"\xff\xfe").is_err());

    let checks: &[(&str, &str)] = &[
        (r#"{"fun": "test.ping"}"#, "Invalid client specified: 'None'"),
        (
            r#"{"client": "lokal", "fun": "test.ping"}"#,
            "Invalid client specified: 'lokal'",
        ),
        (
            r#"{"client": ["local"], "fun": "test.ping"}"#,
            "client must be a string",
        ),
        (r#"{"client": "local", "tgt": "*"}"#, "fun is required"),
        (r#"{"client": "local", "tgt": "*", "fun": ""}"#, "fun must be"),
        (
            r#"{"client": "local", "tgt": "*", "fun": ["a", "b"]}"#,
            "not supported",
        ),
        (r#"{"client": "local", "fun": "test.ping"}"#, "tgt is required"),
        (
            r#"{"client": "local", "tgt": {"a": 1}, "fun": "test.ping"}"#,
            "tgt must be",
        ),
        (
            r#"{"client": "local", "tgt": [1], "fun": "test.ping"}"#,
            "tgt must be",
        ),
        (
            r#"{"client": "local", "tgt": "*", "fun": "f", "kwarg": [1]}"#,
            "kwarg must be a mapping",
        ),
        (
            r#"{"client": "local", "tgt": "*", "fun": "f", "timeout": "soon"}"#,
            "timeout",
        ),
        (
            r#"{"client": "local", "tgt": "*", "fun": "f", "timeout": -1}"#,
            "timeout",
        ),
        (
            r#"{"client": "local", "tgt": "*", "fun": "f", "full_return": 2}"#,
            "full_return",
        ),
        (
            r#"{"client": "local", "tgt": "*", "fun": "f", "tgt_type": {}}"#,
            "tgt_type must be",
        ),
        (
            r#"{"client": "local", "tgt": "*", "fun": "f", "username": []}"#,
            "username must be",
        ),
        (
            r#"{"client": "local", "tgt": "*", "fun": "f", "surprise": 1}"#,
            "unknown field \"surprise\"",
        ),
    ];
    for (body, message) in checks {
        let err = one(Format::Json, body).unwrap_err();
        assert_eq!(err.status, 400, "{body}");
        assert!(err.message.contains(message), "{body}: {}", err.message);
    }
}

/// Salt 3007.16's own `salt.utils.args.yamlify_arg` on each input gave the
/// expected value (run in the lab's virtualenv).
#[test]
fn arguments_are_read_as_salts_yamlify_arg_reads_them() {
    let table = [
        ("1", json!(1)),
        ("[1, 2]", json!([1, 2])),
        ("one=1", json!("one=1")),
        ("a b", json!("a b")),
        ("1_000", json!("1_000")),
        ("None", Value::Null),
        ("{x: 1}", json!({"x": 1})),
        ("a: b", json!("a: b")),
        ("# x", json!("# x")),
        ("%zz", json!("%zz")),
        ("", json!("")),
        ("2.5", json!(2.5)),
        ("true", json!(true)),
        ("~", Value::Null),
        ("null", Value::Null),
        ("!", json!("!")),
        ("|", json!("|")),
        ("- a", json!("- a")),
    ];
    for (input, expected) in table {
        assert_eq!(yamlify(Value::String(input.into())), expected, "{input:?}");
    }
}
