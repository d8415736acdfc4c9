//! The registry's JSON Schema (draft 2020-12), for editors with a YAML language server.
//!
//! Built from the same key lists the parser uses, so a key the parser accepts is always in
//! the schema and `additionalProperties: false` rejects the rest, as the parser does.

use serde_json::{Map, Value, json};

use super::{LINK_KEYS, LINK_MODES, PACKAGE_KEYS, SNAPSHOT_KEYS, THEME_KEYS, TOP_KEYS, VERSION};

fn object(keys: &[&str], mut props: Map<String, Value>, required: &[&str]) -> Value {
    // Every key of the parser must be described; nothing else is allowed.
    for k in keys {
        props.entry((*k).to_owned()).or_insert_with(|| json!({}));
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

fn props(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The JSON Schema of registry version [`VERSION`].
pub fn json_schema() -> Value {
    let name = json!({ "type": "string", "pattern": "^[A-Za-z0-9@_+][A-Za-z0-9@._+-]*$" });
    let package = json!({ "oneOf": [
        name.clone(),
        object(PACKAGE_KEYS, props(vec![
            ("name", name.clone()),
            ("reason", json!({ "type": "string", "minLength": 1, "description": "Why it is installed" })),
        ]), &["name"]),
    ]});
    let source = json!({ "type": "string", "minLength": 1, "pattern": "^(?!.*(^|/)\\.\\.?(/|$))[^/~]",
        "description": "Path relative to the virtual root ($LUMINA_HOME), without `..`" });
    let link = json!({ "oneOf": [
        source.clone(),
        object(LINK_KEYS, props(vec![
            ("source", source),
            ("mode", json!({ "enum": LINK_MODES, "default": "file",
                "description": "`file`: one link to the source; `tree`: one link per file under it" })),
        ]), &["source"]),
    ]});
    let theme_name = json!({ "type": "string", "minLength": 1, "pattern": "^[^/]+$" });
    let themes = object(
        THEME_KEYS,
        props(vec![
            ("gtk", theme_name.clone()),
            ("icons", theme_name.clone()),
            ("cursor", theme_name),
            (
                "cursor_size",
                json!({ "type": "integer", "minimum": 8, "maximum": 512 }),
            ),
            (
                "font",
                json!({ "type": "string", "pattern": "^.+ [0-9.]+$",
            "description": "FAMILY SIZE, e.g. `Inter 11`" }),
            ),
        ]),
        &[],
    );
    let snapshots = object(
        SNAPSHOT_KEYS,
        props(vec![
            (
                "keep",
                json!({ "type": "integer", "minimum": 1, "maximum": 10000,
            "description": "Keep the last N snapshot pairs" }),
            ),
            (
                "important",
                json!({ "type": "array", "items": { "type": "string" },
            "description": "Package patterns whose snapshots are kept longer, e.g. `linux*`" }),
            ),
            (
                "min_free",
                json!({ "type": "string", "pattern": "^ *([0-9]{1,2} *%|[0-9]+ *(B|K|KiB|M|MiB|G|GiB|T|TiB)?) *$",
            "description": "Free-space floor: `10%` or `5GiB`" }),
            ),
        ]),
        &[],
    );
    let mut root = object(
        TOP_KEYS,
        props(vec![
            (
                "version",
                json!({ "const": VERSION, "description": "Registry schema version" }),
            ),
            ("packages", json!({ "type": "array", "items": package })),
            (
                "links",
                json!({ "type": "object",
            "description": "target (`~/...` or absolute) -> source (relative to the virtual root)",
            "propertyNames": { "pattern": "^(~/|/).+" },
            "additionalProperties": link }),
            ),
            ("themes", themes),
            ("snapshots", snapshots),
        ]),
        &["version"],
    );
    if let Value::Object(m) = &mut root {
        m.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        m.insert(
            "$id".into(),
            json!("https://lumina.dev/schema/lumina.yaml/v1.json"),
        );
        m.insert(
            "title".into(),
            json!("Lumina registry (lumina.yaml), version 1"),
        );
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    fn sorted(k: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = k.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn schema_describes_exactly_the_parser_keys() {
        let s = json_schema();
        assert_eq!(keys(&s), sorted(TOP_KEYS));
        assert_eq!(keys(&s["properties"]["themes"]), sorted(THEME_KEYS));
        assert_eq!(keys(&s["properties"]["snapshots"]), sorted(SNAPSHOT_KEYS));
        assert_eq!(
            keys(&s["properties"]["links"]["additionalProperties"]["oneOf"][1]),
            sorted(LINK_KEYS)
        );
        assert_eq!(
            keys(&s["properties"]["packages"]["items"]["oneOf"][1]),
            sorted(PACKAGE_KEYS)
        );
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["required"], json!(["version"]));
    }
}
