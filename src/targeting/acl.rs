//! Publisher ACLs checked against exact minion ids.
//!
//! An entry is `(minions, functions)` as in Salt's `publisher_acl`:
//! `minions` is a glob on ids (`*` and `.*` mean every minion) or a class
//! (`@runner`, `@wheel`, `@jobs`; Salt also takes `@runners`, `@wheels`);
//! `functions` is an `expr_match` pattern (equal, glob, or a regex matching
//! the whole name). Salt's own check runs `re.match` (a prefix match: `test`
//! allows `testing.x`); the whole-name reading here is narrower. Salt reads
//! `minions` as a compound target; here only its glob form is understood,
//! so `G@…` matches no id (a denial, never a grant).

use std::collections::HashMap;

use super::pattern::{Expr, Glob};

/// Who may be asked for something other than a minion job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Runner,
    Wheel,
    /// Salt-api's `@jobs`: looking up jobs and their returns.
    Jobs,
}

/// Why a check failed: the first id no entry allows, or `None` when the
/// function is allowed on no minion at all (or no id was given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match minion { Some(id) => format!("not allowed on minion {id:?}"), None => "not allowed on any minion".to_owned() })]
pub struct Denied {
    pub minion: Option<String>,
}

#[derive(Debug, Clone)]
enum Scope {
    All,
    /// An index into `AclSet::globs`.
    Glob(usize),
    Class(Class),
    /// An `@name` that is no class projetyd knows: allows nothing.
    Unknown,
}

#[derive(Debug, Clone)]
struct Entry {
    scope: Scope,
    /// An index into `AclSet::functions`.
    functions: usize,
}

/// ACL entries compiled once: patterns parsed, minion globs deduplicated
/// and indexed by their literal prefix (or, for one that starts with a
/// wildcard, its literal suffix), so that a check costs a few hash lookups
/// per id rather than a walk over every entry.
#[derive(Debug, Clone, Default)]
pub struct AclSet {
    entries: Vec<Entry>,
    /// Each distinct function pattern once (a regex takes tens of
    /// microseconds to build, and ACLs repeat their patterns).
    functions: Vec<Expr>,
    /// Each distinct minion glob once.
    globs: Vec<Glob>,
    /// Glob indexes by literal prefix (`web-` for `web-*`).
    by_prefix: HashMap<String, Vec<usize>>,
    /// Globs with no literal prefix, by literal suffix (`.dmz` for
    /// `*.dmz`; `""` for the few with neither, such as `[ab]*`).
    by_suffix: HashMap<String, Vec<usize>>,
}

/// The globs of one index that some entry allows the function through,
/// and the key lengths present (so that an id is looked up only at those).
struct Live<'s> {
    globs: HashMap<&'s str, Vec<&'s Glob>>,
    lengths: Vec<usize>,
}

impl<'s> Live<'s> {
    fn new(index: &'s HashMap<String, Vec<usize>>, globs: &'s [Glob], allowed: &[bool]) -> Live<'s> {
        let mut live: HashMap<&str, Vec<&Glob>> = HashMap::new();
        for (key, ids) in index {
            let on: Vec<&Glob> = ids.iter().filter(|&&g| allowed[g]).map(|&g| &globs[g]).collect();
            if !on.is_empty() {
                live.insert(key, on);
            }
        }
        let mut lengths: Vec<usize> = live.keys().map(|k| k.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        Live { globs: live, lengths }
    }

    /// Whether a glob keyed by a prefix (or a suffix) of `id` matches it.
    fn allows(&self, id: &str, suffix: bool) -> bool {
        self.lengths
            .iter()
            .take_while(|&&len| len <= id.len())
            .filter_map(|&len| {
                let at = if suffix { id.len() - len } else { len };
                let key = if suffix { id.get(at..) } else { id.get(..at) };
                self.globs.get(key?)
            })
            .any(|globs| globs.iter().any(|glob| glob.is_match(id)))
    }
}

impl AclSet {
    pub fn compile(entries: &[(&str, &str)]) -> AclSet {
        let mut set = AclSet::default();
        let mut interned: HashMap<&str, usize> = HashMap::new();
        let mut functions_interned: HashMap<&str, usize> = HashMap::new();
        for &(minions, functions) in entries {
            let scope = match minions {
                "@runner" | "@runners" => Scope::Class(Class::Runner),
                "@wheel" | "@wheels" => Scope::Class(Class::Wheel),
                "@jobs" => Scope::Class(Class::Jobs),
                m if m.starts_with('@') => Scope::Unknown,
                ".*" => Scope::All,
                m if !m.is_empty() && m.chars().all(|c| c == '*') => Scope::All,
                m => Scope::Glob(*interned.entry(m).or_insert_with(|| set.add_glob(m))),
            };
            let functions = *functions_interned.entry(functions).or_insert_with(|| {
                set.functions.push(Expr::new(functions));
                set.functions.len() - 1
            });
            set.entries.push(Entry { scope, functions });
        }
        set
    }

    fn add_glob(&mut self, pattern: &str) -> usize {
        let glob = Glob::new(pattern);
        let id = self.globs.len();
        match glob.literal_prefix() {
            prefix if prefix.is_empty() => self.by_suffix.entry(glob.literal_suffix()).or_default(),
            prefix => self.by_prefix.entry(prefix).or_default(),
        }
        .push(id);
        self.globs.push(glob);
        id
    }

    /// Ok when every id is allowed `fun` by at least one entry. An empty
    /// `ids` is refused (`minion: None`): a pattern that matched nothing
    /// must not read as allowed, so callers answer "no match" before asking.
    pub fn permits(&self, fun: &str, ids: &[String]) -> Result<(), Denied> {
        let denied_all = || Denied { minion: None };
        if ids.is_empty() {
            return Err(denied_all());
        }
        let fun_ok: Vec<bool> = self.functions.iter().map(|f| f.is_match(fun)).collect();
        let mut allowed = vec![false; self.globs.len()];
        let mut any = false;
        for entry in &self.entries {
            match entry.scope {
                Scope::All if fun_ok[entry.functions] => return Ok(()),
                Scope::Glob(g) if !allowed[g] && fun_ok[entry.functions] => {
                    allowed[g] = true;
                    any = true;
                }
                _ => {}
            }
        }
        if !any {
            return Err(denied_all());
        }
        let by_prefix = Live::new(&self.by_prefix, &self.globs, &allowed);
        let by_suffix = Live::new(&self.by_suffix, &self.globs, &allowed);
        for id in ids {
            if !by_prefix.allows(id, false) && !by_suffix.allows(id, true) {
                return Err(Denied {
                    minion: Some(id.clone()),
                });
            }
        }
        Ok(())
    }

    /// Whether an entry of `class` allows `fun` (a runner or wheel
    /// function, or for [`Class::Jobs`] the jobs operation).
    pub fn permits_class(&self, class: Class, fun: &str) -> bool {
        self.entries.iter().any(|entry| match entry.scope {
            Scope::Class(c) => c == class && self.functions[entry.functions].is_match(fun),
            _ => false,
        })
    }
}
