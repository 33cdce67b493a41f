//! salt-api's answer formats: JSON or YAML, chosen from `Accept` the way
//! rest_cherrypy chooses (`cherrypy.lib.cptools.accept` over
//! `ct_out_map`), including its ordering quirk; anything else is a 406
//! with CherryPy's message.

use serde_json::Value;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

/// What an answer is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
}

/// In salt-api's order of preference (`ct_out_map`).
const MEDIA: [(&str, Output); 2] = [
    ("application/json", Output::Json),
    ("application/x-yaml", Output::Yaml),
];

impl Output {
    pub fn content_type(self) -> &'static str {
        match self {
            Output::Json => "application/json",
            Output::Yaml => "application/x-yaml",
        }
    }
}

/// Why no format fits: `status` 406 (nothing acceptable) or 400 (a
/// malformed `Accept`), with CherryPy's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NotAcceptable {
    pub status: u16,
    pub message: String,
}

/// One media range of `Accept`.
struct Range {
    /// The range as CherryPy prints it (value and parameters): its sort
    /// key among ranges of equal quality.
    text: String,
    value: String,
    q: f64,
}

/// The answer format for `accept`. As CherryPy: no header (or an empty
/// one) is JSON; ranges are tried by quality, and among equal qualities in
/// *descending* text order (CherryPy sorts its elements and reverses the
/// list, so `application/json, application/x-yaml` gives YAML); `*/*` and
/// `application/*` give JSON, the first of salt-api's types.
pub fn negotiate(accept: Option<&str>) -> Result<Output, NotAcceptable> {
    let Some(header) = accept.filter(|h| !h.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    let mut ranges = header
        .split(',')
        .map(|element| parse_range(element, header))
        .collect::<Result<Vec<_>, _>>()?;
    ranges.sort_by(|a, b| {
        b.q.partial_cmp(&a.q)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.text.cmp(&a.text))
    });
    for range in ranges.iter().filter(|r| r.q > 0.0) {
        if range.value == "*/*" {
            return Ok(MEDIA[0].1);
        }
        if let Some(kind) = range.value.strip_suffix('*') {
            if kind.ends_with('/') {
                if let Some((_, output)) = MEDIA.iter().find(|(m, _)| m.starts_with(kind)) {
                    return Ok(*output);
                }
                continue;
            }
        }
        if let Some((_, output)) = MEDIA.iter().find(|(m, _)| *m == range.value) {
            return Ok(*output);
        }
    }
    let types: Vec<&str> = MEDIA.iter().map(|(m, _)| *m).collect();
    Err(NotAcceptable {
        status: 406,
        message: format!(
            "Your client sent this Accept header: {header}. But this resource only emits these media types: {}.",
            types.join(", ")
        ),
    })
}

fn parse_range(element: &str, header: &str) -> Result<Range, NotAcceptable> {
    let mut parts = element.split(';').map(str::trim);
    let value = parts.next().unwrap_or("").to_owned();
    let mut q = 1.0;
    let mut params = String::new();
    for param in parts.filter(|p| !p.is_empty()) {
        let (key, val) = param.split_once('=').unwrap_or((param, ""));
        let (key, val) = (key.trim(), val.trim());
        if key == "q" {
            q = val
                .parse::<f64>()
                .ok()
                .filter(|q| q.is_finite())
                .ok_or_else(|| NotAcceptable {
                    status: 400,
                    message: format!("Malformed HTTP header: `Accept: {header}`"),
                })?;
        }
        params.push_str(&format!(";{key}={val}"));
    }
    Ok(Range {
        text: format!("{value}{params}"),
        value,
        q,
    })
}

/// `value` written as `output`: compact JSON, or block-style YAML as
/// `yaml.safe_dump(default_flow_style=False)` writes it (no `---` line).
pub fn render(output: Output, value: &Value) -> Vec<u8> {
    match output {
        Output::Json => serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()),
        Output::Yaml => {
            let mut text = String::new();
            let mut emitter = YamlEmitter::new(&mut text);
            // Writing to a String cannot fail.
            let _ = emitter.dump(&to_yaml(value));
            let body = text
                .strip_prefix("---")
                .unwrap_or(&text)
                .trim_start_matches([' ', '\n']);
            let mut bytes = body.as_bytes().to_vec();
            bytes.push(b'\n');
            bytes
        }
    }
}

fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut hash = Hash::new();
            for (k, v) in map {
                hash.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(hash)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accept_is_read_as_cherrypy_reads_it() {
        let cases = [
            (None, Output::Json),
            (Some(""), Output::Json),
            (Some("*/*"), Output::Json),
            (Some("application/*"), Output::Json),
            (Some("application/json"), Output::Json),
            (Some("application/x-yaml"), Output::Yaml),
            (Some("text/html, application/x-yaml;q=0.5"), Output::Yaml),
            (
                Some("application/x-yaml;q=0.4, application/json;q=0.9"),
                Output::Json,
            ),
            // CherryPy's quirk: equal qualities, reverse text order.
            (Some("application/json, application/x-yaml"), Output::Yaml),
            (Some("application/json, */*;q=0.1"), Output::Json),
            (Some("text/html, */*"), Output::Json),
            (Some("application/json;q=0, application/x-yaml"), Output::Yaml),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiate(accept), Ok(expected), "{accept:?}");
        }
        let err = negotiate(Some("text/html")).unwrap_err();
        assert_eq!(err.status, 406);
        assert_eq!(
            err.message,
            "Your client sent this Accept header: text/html. But this resource only emits these media types: application/json, application/x-yaml."
        );
        assert_eq!(negotiate(Some("text/*")).unwrap_err().status, 406);
        assert_eq!(negotiate(Some("application/json;q=0")).unwrap_err().status, 406);
        assert_eq!(
            negotiate(Some("application/json;q=high")).unwrap_err().status,
            400
        );
    }

    #[test]
    fn answers_render_as_json_or_block_yaml() {
        let value = json!({"return": [{"minion-1": true, "n": 1.5, "list": ["a", "b"], "none": null}]});
        assert_eq!(render(Output::Json, &value), serde_json::to_vec(&value).unwrap());
        let yaml = String::from_utf8(render(Output::Yaml, &value)).unwrap();
        assert!(!yaml.starts_with("---"), "{yaml}");
        assert!(yaml.starts_with("return:"), "{yaml}");
        let back = yaml_rust2::YamlLoader::load_from_str(&yaml).unwrap();
        let item = &back[0]["return"][0];
        assert_eq!(item["minion-1"], Yaml::Boolean(true));
        assert_eq!(item["list"][1], Yaml::String("b".into()));
        assert_eq!(item["n"], Yaml::Real("1.5".into()));
        assert!(item["none"].is_null());
    }
}
