//! Name case conversions: Rust names to wire names, and serde's `rename_all` rules.

/// Splits a snake_case or PascalCase identifier into lower-case words.
fn words(name: &str) -> Vec<String> {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut words = Vec::new();
    let mut current = String::new();
    for c in name.chars() {
        if c == '_' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else if c.is_uppercase() && !current.is_empty() {
            words.push(std::mem::take(&mut current));
            current.extend(c.to_lowercase());
        } else {
            current.extend(c.to_lowercase());
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `send_message` → `sendMessage`.
pub(crate) fn camel(name: &str) -> String {
    let words = words(name);
    let mut out = words.first().cloned().unwrap_or_default();
    for word in words.iter().skip(1) {
        out.push_str(&capitalize(word));
    }
    out
}

/// `send_message` → `SendMessage`.
pub(crate) fn pascal(name: &str) -> String {
    words(name).iter().map(|w| capitalize(w)).collect()
}

/// `ChatRoom` → `chat_room`.
pub(crate) fn snake(name: &str) -> String {
    words(name).join("_")
}

/// Applies a serde `rename_all` rule; `None` for a rule this crate does not know.
pub(crate) fn rename_all(rule: &str, name: &str) -> Option<String> {
    let w = words(name);
    Some(match rule {
        "lowercase" => name.strip_prefix("r#").unwrap_or(name).to_lowercase(),
        "UPPERCASE" => name.strip_prefix("r#").unwrap_or(name).to_uppercase(),
        "PascalCase" => pascal(name),
        "camelCase" => camel(name),
        "snake_case" => w.join("_"),
        "SCREAMING_SNAKE_CASE" => w.join("_").to_uppercase(),
        "kebab-case" => w.join("-"),
        "SCREAMING-KEBAB-CASE" => w.join("-").to_uppercase(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(camel("send_message"), "sendMessage");
        assert_eq!(camel("are_you_there"), "areYouThere");
        assert_eq!(camel("ping"), "ping");
        assert_eq!(pascal("mark_as_read"), "MarkAsRead");
        assert_eq!(snake("ChatRoom"), "chat_room");
        assert_eq!(rename_all("camelCase", "channel_id").as_deref(), Some("channelId"));
        assert_eq!(rename_all("snake_case", "InProgress").as_deref(), Some("in_progress"));
        assert_eq!(
            rename_all("SCREAMING_SNAKE_CASE", "InProgress").as_deref(),
            Some("IN_PROGRESS")
        );
        assert_eq!(rename_all("kebab-case", "r#type").as_deref(), Some("type"));
        assert_eq!(rename_all("nope", "x"), None);
    }
}
