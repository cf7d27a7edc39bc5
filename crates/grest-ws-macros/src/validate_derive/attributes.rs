//! The attributes `#[derive(Validate)]` reads: serde's (names, defaults, tagging, flatten) and its own
//! `#[validate(...)]` constraints.

use syn::{LitStr, Token};

use crate::case::rename_all;

/// The serde attributes this derive honours, on a container, a variant or a field.
#[derive(Default)]
pub(super) struct Serde {
    pub(super) rename: Option<String>,
    pub(super) rename_all: Option<String>,
    pub(super) rename_all_fields: Option<String>,
    pub(super) default: bool,
    pub(super) skip: bool,
    pub(super) flatten: bool,
    pub(super) transparent: bool,
    pub(super) tag: Option<String>,
    pub(super) content: Option<String>,
    pub(super) untagged: bool,
}

/// A name attribute's value: `name = "..."`, or the `deserialize` one of `name(serialize = "...", deserialize =
/// "...")` (the wire name this derive reads is the one serde reads).
fn name_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Option<String>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse::<LitStr>()?.value()));
    }
    let mut de = None;
    meta.parse_nested_meta(|inner| {
        let v = inner.value()?.parse::<LitStr>()?.value();
        if inner.path.is_ident("deserialize") {
            de = Some(v);
        }
        Ok(())
    })?;
    Ok(de)
}

pub(super) fn serde_attrs(attrs: &[syn::Attribute]) -> syn::Result<Serde> {
    let mut out = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match name.as_str() {
                "rename" => out.rename = name_value(&meta)?,
                "rename_all" => out.rename_all = name_value(&meta)?,
                "rename_all_fields" => out.rename_all_fields = name_value(&meta)?,
                "tag" => out.tag = Some(meta.value()?.parse::<LitStr>()?.value()),
                "content" => out.content = Some(meta.value()?.parse::<LitStr>()?.value()),
                "untagged" => out.untagged = true,
                "default" => {
                    out.default = true;
                    if meta.input.peek(Token![=]) {
                        meta.value()?.parse::<LitStr>()?;
                    }
                }
                "skip" | "skip_deserializing" => out.skip = true,
                "flatten" => out.flatten = true,
                "transparent" => out.transparent = true,
                _ => {
                    if meta.input.peek(Token![=]) {
                        meta.value()?.parse::<syn::Expr>()?;
                    } else if meta.input.peek(syn::token::Paren) {
                        meta.parse_nested_meta(|inner| {
                            if inner.input.peek(Token![=]) {
                                inner.value()?.parse::<syn::Expr>()?;
                            }
                            Ok(())
                        })?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// The wire name of a field or variant: its own `rename`, else the enclosing `rename_all` rule, else its name.
pub(super) fn wire_name(ident: &syn::Ident, attrs: &Serde, rule: Option<&String>) -> syn::Result<String> {
    if let Some(rename) = &attrs.rename {
        return Ok(rename.clone());
    }
    let name = ident.to_string();
    match rule {
        Some(rule) => rename_all(rule, &name)
            .ok_or_else(|| syn::Error::new_spanned(ident, format!("unsupported serde rename_all rule {rule:?}"))),
        None => Ok(name.strip_prefix("r#").unwrap_or(&name).to_owned()),
    }
}

/// The string formats of `#[validate(...)]`: the attribute word and the `Format` variant it names.
const FORMATS: [(&str, &str); 8] = [
    ("email", "Email"),
    ("url", "Url"),
    ("uuid", "Uuid"),
    ("date", "Date"),
    ("date_time", "DateTime"),
    ("ip", "Ip"),
    ("ipv4", "Ipv4"),
    ("ipv6", "Ipv6"),
];

/// Constraints from `#[validate(...)]`.
#[derive(Default)]
pub(super) struct Constraints {
    pub(super) non_empty: bool,
    pub(super) min_length: Option<syn::Expr>,
    pub(super) max_length: Option<syn::Expr>,
    pub(super) min: Option<syn::Expr>,
    pub(super) max: Option<syn::Expr>,
    pub(super) multiple_of: Option<syn::Expr>,
    pub(super) pattern: Option<LitStr>,
    /// The `Format` variant's name.
    pub(super) format: Option<&'static str>,
}

impl Constraints {
    /// Whether nothing is declared.
    pub(super) fn is_empty(&self) -> bool {
        !self.non_empty
            && self.min_length.is_none()
            && self.max_length.is_none()
            && self.min.is_none()
            && self.max.is_none()
            && self.multiple_of.is_none()
            && self.pattern.is_none()
            && self.format.is_none()
    }
}

const CONSTRAINTS_HELP: &str = "unknown constraint; expected non_empty, min_length = N, max_length = N, min = N, \
     max = N, range(min = N, max = N), multiple_of = N, pattern = \"regex\", or a format: email, url, uuid, date, \
     date_time, ip, ipv4, ipv6";

pub(super) fn validate_attrs(attrs: &[syn::Attribute]) -> syn::Result<Constraints> {
    let mut rules = Constraints::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("validate")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match name.as_str() {
                "non_empty" => rules.non_empty = true,
                "min_length" => rules.min_length = Some(meta.value()?.parse()?),
                "max_length" => rules.max_length = Some(meta.value()?.parse()?),
                "min" => rules.min = Some(meta.value()?.parse()?),
                "max" => rules.max = Some(meta.value()?.parse()?),
                "range" => meta.parse_nested_meta(|bound| {
                    if bound.path.is_ident("min") {
                        rules.min = Some(bound.value()?.parse()?);
                    } else if bound.path.is_ident("max") {
                        rules.max = Some(bound.value()?.parse()?);
                    } else {
                        return Err(bound.error("expected range(min = N, max = N)"));
                    }
                    Ok(())
                })?,
                "multiple_of" => rules.multiple_of = Some(meta.value()?.parse()?),
                "pattern" => {
                    let source: LitStr = meta.value()?.parse()?;
                    check_pattern(&source)?;
                    rules.pattern = Some(source);
                }
                _ => match FORMATS.iter().find(|(word, _)| *word == name) {
                    Some((_, variant)) if rules.format.is_none() => rules.format = Some(variant),
                    Some(_) => return Err(meta.error("a field can declare one format")),
                    None => return Err(meta.error(CONSTRAINTS_HELP)),
                },
            }
            Ok(())
        })?;
    }
    Ok(rules)
}

/// Rejects a pattern that does not compile, or that JavaScript's `RegExp` (with the `u` flag, as the TypeScript
/// client runs it) would read differently or refuse: the client checks the same source.
fn check_pattern(source: &LitStr) -> syn::Result<()> {
    let text = source.value();
    if let Err(error) = regex_lite::Regex::new(&text) {
        return Err(syn::Error::new_spanned(source, format!("invalid pattern: {error}")));
    }
    let refuse = |what: &str| {
        Err(syn::Error::new_spanned(
            source,
            format!(
                "pattern uses {what}, which JavaScript's RegExp reads differently or not at all; keep to the syntax \
                 both share (see grest_ws::protocol::validate::Pattern)"
            ),
        ))
    };
    let chars: Vec<char> = text.chars().collect();
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\\' => {
                let Some(escaped) = next else {
                    return refuse("a trailing backslash");
                };
                let shared = "dDwWsSbBntrfv^$\\.*+?()[]{}|/".contains(escaped) || (in_class && escaped == '-');
                let hex = escaped == 'x'
                    && chars
                        .get(i + 2..i + 4)
                        .is_some_and(|h| h.iter().all(char::is_ascii_hexdigit));
                if !(shared || hex) {
                    return refuse(&format!("the escape \\{escaped}"));
                }
                i += if hex { 4 } else { 2 };
                continue;
            }
            '[' if in_class => return refuse("a nested class or a POSIX class"),
            '[' => {
                in_class = true;
                // `[]` and `[^]` are not alike in both either: a leading `]` is literal in Rust only.
                if next == Some('^') {
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    return refuse("a leading `]` in a class");
                }
            }
            ']' if in_class => in_class = false,
            ']' | '}' => return refuse("an unescaped `]` or `}`"),
            // A counted repetition (the regex compiled, so it is one): skip to its end.
            '{' if !in_class => {
                i += chars[i..].iter().position(|&c| c == '}').unwrap_or(0) + 1;
                continue;
            }
            '&' | '-' | '~' if in_class && next == Some(c) => return refuse("a class set operation"),
            '(' if !in_class && next == Some('?') => {
                let named = chars.get(i + 2) == Some(&'<');
                if !(chars.get(i + 2) == Some(&':') || named) {
                    return refuse("inline flags or a `(?P<name>)` group");
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(source: &str) -> Result<(), String> {
        check_pattern(&LitStr::new(source, proc_macro2::Span::call_site())).map_err(|e| e.to_string())
    }

    #[test]
    fn patterns_both_engines_read_alike_pass() {
        for source in [
            "^[a-z0-9-]+$",
            r"^\d{3}-\d{4}$",
            r"^(?:ab|cd)+?\.x*$",
            r"^(?<year>\d{4})$",
            r"[\-\]\\]",
            r"^\x41\/\s\w\W$",
            "a{2,}b{1,3}",
        ] {
            assert_eq!(pattern(source), Ok(()), "{source}");
        }
    }

    #[test]
    fn patterns_that_do_not_compile_or_differ_in_javascript_are_refused() {
        assert!(pattern("(").unwrap_err().starts_with("invalid pattern"));
        for (source, what) in [
            ("(?i)abc", "inline flags"),
            ("(?P<name>x)", "inline flags"),
            (r"\Aabc\z", r"the escape \A"),
            (r"a\-b", r"the escape \-"),
            ("[[:alpha:]]", "a nested class"),
            ("[]a]", "a leading `]`"),
            ("a]", "an unescaped"),
        ] {
            let error = pattern(source).expect_err(source);
            assert!(error.contains(what), "{source}: {error}");
        }
        // Class set operations: refused by the regex engine or by the JavaScript check.
        for source in ["[a-z&&[^x]]", "[a-z--x]", "[a-z~~x]"] {
            assert!(pattern(source).is_err(), "{source}");
        }
    }
}
