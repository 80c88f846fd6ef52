//! Merge-update of `attrs` / `sys_attrs` (seed 000 `save-user-attrs`):
//! 1. keys in the patch and not stored are added;
//! 2. stored keys absent from the patch are kept;
//! 3. keys in both are overwritten;
//! 4. a dotted key (`any.thing`) updates inside nested objects, creating them as needed.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Deepest nesting a dotted key may reach, and the largest stored document, in bytes.
pub const MAX_DEPTH: usize = 8;
pub const MAX_ATTRS_BYTES: usize = 16 * 1024;

/// Applies `patch` to `stored` by the four rules above.
pub fn merge(stored: &mut Map<String, Value>, patch: &Map<String, Value>) -> ApiResult<()> {
    for (key, value) in patch {
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() > MAX_DEPTH || parts.iter().any(|p| p.is_empty()) {
            return Err(ApiError::invalid(
                key,
                "attribute keys are non-empty dot-separated names, at most 8 levels deep",
            ));
        }
        set_path(stored, &parts, value.clone());
    }
    let size = serde_json::to_vec(stored).map(|v| v.len()).unwrap_or(0);
    if size > MAX_ATTRS_BYTES {
        return Err(ApiError::invalid("attrs", "the attributes exceed 16 KiB"));
    }
    Ok(())
}

/// Sets `parts` (a path) to `value`; a non-object in the way becomes an object.
fn set_path(map: &mut Map<String, Value>, parts: &[&str], value: Value) {
    match parts {
        [] => {}
        [last] => {
            map.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let slot = map
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                set_path(inner, rest, value);
            }
        }
    }
}

/// Parses a stored JSON object column; anything else is treated as empty.
pub fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn the_four_rules_of_seed_000() {
        // (stored, patch, expected)
        let table = [
            // 1. new key added
            (json!({"a": 1}), json!({"b": 2}), json!({"a": 1, "b": 2})),
            // 2. absent key kept, 3. present key overwritten
            (
                json!({"a": 1, "b": 2}),
                json!({"b": 3}),
                json!({"a": 1, "b": 3}),
            ),
            // 4. dotted key creates nested objects (the seed's own example)
            (
                json!({"avatar": "x", "nickname": "lisi3"}),
                json!({"any.thing": 123}),
                json!({"avatar": "x", "nickname": "lisi3", "any": {"thing": 123}}),
            ),
            // 4. dotted key updates inside, siblings kept
            (
                json!({"any": {"thing": 1, "other": 2}}),
                json!({"any.thing": 5}),
                json!({"any": {"thing": 5, "other": 2}}),
            ),
            // 3. a whole object value replaces the stored object
            (
                json!({"any": {"thing": 1, "other": 2}}),
                json!({"any": {"thing": 5}}),
                json!({"any": {"thing": 5}}),
            ),
            // 4. a scalar in the way of a dotted key becomes an object
            (
                json!({"a": 1}),
                json!({"a.b": true}),
                json!({"a": {"b": true}}),
            ),
            // null is a value like any other
            (json!({"a": 1}), json!({"a": null}), json!({"a": null})),
        ];
        for (stored, patch, expected) in table {
            let mut s = obj(stored.clone());
            merge(&mut s, &obj(patch.clone())).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(Value::Object(s), expected, "{stored} + {patch}");
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        for key in ["", "a..b", ".a", "a.", "1.2.3.4.5.6.7.8.9"] {
            let mut s = Map::new();
            let mut p = Map::new();
            p.insert(key.to_owned(), json!(1));
            assert!(merge(&mut s, &p).is_err(), "{key:?}");
        }
    }
}
