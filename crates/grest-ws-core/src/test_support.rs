//! Test types shared by the unit tests of several modules.

use serde::{Deserialize, Serialize};

use crate::validate::{Field, Issues, Path, Rules, Shape, Validate};

/// The first test struct, written out by hand: what the derive generates for
/// `struct Msg { #[validate(non_empty)] text: String, n: u32 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Msg {
    pub(crate) text: String,
    pub(crate) n: u32,
}

impl Validate for Msg {
    fn shape() -> Shape {
        static FIELDS: [Field; 2] = [
            Field {
                rules: Rules {
                    non_empty: true,
                    ..Rules::NONE
                },
                ..Field::new("text", <String as Validate>::shape)
            },
            Field::new("n", <u32 as Validate>::shape),
        ];
        Shape::Object(&FIELDS)
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        {
            const RULES: Rules = Rules {
                non_empty: true,
                ..Rules::NONE
            };
            let mark = path.push("text");
            self.text.check_rules(&RULES, path, issues);
            self.text.validate(path, issues);
            path.pop_to(mark);
        }
        {
            const RULES: Rules = Rules::NONE;
            let mark = path.push("n");
            self.n.check_rules(&RULES, path, issues);
            self.n.validate(path, issues);
            path.pop_to(mark);
        }
    }
}
