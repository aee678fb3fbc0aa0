//! Structure-aware mutations of JSON for property tests: start from a valid wire message,
//! change a few nodes (a leaf's type or value, a hex digit, a string's length, a missing or
//! extra key, a dropped or doubled array element), so decoders get past JSON parsing and their
//! deep paths (field checks, hex, curve points, bounds, sessions) run.
#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::{Map, Value};

#[derive(Clone, Debug)]
pub enum Mutation {
    /// Replace the node with this value.
    Replace(Value),
    /// Strings: keep only the first n characters.
    Truncate(usize),
    /// Strings: append this text.
    Append(String),
    /// Strings: set character i (mod length) to c (a hex digit or not).
    SetChar(usize, char),
    /// Objects: remove key i (mod count); arrays: remove element i.
    Remove(usize),
    /// Objects: add an unknown key; arrays: double element i.
    Grow(usize),
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(65_535),
            Just(65_536),
            Just(i64::MAX),
            Just(i64::MIN),
            any::<i64>()
        ]
        .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1.5f64)),
        prop_oneof![
            Just(String::new()),
            Just("00".repeat(32)),
            Just("ff".repeat(33)),
            Just("02".to_owned() + &"ff".repeat(32)),
            "[0-9a-f]{0,70}",
            ".{0,20}",
        ]
        .prop_map(Value::String),
        Just(Value::Array(Vec::new())),
        Just(Value::Object(Map::new())),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => leaf().prop_map(Mutation::Replace),
        1 => (0usize..80).prop_map(Mutation::Truncate),
        1 => prop_oneof![Just("0".to_owned()), Just("g".to_owned()), ".{1,8}".prop_map(|s| s)]
            .prop_map(Mutation::Append),
        3 => (any::<usize>(), prop_oneof![Just('0'), Just('f'), Just('F'), Just('g'), Just('"'), Just('é')])
            .prop_map(|(i, c)| Mutation::SetChar(i, c)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Grow),
    ]
}

/// 1 to 4 mutations, each at a node chosen by its selector.
pub fn mutations() -> impl Strategy<Value = Vec<(usize, Mutation)>> {
    prop::collection::vec((any::<usize>(), mutation()), 1..=4)
}

/// JSON pointers of every node, in pre-order.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Applies each mutation to the node its selector picks.
pub fn apply(v: &mut Value, muts: &[(usize, Mutation)]) {
    for (sel, m) in muts {
        let mut ps = Vec::new();
        pointers(v, String::new(), &mut ps);
        let p = &ps[sel % ps.len()];
        let Some(node) = v.pointer_mut(p) else {
            continue;
        };
        match (m, node) {
            (Mutation::Replace(x), n) => *n = x.clone(),
            (Mutation::Truncate(k), Value::String(s)) => *s = s.chars().take(*k).collect(),
            (Mutation::Append(t), Value::String(s)) => s.push_str(t),
            (Mutation::SetChar(i, c), Value::String(s)) if !s.is_empty() => {
                let mut cs: Vec<char> = s.chars().collect();
                let n = cs.len();
                cs[i % n] = *c;
                *s = cs.into_iter().collect();
            }
            (Mutation::Remove(i), Value::Object(o)) if !o.is_empty() => {
                let n = o.len();
                if let Some(k) = o.keys().nth(i % n).cloned() {
                    o.remove(&k);
                }
            }
            (Mutation::Remove(i), Value::Array(a)) if !a.is_empty() => {
                let n = a.len();
                a.remove(i % n);
            }
            (Mutation::Grow(i), Value::Object(o)) => {
                o.insert(format!("extra{i}"), Value::from(*i as u64));
            }
            (Mutation::Grow(i), Value::Array(a)) if !a.is_empty() => {
                let n = a.len();
                let x = a[i % n].clone();
                a.insert(i % n, x);
            }
            // A mutation that does not fit the node's type: replace the node instead.
            (_, n) => *n = Value::Null,
        }
    }
}
