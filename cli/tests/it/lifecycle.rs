//! The table lifecycle commands end to end on the emulator: `doctor`, `migrate`,
//! `rewrap` and `sync` on a table holding every historical item variant; each
//! killed with SIGKILL half-way and run again; `rewrap` under concurrent writers
//! and readers; bad input refused before anything is written. Where the
//! credstash 1.17.1 venv is available (`scripts/test`), credstash checks that it
//! still reads the source after a migration and the table after a rewrap.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{create_key, http, remote, run_with_stdin, stderr, venv, wait_for, Reaped};
use serde_json::{json, Value};

/// Every value written in these tests starts with this: no output may hold it.
const CANARY: &str = "CANARY-";

struct Remote {
    rt: tokio::runtime::Runtime,
    endpoint: String,
    home: tempfile::TempDir,
}

impl Remote {
    /// An in-memory emulator with `alias/credstash`.
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mock = rt.block_on(lockbox_mock::start()).unwrap();
        let endpoint = mock.endpoint_url();
        rt.spawn(async move {
            let _mock = mock;
            std::future::pending::<()>().await
        });
        create_key(&endpoint, "alias/credstash");
        Self {
            rt,
            endpoint,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        remote(self.home.path(), &self.endpoint, args)
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let out = run_with_stdin(&mut self.cmd(args), stdin);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(
            !text.contains(CANARY),
            "lockbox {args:?} printed a value:\n{text}"
        );
        out
    }

    fn ok(&self, args: &[&str]) -> String {
        String::from_utf8(common::ok(self.run(args, b""), args)).unwrap()
    }

    /// Runs with `-o json`, expecting exit `code`; returns the document.
    fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all, b"");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {:?}", out.stdout))
    }

    fn put(&self, table: &str, name: &str, value: &[u8], extra: &[&str]) {
        let mut args = vec!["-t", table, "put", name, "-"];
        args.extend_from_slice(extra);
        common::ok(self.run(&args, value), &args);
    }

    fn call(&self, target: &str, body: Value) -> Value {
        let (status, text) = http(&self.endpoint, "/", Some(target), &body.to_string());
        assert_eq!(status, 200, "{target}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn fault(&self, rule: Value) {
        let (status, body) = http(&self.endpoint, "/_mock/faults", None, &rule.to_string());
        assert_eq!(status, 201, "{body}");
    }

    fn clear_faults(&self) {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "DELETE /_mock/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
    }

    /// How often the first fault rule fired.
    fn fired(&self) -> u64 {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /_mock/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let v: Value = serde_json::from_str(body).unwrap();
        v["rules"][0]["fired"].as_u64().unwrap()
    }

    /// Every item of `table`, as stored, sorted by key.
    fn items(&self, table: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut start = Value::Null;
        loop {
            let mut body = json!({"TableName": table, "ConsistentRead": true});
            if !start.is_null() {
                body["ExclusiveStartKey"] = start.clone();
            }
            let page = self.call("DynamoDB_20120810.Scan", body);
            out.extend(page["Items"].as_array().unwrap().iter().cloned());
            match page.get("LastEvaluatedKey") {
                Some(k) if !k.is_null() => start = k.clone(),
                _ => break,
            }
        }
        out.sort_by_key(|i| (i["name"]["S"].to_string(), i["version"]["S"].to_string()));
        out
    }

    fn item(&self, table: &str, name: &str, version: &str) -> Value {
        let key = json!({"name": {"S": name}, "version": {"S": version}});
        self.call(
            "DynamoDB_20120810.GetItem",
            json!({"TableName": table, "Key": key, "ConsistentRead": true}),
        )["Item"]
            .clone()
    }

    fn put_raw(&self, table: &str, item: &Value) {
        self.call(
            "DynamoDB_20120810.PutItem",
            json!({"TableName": table, "Item": item}),
        );
    }

    fn delete_raw(&self, table: &str, name: &str, version: &str) {
        let key = json!({"name": {"S": name}, "version": {"S": version}});
        self.call(
            "DynamoDB_20120810.DeleteItem",
            json!({"TableName": table, "Key": key}),
        );
    }

    fn key_arn(&self, alias: &str) -> String {
        self.call("TrentService.DescribeKey", json!({"KeyId": alias}))["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `import` of `n` secrets `bulk/NNNN` into `table` (a JSON file), each
    /// holding a canary; returns name -> value.
    fn import(&self, table: &str, n: usize) -> BTreeMap<String, String> {
        let values: BTreeMap<String, String> = (0..n)
            .map(|i| (format!("bulk/{i:04}"), format!("{CANARY}{i}")))
            .collect();
        let file = self.home.path().join(format!("{table}.json"));
        std::fs::write(&file, serde_json::to_vec(&values).unwrap()).unwrap();
        self.ok(&["-t", table, "import", &file.display().to_string()]);
        values
    }

    /// `getall` of `table` as a map (the values are compared, never printed).
    fn getall(&self, args: &[&str]) -> BTreeMap<String, String> {
        let mut all = args.to_vec();
        all.extend(["get-all", "-f", "json"]);
        let out = run_with_stdin(&mut self.cmd(&all), b"");
        let out = common::ok(out, &all);
        serde_json::from_slice(&out).unwrap()
    }

    /// The table's recorded key pin (its `lockbox:kms-key` tag).
    fn pin(&self, table: &str) -> String {
        let arn = self.call(
            "DynamoDB_20120810.DescribeTable",
            json!({"TableName": table}),
        )["Table"]["TableArn"]
            .clone();
        let tags = self.call(
            "DynamoDB_20120810.ListTagsOfResource",
            json!({"ResourceArn": arn}),
        );
        tags["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["Key"] == "lockbox:kms-key")
            .and_then(|t| t["Value"].as_str())
            .unwrap()
            .to_owned()
    }
}

/// `kill -9` of a running lifecycle command once `progressed` says it is under
/// way.
fn kill_half_way(r: &Remote, args: &[&str], progressed: impl Fn() -> bool) {
    let mut cmd = r.cmd(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = Reaped(cmd.spawn().expect("spawn lockbox"));
    wait_for(120, "the command to get under way", || {
        progressed() || child.0.try_wait().unwrap().is_some()
    });
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "{args:?} finished before it could be killed"
    );
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
}

/// credstash 1.17.1 from the venv, against the emulator.
fn credstash(venv: &Path, r: &Remote, table: &str, args: &[&str]) -> Output {
    lockbox_testkit::Credstash::new(venv, &r.endpoint, table).run(args, None)
}

fn names_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}@{}",
                i["name"].as_str().unwrap(),
                i["sort_key"].as_str().unwrap()
            )
        })
        .collect()
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// The historical variants of the issue, in a credstash-mode table `legacy`:
/// returns (name, version as `get -v` takes it, context) of every version.
fn historical_table(r: &Remote) -> Vec<(String, String, Vec<&'static str>)> {
    let setup = r.json(&["-t", "legacy", "setup", "--compat", "credstash"], 0);
    let store = setup["store"].as_str().unwrap().to_owned();
    let mut versions = Vec::new();
    let mut add = |name: &str, version: &str, context: Vec<&'static str>| {
        versions.push((name.to_owned(), version.to_owned(), context))
    };
    // hmac as S (what lockbox and old credstash write), as B, in upper case.
    for name in ["hmac/s", "hmac/b", "hmac/upper"] {
        r.put("legacy", name, format!("{CANARY}{name}").as_bytes(), &[]);
        add(name, "1", vec![]);
    }
    let one = "0000000000000000001";
    let mut item = r.item("legacy", "hmac/b", one);
    let hex = item["hmac"]["S"].as_str().unwrap().to_owned();
    use base64::Engine as _;
    item["hmac"] = json!({"B": base64::engine::general_purpose::STANDARD.encode(hex.as_bytes())});
    r.put_raw("legacy", &item);
    let mut item = r.item("legacy", "hmac/upper", one);
    item["hmac"] = json!({"S": hex_upper(&item["hmac"]["S"])});
    r.put_raw("legacy", &item);
    // Each digest, and none.
    for digest in ["SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"] {
        let name = format!("digest/{digest}");
        r.put(
            "legacy",
            &name,
            format!("{CANARY}{digest}").as_bytes(),
            &["-d", digest],
        );
        add(&name, "1", vec![]);
    }
    r.put("legacy", "digest/none", b"CANARY-none", &[]);
    let mut item = r.item("legacy", "digest/none", one);
    item.as_object_mut().unwrap().remove("digest");
    r.put_raw("legacy", &item);
    add("digest/none", "1", vec![]);
    // Unpadded versions 9 and 10 (credstash before December 2015).
    for v in ["9", "10"] {
        r.put(
            "legacy",
            "unpadded",
            format!("{CANARY}v{v}").as_bytes(),
            &["-v", v],
        );
        let padded = format!("{v:0>19}");
        let mut item = r.item("legacy", "unpadded", &padded);
        item["version"] = json!({"S": v});
        r.put_raw("legacy", &item);
        r.delete_raw("legacy", "unpadded", &padded);
        add("unpadded", v, vec![]);
    }
    // A comment, a context-bound item.
    r.put("legacy", "commented", b"CANARY-c", &["-c", "a comment"]);
    add("commented", "1", vec![]);
    r.put("legacy", "bound", b"CANARY-bound", &["env=prod"]);
    add("bound", "1", vec!["env=prod"]);
    // A binary sealed item of the table's own store identity.
    r.ok(&["-t", "sealed-src", "setup", "--store", &store]);
    r.put("sealed-src", "binary", b"\xff\x00CANARY-bin\xfe", &[]);
    let item = r.item("sealed-src", "binary", one);
    r.put_raw("legacy", &item);
    add("binary", "1", vec![]);
    versions
}

fn hex_upper(v: &Value) -> String {
    v.as_str().unwrap().to_uppercase()
}

/// What `lockbox get` prints for every version (the values are compared, not shown).
fn values(r: &Remote, table: &str, versions: &[(String, String, Vec<&str>)]) -> Vec<Vec<u8>> {
    versions
        .iter()
        .map(|(name, version, context)| {
            let mut args = vec![
                "-t",
                table,
                "get",
                name.as_str(),
                "-n",
                "-v",
                version.as_str(),
            ];
            args.extend(context.iter());
            let out = run_with_stdin(&mut r.cmd(&args), b"");
            common::ok(out, &args)
        })
        .collect()
}

#[test]
fn historical_variants_doctor_names_each_migrate_moves_them_and_credstash_still_reads_the_source() {
    let r = Remote::start();
    let versions = historical_table(&r);
    let source_values = values(&r, "legacy", &versions);
    assert!(source_values
        .iter()
        .all(|v| v.starts_with(b"CANARY") || v.starts_with(b"\xff")));

    // doctor names every variant; the credstash table has warnings, no error.
    let report = r.json(&["-t", "legacy", "doctor"], 0);
    let found = codes(&report);
    for code in [
        "hmac-binary",
        "hmac-uppercase",
        "digest-sha",
        "digest-sha224",
        "digest-sha384",
        "digest-sha512",
        "digest-md5",
        "digest-missing",
        "version-unpadded",
        "sealed-item-in-credstash-table",
    ] {
        assert!(found.iter().any(|c| c == code), "{code} not in {found:?}");
    }
    let inv = &report["inventory"];
    assert_eq!(inv["items"], 15);
    assert_eq!(inv["hmac_binary"], 1);
    assert_eq!(inv["hmac_uppercase"], 1);
    assert_eq!(inv["versions_unpadded"], 2);
    assert_eq!(inv["comments"], 1);
    assert_eq!(inv["formats"]["lockbox-sealed-2"], 1);
    assert_eq!(inv["digests"]["(missing)"], 1);
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");
    // --fail-on warning turns the warnings into exit 7; text names them too.
    r.json(&["-t", "legacy", "doctor", "--fail-on", "warning"], 7);
    let text = r.ok(&["-t", "legacy", "doctor"]);
    assert!(
        text.contains("version-unpadded") && text.contains("unpadded@\"9\""),
        "{text}"
    );
    // --verify: the context-bound item is reported as needing its context.
    let verified = r.json(&["-t", "legacy", "doctor", "--verify"], 0);
    let needs: Vec<String> = verified["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "needs-context")
        .flat_map(|f| names_of(&f["items"]))
        .collect();
    assert_eq!(needs, ["bound@0000000000000000001"]);
    assert_eq!(verified["inventory"]["verified"], 14);
    let verified = r.json(&["-t", "legacy", "doctor", "--verify", "env=prod"], 0);
    assert_eq!(verified["inventory"]["verified"], 15);

    // credstash reads the source, before and after.
    let cs_names: Vec<(String, Vec<&str>)> = versions
        .iter()
        .filter(|(n, _, _)| n != "binary")
        .map(|(n, _, c)| (n.clone(), c.clone()))
        .collect();
    let venv = venv();
    let credstash_reads = || -> Vec<Vec<u8>> {
        let Some(venv) = &venv else { return Vec::new() };
        cs_names
            .iter()
            .map(|(name, context)| {
                let mut args = vec!["get", name.as_str()];
                args.extend(context.iter());
                let out = credstash(venv, &r, "legacy", &args);
                assert!(
                    out.status.success(),
                    "credstash get {name}: {}",
                    stderr(&out)
                );
                out.stdout
            })
            .collect()
    };
    let credstash_before = credstash_reads();
    let source_before = r.items("legacy");

    // migrate: every readable version; the context-bound one until its context is given.
    r.ok(&["-t", "sealed", "setup"]);
    let report = r.json(&["-t", "legacy", "migrate", "--to-table", "sealed"], 7);
    assert_eq!(names_of(&report["copied"]).len(), 14, "{report:#}");
    assert_eq!(report["needs_context"][0]["name"], "bound");
    assert_eq!(report["complete"], false);
    let report = r.json(
        &[
            "-t",
            "legacy",
            "migrate",
            "--to-table",
            "sealed",
            "env=prod",
        ],
        0,
    );
    assert_eq!(names_of(&report["copied"]), ["bound@0000000000000000001"]);
    assert_eq!(names_of(&report["unchanged"]).len(), 14);
    let report = r.json(
        &[
            "-t",
            "legacy",
            "migrate",
            "--to-table",
            "sealed",
            "env=prod",
        ],
        0,
    );
    assert!(report["copied"].as_array().unwrap().is_empty());

    // The source is untouched and credstash still reads it.
    assert_eq!(r.items("legacy"), source_before);
    assert_eq!(credstash_reads(), credstash_before);
    // lockbox reads every version of the target, each with its value.
    assert_eq!(values(&r, "sealed", &versions), source_values);
    let target = r.items("sealed");
    assert_eq!(target.len(), 15);
    assert!(target
        .iter()
        .all(|i| i["format"]["S"] == "lockbox-sealed-2"));
    assert!(target
        .iter()
        .any(|i| i["version"]["S"] == "0000000000000000010"));
    assert_eq!(
        r.item("sealed", "commented", "0000000000000000001")["comment"]["S"],
        "a comment"
    );
    // doctor on the target: no error and nothing about any item.
    let report = r.json(&["-t", "sealed", "doctor", "--verify", "env=prod"], 0);
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");
    for f in report["findings"].as_array().unwrap() {
        assert!(f["items"].as_array().unwrap().is_empty(), "{f:#}");
    }
    assert_eq!(report["inventory"]["verified"], 15);
}

#[test]
fn doctor_finds_what_readers_refuse_and_what_the_table_lacks() {
    let r = Remote::start();
    r.ok(&["-t", "sealed", "setup"]);
    r.put("sealed", "good", b"CANARY-good", &[]);
    // A credstash item copied in, a sealed item of another store.
    r.ok(&["-t", "legacy", "setup", "--compat", "credstash"]);
    r.put("legacy", "copied", b"CANARY-copied", &[]);
    r.put_raw("sealed", &r.item("legacy", "copied", "0000000000000000001"));
    r.ok(&["-t", "other", "setup"]);
    r.put("other", "foreign", b"CANARY-foreign", &[]);
    r.put_raw("sealed", &r.item("other", "foreign", "0000000000000000001"));
    // A lockbox-sealed-1 item, sealed with a real data key.
    r.rt.block_on(async {
        let lockbox = r_lockbox(&r.endpoint, "sealed", "alias/credstash", &[]).await;
        let name = lockbox::SecretName::new("old-v1").unwrap();
        let context = lockbox::EncryptionContext::new();
        let metadata = lockbox::envelope::Metadata::default();
        let request = lockbox::envelope::data_key_request(&lockbox::envelope::Sealing {
            format: lockbox::envelope::WriteFormat::SealedV1,
            name: &name,
            version: lockbox::Version::FIRST,
            context: &context,
            store: None,
            metadata: &metadata,
        })
        .unwrap();
        let key = lockbox
            .key_service()
            .generate_data_key(request.bytes(), request.context())
            .await
            .unwrap();
        let item = lockbox::envelope::seal(&request, b"CANARY-v1", &key).unwrap();
        assert!(lockbox.secret_store().put_if_absent(&item).await.unwrap());
    });
    let report = r.json(&["-t", "sealed", "doctor"], 7);
    let found = codes(&report);
    for code in [
        "credstash-item-in-sealed-table",
        "foreign-store",
        "sealed-v1",
    ] {
        assert!(found.iter().any(|c| c == code), "{code} not in {found:?}");
    }
    let text = r.run(&["-t", "sealed", "doctor"], b"");
    assert_eq!(text.status.code(), Some(7));
    assert!(
        stderr(&text).contains("--fail-on error"),
        "{}",
        stderr(&text)
    );

    // A table lockbox did not create records nothing; one with only a mode is partial.
    r.call(
        "DynamoDB_20120810.CreateTable",
        json!({"TableName": "bare", "BillingMode": "PAY_PER_REQUEST",
               "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"},
                             {"AttributeName": "version", "KeyType": "RANGE"}],
               "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"},
                                        {"AttributeName": "version", "AttributeType": "S"}]}),
    );
    let report = r.json(&["-t", "bare", "doctor"], 7);
    assert!(
        codes(&report).contains(&"record-missing".to_owned()),
        "{report:#}"
    );
    let arn = r.call(
        "DynamoDB_20120810.DescribeTable",
        json!({"TableName": "bare"}),
    )["Table"]["TableArn"]
        .clone();
    r.call(
        "DynamoDB_20120810.TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "lockbox:format", "Value": "sealed"}]}),
    );
    let report = r.json(&["-t", "bare", "doctor"], 7);
    assert!(
        codes(&report).contains(&"record-partial".to_owned()),
        "{report:#}"
    );
    r.call(
        "DynamoDB_20120810.TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "lockbox:format", "Value": "Sealed"}]}),
    );
    let report = r.json(&["-t", "bare", "doctor"], 7);
    assert!(
        codes(&report).contains(&"record-unknown-mode".to_owned()),
        "{report:#}"
    );

    // A configured key that is not the pin; a table that does not exist.
    create_key(&r.endpoint, "alias/other");
    let report = r.json(&["-t", "legacy", "-k", "alias/other", "doctor"], 7);
    assert!(
        codes(&report).contains(&"key-pin-mismatch".to_owned()),
        "{report:#}"
    );
    let out = r.run(&["-t", "missing", "doctor"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

const BULK: usize = 300;

#[test]
fn migrate_killed_half_way_finishes_on_a_second_run() {
    let r = Remote::start();
    r.ok(&["-t", "legacy", "setup", "--compat", "credstash"]);
    let values = r.import("legacy", BULK);
    r.ok(&["-t", "sealed", "setup"]);
    r.fault(json!({"target": "dynamodb:PutItem", "latency_ms": 20}));
    let args = [
        "--concurrency",
        "4",
        "-t",
        "legacy",
        "migrate",
        "--to-table",
        "sealed",
    ];
    kill_half_way(&r, &args, || r.fired() >= 30);
    let copied = r.items("sealed").len();
    assert!(
        copied > 0 && copied < BULK,
        "{copied} copied before the kill"
    );
    r.clear_faults();
    let report = r.json(&args, 0);
    let done = names_of(&report["copied"]).len() + names_of(&report["unchanged"]).len();
    assert_eq!(done, BULK);
    assert!(names_of(&report["unchanged"]).len() >= copied);
    // Every version exactly once, each with its value.
    assert_eq!(r.items("sealed").len(), BULK);
    assert_eq!(r.getall(&["-t", "sealed"]), values);
    assert_eq!(r.getall(&["-t", "legacy"]), values);
}

#[test]
fn sync_killed_half_way_finishes_on_a_second_run_and_reports_conflicts() {
    let r = Remote::start();
    r.ok(&["-t", "prod", "setup"]);
    let values = r.import("prod", BULK);
    r.fault(json!({"target": "dynamodb:PutItem", "latency_ms": 20}));
    let args = [
        "--concurrency",
        "4",
        "-t",
        "prod",
        "sync",
        "--to-table",
        "prod-dr",
    ];
    kill_half_way(&r, &args, || r.fired() >= 30);
    r.clear_faults();
    let report = r.json(&args, 0);
    let done = names_of(&report["copied"]).len() + names_of(&report["unchanged"]).len();
    assert_eq!(done, BULK);
    assert_eq!(
        r.items("prod-dr"),
        r.items("prod"),
        "the same items, byte for byte"
    );
    // The copy records the source's identity, so its sealed items open there.
    assert_eq!(r.getall(&["-t", "prod-dr"]), values);
    // A changed item on the target side is a conflict, left alone; exit 7.
    let mut item = r.item("prod-dr", "bulk/0007", "0000000000000000001");
    item["nonce"] = json!({"B": "AAAAAAAAAAAAAAAA"});
    r.put_raw("prod-dr", &item);
    let report = r.json(&["-t", "prod", "sync", "--to-table", "prod-dr"], 7);
    assert_eq!(
        names_of(&report["conflicts"]),
        ["bulk/0007@0000000000000000001"]
    );
    assert_eq!(r.item("prod-dr", "bulk/0007", "0000000000000000001"), item);
}

#[test]
fn rewrap_killed_half_way_finishes_on_a_second_run_and_credstash_still_reads() {
    let r = Remote::start();
    r.ok(&["-t", "legacy", "setup", "--compat", "credstash"]);
    let values = r.import("legacy", BULK);
    let contents_before: Vec<Value> = r
        .items("legacy")
        .into_iter()
        .map(|mut i| {
            i.as_object_mut().unwrap().remove("key");
            i
        })
        .collect();
    create_key(&r.endpoint, "alias/new");
    let (old, new) = (r.key_arn("alias/credstash"), r.key_arn("alias/new"));
    r.fault(json!({"target": "kms:ReEncrypt", "latency_ms": 20}));
    let args = [
        "--concurrency",
        "4",
        "-t",
        "legacy",
        "rewrap",
        "--to-key",
        "alias/new",
    ];
    kill_half_way(&r, &args, || r.fired() >= 30);
    r.clear_faults();
    assert_eq!(r.pin("legacy"), old, "the pin moves only at the end");
    // Readers that trust both keys read every item meanwhile.
    let both = format!("{old},{new}");
    assert_eq!(r.getall(&["-t", "legacy", "--trust-key", &both]), values);
    let out = r.run(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let notice = stderr(&out);
    assert!(notice.contains("Readers must trust both keys"), "{notice}");
    assert_eq!(r.pin("legacy"), new);
    // Only the wrapped keys changed; everything reads under the new key.
    let contents_after: Vec<Value> = r
        .items("legacy")
        .into_iter()
        .map(|mut i| {
            i.as_object_mut().unwrap().remove("key");
            i
        })
        .collect();
    assert_eq!(contents_after, contents_before);
    assert_eq!(r.getall(&["-t", "legacy", "-k", "alias/new"]), values);
    let old_only = r.run(&["-t", "legacy", "get", "bulk/0001"], b"");
    assert_eq!(
        old_only.status.code(),
        Some(5),
        "the old key alone is refused now"
    );
    // A second run moves nothing.
    let report = r.json(
        &[
            "-t",
            "legacy",
            "-k",
            "alias/new",
            "rewrap",
            "--to-key",
            "alias/new",
        ],
        0,
    );
    assert!(report["rewrapped"].as_array().unwrap().is_empty());
    // credstash (Decrypt without a KeyId) reads the rewrapped table.
    if let Some(venv) = venv() {
        let out = credstash(&venv, &r, "legacy", &["getall", "-f", "json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let got: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, values);
    }
}

/// Writers put new versions and readers read all the while a rewrap runs: no
/// read fails, no acknowledged write is lost. Readers trust both keys; writers
/// use the old key until the table's pin moves, then the new one (as an
/// operator switches them).
#[test]
fn rewrap_under_concurrent_puts_and_reads_loses_nothing() {
    let r = Remote::start();
    r.ok(&["-t", "live", "setup"]);
    let values = r.import("live", 100);
    create_key(&r.endpoint, "alias/new");
    let (old, new) = (r.key_arn("alias/credstash"), r.key_arn("alias/new"));
    r.fault(json!({"target": "kms:ReEncrypt", "latency_ms": 5}));
    let written: Arc<Mutex<Vec<(String, u64, String)>>> = Arc::default();
    let reads = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let trust = vec![old.clone(), new.clone()];
    r.rt.block_on(async {
        let rewrap = {
            let lockbox = r_lockbox(&r.endpoint, "live", "alias/credstash", &[]).await;
            let to = r_lockbox(&r.endpoint, "live", "alias/new", &[]).await;
            tokio::spawn(async move {
                let options = lockbox::lifecycle::RunOptions {
                    concurrency: 8,
                    ..Default::default()
                };
                lockbox
                    .rewrap(
                        to.key_service().as_ref(),
                        &lockbox::lifecycle::rewrap::RewrapOptions::new(),
                        &options,
                    )
                    .await
            })
        };
        let mut tasks = Vec::new();
        for w in 0..2 {
            let (r_endpoint, written, done) = (r.endpoint.clone(), written.clone(), done.clone());
            let r = RemoteRef(r_endpoint);
            tasks.push(tokio::spawn(async move {
                let mut key = "alias/credstash";
                let mut i = 0u64;
                while !done.load(Ordering::Relaxed) {
                    // A new writer each time, as CLI writers are: each reads the pin.
                    let writer = r.lockbox("live", key, &[]).await;
                    let name = lockbox::SecretName::new(format!("w/{w}")).unwrap();
                    let value = format!("{CANARY}w{w}-{i}");
                    match writer
                        .put(
                            &name,
                            &value.as_str().into(),
                            &lockbox::PutOptions::default(),
                        )
                        .await
                    {
                        Ok(version) => {
                            written
                                .lock()
                                .unwrap()
                                .push((name.to_string(), version.get(), value))
                        }
                        // The pin moved: the operator switches writers to the new key.
                        Err(e) if e.to_string().contains("pinned") => key = "alias/new",
                        Err(e) => panic!("a write failed: {e}"),
                    }
                    i += 1;
                }
            }));
        }
        for _ in 0..2 {
            let (values, reads, done, trust) =
                (values.clone(), reads.clone(), done.clone(), trust.clone());
            let r = RemoteRef(r.endpoint.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while !done.load(Ordering::Relaxed) {
                    // A new reader now and then: it reads the pin as it is then.
                    let reader = r.lockbox("live", "alias/credstash", &trust).await;
                    for (name, value) in values.iter().skip(n % 90).take(10) {
                        let name = lockbox::SecretName::new(name.as_str()).unwrap();
                        let got = reader
                            .get(&name, &lockbox::EncryptionContext::new())
                            .await
                            .unwrap_or_else(|e| panic!("a read failed during the rewrap: {e}"));
                        assert_eq!(got.value.expose_str().unwrap(), value);
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 10;
                }
            }));
        }
        let report = rewrap.await.unwrap().expect("the rewrap runs through");
        assert!(report.pin_moved, "{report:?}");
        done.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        // Every acknowledged write is there with its value, under either key.
        let reader = r_lockbox(&r.endpoint, "live", "alias/new", &trust).await;
        let written = written.lock().unwrap().clone();
        assert!(!written.is_empty());
        for (name, version, value) in &written {
            let got = reader
                .get_version(
                    &lockbox::SecretName::new(name.as_str()).unwrap(),
                    lockbox::Version::new(*version).unwrap(),
                    &lockbox::EncryptionContext::new(),
                )
                .await
                .unwrap();
            assert_eq!(got.value.expose_str().unwrap(), value);
        }
        assert!(reads.load(Ordering::Relaxed) > 0);
        // Whatever was written under the old key after the last pass moves on
        // the next run (from the old key, which the table no longer names).
        let mut from_old = lockbox::lifecycle::rewrap::RewrapOptions::new();
        from_old.from_keys = vec![old.clone()];
        let again = reader
            .rewrap(
                r_lockbox(&r.endpoint, "live", "alias/new", &[])
                    .await
                    .key_service()
                    .as_ref(),
                &from_old,
                &lockbox::lifecycle::RunOptions::default(),
            )
            .await
            .unwrap();
        assert!(again.is_complete(), "{again:?}");
    });
    // Now every item reads with the new key alone.
    let all = r.getall(&["-t", "live", "-k", "alias/new"]);
    for (name, value) in &values {
        assert_eq!(all.get(name), Some(value));
    }
}

/// An endpoint, for tasks that build their own lockboxes.
struct RemoteRef(String);

impl RemoteRef {
    async fn lockbox(&self, table: &str, key: &str, trust: &[String]) -> lockbox::Lockbox {
        r_lockbox(&self.0, table, key, trust).await
    }
}

async fn r_lockbox(endpoint: &str, table: &str, key: &str, trust: &[String]) -> lockbox::Lockbox {
    let options = lockbox::AwsOptions {
        table: table.into(),
        kms_key: key.into(),
        trusted_keys: trust.to_vec(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        credentials: Some(aws_sdk_kms::config::Credentials::new(
            "AKIDLOCKBOXTEST",
            "test-secret",
            None,
            None,
            "test",
        )),
        ..lockbox::AwsOptions::default()
    };
    lockbox::Lockbox::from_env(&options)
        .await
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let r = Remote::start();
    r.ok(&["-t", "legacy", "setup", "--compat", "credstash"]);
    r.put("legacy", "a", b"CANARY-a", &[]);
    r.ok(&["-t", "other-legacy", "setup", "--compat", "credstash"]);
    let before = r.items("legacy");
    let refused = |args: &[&str], code: i32, says: &str| {
        let out = r.run(args, b"");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    };
    // A target that is the source.
    refused(
        &["-t", "legacy", "migrate", "--to-table", "legacy"],
        2,
        "source table",
    );
    refused(
        &["-t", "legacy", "sync", "--to-table", "legacy"],
        2,
        "source table",
    );
    // A target in credstash mode for migrate.
    refused(
        &["-t", "legacy", "migrate", "--to-table", "other-legacy"],
        2,
        "credstash mode",
    );
    // Tables that do not exist.
    refused(
        &["-t", "legacy", "migrate", "--to-table", "nowhere"],
        3,
        "does not exist",
    );
    refused(
        &["-t", "nowhere", "migrate", "--to-table", "legacy"],
        3,
        "does not exist",
    );
    refused(
        &["-t", "nowhere", "rewrap", "--to-key", "alias/credstash"],
        3,
        "does not exist",
    );
    refused(
        &["-t", "nowhere", "sync", "--to-table", "elsewhere"],
        3,
        "does not exist",
    );
    // Keys that cannot encrypt: a disabled key, a key that does not exist.
    create_key(&r.endpoint, "alias/off");
    let off = r.key_arn("alias/off");
    r.call("TrentService.DisableKey", json!({"KeyId": off}));
    refused(
        &["-t", "legacy", "rewrap", "--to-key", "alias/off"],
        4,
        "alias/off",
    );
    refused(
        &["-t", "legacy", "rewrap", "--to-key", "alias/none"],
        4,
        "alias/none",
    );
    r.ok(&["-t", "sealed-off", "-k", "alias/off", "setup"]);
    refused(
        &["-t", "legacy", "migrate", "--to-table", "sealed-off"],
        4,
        "cannot be used",
    );
    // A region with no replica of the key.
    refused(
        &[
            "-t",
            "legacy",
            "sync",
            "--to-table",
            "far",
            "--to-region",
            "eu-west-1",
        ],
        4,
        "--copy-anyway",
    );
    // Contexts files that are not what they should be.
    let bad = r.home.path().join("bad.json");
    std::fs::write(&bad, r#"{"a": "not an object"}"#).unwrap();
    refused(
        &[
            "-t",
            "legacy",
            "migrate",
            "--to-table",
            "sealed-off",
            "--contexts",
            &bad.display().to_string(),
        ],
        2,
        "bad.json",
    );
    // Nothing was written anywhere.
    assert_eq!(r.items("legacy"), before);
    for table in ["other-legacy", "sealed-off"] {
        assert!(r.items(table).is_empty(), "{table}");
    }
    let tables = r.call("DynamoDB_20120810.ListTables", json!({}));
    let tables: Vec<&str> = tables["TableNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        !tables.contains(&"far") && !tables.contains(&"elsewhere"),
        "{tables:?}"
    );
    // With --copy-anyway, the copy is made (read with this region's KMS).
    let report = r.json(
        &[
            "-t",
            "legacy",
            "sync",
            "--to-table",
            "far",
            "--to-region",
            "eu-west-1",
            "--copy-anyway",
        ],
        0,
    );
    assert_eq!(report["created_target"], true);
    assert_eq!(names_of(&report["copied"]).len(), 1);
}
