//! [`Validate`] for std and serde_json types: numbers carry their type's range, containers and tuples walk their
//! elements.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};

use super::issue::Issues;
use super::path::Path;
use super::rules::{Rules, max_opt, min_opt};
use super::shape::{Element, Shape, ShapeFn, Validate};

macro_rules! impl_int {
    ($($t:ty),*) => {$(
        impl Validate for $t {
            const DEEP: bool = false;
            fn shape() -> Shape {
                Shape::Number { integer: true, min: Some(<$t>::MIN as f64), max: Some(<$t>::MAX as f64) }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                // Declared bounds narrow the type's own, exactly as on the slow path.
                let (lo, hi) = (Some(<$t>::MIN as f64), Some(<$t>::MAX as f64));
                rules.check_number_within(*self as f64, max_opt(lo, rules.min), min_opt(hi, rules.max), path, issues);
            }
        }
    )*};
}
impl_int!(i8, i16, i32, u8, u16, u32);

macro_rules! impl_wide_int {
    ($($t:ty => $min:expr),*) => {$(
        impl Validate for $t {
            const DEEP: bool = false;
            fn shape() -> Shape {
                Shape::Number { integer: true, min: $min, max: None }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                // Declared bounds narrow the type's own, exactly as on the slow path.
                rules.check_number_within(*self as f64, max_opt($min, rules.min), rules.max, path, issues);
            }
        }
    )*};
}
impl_wide_int!(i64 => None, isize => None, u64 => Some(0.0), usize => Some(0.0));

macro_rules! impl_float {
    ($($t:ty),*) => {$(
        impl Validate for $t {
            const DEEP: bool = false;
            fn shape() -> Shape {
                Shape::Number { integer: false, min: None, max: None }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                rules.check_number(*self as f64, path, issues);
            }
        }
    )*};
}
impl_float!(f32, f64);

impl Validate for bool {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Boolean
    }
}

impl Validate for String {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::String
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        rules.check_str(self, path, issues);
    }
}

impl Validate for () {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Null
    }
}

impl Validate for Value {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Any
    }
}

impl<T: Validate> Validate for Option<T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Optional(ShapeFn::new(T::shape))
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        if let Some(v) = self {
            v.validate(path, issues);
        }
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        if let Some(v) = self {
            v.check_rules(rules, path, issues);
        }
    }
}

impl<T: Validate> Validate for Box<T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        T::shape()
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        (**self).validate(path, issues);
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        (**self).check_rules(rules, path, issues);
    }
}

impl<T: Validate + Serialize> Validate for Vec<T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Array(ShapeFn::new(T::shape))
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        for (i, item) in self.iter().enumerate() {
            let mark = path.push(i);
            item.validate(path, issues);
            path.pop_to(mark);
        }
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        rules.check_array_len(self.len(), path, issues, || {
            serde_json::to_value(self).unwrap_or(Value::Null)
        });
    }
}

fn validate_entries<'a, T: Validate + 'a>(
    entries: impl Iterator<Item = (&'a String, &'a T)>,
    path: &mut Path,
    issues: &mut Issues,
) {
    for (key, item) in entries {
        let mark = path.push(key);
        item.validate(path, issues);
        path.pop_to(mark);
    }
}

impl<T: Validate, S> Validate for HashMap<String, T, S> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Record(ShapeFn::new(T::shape))
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        validate_entries(self.iter(), path, issues);
    }
}

impl<T: Validate> Validate for BTreeMap<String, T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Record(ShapeFn::new(T::shape))
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        validate_entries(self.iter(), path, issues);
    }
}

/// A tuple's element shapes, as a constant (a generic function cannot promote a slice of its type parameters'
/// functions to `'static`; an associated constant can hold it).
trait TupleElements {
    const ELEMENTS: &'static [Element];
}

macro_rules! impl_tuple {
    ($(($($t:ident . $i:tt),+)),*) => {$(
        impl<$($t: Validate),+> TupleElements for ($($t,)+) {
            const ELEMENTS: &'static [Element] = &[$(Element { shape: ShapeFn::new(<$t>::shape), rules: Rules::NONE }),+];
        }

        /// A JSON array with one element per position (as serde writes a tuple).
        impl<$($t: Validate),+> Validate for ($($t,)+) {
            const DEEP: bool = false $(|| <$t>::DEEP)+;
            fn shape() -> Shape {
                Shape::Tuple(<Self as TupleElements>::ELEMENTS)
            }
            fn validate(&self, path: &mut Path, issues: &mut Issues) {
                $(if <$t>::DEEP {
                    let mark = path.push($i as usize);
                    self.$i.validate(path, issues);
                    path.pop_to(mark);
                })+
            }
        }
    )*};
}
impl_tuple!(
    (A.0),
    (A.0, B.1),
    (A.0, B.1, C.2),
    (A.0, B.1, C.2, D.3),
    (A.0, B.1, C.2, D.3, E.4),
    (A.0, B.1, C.2, D.3, E.4, F.5),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6),
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7)
);

impl Validate for Map<String, Value> {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Record(ShapeFn::new(Value::shape))
    }
}
