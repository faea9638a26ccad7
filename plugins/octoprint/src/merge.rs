//! Merging JSON objects as OctoPrint merges a change into settings or a profile.

use serde_json::Value;

/// Merges `changes` into `base` key by key (objects recursively), as OctoPrint's PATCH does.
pub fn merge(base: &mut Value, changes: &Value) {
    match (base, changes) {
        (Value::Object(base), Value::Object(changes)) => {
            for (k, v) in changes {
                merge(base.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (base, changes) => *base = changes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_merge_into_nested_objects() {
        let mut base = json!({"name": "a", "volume": {"width": 200, "depth": 200}});
        merge(
            &mut base,
            &json!({"volume": {"width": 250}, "color": "red"}),
        );
        assert_eq!(
            base,
            json!({"name": "a", "volume": {"width": 250, "depth": 200}, "color": "red"})
        );
    }
}
