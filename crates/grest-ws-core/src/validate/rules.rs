//! Constraints declared on a field ([`Rules`]) and the number bounds that typed values and the slow path both
//! check.

use serde_json::Value;

use super::format::Format;
use super::issue::{Code, Issues, number_value, push_issue};
use super::path::Path;
use super::pattern::Pattern;

/// Constraints declared on a field (`#[validate(non_empty, min_length = 2, max = 10)]`).
///
/// Each applies to whatever the field holds: lengths to strings (characters) and arrays (items), bounds and
/// `multiple_of` to numbers, `pattern` and `format` to strings. When both a minimum and a maximum are set, grest
/// reports one `range` issue instead of `min`/`max`. A string is checked in this order: `non_empty`, length,
/// `pattern`, `format`; each rule it breaks is one issue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// A string must not be empty.
    pub non_empty: bool,
    /// Minimum string length (characters) or array length (items).
    pub min_length: Option<u64>,
    /// Maximum string length (characters) or array length (items).
    pub max_length: Option<u64>,
    /// Minimum number.
    pub min: Option<f64>,
    /// Maximum number.
    pub max: Option<f64>,
    /// A number must be a whole multiple of this (`n % multiple_of == 0`, as JavaScript's `%` computes it).
    pub multiple_of: Option<f64>,
    /// A regular expression a string must match.
    pub pattern: Option<Pattern>,
    /// A well-known format a string must be in.
    pub format: Option<Format>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::NONE
    }
}

impl Rules {
    /// No constraints.
    pub const NONE: Rules = Rules {
        non_empty: false,
        min_length: None,
        max_length: None,
        min: None,
        max: None,
        multiple_of: None,
        pattern: None,
        format: None,
    };

    /// Whether there is no constraint at all.
    pub const fn is_none(&self) -> bool {
        !self.non_empty
            && self.min_length.is_none()
            && self.max_length.is_none()
            && self.min.is_none()
            && self.max.is_none()
            && self.multiple_of.is_none()
            && self.pattern.is_none()
            && self.format.is_none()
    }

    /// Checks a string value.
    pub fn check_str(&self, s: &str, path: &Path, issues: &mut Issues) {
        if self.non_empty && s.is_empty() {
            push_issue(issues, path, Code::StringNonEmpty, &[], Some(Value::from(s)));
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let len = s.encode_utf16().count() as u64;
            self.check_length(
                len,
                path,
                issues,
                [Code::StringMinLength, Code::StringMaxLength, Code::StringRange],
                || Value::from(s),
            );
        }
        if let Some(pattern) = &self.pattern {
            if !pattern.is_match(s) {
                let params = [("pattern", Value::from(pattern.source()))];
                push_issue(issues, path, Code::StringPattern, &params, Some(Value::from(s)));
            }
        }
        if let Some(format) = self.format {
            if !format.matches(s) {
                push_issue(issues, path, Code::StringFormat(format), &[], Some(Value::from(s)));
            }
        }
    }

    /// Checks an array length.
    pub fn check_array_len(&self, len: usize, path: &Path, issues: &mut Issues, value: impl FnOnce() -> Value) {
        self.check_length(
            len as u64,
            path,
            issues,
            [Code::ArrayMinLength, Code::ArrayMaxLength, Code::ArrayRange],
            value,
        );
    }

    fn check_length(
        &self,
        len: u64,
        path: &Path,
        issues: &mut Issues,
        codes: [Code; 3],
        value: impl FnOnce() -> Value,
    ) {
        let too_short = self.min_length.is_some_and(|min| len < min);
        let too_long = self.max_length.is_some_and(|max| len > max);
        if !(too_short || too_long) {
            return;
        }
        match (self.min_length, self.max_length) {
            (Some(min), Some(max)) => push_issue(
                issues,
                path,
                codes[2],
                &[("min", min.into()), ("max", max.into())],
                Some(value()),
            ),
            (Some(min), None) => push_issue(issues, path, codes[0], &[("min", min.into())], Some(value())),
            (None, Some(max)) => push_issue(issues, path, codes[1], &[("max", max.into())], Some(value())),
            (None, None) => {}
        }
    }

    /// Checks a number against the declared bounds and `multiple_of`.
    pub fn check_number(&self, n: f64, path: &Path, issues: &mut Issues) {
        self.check_number_within(n, self.min, self.max, path, issues);
    }

    /// Checks a number against the given bounds (the declared ones, narrowed by the number type's own) and
    /// `multiple_of`.
    pub(super) fn check_number_within(
        &self,
        n: f64,
        min: Option<f64>,
        max: Option<f64>,
        path: &Path,
        issues: &mut Issues,
    ) {
        check_bounds(n, min, max, path, issues);
        if let Some(step) = self.multiple_of {
            if n % step != 0.0 {
                let params = [("multipleOf", number_value(step))];
                push_issue(issues, path, Code::NumberMultipleOf, &params, Some(number_value(n)));
            }
        }
    }
}

/// Checks a number against optional bounds: one `range` issue when both are set, else a `min` or a `max` issue.
fn check_bounds(n: f64, min: Option<f64>, max: Option<f64>, path: &Path, issues: &mut Issues) {
    let below = min.is_some_and(|m| n < m);
    let above = max.is_some_and(|m| n > m);
    if !(below || above) {
        return;
    }
    let value = Some(number_value(n));
    match (min, max) {
        (Some(lo), Some(hi)) => push_issue(
            issues,
            path,
            Code::NumberRange,
            &[("min", number_value(lo)), ("max", number_value(hi))],
            value,
        ),
        (Some(lo), None) => push_issue(issues, path, Code::NumberMin, &[("min", number_value(lo))], value),
        (None, Some(hi)) => push_issue(issues, path, Code::NumberMax, &[("max", number_value(hi))], value),
        (None, None) => {}
    }
}

/// The larger of two optional bounds, or the one that is set: the tighter of two lower bounds.
pub(super) fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The smaller of two optional bounds, or the one that is set: the tighter of two upper bounds.
pub(super) fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_without_constraints_report_nothing() {
        let mut issues = Issues::new();
        Rules::NONE.check_str("", &Path::root(), &mut issues);
        Rules::NONE.check_number(-1e300, &Path::root(), &mut issues);
        Rules::NONE.check_array_len(0, &Path::root(), &mut issues, || panic!("value must not be built"));
        assert!(issues.is_empty());
        assert_eq!(Rules::default(), Rules::NONE);
    }

    #[test]
    fn non_empty_and_length_are_both_reported() {
        let mut issues = Issues::new();
        let rules = Rules {
            non_empty: true,
            min_length: Some(1),
            ..Rules::NONE
        };
        rules.check_str("", &Path::root(), &mut issues);
        let codes: Vec<_> = issues.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["invalid.string.nonEmpty", "invalid.string.minLength"]);
    }

    #[test]
    fn pattern_format_and_multiple_of_report_their_codes() {
        let mut issues = Issues::new();
        let rules = Rules {
            pattern: Some(Pattern::new("^a", |s| s.starts_with('a'))),
            format: Some(Format::Ipv4),
            multiple_of: Some(0.5),
            ..Rules::NONE
        };
        rules.check_str("b", &Path::root(), &mut issues);
        rules.check_str("a", &Path::root(), &mut issues);
        rules.check_str("1.2.3.4", &Path::root(), &mut issues);
        rules.check_number(1.5, &Path::root(), &mut issues);
        rules.check_number(-0.75, &Path::root(), &mut issues);
        let found: Vec<_> = issues.iter().map(|i| (i.code.as_str(), i.message.as_str())).collect();
        assert_eq!(
            found,
            [
                ("invalid.string.pattern", "Value must match the pattern ^a"),
                ("invalid.string.ipv4", "Value must be a valid IPv4 address"),
                ("invalid.string.ipv4", "Value must be a valid IPv4 address"),
                ("invalid.string.pattern", "Value must match the pattern ^a"),
                ("invalid.number.multipleOf", "Value must be a multiple of 0.5"),
            ]
        );
        assert_eq!(
            issues[4].params,
            Some(serde_json::Map::from_iter([("multipleOf".to_owned(), 0.5.into())]))
        );
        assert_eq!(issues[4].value, Some((-0.75).into()));
    }

    #[test]
    fn every_rule_counts_as_a_constraint() {
        let pattern = Pattern::new("x", |_| true);
        for rules in [
            Rules {
                multiple_of: Some(2.0),
                ..Rules::NONE
            },
            Rules {
                pattern: Some(pattern),
                ..Rules::NONE
            },
            Rules {
                format: Some(Format::Uuid),
                ..Rules::NONE
            },
        ] {
            assert!(!rules.is_none(), "{rules:?}");
        }
        assert!(Rules::NONE.is_none());
    }
}
