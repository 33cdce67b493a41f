//! Compound targets, parsed into a tree and evaluated as sets of ids.
//!
//! Salt (`CkMinions._check_compound_minions`) turns the words into a
//! Python expression over sets and evals it: `and` is `&`, `or` is `|`,
//! and `not X` is `(all - X)`, closed right after the next term or group.
//! So `not` binds tightest, then `and`, then `or`; a `not` straight after
//! a term means `and not`; a leading `not` is "all minions but". Here the
//! same grammar is a recursive-descent parser:
//!
//! ```text
//! or      = and ("or" and)*
//! and     = unary ("and" unary | <a "not" unary>)*
//! unary   = "not" primary | primary
//! primary = "(" or ")" | term
//! ```
//!
//! Salt closes parentheses left open; this parser refuses them. A
//! nodegroup (`N@`) is always its own group: Salt pastes a nodegroup
//! without nested nodegroups in unparenthesised, so `N@g and x` with
//! `g: a or b` reads `a or (b and x)` there; here it is `(a or b) and x`.

use regex::Regex;

use super::grain::GrainQuery;
use super::pattern::{self, Glob};
use super::{Expansion, Minions, Nodegroup, TargetError, MAX_DEPTH, MAX_TERMS};

/// The minions an expression is evaluated over.
pub(super) struct View<'a> {
    /// Accepted ids, sorted, without duplicates.
    pub ids: &'a [String],
    pub minions: &'a dyn Minions,
}

#[derive(Debug)]
enum Node {
    Term(Term),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

#[derive(Debug)]
enum Term {
    Glob(Glob),
    /// `E@`: `re.match`, anchored at the start only.
    Pcre(Regex),
    Grain(GrainQuery),
    List(Vec<String>),
}

const OPERATORS: [&str; 5] = ["and", "or", "not", "(", ")"];

/// A compound expression given as one string.
pub(super) fn expand(expr: &str, view: &View) -> Result<Expansion, TargetError> {
    let words: Vec<String> = expr.split_whitespace().map(str::to_owned).collect();
    expand_words(&words, view)
}

/// A compound expression given as words.
pub(super) fn expand_words(words: &[String], view: &View) -> Result<Expansion, TargetError> {
    let mut parser = Parser::new(view);
    let node = parser.parse(words, 0)?;
    finish(&node, parser.unknown, view)
}

/// A target of one term, taken whole (not split into words).
pub(super) enum Single<'e> {
    Pcre(&'e str),
    Grain(&'e str),
    GrainPcre(&'e str),
    Nodegroup(&'e str),
}

pub(super) fn expand_one(single: Single, view: &View) -> Result<Expansion, TargetError> {
    let mut parser = Parser::new(view);
    let node = match single {
        Single::Pcre(expr) => Node::Term(pcre(expr)?),
        Single::Grain(expr) => Node::Term(Term::Grain(GrainQuery::new(expr, ':', false)?)),
        Single::GrainPcre(expr) => Node::Term(Term::Grain(GrainQuery::new(expr, ':', true)?)),
        Single::Nodegroup(name) => parser.nodegroup(name, 0)?,
    };
    finish(&node, parser.unknown, view)
}

/// The accepted ids a glob matches (Salt's `fnmatch.filter`).
pub(super) fn glob(ids: &[String], pattern: &str) -> Vec<String> {
    let glob = Glob::new(pattern);
    ids.iter().filter(|id| glob.is_match(id)).cloned().collect()
}

fn finish(node: &Node, mut unknown: Vec<String>, view: &View) -> Result<Expansion, TargetError> {
    let set = eval(node, view)?;
    let ids = view
        .ids
        .iter()
        .zip(set)
        .filter(|&(_, hit)| hit)
        .map(|(id, _)| id.clone())
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    Ok(Expansion { ids, unknown })
}

fn pcre(expr: &str) -> Result<Term, TargetError> {
    pattern::regex(expr, false)
        .map(Term::Pcre)
        .map_err(|_| TargetError::Invalid(format!("{expr:?} is not a valid regular expression")))
}

struct Parser<'a> {
    view: &'a View<'a>,
    terms: usize,
    /// Nodegroups being expanded, outermost first: a name seen again is a cycle.
    nodegroups: Vec<String>,
    /// Ids named by `L@` terms (not right after a `not`) that are not accepted.
    unknown: Vec<String>,
}

/// Words being parsed and the position reached.
struct Words<'w> {
    words: &'w [String],
    at: usize,
}

impl Words<'_> {
    fn peek(&self) -> Option<&str> {
        self.words.get(self.at).map(String::as_str)
    }
    fn next(&mut self) -> Option<&str> {
        let word = self.words.get(self.at).map(String::as_str);
        self.at += 1;
        word
    }
}

impl<'a> Parser<'a> {
    fn new(view: &'a View<'a>) -> Parser<'a> {
        Parser {
            view,
            terms: 0,
            nodegroups: Vec::new(),
            unknown: Vec::new(),
        }
    }

    fn parse(&mut self, words: &[String], depth: usize) -> Result<Node, TargetError> {
        if words.is_empty() {
            return Err(TargetError::Invalid("the compound expression is empty".into()));
        }
        let mut w = Words { words, at: 0 };
        let node = self.or(&mut w, depth)?;
        match w.peek() {
            None => Ok(node),
            Some(")") => Err(TargetError::Invalid(
                "unbalanced parentheses: a ) closes nothing".into(),
            )),
            Some(word) => Err(TargetError::Invalid(format!(
                "{word:?} follows a term without and/or"
            ))),
        }
    }

    fn or(&mut self, w: &mut Words, depth: usize) -> Result<Node, TargetError> {
        let mut any = vec![self.and(w, depth)?];
        while w.peek() == Some("or") {
            w.next();
            any.push(self.and(w, depth)?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Node::Or(any)
        })
    }

    fn and(&mut self, w: &mut Words, depth: usize) -> Result<Node, TargetError> {
        let mut all = vec![self.unary(w, depth)?];
        loop {
            match w.peek() {
                Some("and") => {
                    w.next();
                }
                Some("not") => {}
                _ => break,
            }
            all.push(self.unary(w, depth)?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Node::And(all)
        })
    }

    fn unary(&mut self, w: &mut Words, depth: usize) -> Result<Node, TargetError> {
        if w.peek() != Some("not") {
            return self.primary(w, depth, false);
        }
        w.next();
        if w.peek() == Some("not") {
            return Err(TargetError::Invalid(
                "\"not not\" is not valid (Salt refuses it too)".into(),
            ));
        }
        let depth = deeper(depth)?;
        Ok(Node::Not(Box::new(self.primary(w, depth, true)?)))
    }

    fn primary(&mut self, w: &mut Words, depth: usize, negated: bool) -> Result<Node, TargetError> {
        match w.next() {
            None => Err(TargetError::Invalid(
                "the expression ends where a term is expected".into(),
            )),
            Some("(") => {
                let node = self.or(w, deeper(depth)?)?;
                match w.next() {
                    Some(")") => Ok(node),
                    _ => Err(TargetError::Invalid(
                        "unbalanced parentheses: a ( is never closed".into(),
                    )),
                }
            }
            Some(word @ ("and" | "or" | ")")) => {
                Err(TargetError::Invalid(format!("{word:?} where a term is expected")))
            }
            Some(word) => {
                let word = word.to_owned();
                self.term(&word, depth, negated)
            }
        }
    }

    fn term(&mut self, word: &str, depth: usize, negated: bool) -> Result<Node, TargetError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(TargetError::TooComplex(format!("more than {MAX_TERMS} terms")));
        }
        let Some((engine, delimiter, pattern)) = engine(word) else {
            return Ok(Node::Term(Term::Glob(Glob::new(word))));
        };
        let term = match engine {
            'G' | 'P' => Term::Grain(GrainQuery::new(pattern, delimiter.unwrap_or(':'), engine == 'P')?),
            'E' => pcre(pattern)?,
            'L' => {
                let names: Vec<String> = pattern
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                if !negated {
                    let ids = self.view.ids;
                    let missing = names.iter().filter(|n| ids.binary_search(n).is_err());
                    self.unknown.extend(missing.cloned());
                }
                Term::List(names)
            }
            'N' => return self.nodegroup(pattern, depth),
            other => {
                let name = match other {
                    'I' => "pillar",
                    'J' => "pillar_pcre",
                    'S' => "ipcidr",
                    _ => "range",
                };
                return Err(TargetError::Unsupported(format!(
                    "compound engine {other}@ ({name}; supported: G@, P@, E@, L@, N@ and globs)"
                )));
            }
        };
        Ok(Node::Term(term))
    }

    /// A nodegroup as one group, its own nodegroups expanded in turn.
    fn nodegroup(&mut self, name: &str, depth: usize) -> Result<Node, TargetError> {
        if self.nodegroups.iter().any(|n| n == name) {
            let chain = self.nodegroups.join(" → ");
            return Err(TargetError::Invalid(format!("nodegroup cycle: {chain} → {name}")));
        }
        let group = self
            .view
            .minions
            .nodegroup(name)
            .ok_or_else(|| TargetError::Invalid(format!("unknown nodegroup {name:?}")))?;
        let words = nodegroup_words(group);
        self.nodegroups.push(name.to_owned());
        let node = self.parse(&words, deeper(depth)?);
        self.nodegroups.pop();
        node.map_err(|err| match err {
            TargetError::Invalid(msg) => TargetError::Invalid(format!("in nodegroup {name:?}: {msg}")),
            other => other,
        })
    }
}

fn deeper(depth: usize) -> Result<usize, TargetError> {
    if depth >= MAX_DEPTH {
        return Err(TargetError::TooComplex(format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// Salt's `TARGET_REX`: an engine letter, for `G`, `P`, `I`, `J` an
/// optional one-character delimiter, `@`, and a non-empty pattern. A word
/// that does not fit is a glob.
fn engine(word: &str) -> Option<(char, Option<char>, &str)> {
    let mut chars = word.chars();
    let engine = chars.next().filter(|c| "GPIJLNSER".contains(*c))?;
    let rest = chars.as_str();
    if "GPIJ".contains(engine) {
        let mut after = rest.chars();
        if let (Some(delimiter), Some('@')) = (after.next(), after.next()) {
            if !after.as_str().is_empty() {
                return Some((engine, Some(delimiter), after.as_str()));
            }
        }
    }
    let pattern = rest.strip_prefix('@').filter(|p| !p.is_empty())?;
    Some((engine, None, pattern))
}

/// A nodegroup's words, with Salt's reading of a group that has no
/// operator, no `*` and no engine: one `L@` list of its words, or one
/// `E@` regex of them joined by commas if one holds a regex character
/// (`_nodegroup_regex`).
fn nodegroup_words(group: &Nodegroup) -> Vec<String> {
    let words: Vec<String> = match group {
        Nodegroup::Compound(expr) => expr.split_whitespace().map(str::to_owned).collect(),
        Nodegroup::List(words) => words.clone(),
    };
    let plain = words.iter().all(|w| {
        let has_engine = w.len() >= 2 && w.as_bytes()[0].is_ascii_uppercase() && w.as_bytes()[1] == b'@';
        !OPERATORS.contains(&w.as_str()) && !w.contains('*') && !has_engine
    });
    if !plain || words.is_empty() {
        return words;
    }
    let regexy = words
        .iter()
        .any(|w| w.contains(['(', '[', '{', '\\', '?', '}', ']', ')']));
    vec![format!("{}@{}", if regexy { 'E' } else { 'L' }, words.join(","))]
}

/// The set of ids a node stands for, one flag per id of `view.ids`.
fn eval(node: &Node, view: &View) -> Result<Vec<bool>, TargetError> {
    Ok(match node {
        Node::Term(term) => eval_term(term, view)?,
        Node::Not(inner) => eval(inner, view)?.into_iter().map(|hit| !hit).collect(),
        Node::And(nodes) | Node::Or(nodes) => {
            let and = matches!(node, Node::And(_));
            let mut acc = eval(&nodes[0], view)?;
            for other in &nodes[1..] {
                for (a, b) in acc.iter_mut().zip(eval(other, view)?) {
                    *a = if and { *a && b } else { *a || b };
                }
            }
            acc
        }
    })
}

fn eval_term(term: &Term, view: &View) -> Result<Vec<bool>, TargetError> {
    let ids = view.ids;
    Ok(match term {
        Term::Glob(glob) => ids.iter().map(|id| glob.is_match(id)).collect(),
        Term::Pcre(regex) => ids.iter().map(|id| regex.is_match(id)).collect(),
        Term::List(names) => {
            let mut hits = vec![false; ids.len()];
            for name in names {
                if let Ok(i) = ids.binary_search(name) {
                    hits[i] = true;
                }
            }
            hits
        }
        Term::Grain(query) => ids
            .iter()
            .map(|id| match view.minions.grains(id) {
                Some(grains) => query.matches(grains),
                None => Ok(false),
            })
            .collect::<Result<_, _>>()?,
    })
}
