//! Where an issue is: the [`Path`] built up and torn down while walking a value, one [`Segment`] at a time.

/// A location being validated, built up and torn down while walking (no per-field allocation).
// The text is open to the module so that `check` can lend a path its per-thread buffer.
#[derive(Debug, Default, Clone)]
pub struct Path(pub(super) String);

impl Path {
    /// The root path `""`.
    pub fn root() -> Self {
        Path(String::new())
    }

    /// Appends an object field or array index; returns the mark to [`Path::pop_to`].
    pub fn push(&mut self, segment: impl Segment) -> usize {
        let mark = self.0.len();
        if mark > 0 {
            self.0.push('.');
        }
        segment.append_to(&mut self.0);
        mark
    }

    /// Restores the path to a mark returned by a push.
    pub fn pop_to(&mut self, mark: usize) {
        self.0.truncate(mark);
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One step of a [`Path`]: an object field or map key (`&str`, `&String`) or an array index (`usize`). Appended
/// without the formatting machinery: validation walks every field of every message, including the many that
/// break no rule.
pub trait Segment {
    /// Appends this segment's text to `path`.
    fn append_to(self, path: &mut String);
}

impl Segment for &str {
    fn append_to(self, path: &mut String) {
        path.push_str(self);
    }
}

impl Segment for &String {
    fn append_to(self, path: &mut String) {
        path.push_str(self);
    }
}

impl Segment for usize {
    fn append_to(self, path: &mut String) {
        path.push_str(crate::frame::decimal(self as u64, &mut [0; 20]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_push_and_pop() {
        let mut path = Path::root();
        assert_eq!(path.as_str(), "");
        let a = path.push("items");
        assert_eq!(path.as_str(), "items");
        let b = path.push(0usize);
        assert_eq!(path.as_str(), "items.0");
        let c = path.push("name");
        assert_eq!(path.as_str(), "items.0.name");
        path.pop_to(c);
        assert_eq!(path.as_str(), "items.0");
        path.pop_to(b);
        path.pop_to(a);
        assert_eq!(path.as_str(), "");
        for (index, text) in [
            (7usize, "7"),
            (10, "10"),
            (1_234_567_890, "1234567890"),
            (usize::MAX, "18446744073709551615"),
        ] {
            let mark = path.push(index);
            assert_eq!(path.as_str(), text);
            path.pop_to(mark);
        }
        let key = String::from("a key");
        path.push(&key);
        assert_eq!(path.as_str(), "a key");
    }
}
