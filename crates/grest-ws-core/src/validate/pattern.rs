//! `#[validate(pattern = "...")]`: a regular expression kept as its source (for generators and the TypeScript
//! client) with a matcher that compiles it once, on first use.

use std::fmt;
use std::sync::OnceLock;

/// A regular expression a string must match somewhere (an unanchored search, like JavaScript's `RegExp.test`;
/// anchor it with `^…$` to match the whole string).
///
/// The derive builds it from a literal and rejects an invalid expression when the user's crate compiles. Write
/// [`PatternCache`]-backed matchers by hand like this:
///
/// ```
/// use grest_ws_core::validate::{Pattern, PatternCache};
///
/// const SLUG: Pattern = Pattern::new("^[a-z0-9-]+$", |s| {
///     static CACHE: PatternCache = PatternCache::new("^[a-z0-9-]+$");
///     CACHE.is_match(s)
/// });
/// assert!(SLUG.is_match("my-room"));
/// assert!(!SLUG.is_match("My Room"));
/// assert_eq!(SLUG.source(), "^[a-z0-9-]+$");
/// ```
///
/// The syntax is [`regex_lite`](https://docs.rs/regex-lite)'s, and the TypeScript client runs the same source
/// as `new RegExp(source, "u")`. Keep to what both read alike: literals, `.`, classes (`[a-z]`, `[^…]`), `\d`,
/// `\w`, `\s` (ASCII digits and word characters in both), `^`, `$`, groups `(…)` and `(?:…)`, alternation `|`,
/// and the quantifiers `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` with their lazy forms. Escape only punctuation
/// that has a meaning. Inline flags (`(?i)`), `\A`, `\z`, Unicode classes (`\pL`) and class set operations are
/// Rust-only and are rejected by the derive; look-around and back-references are JavaScript-only, and
/// `regex_lite` rejects them.
#[derive(Clone, Copy)]
pub struct Pattern {
    source: &'static str,
    matcher: Matcher,
}

#[derive(Clone, Copy)]
enum Matcher {
    /// A function for the source (what the derive writes).
    Function(fn(&str) -> bool),
    /// A cache that holds the compiled source (a pattern read at run time).
    Cache(&'static PatternCache),
}

impl Pattern {
    /// A pattern from its source and a matcher for that source (usually a [`PatternCache`] in a `static`).
    pub const fn new(source: &'static str, matcher: fn(&str) -> bool) -> Self {
        Pattern {
            source,
            matcher: Matcher::Function(matcher),
        }
    }

    /// A pattern matched by `cache`, whose source it is ([`PatternCache::compile`] checks the source up front).
    pub const fn cached(cache: &'static PatternCache) -> Self {
        Pattern {
            source: cache.source,
            matcher: Matcher::Cache(cache),
        }
    }

    /// The expression as written.
    pub const fn source(&self) -> &'static str {
        self.source
    }

    /// Whether the expression matches somewhere in `s`.
    pub fn is_match(&self, s: &str) -> bool {
        match self.matcher {
            Matcher::Function(matcher) => matcher(s),
            Matcher::Cache(cache) => cache.is_match(s),
        }
    }
}

/// Two patterns are equal when their sources are (their matchers are built from them).
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

/// One pattern's compiled expression, built the first time it is used: put one in a `static` per pattern.
pub struct PatternCache {
    source: &'static str,
    compiled: OnceLock<regex_lite::Regex>,
}

impl PatternCache {
    /// A cache for `source`, not compiled yet.
    pub const fn new(source: &'static str) -> Self {
        PatternCache {
            source,
            compiled: OnceLock::new(),
        }
    }

    /// A cache for `source`, compiled now: an invalid expression is an error here rather than a panic at its
    /// first use (for patterns that arrive at run time, such as a served document's).
    pub fn compile(source: &'static str) -> Result<Self, InvalidPattern> {
        let compiled = regex_lite::Regex::new(source).map_err(|error| InvalidPattern {
            source: source.to_owned(),
            reason: error.to_string(),
        })?;
        Ok(PatternCache {
            source,
            compiled: OnceLock::from(compiled),
        })
    }

    /// Whether the expression matches somewhere in `s`, compiling it on first use.
    ///
    /// # Panics
    ///
    /// When the source is not a valid expression. The derive checks its patterns at compile time, so only a
    /// hand-written pattern can panic here.
    pub fn is_match(&self, s: &str) -> bool {
        self.compiled
            .get_or_init(|| {
                regex_lite::Regex::new(self.source)
                    .unwrap_or_else(|error| panic!("invalid validation pattern {:?}: {error}", self.source))
            })
            .is_match(s)
    }
}

/// A regular expression that does not compile ([`PatternCache::compile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPattern {
    /// The expression as written.
    pub source: String,
    /// Why it does not compile.
    pub reason: String,
}

impl fmt::Display for InvalidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid pattern {:?}: {}", self.source, self.reason)
    }
}

impl std::error::Error for InvalidPattern {}

impl fmt::Debug for PatternCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PatternCache").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_compiles_once_and_searches_unanchored() {
        static CACHE: PatternCache = PatternCache::new("[0-9]{2}");
        assert!(CACHE.is_match("ab12cd"));
        assert!(!CACHE.is_match("a1b2"));
        assert!(CACHE.compiled.get().is_some());
        let pattern = Pattern::new("[0-9]{2}", |s| CACHE.is_match(s));
        assert_eq!(pattern, Pattern::new("[0-9]{2}", |_| false));
        assert_eq!(format!("{pattern:?}"), r#"Pattern("[0-9]{2}")"#);
    }

    #[test]
    fn a_compiled_cache_reports_a_bad_expression_and_matches_through_a_pattern() {
        let error = PatternCache::compile("(").unwrap_err();
        assert_eq!(error.source, "(");
        assert!(error.to_string().starts_with("invalid pattern \"(\": "), "{error}");
        let cache: &'static PatternCache = Box::leak(Box::new(PatternCache::compile("^a+$").unwrap()));
        let pattern = Pattern::cached(cache);
        assert_eq!(pattern.source(), "^a+$");
        assert!(pattern.is_match("aaa"));
        assert!(!pattern.is_match("ab"));
    }

    #[test]
    #[should_panic(expected = "invalid validation pattern \"(\"")]
    fn an_invalid_hand_written_pattern_panics_naming_itself() {
        static BROKEN: PatternCache = PatternCache::new("(");
        BROKEN.is_match("x");
    }
}
