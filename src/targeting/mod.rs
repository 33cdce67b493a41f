//! Salt targeting and publisher ACLs, as pure functions over a list of
//! accepted minion ids. A request's target (list, glob, pcre, grain,
//! grain_pcre, nodegroup or compound, read as Salt 3007's `CkMinions`
//! reads it) is expanded here into the exact, sorted ids it names, and it
//! is those ids, never the request's pattern, that are checked against the
//! ACL ([`AclSet`]: every id must be allowed the function by some entry)
//! and published (as a `list` target). So a pattern cannot reach minions
//! the master knows and projetyd did not check, and a minion accepted
//! between the check and the publish is not included. No match is not an
//! error (an empty expansion; the caller answers 404); an unsupported
//! target type or engine, a malformed expression or one over the limits
//! ([`MAX_EXPR_LEN`], [`MAX_DEPTH`], [`MAX_TERMS`]) is a [`TargetError`]
//! fit for a 400. Where Salt is loose this module is narrower, never wider
//! (regexes are anchored as a whole, unbalanced parentheses are refused);
//! each such place says so. This module knows nothing of Salt's files, the
//! store or HTTP: callers hand it a [`Minions`] view.

mod acl;
mod compound;
mod grain;
mod pattern;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

pub use acl::{AclSet, Class, Denied};
pub use pattern::{expr_match, glob_match, Expr, Glob};

/// Longest target expression, in bytes.
pub const MAX_EXPR_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and nodegroups in a compound.
pub const MAX_DEPTH: usize = 32;
/// Most terms in a compound, counting those its nodegroups bring in.
pub const MAX_TERMS: usize = 256;

/// The target types projetyd expands (Salt's `tgt_type` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetType {
    List,
    Glob,
    Pcre,
    Grain,
    GrainPcre,
    Nodegroup,
    Compound,
}

impl TargetType {
    pub const ALL: [TargetType; 7] = [
        TargetType::List,
        TargetType::Glob,
        TargetType::Pcre,
        TargetType::Grain,
        TargetType::GrainPcre,
        TargetType::Nodegroup,
        TargetType::Compound,
    ];

    /// Salt's name for the type; anything else (`pillar`, `ipcidr`,
    /// `range`, `data`, …) is unsupported.
    pub fn parse(name: &str) -> Result<TargetType, TargetError> {
        TargetType::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                let supported: Vec<&str> = TargetType::ALL.iter().map(|t| t.name()).collect();
                TargetError::Unsupported(format!(
                    "target type {name:?} (supported: {})",
                    supported.join(", ")
                ))
            })
    }

    pub fn name(self) -> &'static str {
        match self {
            TargetType::List => "list",
            TargetType::Glob => "glob",
            TargetType::Pcre => "pcre",
            TargetType::Grain => "grain",
            TargetType::GrainPcre => "grain_pcre",
            TargetType::Nodegroup => "nodegroup",
            TargetType::Compound => "compound",
        }
    }
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A target as a request gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: TargetType,
    pub expr: TargetExpr,
}

/// A target's expression: a string, or a list (of ids for `list`, of words
/// for `compound`, as Salt takes both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetExpr {
    One(String),
    List(Vec<String>),
}

/// A nodegroup from the master's `nodegroups`: a compound expression, or a
/// list of words (plain ids in practice; Salt reads those as `L@a,b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nodegroup {
    Compound(String),
    List(Vec<String>),
}

/// Why a target cannot be expanded; each message is fit for a 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("invalid target: {0}")]
    Invalid(String),
    #[error("target too complex: {0}")]
    TooComplex(String),
}

/// What a target names: accepted ids, sorted and without duplicates, and
/// the ids a list named that are not accepted (the caller reports them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    pub ids: Vec<String>,
    pub unknown: Vec<String>,
}

/// What expansion needs to know of the master.
pub trait Minions {
    /// The accepted minion ids, sorted, without duplicates.
    fn ids(&self) -> &[String];
    /// A minion's cached grains; `None` when the master has none (such a
    /// minion never matches a grain target, as in Salt).
    fn grains(&self, id: &str) -> Option<&Value>;
    fn nodegroup(&self, name: &str) -> Option<&Nodegroup>;
}

/// An owned [`Minions`]: for tests, and for a service that has read the
/// keys, the grains cache and the nodegroups.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    ids: Vec<String>,
    grains: HashMap<String, Value>,
    nodegroups: HashMap<String, Nodegroup>,
}

impl Fleet {
    /// Sorts and deduplicates `ids`.
    pub fn new(
        mut ids: Vec<String>,
        grains: HashMap<String, Value>,
        nodegroups: HashMap<String, Nodegroup>,
    ) -> Fleet {
        ids.sort_unstable();
        ids.dedup();
        Fleet {
            ids,
            grains,
            nodegroups,
        }
    }
}

impl Minions for Fleet {
    fn ids(&self) -> &[String] {
        &self.ids
    }
    fn grains(&self, id: &str) -> Option<&Value> {
        self.grains.get(id)
    }
    fn nodegroup(&self, name: &str) -> Option<&Nodegroup> {
        self.nodegroups.get(name)
    }
}

/// The accepted ids `target` names. See the module doc for the rules.
pub fn expand(target: &Target, minions: &dyn Minions) -> Result<Expansion, TargetError> {
    let ids = sorted_ids(minions);
    let view = compound::View { ids: &ids, minions };
    let expr = match (target.kind, &target.expr) {
        (TargetType::List, TargetExpr::List(names)) => {
            check_len(names.iter().map(|n| n.len() + 1).sum())?;
            return Ok(list(&ids, names.iter().map(String::as_str)));
        }
        (TargetType::Compound, TargetExpr::List(words)) => {
            check_len(words.iter().map(|w| w.len() + 1).sum())?;
            return compound::expand_words(words, &view);
        }
        (kind, TargetExpr::List(_)) => {
            return Err(TargetError::Invalid(format!(
                "a {kind} target is a string, not a list"
            )))
        }
        (_, TargetExpr::One(expr)) => expr.as_str(),
    };
    check_len(expr.len())?;
    let single = match target.kind {
        // Salt splits a list given as a string on commas.
        TargetType::List => return Ok(list(&ids, expr.split(',').filter(|n| !n.is_empty()))),
        TargetType::Compound => return compound::expand(expr, &view),
        TargetType::Glob => return Ok(only(compound::glob(&ids, expr))),
        TargetType::Pcre => compound::Single::Pcre(expr),
        TargetType::Grain => compound::Single::Grain(expr),
        TargetType::GrainPcre => compound::Single::GrainPcre(expr),
        TargetType::Nodegroup => compound::Single::Nodegroup(expr),
    };
    compound::expand_one(single, &view)
}

fn only(ids: Vec<String>) -> Expansion {
    Expansion {
        ids,
        unknown: Vec::new(),
    }
}

fn check_len(len: usize) -> Result<(), TargetError> {
    if len > MAX_EXPR_LEN {
        return Err(TargetError::TooComplex(format!(
            "the expression is {len} bytes long, over the limit of {MAX_EXPR_LEN}"
        )));
    }
    Ok(())
}

/// Salt's list target: the named ids that are accepted, and the others.
fn list<'a>(ids: &[String], names: impl Iterator<Item = &'a str>) -> Expansion {
    let mut expansion = Expansion::default();
    for name in names {
        match ids.binary_search_by(|id| id.as_str().cmp(name)) {
            Ok(_) => expansion.ids.push(name.to_owned()),
            Err(_) => expansion.unknown.push(name.to_owned()),
        }
    }
    for v in [&mut expansion.ids, &mut expansion.unknown] {
        v.sort_unstable();
        v.dedup();
    }
    expansion
}

/// `minions.ids()`, sorted and deduplicated even if an implementation
/// forgot to (every lookup here is a binary search).
fn sorted_ids(minions: &dyn Minions) -> Cow<'_, [String]> {
    let ids = minions.ids();
    if ids.windows(2).all(|w| w[0] < w[1]) {
        return Cow::Borrowed(ids);
    }
    let mut owned = ids.to_vec();
    owned.sort_unstable();
    owned.dedup();
    Cow::Owned(owned)
}

#[cfg(test)]
mod tests;
