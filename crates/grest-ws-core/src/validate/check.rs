//! The fast path's second half: [`check`] walks a typed value's declared constraints, reusing one path buffer
//! per thread.

use super::issue::Issues;
use super::path::Path;
use super::shape::Validate;

/// Checks `value`'s declared constraints (fields, elements, nested values); every issue found, or `Ok`. The path
/// buffer is reused across calls on one thread, so a value that breaks no rule costs no allocation.
pub fn check<T: Validate + ?Sized>(value: &T) -> Result<(), Issues> {
    if !T::DEEP {
        return Ok(());
    }
    thread_local! {
        static SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
    }
    let mut path = Path(SCRATCH.take());
    path.0.clear();
    let mut issues = Issues::new();
    value.validate(&mut path, &mut issues);
    // A pathological depth should not pin a large buffer to the thread.
    if path.0.capacity() <= 1024 {
        SCRATCH.set(path.0);
    }
    if issues.is_empty() { Ok(()) } else { Err(issues) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn check_reports_paths_from_an_empty_root_every_time() {
        // The reused path buffer starts empty for each value, whatever the previous one left.
        let bad: Vec<crate::test_support::Msg> = serde_json::from_value(json!([{"text": "", "n": 1}])).unwrap();
        for _ in 0..2 {
            let issues = check(&bad).expect_err("an empty text");
            assert_eq!(issues[0].path, "0.text");
        }
        let good: Vec<crate::test_support::Msg> = serde_json::from_value(json!([{"text": "x", "n": 1}])).unwrap();
        assert!(check(&good).is_ok());
    }
}
