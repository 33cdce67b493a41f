//! Grain matching: Salt's `salt.utils.data.subdict_match`, which grain and
//! grain_pcre targets (`G@`, `P@`) run on each minion's cached grains.
//!
//! `key:value` walks nested maps and lists along the key (`os`,
//! `ip_interfaces:eth0`, a list index) and matches the value side,
//! lowercased on both sides, as a glob (or, for pcre, a regex anchored at
//! the start). Every split of the expression is tried, deepest key first,
//! so `a:b:c` also matches `{"a": "b:c"}`. A list matches when one of its
//! members does; a map when the pattern names or matches one of its keys.

use std::cell::Cell;

use regex::Regex;
use serde_json::Value;

use super::pattern::{self, Glob};
use super::TargetError;

/// Calls one minion's match may make: `*:` wildcards over deep grains
/// could otherwise take time exponential in the number of delimiters.
const BUDGET: usize = 20_000;

/// A grain expression compiled once for all minions.
#[derive(Debug)]
pub(super) struct GrainQuery {
    expr: String,
    delimiter: char,
    /// Byte offset in `expr` where each delimited part starts.
    starts: Vec<usize>,
    /// The matcher of `expr[starts[k]..]`, lowercased, for each `k`.
    suffixes: Vec<Matcher>,
}

#[derive(Debug)]
enum Matcher {
    Glob(Glob),
    /// `None`: not a valid regex, so it matches nothing (Salt logs it).
    Regex(Option<Regex>),
}

impl Matcher {
    fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Glob(glob) => glob.is_match(text),
            Matcher::Regex(regex) => regex.as_ref().is_some_and(|r| r.is_match(text)),
        }
    }
}

impl GrainQuery {
    pub(super) fn new(expr: &str, delimiter: char, regex: bool) -> Result<GrainQuery, TargetError> {
        let mut starts = vec![0];
        starts.extend(expr.match_indices(delimiter).map(|(i, d)| i + d.len()));
        if starts.len() == 1 {
            return Err(TargetError::Invalid(format!(
                "grain target {expr:?} has no {delimiter:?}: it is key{delimiter}value"
            )));
        }
        let suffixes: Vec<Matcher> = starts
            .iter()
            .map(|&s| {
                let lower = expr[s..].to_lowercase();
                if regex {
                    Matcher::Regex(pattern::regex(&lower, false).ok())
                } else {
                    Matcher::Glob(Glob::new(&lower))
                }
            })
            .collect();
        if regex && suffixes[1..].iter().all(|m| matches!(m, Matcher::Regex(None))) {
            return Err(TargetError::Invalid(format!(
                "grain_pcre target {expr:?}: the value is not a valid regular expression"
            )));
        }
        Ok(GrainQuery {
            expr: expr.to_owned(),
            delimiter,
            starts,
            suffixes,
        })
    }

    /// Whether a minion's grains match; an error only when the match would
    /// take more than [`BUDGET`] steps.
    pub(super) fn matches(&self, grains: &Value) -> Result<bool, TargetError> {
        let run = Run {
            query: self,
            budget: Cell::new(BUDGET),
        };
        let found = run.subdict(grains, 0);
        if run.budget.get() == 0 {
            return Err(TargetError::TooComplex(format!(
                "grain target {:?} takes more than {BUDGET} steps on one minion",
                self.expr
            )));
        }
        Ok(found)
    }

    fn parts(&self) -> usize {
        self.starts.len()
    }

    /// Part `k` alone.
    fn part(&self, k: usize) -> &str {
        self.span(k, k + 1)
    }

    /// Parts `k..end` joined by the delimiter.
    fn span(&self, k: usize, end: usize) -> &str {
        let stop = match self.starts.get(end) {
            Some(&s) => s - self.delimiter.len_utf8(),
            None => self.expr.len(),
        };
        &self.expr[self.starts[k]..stop]
    }
}

/// One minion's match, with its step budget.
struct Run<'q> {
    query: &'q GrainQuery,
    budget: Cell<usize>,
}

impl Run<'_> {
    fn step(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }

    /// `subdict_match(data, parts k..)`.
    fn subdict(&self, data: &Value, k: usize) -> bool {
        let q = self.query;
        if !self.step() || q.parts() - k == 1 {
            return false;
        }
        for idx in (k + 1..q.parts()).rev() {
            let key = q.span(k, idx);
            let (found, at) = if key == "*" {
                (Some(data), k)
            } else {
                (self.traverse(data, k, idx), idx)
            };
            let matched = match found {
                None => false,
                Some(Value::Object(map)) if map.is_empty() => false,
                Some(map @ Value::Object(_)) => self.dict(map, at),
                Some(Value::Array(members)) => members.iter().any(|m| match m {
                    Value::Object(_) => self.dict(m, at),
                    _ => self.value(m, at),
                }),
                Some(other) => self.value(other, at),
            };
            if matched {
                return true;
            }
        }
        false
    }

    /// `traverse_dict_and_list(data, parts k..end)`: map keys, list
    /// indexes (negative from the end) or a key of a map inside a list.
    fn traverse<'v>(&self, data: &'v Value, k: usize, end: usize) -> Option<&'v Value> {
        let mut at = data;
        for i in k..end {
            let part = self.query.part(i);
            at = match at {
                Value::Object(map) => map.get(part)?,
                Value::Array(items) => match part.parse::<i64>() {
                    Ok(n) => {
                        let len = i64::try_from(items.len()).ok()?;
                        items.get(usize::try_from(if n < 0 { len + n } else { n }).ok()?)?
                    }
                    Err(_) => items.iter().find_map(|item| item.get(part))?,
                },
                _ => return None,
            };
        }
        Some(at)
    }

    /// `_dict_match(map, parts j..)`.
    fn dict(&self, map: &Value, j: usize) -> bool {
        let q = self.query;
        let Value::Object(entries) = map else {
            return false;
        };
        if !self.step() {
            return false;
        }
        let wildcard = q.part(j) == "*" && j + 1 < q.parts();
        let j = if wildcard { j + 1 } else { j };
        let pattern = q.span(j, q.parts());
        if pattern == "*"
            || entries.contains_key(pattern)
            || entries.keys().any(|key| self.text(key, j))
            || self.subdict(map, j)
        {
            return true;
        }
        wildcard
            && entries.values().any(|v| match v {
                Value::Object(_) => self.dict(v, j),
                Value::Array(items) => items.iter().any(|item| self.value(item, j)),
                other => self.value(other, j),
            })
    }

    /// `_match(value, parts j..)`: the value as Python's `str()` writes it.
    fn value(&self, value: &Value, j: usize) -> bool {
        let text = match value {
            Value::String(s) => return self.text(s, j),
            Value::Bool(true) => "True".to_owned(),
            Value::Bool(false) => "False".to_owned(),
            Value::Null => "None".to_owned(),
            Value::Number(n) => n.to_string(),
            // Python would show its repr; JSON is close enough for a glob.
            other => other.to_string(),
        };
        self.text(&text, j)
    }

    fn text(&self, text: &str, j: usize) -> bool {
        self.query.suffixes[j].is_match(&text.to_lowercase())
    }
}
