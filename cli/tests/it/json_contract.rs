//! docs/JSON.md is a contract: every command run with `-o json` prints exactly
//! one document of the shape the page lists for it (its keys, at every level,
//! with the documents nested in it), and errors are documents too.

use crate::common;

use std::collections::BTreeMap;

use common::{stderr, Local};
use serde_json::Value;

/// Document name -> its keys, each with the document it holds, if any.
type Contract = BTreeMap<String, Vec<(String, Option<String>)>>;

fn contract() -> Contract {
    let doc = include_str!("../../../docs/JSON.md");
    let table = doc
        .split("<!-- contract:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- contract:end -->").next())
        .expect("docs/JSON.md has its contract table");
    let mut out = BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let keys = cells[3]
            .split(", ")
            .map(|k| {
                let (key, nested) = k.split_once(" (").unwrap_or((k, ""));
                let nested = nested.trim_end_matches(')').trim_matches('*');
                (
                    key.trim_matches('`').to_owned(),
                    (!nested.is_empty()).then(|| nested.to_owned()),
                )
            })
            .collect();
        out.insert(cells[1].trim_matches('`').to_owned(), keys);
    }
    out
}

/// `value` is a `name` document: the same keys, in order (`saved_kms_region`
/// may be absent, as documented), and each nested object or list item is the
/// document named for its key.
fn check(contract: &Contract, name: &str, value: &Value, at: &str) {
    let keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    let listed: Vec<&str> = contract[name]
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "saved_kms_region" || keys.contains(k))
        .collect();
    assert_eq!(keys, listed, "{at}: the keys of {name}");
    for (key, nested) in &contract[name] {
        let Some(nested) = nested else { continue };
        match &value[key] {
            Value::Null => {}
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(contract, nested, item, &format!("{at}.{key}[{i}]"));
                }
            }
            other => check(contract, nested, other, &format!("{at}.{key}")),
        }
    }
}

/// Runs `-o json args`, expecting exit `code` and one document on stdout.
fn json(l: &Local, args: &[&str], stdin: &[u8], code: i32) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let out = l.run_stdin(&all, stdin);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.ends_with("}\n") || text.ends_with("]\n"),
        "{args:?}: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: one document: {e}: {text}"))
}

#[test]
fn every_command_prints_its_documented_document() {
    let c = contract();
    let l = Local::new();
    let doc = |args: &[&str], stdin: &[u8], code: i32, name: &str| {
        let v = json(&l, args, stdin, code);
        check(&c, name, &v, &format!("{args:?}"));
        v
    };
    doc(&["setup"], b"", 0, "Setup");
    doc(&["put", "a", "-"], b"1", 0, "Stored");
    doc(&["put", "a", "-"], b"2", 0, "Stored");
    doc(&["put", "b", "-"], b"x", 0, "Stored");
    doc(&["get", "a"], b"", 0, "Value");
    let out = l.path().join("a.out").display().to_string();
    doc(&["get", "a", "--out", &out], b"", 0, "Stored");
    for args in [&["list"][..], &["history", "a"]] {
        let v = json(&l, args, b"", 0);
        for (i, item) in v.as_array().unwrap().iter().enumerate() {
            check(&c, "Summary", item, &format!("{args:?}[{i}]"));
        }
    }
    doc(&["rollback", "a", "--to", "1"], b"", 0, "RolledBack");
    doc(&["prune", "a", "--keep", "2"], b"", 0, "Deleted");
    doc(&["delete", "b", "-y"], b"", 0, "Deleted");
    doc(
        &["import", "-", "-f", "json"],
        br#"{"a": "1", "c": "3"}"#,
        0,
        "Imported",
    );
    doc(&["put-all", "-"], br#"{"d": "4"}"#, 0, "PutAll");
    doc(&["doctor"], b"", 0, "Doctor");
    l.ok(&["-t", "copy", "setup"]);
    doc(&["migrate", "--to-table", "copy"], b"", 0, "Migrated");
    doc(&["sync", "--to-table", "dr-copy"], b"", 0, "Synced");
    doc(&["rewrap", "--to-key", "alias/next"], b"", 0, "Rewrapped");
    // The plain values: maps of names, lists of names.
    let map = json(&l, &["getall", "--trust-key", "alias/next"], b"", 0);
    assert!(
        map.as_object().unwrap().values().all(Value::is_string),
        "{map}"
    );
    let keys = json(&l, &["keys"], b"", 0);
    assert!(
        keys.as_array().unwrap().iter().all(Value::is_string),
        "{keys}"
    );
    // Errors, whatever the class.
    for (args, code) in [
        (&["get", "missing"][..], 3),
        (&["getall", "-f", "yaml"], 2),
        (&["get", "a", "-v", "0"], 2),
        (&["nosuchcommand"], 2),
        (&["man"], 2),
    ] {
        let v = doc(args, b"", code, "ErrorDocument");
        assert_eq!(v["error"]["code"], code, "{args:?}");
    }
    // Labels, a staged rotation and JSON fields, in a table of their own (the
    // first one's key moved above).
    let t = |args: &[&'static str]| [&["-t", "lbl"][..], args].concat();
    doc(&t(&["setup"]), b"", 0, "Setup");
    doc(
        &t(&["put", "j", "-", "--json"]),
        br#"{"u": "x"}"#,
        0,
        "Stored",
    );
    doc(&t(&["get", "lockbox://j#/u"]), b"", 0, "Selected");
    doc(&t(&["get", "j", "--label", "current"]), b"", 0, "Selected");
    doc(&t(&["label", "j", "stable=1"]), b"", 0, "LabelChanged");
    doc(&t(&["label", "j", "stable"]), b"", 0, "LabelShown");
    doc(
        &t(&["rotate", "start", "j", "-"]),
        br#"{"u": "y"}"#,
        0,
        "RotationStepDoc",
    );
    let labels = doc(&t(&["label", "j"]), b"", 0, "LabelList");
    assert_eq!(labels["rotation"]["state"], "pending", "{labels}");
    doc(&t(&["rotate", "finish", "j"]), b"", 0, "RotationStepDoc");
    doc(&t(&["rotate", "finish", "j"]), b"", 0, "RotationStepDoc");
    doc(&t(&["rollback", "j"]), b"", 0, "RolledBack");
    let v = json(&l, &t(&["history", "j"]), b"", 0);
    for (i, item) in v.as_array().unwrap().iter().enumerate() {
        check(&c, "Summary", item, &format!("history j[{i}]"));
    }
    doc(&t(&["setup", "--labels"]), b"", 0, "Setup");
    let v = doc(
        &t(&["label", "j", "stable=2", "--from", "9"]),
        b"",
        8,
        "ErrorDocument",
    );
    assert_eq!(v["error"]["class"], "label_conflict", "{v}");
}
