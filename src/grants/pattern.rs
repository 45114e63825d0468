//! Action patterns (DESIGN §5): an optional method, then a path or an operation.
//!
//! Paths: `*` is one segment, `**` any number of segments, and a `*` inside a segment
//! matches a run within that segment. Operations: `*` matches any run of characters
//! (`ec2:Describe*`). Methods compare case-insensitively, paths case-sensitively.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A compiled action pattern. A clone shares the compiled pattern, and a load
/// compiles each distinct text once: grant sets repeat a few patterns over many
/// scopes, and a copy per scope would hold ~90 MB with 100,000 grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPattern(Arc<Compiled>);

#[derive(Debug, PartialEq, Eq)]
struct Compiled {
    text: String,
    method: Option<String>,
    body: Body,
}

/// Compiles each distinct pattern text once, for one load of the grant files.
#[derive(Debug, Default)]
pub(crate) struct PatternCache(HashMap<String, ActionPattern>);

impl PatternCache {
    /// The pattern of `text`, compiled on first sight.
    pub(crate) fn parse(&mut self, text: &str) -> Result<ActionPattern, PatternError> {
        if let Some(pattern) = self.0.get(text) {
            return Ok(pattern.clone());
        }
        let pattern = ActionPattern::parse(text)?;
        self.0.insert(text.to_owned(), pattern.clone());
        Ok(pattern)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Path(PathPattern),
    Operation(String),
}

/// A path pattern: its segments, and what every path it matches must start with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PathPattern {
    segments: Vec<Segment>,
    /// The segments before the first one with a `*`, joined by `/`: a matching path
    /// starts with it. Most actions are rejected by this one comparison, or, for a
    /// pattern without wildcards, decided by equality: every (event, scope) pair of a
    /// batch is matched, so this stays a prefix test before any segment walk.
    literal: String,
    /// How many segments `literal` is: a path that starts with it matches them, so
    /// only the segments after them are compared.
    fixed: usize,
    /// Whether `literal` is the whole pattern.
    exact: bool,
}

impl PathPattern {
    fn new(segments: Vec<Segment>) -> Self {
        let fixed: Vec<&str> = segments
            .iter()
            .map_while(|segment| match segment {
                Segment::Glob(text) if !text.contains('*') => Some(text.as_str()),
                _ => None,
            })
            .collect();
        Self {
            exact: fixed.len() == segments.len(),
            literal: fixed.join("/"),
            fixed: fixed.len(),
            segments,
        }
    }

    /// Whether `path` (without its query string) matches.
    fn matches(&self, path: &str) -> bool {
        if self.exact {
            return path == self.literal;
        }
        let Some(rest) = path.strip_prefix(self.literal.as_str()) else {
            return false;
        };
        // A path pattern starts with `/`, so its first segment (empty) is fixed; were
        // none fixed, there would be no literal to skip.
        if self.fixed == 0 {
            return segments_match(&self.segments, path.as_bytes().split(is_slash));
        }
        // Past the literal, a path that matches starts its next segment, or ends.
        let tail = self.segments.get(self.fixed..).unwrap_or_default();
        match rest.strip_prefix('/') {
            Some(rest) => segments_match(tail, rest.as_bytes().split(is_slash)),
            None => rest.is_empty() && tail.iter().all(|s| *s == Segment::Many),
        }
    }
}

fn is_slash(byte: &u8) -> bool {
    *byte == b'/'
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    One,
    Many,
    Glob(String),
}

/// Splits `METHOD /path` into its method and path; anything else is an operation.
fn split(text: &str) -> (Option<&str>, &str) {
    // By byte: `split_once(' ')` searched with memchr, costly for a four-letter method.
    let at_space = text.bytes().position(|b| b == b' ');
    let halves = at_space.and_then(|i| Some((text.get(..i)?, text.get(i + 1..)?)));
    match halves {
        Some((method, rest))
            if rest.starts_with('/')
                && !method.is_empty()
                && (method == "*" || method.bytes().all(|b| b.is_ascii_alphabetic())) =>
        {
            (Some(method), rest)
        }
        _ => (None, text),
    }
}

/// Why a pattern text is not a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid action pattern `{text}`: {reason}")]
pub struct PatternError {
    text: String,
    reason: &'static str,
}

impl ActionPattern {
    /// Compiles a pattern.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let error = |reason| PatternError {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(error("empty"));
        }
        let (method, rest) = split(trimmed);
        let body = if rest.starts_with('/') {
            let segments = path_of(rest)
                .split('/')
                .map(|seg| match seg {
                    "*" => Segment::One,
                    "**" => Segment::Many,
                    other => Segment::Glob(other.to_owned()),
                })
                .collect();
            Body::Path(PathPattern::new(segments))
        } else if method.is_some() {
            return Err(error("a method must be followed by a path"));
        } else {
            Body::Operation(rest.to_owned())
        };
        Ok(Self(Arc::new(Compiled {
            text: trimmed.to_owned(),
            method: method.map(str::to_owned),
            body,
        })))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// Whether the pattern allows everything (`*` or `**` alone).
    pub fn is_wildcard_everything(&self) -> bool {
        let Compiled { method, body, .. } = &*self.0;
        matches!(body, Body::Operation(op) if op.chars().all(|c| c == '*'))
            || matches!(body, Body::Path(path) if path.segments.len() == 2 && path.segments[1] == Segment::Many && method.as_deref().is_none_or(|m| m == "*"))
    }

    /// Whether `action` falls under this pattern.
    pub fn matches(&self, action: &str) -> bool {
        self.matches_parts(&ActionParts::of(action))
    }

    /// [`ActionPattern::matches`] for an action already split: an action is matched
    /// against every scope of its grants, and is split once for all of them.
    pub(crate) fn matches_parts(&self, action: &ActionParts<'_>) -> bool {
        let Compiled {
            method: want, body, ..
        } = &*self.0;
        match body {
            // An operation pattern reads the whole action text, so `*` is everything.
            Body::Operation(glob) if want.is_none() => {
                glob_match(glob.as_bytes(), action.text.as_bytes())
            }
            Body::Operation(_) => false,
            Body::Path(pattern) => {
                let Some(path) = action.path else {
                    return false;
                };
                if let Some(want) = want
                    && want != "*"
                    && !action.method.is_some_and(|m| m.eq_ignore_ascii_case(want))
                {
                    return false;
                }
                pattern.matches(path)
            }
        }
    }
}

/// An action as patterns read it: its text, its method if it has one, and its path
/// (without query string or fragment) if it is `[METHOD ]/path`.
pub(crate) struct ActionParts<'a> {
    text: &'a str,
    method: Option<&'a str>,
    path: Option<&'a str>,
}

impl<'a> ActionParts<'a> {
    /// Splits `action`.
    pub(crate) fn of(action: &'a str) -> Self {
        let (method, rest) = split(action);
        Self {
            text: action,
            method,
            path: rest.starts_with('/').then(|| path_of(rest)),
        }
    }
}

impl fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The path without its query string or fragment. Scans bytes: both are ASCII, so
/// the cut is on a character boundary (a `char` searcher decoded every character).
fn path_of(path: &str) -> &str {
    path.bytes()
        .position(|b| b == b'?' || b == b'#')
        .map_or(path, |end| &path[..end])
}

/// Whether the path segments left in `actual` match `pattern`. Walks the split
/// iterator itself (cloned where `**` tries each depth): rules call this for every
/// (event, scope) pair, so it must not allocate. Splits bytes, not a `str` by
/// `char`, whose memchr search costs ~900 instructions a four-segment path.
fn segments_match<'a, I>(pattern: &[Segment], mut actual: I) -> bool
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    let Some((first, rest)) = pattern.split_first() else {
        return actual.next().is_none();
    };
    if *first == Segment::Many {
        loop {
            if segments_match(rest, actual.clone()) {
                return true;
            }
            if actual.next().is_none() {
                return false;
            }
        }
    }
    let Some(head) = actual.next() else {
        return false;
    };
    let matched = match first {
        Segment::One => !head.is_empty(),
        Segment::Glob(glob) => glob_match(glob.as_bytes(), head),
        Segment::Many => true,
    };
    matched && segments_match(rest, actual)
}

/// `*` matches any run (possibly empty); everything else matches itself. Linear time
/// with the classic single-backtrack-point algorithm.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(pattern: &str, action: &str) -> bool {
        ActionPattern::parse(pattern)
            .expect("pattern")
            .matches(action)
    }

    #[test]
    fn design_examples() {
        assert!(m("POST /v1/payouts", "POST /v1/payouts"));
        assert!(m("post /v1/payouts", "POST /v1/payouts"));
        assert!(!m("POST /v1/payouts", "POST /v1/Payouts"));
        assert!(!m("POST /v1/payouts", "GET /v1/payouts"));
        assert!(m("GET /v1/payouts/*", "GET /v1/payouts/p_123"));
        assert!(!m("GET /v1/payouts/*", "GET /v1/payouts/p_123/items"));
        assert!(!m("GET /v1/payouts/*", "GET /v1/payouts"));
        assert!(m("GET /v1/**", "GET /v1/payouts/p_123/items"));
        assert!(m("GET /v1/**", "GET /v1"));
        assert!(m("POST /v1/payouts/*/retry", "POST /v1/payouts/p1/retry"));
        assert!(m("GET /v1/payouts/*", "GET /v1/payouts/p1?expand=items"));
        assert!(m("ec2:Describe*", "ec2:DescribeInstances"));
        assert!(!m("ec2:Describe*", "ec2:RunInstances"));
        assert!(!m("ec2:Describe*", "EC2:DescribeInstances"));
        assert!(m("get pods/*", "get pods/log"));
        assert!(m("/v1/payouts", "DELETE /v1/payouts"));
        assert!(m("*", "POST /anything"));
        assert!(!m("s3:GetObject", "GET /s3:GetObject"));
    }

    #[test]
    fn wildcard_everything() {
        for p in ["*", "**", "/**", "* /**"] {
            assert!(
                ActionPattern::parse(p).expect("p").is_wildcard_everything(),
                "{p}"
            );
        }
        for p in ["GET /**", "/v1/**", "s3:*"] {
            assert!(
                !ActionPattern::parse(p).expect("p").is_wildcard_everything(),
                "{p}"
            );
        }
    }

    #[test]
    fn rejects_nonsense() {
        assert!(ActionPattern::parse("  ").is_err());
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.-]{1,8}"
    }
    fn path() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(segment(), 1..6)
    }
    fn method() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]).prop_map(str::to_owned)
    }

    proptest! {
        #[test]
        fn literal_action_matches_itself(method in method(), path in path()) {
            let action = format!("{method} /{}", path.join("/"));
            let lower_method = format!("{} /{}", method.to_lowercase(), path.join("/"));
            prop_assert!(m(&action, &action));
            prop_assert!(m(&lower_method, &action));
        }

        #[test]
        fn star_is_exactly_one_segment(method in method(), path in path(), extra in segment()) {
            let prefix = path.join("/");
            let pattern = format!("{method} /{prefix}/*");
            let one = format!("{method} /{prefix}/{extra}");
            let none = format!("{method} /{prefix}");
            let two = format!("{method} /{prefix}/{extra}/{extra}");
            prop_assert!(m(&pattern, &one));
            prop_assert!(!m(&pattern, &none));
            prop_assert!(!m(&pattern, &two));
        }

        #[test]
        fn double_star_is_any_depth(method in method(), path in path(), tail in prop::collection::vec(segment(), 0..5)) {
            let prefix = path.join("/");
            let mut action = format!("{method} /{prefix}");
            for seg in &tail {
                action.push('/');
                action.push_str(seg);
            }
            let pattern = format!("{method} /{prefix}/**");
            prop_assert!(m(&pattern, &action));
        }

        #[test]
        fn paths_are_case_sensitive(method in method(), path in path()) {
            let action = format!("{method} /{}", path.join("/"));
            let flipped: String = action
                .chars()
                .map(|c| if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let path_changed = path.iter().any(|s| s.chars().any(|c| c.is_ascii_alphabetic()));
            prop_assert_eq!(m(&action, &flipped), !path_changed);
        }

        #[test]
        fn operation_star_is_any_run(prefix in "[a-z0-9]{1,6}:[A-Za-z]{0,6}", rest in "[A-Za-z0-9/ ]{0,12}") {
            let pattern = format!("{prefix}*");
            let action = format!("{prefix}{rest}");
            prop_assert!(m(&pattern, &action));
        }

        #[test]
        fn literal_prefix_only_shortcuts_segment_matching(
            pattern in prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", "", "a*", "*", "**"]), 0..5),
            path in prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", "", "ba"]), 0..6),
        ) {
            let (pattern, path) = (format!("/{}", pattern.join("/")), format!("/{}", path.join("/")));
            let compiled = ActionPattern::parse(&pattern).expect("pattern");
            let Body::Path(compiled) = &compiled.0.body else {
                panic!("a path pattern");
            };
            prop_assert_eq!(
                compiled.matches(&path),
                segments_match(&compiled.segments, path.as_bytes().split(is_slash)),
                "{} against {}", pattern, path
            );
        }

        #[test]
        fn glob_agrees_with_reference(pattern in "[ab*]{0,8}", text in "[ab]{0,10}") {
            prop_assert_eq!(glob_match(pattern.as_bytes(), text.as_bytes()), reference_glob(pattern.as_bytes(), text.as_bytes()));
        }
    }

    /// Exponential but obviously correct.
    fn reference_glob(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| reference_glob(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && reference_glob(rest, &t[1..]),
        }
    }
}
