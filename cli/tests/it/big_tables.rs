//! Commands that read the whole table (`list`, `keys`, `getall`, `export`,
//! `doctor`) over a table that spans many scan pages in every parallel segment:
//! each item is seen exactly once, whatever page or segment it falls in.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::common::Remote;

const NAMES: usize = 60;
const VERSIONS: usize = 3;
/// Items a scan page holds at most (the emulator's `page_size` fault): far fewer
/// than a segment holds, so every segment is read in several pages.
const PAGE: usize = 7;

fn name(i: usize) -> String {
    format!("big/{i:03}")
}

fn value(i: usize, version: usize) -> String {
    format!("value-{i}-{version}")
}

/// `table` (credstash's format or sealed) holding NAMES secrets of VERSIONS
/// versions each, then scans cut into pages of PAGE items.
fn big_table(r: &Remote, table: &str, compat: &[&str]) {
    let mut setup = vec!["-t", table, "setup"];
    setup.extend_from_slice(compat);
    r.ok(&setup, b"");
    for version in 1..=VERSIONS {
        // `import` stores a new version of every name whose value changed.
        let map: BTreeMap<String, String> =
            (0..NAMES).map(|i| (name(i), value(i, version))).collect();
        r.ok(
            &["-t", table, "import", "-f", "json", "-"],
            serde_json::to_string(&map).unwrap().as_bytes(),
        );
    }
    r.fault(json!({"target": "dynamodb:Scan", "page_size": PAGE}));
}

/// How often the page-size rule fired: the Scan calls made since it was added.
fn scans(r: &Remote) -> u64 {
    let fired = r.rt.block_on(lockbox_testkit::faults::fired(&r.endpoint));
    fired.get("dynamodb:Scan").copied().unwrap_or_default()
}

fn json_of(r: &Remote, args: &[&str]) -> Value {
    serde_json::from_str(&r.ok(args, b"")).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn every_item_once(compat: &[&str]) {
    let r = Remote::start();
    let table = "big-table";
    big_table(&r, table, compat);
    let names: Vec<String> = (0..NAMES).map(name).collect();
    let items = NAMES * VERSIONS;
    // Each segment's pages, at least: far more than one page per segment.
    let min_pages = (items / PAGE) as u64;

    let before = scans(&r);
    let list = json_of(&r, &["-t", table, "-o", "json", "list"]);
    let pages = scans(&r) - before;
    assert!(
        pages >= min_pages,
        "list read {pages} pages, not the {min_pages} or more a {PAGE}-item page needs"
    );
    let listed: Vec<(String, u64)> = list
        .as_array()
        .expect("list -o json is an array")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["version"].as_u64().unwrap(),
            )
        })
        .collect();
    let unique: BTreeSet<&(String, u64)> = listed.iter().collect();
    assert_eq!(
        listed.len(),
        items,
        "list printed an item twice or missed one"
    );
    assert_eq!(unique.len(), items, "list printed an item twice");
    let want: BTreeSet<(String, u64)> = names
        .iter()
        .flat_map(|n| (1..=VERSIONS as u64).map(move |v| (n.clone(), v)))
        .collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), want);

    let before = scans(&r);
    let keys = json_of(&r, &["-t", table, "-o", "json", "keys"]);
    assert!(scans(&r) - before >= min_pages, "keys read every page");
    let keys: Vec<String> = serde_json::from_value(keys).unwrap();
    assert_eq!(keys, names, "keys: every name once, sorted");

    let latest: BTreeMap<String, String> =
        (0..NAMES).map(|i| (name(i), value(i, VERSIONS))).collect();
    for command in ["getall", "export"] {
        let before = scans(&r);
        let map = json_of(&r, &["-t", table, command, "-f", "json"]);
        assert!(scans(&r) - before >= min_pages, "{command} read every page");
        let map: BTreeMap<String, String> = serde_json::from_value(map).unwrap();
        assert_eq!(
            map, latest,
            "{command}: every name once, at its latest value"
        );
    }

    let before = scans(&r);
    let out = r.run(&["-t", table, "-o", "json", "doctor"], b"");
    assert!(scans(&r) - before >= min_pages, "doctor read every page");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor -o json: {e}: {}", crate::common::stderr(&out)));
    assert_eq!(
        report["inventory"]["items"].as_u64(),
        Some(items as u64),
        "doctor counted every item once: {}",
        report["inventory"]
    );
}

#[test]
fn whole_table_reads_see_every_item_once_across_pages_and_segments_sealed() {
    every_item_once(&[]);
}

#[test]
fn whole_table_reads_see_every_item_once_across_pages_and_segments_credstash() {
    every_item_once(&["--compat", "credstash"]);
}
