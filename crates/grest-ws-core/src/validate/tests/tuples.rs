//! Tuples and flattened fields on the slow path: fixed-length arrays with per-position rules, and a flattened
//! object's fields read from the enclosing one.

use super::*;

fn pair() -> Shape {
    static ELEMENTS: &[Element] = &[
        Element {
            shape: ShapeFn::new(String::shape),
            rules: NON_EMPTY,
        },
        Element {
            shape: ShapeFn::new(u8::shape),
            rules: Rules::NONE,
        },
    ];
    Shape::Tuple(ELEMENTS)
}

#[test]
fn tuple_type() {
    assert_eq!(
        walk(&pair(), json!({"0": "a"})).1,
        json!([{"path": "", "code": "invalid.tuple.type", "message": "Value must be an array", "value": {"0": "a"}}])
    );
}

#[test]
fn tuple_length() {
    for value in [json!([]), json!(["a"]), json!(["a", 1, 2])] {
        assert_eq!(
            walk(&pair(), value.clone()).1,
            json!([{"path": "", "code": "invalid.tuple.length", "message": "Array must have exactly 2 items",
                    "params": {"length": 2}, "value": value}])
        );
    }
}

#[test]
fn tuple_elements_are_coerced_and_checked_by_position() {
    assert_eq!(walk(&pair(), json!([5, "7"])), (json!(["5", 7]), json!([])));
    let (_, issues) = walk(&pair(), json!(["", 256]));
    let found: Vec<_> = issues
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["path"].clone(), i["code"].clone()))
        .collect();
    assert_eq!(
        found,
        [
            (json!("0"), json!("invalid.string.nonEmpty")),
            (json!("1"), json!("invalid.number.range"))
        ]
    );
}

#[test]
fn flattened_fields_are_the_parent_s_own() {
    fn object() -> Shape {
        static FIELDS: &[Field] = &[
            Field::new("a", String::shape),
            Field {
                flatten: true,
                ..Field::new("inner", Item::shape)
            },
            Field::new("b", u8::shape),
        ];
        Shape::Object(FIELDS)
    }
    assert_eq!(
        walk(&object(), json!({"a": 1, "name": "x", "b": "2"})),
        (json!({"a": "1", "name": "x", "b": 2}), json!([]))
    );
    // In declaration order, at the parent's paths.
    let (_, issues) = walk(&object(), json!({"name": ""}));
    let paths: Vec<_> = issues.as_array().unwrap().iter().map(|i| i["path"].clone()).collect();
    assert_eq!(paths, [json!("a"), json!("name"), json!("b")]);
    assert_eq!(walk(&object(), json!([])).1[0]["code"], "invalid.object.type");
}

#[test]
fn std_tuples_are_tuples() {
    assert_eq!(both::<(u8, String)>(r#"["1", 2]"#), Ok((1, "2".to_owned())));
    assert_eq!(issue_values::<(u8, String)>("[1]")[0]["code"], "invalid.tuple.length");
    assert_eq!(issue_values::<(u8,)>("[300]")[0]["path"], "0");
    assert_eq!(issue_values::<(u8, (bool, u8))>("[1, [true, -1]]")[0]["path"], "1.1");
    const { assert!(!<(u8, String, Vec<bool>)>::DEEP) };
    const { assert!(<(u8, Item)>::DEEP) };
    assert!(check(&(1u8, Item { name: String::new() })).is_err_and(|issues| issues[0].path == "1.name"));
}
