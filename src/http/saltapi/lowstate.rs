//! salt-api's request bodies ("lowstate"): a JSON, YAML or form-urlencoded
//! body, one lowstate object or a list of them, read the way rest_cherrypy
//! reads them (`hypermedia_in`, `lowdata_fmt`, `urlencoded_processor`),
//! then checked field by field into [`Lowstate`]s.
//!
//! - JSON (`application/json`, and `text/plain` holding JSON), YAML
//!   (`application/x-yaml`, `text/yaml`), form (`application/x-www-form-urlencoded`:
//!   a repeated key is a list; `arg` and `kwarg` values are read as YAML, as
//!   Salt's CLI reads them, `salt.utils.args.yamlify_arg`). Any other type:
//!   406 "Content type not supported", as salt-api answers.
//! - A scalar `arg` is wrapped in a list. `client` is required.
//! - For `runner` and `wheel`, fields besides the known ones are the
//!   function's keyword arguments (salt-api passes the whole lowstate).
//!
//! Nothing here runs anything: the surface's handlers take [`Lowstate`]s to
//! the service layer, where targets are expanded and ACLs checked.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Most lowstates in one request (salt-api has no limit; a body limit
/// applies before this).
pub const MAX_LOWSTATES: usize = 100;

/// How a body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Form,
    /// `text/plain`: JSON if it parses, else the text itself (salt-api's
    /// `text_processor`).
    Text,
}

/// Why a body is refused; `status` is what salt-api answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BodyError {
    pub status: u16,
    pub message: String,
}

fn bad(message: impl Into<String>) -> BodyError {
    BodyError {
        status: 400,
        message: message.into(),
    }
}

impl Format {
    /// The format of a `Content-Type` value (parameters such as `charset`
    /// ignored, case-insensitive); `None` for none given.
    pub fn of(content_type: Option<&str>) -> Result<Option<Format>, BodyError> {
        let Some(value) = content_type else {
            return Ok(None);
        };
        let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json" => Ok(Some(Format::Json)),
            "application/x-yaml" | "text/yaml" => Ok(Some(Format::Yaml)),
            "application/x-www-form-urlencoded" => Ok(Some(Format::Form)),
            "text/plain" => Ok(Some(Format::Text)),
            _ => Err(BodyError {
                status: 406,
                message: "Content type not supported".into(),
            }),
        }
    }
}

/// The salt-api clients (`client` in a lowstate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    Local,
    LocalAsync,
    LocalBatch,
    LocalSubset,
    Runner,
    RunnerAsync,
    Wheel,
    WheelAsync,
    Ssh,
}

impl Client {
    pub const ALL: [Client; 9] = [
        Client::Local,
        Client::LocalAsync,
        Client::LocalBatch,
        Client::LocalSubset,
        Client::Runner,
        Client::RunnerAsync,
        Client::Wheel,
        Client::WheelAsync,
        Client::Ssh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Client::Local => "local",
            Client::LocalAsync => "local_async",
            Client::LocalBatch => "local_batch",
            Client::LocalSubset => "local_subset",
            Client::Runner => "runner",
            Client::RunnerAsync => "runner_async",
            Client::Wheel => "wheel",
            Client::WheelAsync => "wheel_async",
            Client::Ssh => "ssh",
        }
    }

    pub fn parse(name: &str) -> Option<Client> {
        Client::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether it publishes to minions (targets, ACLs on minion ids).
    pub fn is_local(self) -> bool {
        matches!(
            self,
            Client::Local | Client::LocalAsync | Client::LocalBatch | Client::LocalSubset
        )
    }
}

/// A batch size: a count of minions, or a share of the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Batch {
    Count(u64),
    Percent(f64),
}

/// How a lowstate authenticates by itself (`POST /run` takes credentials
/// or a token inside each lowstate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub eauth: Option<String>,
}

/// One checked lowstate.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowstate {
    pub client: Client,
    pub fun: String,
    /// `local*`: the target as given (a string, or a list for `list`).
    pub tgt: Option<Value>,
    pub tgt_type: String,
    pub arg: Vec<Value>,
    pub kwarg: Map<String, Value>,
    pub timeout: Option<f64>,
    pub full_return: bool,
    pub batch: Option<Batch>,
    pub subset: Option<u64>,
    pub jid: Option<String>,
    pub ret: Option<String>,
    pub credentials: Credentials,
    /// `runner`/`wheel`: the other fields, the function's keyword arguments.
    pub extra: Map<String, Value>,
}

/// Reads a body into raw lowstate objects, as rest_cherrypy does: a
/// mapping becomes a list of one; an empty body is no lowstate.
pub fn read(format: Option<Format>, body: &[u8]) -> Result<Vec<Map<String, Value>>, BodyError> {
    let items = match parse(format, body)? {
        Value::Object(map) => vec![map],
        Value::Array(items) => {
            if items.len() > MAX_LOWSTATES {
                return Err(bad(format!(
                    "at most {MAX_LOWSTATES} lowstates in one request, not {}",
                    items.len()
                )));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(bad(format!("lowstate {i} is not a mapping"))),
                })
                .collect::<Result<_, _>>()?
        }
        Value::Null => Vec::new(),
        _ => return Err(bad("the body must be a lowstate mapping or a list of them")),
    };
    Ok(items)
}

/// A body as rest_cherrypy unserializes it, whatever its shape: `Null`
/// when empty (what `/hook` fires as its `post`).
pub fn parse(format: Option<Format>, body: &[u8]) -> Result<Value, BodyError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    Ok(match format.unwrap_or(Format::Form) {
        Format::Json => serde_json::from_str(text).map_err(|_| bad("Invalid JSON document"))?,
        Format::Text => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())),
        Format::Yaml => yaml_document(text).ok_or_else(|| bad("Invalid YAML document"))?,
        Format::Form => Value::Object(form(text)),
    })
}

/// A form body: keys repeated into lists; `arg` (always a list) and
/// `kwarg` values read as YAML the way Salt's CLI reads them.
fn form(text: &str) -> Map<String, Value> {
    let mut map: Map<String, Value> = Map::new();
    for (key, value) in pairs(text) {
        match map.get_mut(&key) {
            Some(Value::Array(items)) => items.push(Value::String(value)),
            Some(one) => {
                let first = one.take();
                *one = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                map.insert(key, Value::String(value));
            }
        }
    }
    if let Some(kwarg) = map.get_mut("kwarg") {
        *kwarg = yamlify(kwarg.take());
    }
    if let Some(arg) = map.get_mut("arg") {
        *arg = match arg.take() {
            Value::Array(items) => Value::Array(items.into_iter().map(yamlify).collect()),
            one => Value::Array(vec![yamlify(one)]),
        };
    }
    map
}

/// `application/x-www-form-urlencoded` pairs as Python's `parse_qsl`
/// gives them to salt-api: split on `&` only, `+` is a space, `%XX` a
/// byte, a malformed escape kept as written, pairs without `=` or with an
/// empty value left out.
pub(crate) fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (unescape(k), unescape(v)))
        .collect()
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Salt's `yamlify_arg`: a string read as YAML, unless that would lose
/// what was typed (empty, document markers, `1_000`, control whitespace, a
/// comment, a mapping without braces or a list without brackets).
fn yamlify(value: Value) -> Value {
    let Value::String(text) = value else {
        return value;
    };
    let trimmed = text.trim();
    if matches!(trimmed, "" | "---" | "...")
        || (text.contains('_') && trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
        || text.contains(['\t', '\r', '\n'])
    {
        return Value::String(text);
    }
    if text == "None" {
        return Value::Null;
    }
    let Some(parsed) = yaml_document(&text) else {
        return Value::String(text);
    };
    match parsed {
        _ if text.contains('#') => match parsed {
            Value::String(_) | Value::Null => Value::String(text),
            other => other,
        },
        Value::Object(_) if !text.starts_with('{') => Value::String(text),
        Value::Array(_) if !text.starts_with('[') => Value::String(text),
        Value::String(ref s) if s.is_empty() && matches!(text.as_str(), "|" | "!") => Value::String(text),
        other => other,
    }
}

/// The first YAML document of `text` as JSON; `None` if it does not parse
/// or holds what JSON cannot (aliases are resolved by the loader).
fn yaml_document(text: &str) -> Option<Value> {
    let docs = YamlLoader::load_from_str(text).ok()?;
    match docs.into_iter().next() {
        Some(doc) => yaml_to_json(&doc, 0),
        None => Some(Value::Null),
    }
}

/// Deepest nesting taken from a YAML body.
const MAX_DEPTH: usize = 64;

fn yaml_to_json(yaml: &Yaml, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(text) => match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(text.clone()),
        },
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| yaml_to_json(item, depth + 1))
                .collect::<Option<_>>()?,
        ),
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (key, value) in hash {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Real(r) => r.clone(),
                    Yaml::Null => "null".into(),
                    _ => return None,
                };
                map.insert(key, yaml_to_json(value, depth + 1)?);
            }
            Value::Object(map)
        }
        Yaml::Alias(_) | Yaml::BadValue => return None,
    })
}

/// Checks one raw lowstate; `index` names it in messages.
pub fn check(index: usize, mut raw: Map<String, Value>) -> Result<Lowstate, BodyError> {
    let at = |field: &str| format!("lowstate {index}: {field}");
    let client = match raw.remove("client") {
        Some(Value::String(name)) => {
            Client::parse(&name).ok_or_else(|| bad(format!("Invalid client specified: '{name}'")))?
        }
        Some(_) => return Err(bad(at("client must be a string"))),
        None => return Err(bad("Invalid client specified: 'None'")),
    };
    let string = |raw: &mut Map<String, Value>, field: &str| -> Result<Option<String>, BodyError> {
        match raw.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(bad(at(&format!("{field} must be a string")))),
        }
    };
    let credentials = Credentials {
        token: string(&mut raw, "token")?,
        username: string(&mut raw, "username")?,
        password: string(&mut raw, "password")?,
        eauth: string(&mut raw, "eauth")?,
    };
    let fun = match raw.remove("fun") {
        Some(Value::String(fun)) if !fun.is_empty() => fun,
        Some(Value::Array(_)) => return Err(bad(at("a list of functions (compound call) is not supported"))),
        Some(_) => return Err(bad(at("fun must be a function name"))),
        None => return Err(bad(at("fun is required"))),
    };
    let arg = match raw.remove("arg") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(one) => vec![one],
    };
    let kwarg = match raw.remove("kwarg") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(bad(at("kwarg must be a mapping"))),
    };
    let timeout = match raw.remove("timeout") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            number(&value)
                .filter(|t| *t > 0.0)
                .ok_or_else(|| bad(at("timeout must be a positive number")))?,
        ),
    };
    let full_return = match raw.remove("full_return") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(bad(at("full_return must be true or false"))),
    };
    let batch = match raw.remove("batch") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_batch(&value).ok_or_else(|| {
            bad(at(
                "batch must be a count of minions or a percentage such as \"25%\"",
            ))
        })?),
    };
    let subset = match raw.remove("subset") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            number(&value)
                .filter(|n| *n >= 1.0 && n.fract() == 0.0)
                .map(|n| n as u64)
                .ok_or_else(|| bad(at("subset must be a whole number of minions")))?,
        ),
    };
    let tgt = raw.remove("tgt").filter(|t| !t.is_null());
    let tgt_type = match string(&mut raw, "tgt_type")? {
        Some(t) => t,
        // The old name salt-api still takes.
        None => string(&mut raw, "expr_form")?.unwrap_or_else(|| "glob".into()),
    };
    let jid = string(&mut raw, "jid")?;
    let ret = string(&mut raw, "ret")?;
    if client.is_local() {
        match &tgt {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_string) => {}
            Some(_) => return Err(bad(at("tgt must be a string or a list of minion ids"))),
            None => return Err(bad(at("tgt is required"))),
        }
        if client == Client::LocalBatch && batch.is_none() {
            return Err(bad(at("local_batch needs batch")));
        }
        if client == Client::LocalSubset && subset.is_none() {
            return Err(bad(at("local_subset needs subset")));
        }
    }
    // For runners and wheels the rest are the function's keyword
    // arguments (and salt-api reads `jid` there too, e.g. jobs.lookup_jid).
    let mut extra = Map::new();
    if !client.is_local() {
        if let Some(jid) = &jid {
            extra.insert("jid".into(), Value::String(jid.clone()));
        }
        extra.extend(raw);
    } else if let Some((name, _)) = raw.into_iter().next() {
        return Err(bad(at(&format!("unknown field {name:?}"))));
    }
    Ok(Lowstate {
        client,
        fun,
        tgt,
        tgt_type,
        arg,
        kwarg,
        timeout,
        full_return,
        batch,
        subset,
        jid,
        ret,
        credentials,
        extra,
    })
}

/// A number, or a string holding one (form bodies carry only strings).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

fn parse_batch(value: &Value) -> Option<Batch> {
    if let Value::String(text) = value {
        if let Some(share) = text.trim().strip_suffix('%') {
            let share: f64 = share.trim().parse().ok()?;
            return (share > 0.0 && share <= 100.0).then_some(Batch::Percent(share));
        }
    }
    let count = number(value)?;
    (count >= 1.0 && count.fract() == 0.0).then_some(Batch::Count(count as u64))
}

#[cfg(test)]
mod tests;
