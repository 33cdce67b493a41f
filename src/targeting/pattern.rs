//! The two string patterns Salt matches with: shell globs as Python's
//! `fnmatch.fnmatchcase` reads them, and `salt.utils.stringutils.expr_match`
//! (equal, or a glob, or a regular expression matching the whole text).
//! Pure string code: no targets, no minions.

use regex::{Regex, RegexBuilder};

/// Compiled size a regular expression may reach. Targets carry regexes
/// from requests; this bounds what one of them can cost to build.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `fnmatch.fnmatchcase(text, pattern)`: `*` any run, `?` one character,
/// `[seq]` / `[!seq]` a set with ranges; an unclosed `[` is literal.
/// Case-sensitive (Salt calls `fnmatch.fnmatch`, which is the same on POSIX).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).is_match(text)
}

/// `salt.utils.stringutils.expr_match(text, expr)`: true when `expr` is a
/// glob that matches `text` (which covers equality) or a regular expression
/// that matches all of it. An invalid regular expression matches nothing.
pub fn expr_match(expr: &str, text: &str) -> bool {
    Expr::new(expr).is_match(text)
}

/// One element of a compiled glob; each but `Star` takes one character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    /// A bracket set: inclusive ranges (a lone character is `(c, c)`).
    /// Reversed ranges are dropped, as Python does; an empty set matches
    /// nothing, an empty negated set anything.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Char(x) => *x == c,
            Token::Any => true,
            Token::Star => false,
            Token::Set { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

/// A glob compiled once, matched many times without backtracking blow-up
/// (the two-pointer star algorithm: at most pattern × text steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// The pattern holds no special character: matching is equality.
    literal: Option<String>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let tokens = tokenize(pattern);
        let literal = tokens
            .iter()
            .all(|t| matches!(t, Token::Char(_)))
            .then(|| pattern.to_owned());
        Glob { tokens, literal }
    }

    /// True when the pattern is `*` (any run of stars): it matches any text.
    pub fn matches_all(&self) -> bool {
        !self.tokens.is_empty() && self.tokens.iter().all(|t| *t == Token::Star)
    }

    /// The literal characters before the first special one: every text
    /// the glob matches starts with them.
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// The literal characters after the last special one: every text the
    /// glob matches ends with them.
    pub fn literal_suffix(&self) -> String {
        let mut suffix: Vec<char> = self
            .tokens
            .iter()
            .rev()
            .map_while(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        suffix.reverse();
        suffix.into_iter().collect()
    }

    pub fn is_match(&self, text: &str) -> bool {
        if let Some(literal) = &self.literal {
            return literal == text;
        }
        if text.is_ascii() {
            walk(&self.tokens, text.as_bytes())
        } else {
            walk(&self.tokens, &text.chars().collect::<Vec<char>>())
        }
    }
}

/// The classic star walk: on a mismatch, go back to the last star and let
/// it take one more character.
fn walk<C: Copy + Into<char>>(tokens: &[Token], text: &[C]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(token) if token.matches(text[t].into()) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((s, mark)) => {
                    p = s + 1;
                    t = mark + 1;
                    star = Some((s, mark + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|t| *t == Token::Star)
}

fn tokenize(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if tokens.last() == Some(&Token::Star) => {}
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::Any),
            '[' => match bracket_set(&chars, i) {
                Some((token, next)) => {
                    tokens.push(token);
                    i = next;
                }
                None => tokens.push(Token::Char('[')),
            },
            c => tokens.push(Token::Char(c)),
        }
    }
    tokens
}

/// The set opened by the `[` just before `start`, and the index after its
/// `]`; `None` when it is never closed (then `[` is a literal). As in
/// Python, a `]` first in the set (after an optional `!`) is a member.
fn bracket_set(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut j = start;
    let negated = chars.get(j) == Some(&'!');
    if negated {
        j += 1;
    }
    let first = j;
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    let end = j + chars[j..].iter().position(|&c| c == ']')?;
    let body = &chars[first..end];
    let mut ranges = Vec::new();
    let mut k = 0;
    while k < body.len() {
        if k + 2 < body.len() && body[k + 1] == '-' {
            if body[k] <= body[k + 2] {
                ranges.push((body[k], body[k + 2]));
            }
            k += 3;
        } else {
            ranges.push((body[k], body[k]));
            k += 1;
        }
    }
    Some((Token::Set { negated, ranges }, end + 1))
}

/// A regular expression compiled the way Salt's callers use it: `anchored`
/// at the start only (`re.match`), and with `whole` also at the end. The
/// pattern sits in a group, so an alternation is anchored as a whole
/// (Salt pastes `\A{expr}\Z` around it, where `a|b` would match any text
/// ending in `b`: ours is the narrower reading). Python-only syntax
/// (look-around, back-references) does not compile here.
pub fn regex(pattern: &str, whole: bool) -> Result<Regex, regex::Error> {
    let end = if whole { r"\z" } else { "" };
    RegexBuilder::new(&format!(r"\A(?:{pattern}){end}"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// An `expr_match` pattern compiled once: its glob and, when it is a valid
/// regular expression, the anchored regex.
#[derive(Debug, Clone)]
pub struct Expr {
    glob: Glob,
    regex: Option<Regex>,
    /// `*` or `.*`.
    all: bool,
}

impl Expr {
    pub fn new(expr: &str) -> Expr {
        let glob = Glob::new(expr);
        Expr {
            all: glob.matches_all() || expr == ".*",
            regex: regex(expr, true).ok(),
            glob,
        }
    }

    /// True for `*` and `.*`, which match any text.
    pub fn matches_all(&self) -> bool {
        self.all
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.glob.is_match(text) || self.regex.as_ref().is_some_and(|r| r.is_match(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, text, fnmatch.fnmatchcase(text, pattern)) from Python
    /// 3.11.7, the interpreter of the Salt 3007.16 virtualenv.
    const FNMATCH: &[(&str, &str, bool)] = &[
        ("*", "", true),
        ("*", "web1", true),
        ("", "", true),
        ("", "a", false),
        ("web*", "web1", true),
        ("web*", "db1", false),
        ("web*", "web", true),
        ("web?", "web1", true),
        ("web?", "web10", false),
        ("?", "", false),
        ("*.lan", "web1.lan", true),
        ("*.lan", "web1.lan.x", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("a*b*c", "acb", false),
        ("**a", "a", true),
        ("*a*", "banana", true),
        ("*a*a", "banana", true),
        ("*n?n*", "banana", true),
        ("[abc]", "b", true),
        ("[abc]", "d", false),
        ("[!abc]", "d", true),
        ("[!abc]", "a", false),
        ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false),
        ("[!a-c]x", "dx", true),
        ("[]]", "]", true),
        ("[]a]", "a", true),
        ("[!]]", "]", false),
        ("[!]]", "x", true),
        ("[", "[", true),
        ("[a", "[a", true),
        ("[a", "a", false),
        ("[]", "[]", true),
        ("[!]", "[!]", true),
        ("[!]", "!", false),
        ("a[", "a[", true),
        ("[a-]", "-", true),
        ("[a-]", "a", true),
        ("[-a]", "-", true),
        ("[z-a]", "z", false),
        ("[z-a]", "a", false),
        ("[!z-a]", "q", true),
        ("[az-ab]", "b", true),
        ("[az-ab]", "z", false),
        ("[a-b-c]", "-", true),
        ("[a-b-c]", "c", true),
        ("[a-b-c]", "b", true),
        ("[--0]", "/", true),
        ("[a--]", "a", false),
        ("[a--]", "-", false),
        ("[a-b--d]", "c", true),
        ("[a-b--d]", "-", true),
        ("[a-cz-ab-d]", "d", true),
        ("[a-cz-ab-d]", "z", false),
        ("[^a]", "^", true),
        ("[^a]", "b", false),
        ("[[]", "[", true),
        ("[\\]", "\\", true),
        ("\\*", "\\x", true),
        ("a\\b", "a\\b", true),
        ("[&&]", "&", true),
        ("[a|b]", "|", true),
        ("[~]", "~", true),
        ("*", "a\nb", true),
        ("?", "\n", true),
        ("a?c", "a\nc", true),
        ("Web*", "web1", false),
        ("web*", "WEB1", false),
        ("é*", "été", true),
        ("?t?", "été", true),
        ("[é]", "é", true),
        ("[à-ê]", "é", true),
        ("web-[0-9][0-9]", "web-07", true),
        ("web-[0-9][0-9]", "web-7", false),
        ("*[0-9]", "db3", true),
        ("*[!0-9]", "db3", false),
        ("(web)*", "(web)1", true),
        ("web.*", "webX", false),
        ("web.*", "web.x", true),
        ("a+", "aa", false),
        ("a+", "a+", true),
        ("$", "$", true),
        ("*?*", "", false),
        ("*?*", "x", true),
        ("?*?", "x", false),
        ("?*?", "xy", true),
        ("[*]", "*", true),
        ("[?]", "x", false),
        ("[?]", "?", true),
    ];

    #[test]
    fn glob_agrees_with_python_fnmatch() {
        for &(pattern, text, expected) in FNMATCH {
            assert_eq!(
                glob_match(pattern, text),
                expected,
                "fnmatchcase({text:?}, {pattern:?})"
            );
        }
    }

    #[test]
    fn glob_has_no_exponential_backtracking() {
        let text = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(100));
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &text));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn literal_prefix_and_match_all() {
        assert_eq!(Glob::new("web-*.lan").literal_prefix(), "web-");
        assert_eq!(Glob::new("[ab]x").literal_prefix(), "");
        assert_eq!(Glob::new("*-7.dmz").literal_suffix(), "-7.dmz");
        assert_eq!(Glob::new("a*").literal_suffix(), "");
        assert!(Glob::new("**").matches_all());
        assert!(!Glob::new("*?").matches_all());
        assert!(Expr::new(".*").matches_all());
        assert!(Expr::new("*").matches_all());
        assert!(!Expr::new("test.*").matches_all());
    }

    /// (expr, text, salt.utils.stringutils.expr_match(text, expr)) from the
    /// Salt 3007.16 virtualenv.
    const EXPR_MATCH: &[(&str, &str, bool)] = &[
        ("test.ping", "test.ping", true),
        ("test.ping", "test.pingX", false),
        ("test.ping", "testXping", true),
        ("test.*", "test.ping", true),
        ("test.*", "test.", true),
        ("test.*", "tes", false),
        (".*", "anything", true),
        (".*", "", true),
        ("*", "x.y", true),
        ("pkg.install", "pkg.install", true),
        ("pkg.install", "pkg.installed", false),
        ("pkg.install", "pkg.remove", false),
        ("pkg\\.(install|remove)", "pkg.remove", true),
        ("pkg\\.(install|remove)", "pkg.removed", false),
        ("(test|pkg)\\..*", "pkg.list_pkgs", true),
        ("(test|pkg)\\..*", "cmd.run", false),
        ("cmd.run", "cmdXrun", true),
        ("cmd.run", "cmd.run_all", false),
        ("test.[pe]*", "test.echo", true),
        ("[", "[", true),
        ("(", "(", true),
        ("(", "x", false),
        ("a(", "a(", true),
        ("web\\d+", "web12", true),
        ("web\\d+", "web12a", false),
        ("*.ping", "test.ping", true),
        ("network.*", "network.ip_addrs", true),
        ("^test.ping$", "test.ping", true),
        ("[a-z]+\\.ping", "test.ping", true),
        ("state.sls", "state.sls_id", false),
        ("state\\.sls.*", "state.sls_id", true),
        ("", "", true),
        ("", "x", false),
        ("Test.ping", "test.ping", false),
    ];

    #[test]
    fn expr_match_agrees_with_salt() {
        for &(expr, text, expected) in EXPR_MATCH {
            assert_eq!(expr_match(expr, text), expected, "expr_match({text:?}, {expr:?})");
        }
    }

    #[test]
    fn alternation_is_anchored_as_a_whole() {
        // Salt's `\Atest.ping|test.echo\Z` would also take "test.pingX".
        assert!(!expr_match("test.ping|test.echo", "test.pingX"));
        assert!(expr_match("test.ping|test.echo", "test.echo"));
    }
}
