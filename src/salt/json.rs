//! Between the API's JSON and Salt's msgpack: a request's arguments go to
//! the minion as data (never through a shell, a template or Salt's CLI
//! parser), and a minion's return comes back as JSON.

use std::collections::BTreeMap;

use rmpv::Value;
use serde_json::Value as Json;

/// The `arg` list of a publish: the positional arguments, then, when there
/// are keyword arguments, one map of them marked `__kwarg__: true` (how
/// Salt's own client packs them; the minion unpacks that map into keyword
/// arguments of the function).
pub fn call_args(args: &[Json], kwargs: &BTreeMap<String, Json>) -> Vec<Value> {
    let mut arg: Vec<Value> = args.iter().map(from_json).collect();
    if !kwargs.is_empty() {
        let mut map = vec![(Value::from("__kwarg__"), Value::Boolean(true))];
        map.extend(
            kwargs
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v))),
        );
        arg.push(Value::Map(map));
    }
    arg
}

/// A JSON value as msgpack.
pub fn from_json(value: &Json) -> Value {
    match value {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::from(i),
            (None, Some(u), _) => Value::from(u),
            (None, None, Some(f)) => Value::F64(f),
            (None, None, None) => Value::Nil,
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
                .collect(),
        ),
    }
}

/// A msgpack value as JSON. What JSON cannot hold is written the way
/// Salt's own JSON outputter would show it: map keys that are not strings
/// as their text (`1`, `true`), bytes as text when they are UTF-8 (else
/// lossily), a float that is not finite and an extension type as `null`.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(n), _) => Json::from(n),
            (None, Some(n)) => Json::from(n),
            (None, None) => Json::Null,
        },
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => Json::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Value::Binary(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(entries.iter().map(|(k, v)| (key_text(k), to_json(v))).collect()),
        Value::Ext(..) => Json::Null,
    }
}

fn float(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Nil => "null".into(),
        other => match to_json(other) {
            Json::String(s) => s,
            json => json.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kwargs_follow_the_positional_arguments_marked_as_salt_marks_them() {
        let kwargs = BTreeMap::from([("b".to_owned(), json!(2))]);
        let arg = call_args(&[json!("a"), json!({"x": [1, null]})], &kwargs);
        assert_eq!(arg.len(), 3);
        assert_eq!(to_json(&arg[0]), json!("a"));
        assert_eq!(to_json(&arg[1]), json!({"x": [1, null]}));
        assert_eq!(to_json(&arg[2]), json!({"__kwarg__": true, "b": 2}));
        assert_eq!(call_args(&[], &BTreeMap::new()), Vec::<Value>::new());
    }

    #[test]
    fn values_round_trip_and_odd_msgpack_becomes_json() {
        let value = json!({"a": [1, -2, 3.5, true, null, "é"], "n": 18_446_744_073_709_551_615u64});
        assert_eq!(to_json(&from_json(&value)), value);
        let odd = Value::Map(vec![
            (Value::from(1), Value::F64(f64::NAN)),
            (Value::Boolean(true), Value::Binary(b"bytes".to_vec())),
            (Value::Nil, Value::Ext(1, vec![0])),
            (Value::Array(vec![Value::from(1)]), Value::from("x")),
        ]);
        assert_eq!(
            to_json(&odd),
            json!({"1": null, "true": "bytes", "null": null, "[1]": "x"})
        );
    }
}
