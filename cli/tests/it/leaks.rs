//! The leak suite (issue "Security proof"). One random canary is driven through
//! every command, every error class and a forced panic at the most verbose level
//! (`LOCKBOX_LOG=trace`, `RUST_BACKTRACE=full`, `exec -vv`). The canary, and every
//! data key that ever wrapped it (unwrapped here with KMS `Decrypt` on the stored
//! items, which only the test can do), are searched raw, in hex, in base64 at
//! every alignment and as Rust's `Debug` of bytes in: each run's stdout and
//! stderr, the emulator's audit log (strict mode) and every file of its data
//! directories. The canary may appear only on the stdout of the commands whose
//! purpose is to print it (`get`, `getall`, `export`, and `exec`'s child), and it
//! must appear there.
//!
//! Also here: `put` with the value in argv warns without echoing it; `exec`
//! children get none of lockbox's configuration in either process model; every
//! command is non-dumpable with a zero core limit, and a SIGSEGV or SIGABRT
//! leaves no core (with a control showing this machine does write cores). And
//! JSON fields, `--env-json`, labels and staged rotations: a value inside a
//! JSON document shows only where a read prints it, and every failing field
//! starts nothing.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::{create_key, http, remote, run_with_stdin, stderr, wait_for, Reaped};

/// The secret's name in most scenarios.
const NAME: &str = "app/canary";

/// A fresh canary: a fixed marker and 16 random bytes in hex. Letters and digits
/// only, so every map format prints it verbatim and a search for it is exact.
fn new_canary() -> String {
    format!("LbxCanary{}Zq", hex(&rand::random::<[u8; 16]>()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Needles: every form in which a secret could be written out.
#[derive(Default)]
struct Needles(Vec<(String, Vec<u8>)>);

impl Needles {
    fn add(&mut self, what: &str, secret: &[u8]) {
        let mut add = |form: &str, bytes: Vec<u8>| self.0.push((format!("{what} ({form})"), bytes));
        add("raw", secret.to_vec());
        add("hex", hex(secret).into_bytes());
        add("HEX", hex(secret).to_uppercase().into_bytes());
        // Inside a longer base64 text the secret starts at any offset mod 3: the
        // whole groups from the next boundary appear verbatim.
        for (alphabet, engine) in [
            ("base64", &STANDARD_NO_PAD),
            ("base64url", &URL_SAFE_NO_PAD),
        ] {
            for skip in 0..3 {
                let rest = &secret[skip..];
                let whole = &rest[..rest.len() / 3 * 3];
                add(
                    &format!("{alphabet} at offset {skip}"),
                    engine.encode(whole).into_bytes(),
                );
            }
        }
        // `Debug` of a byte slice or array, and of `bytes::Bytes` (escaped text).
        let list = format!("{secret:?}");
        add("Debug of [u8]", list.as_bytes()[1..list.len() - 1].to_vec());
        let mut escaped = String::new();
        for &b in secret {
            match b {
                b'\n' => escaped.push_str("\\n"),
                b'\r' => escaped.push_str("\\r"),
                b'\t' => escaped.push_str("\\t"),
                b'\\' | b'"' => {
                    escaped.push('\\');
                    escaped.push(b as char);
                }
                b'\0' => escaped.push_str("\\0"),
                0x20..=0x7e => escaped.push(b as char),
                _ => escaped.push_str(&format!("\\x{b:02x}")),
            }
        }
        add("Debug of Bytes", escaped.into_bytes());
    }

    /// The first needle found in `hay` (one pass, candidates by their first two
    /// bytes: trace-level stderr is megabytes).
    fn find(&self, hay: &[u8]) -> Option<&str> {
        let mut index = vec![Vec::new(); 1 << 16];
        for (i, (_, n)) in self.0.iter().enumerate() {
            assert!(n.len() >= 2);
            index[usize::from(n[0]) << 8 | usize::from(n[1])].push(i);
        }
        for (at, pair) in hay.windows(2).enumerate() {
            for &i in &index[usize::from(pair[0]) << 8 | usize::from(pair[1])] {
                let (what, n) = &self.0[i];
                if hay[at..].starts_with(n) {
                    return Some(what);
                }
            }
        }
        None
    }
}

/// The canary's needles: its forms, and its random part alone (a truncated or
/// re-framed copy).
fn canary_needles(canary: &str) -> Needles {
    let mut n = Needles::default();
    n.add("the canary", canary.as_bytes());
    let random = &canary["LbxCanary".len()..canary.len() - 2];
    n.0.push((
        "the canary's random part".into(),
        random.as_bytes().to_vec(),
    ));
    n
}

/// Where the canary may appear in one run's output.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Canary {
    /// Nowhere.
    Never,
    /// On stdout (the command prints it), and it must be there; never on stderr.
    OnStdout,
}

/// One lockbox run, kept for the final search.
struct Run {
    label: String,
    out: Output,
    canary: Canary,
}

/// Every run of a scenario, checked as it goes (exit codes) and at the end (leaks).
#[derive(Default)]
struct Record(Vec<Run>);

impl Record {
    /// Runs `c` at the most verbose level with `stdin`; asserts exit `code`.
    fn run(&mut self, label: &str, mut c: Command, stdin: &[u8], code: i32, canary: Canary) {
        c.env("LOCKBOX_LOG", "trace").env("RUST_BACKTRACE", "full");
        let out = run_with_stdin(&mut c, stdin);
        if out.status.code() != Some(code) {
            let err = stderr(&out);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "{label}: exit {:?}, expected {code}; stderr ends:\n{}",
                out.status,
                tail.join("\n")
            );
        }
        self.0.push(Run {
            label: label.to_owned(),
            out,
            canary,
        });
    }

    fn last(&self) -> &Output {
        &self.0.last().expect("a run").out
    }

    /// Asserts that no run shows a secret where it must not, and that those that
    /// print the canary do.
    fn check(&self, canary: &str, secrets: &Needles) {
        let mut problems = Vec::new();
        for r in &self.0 {
            if let Some(what) = secrets.find(&r.out.stderr) {
                problems.push(format!("{}: {what} on stderr", r.label));
            }
            match r.canary {
                Canary::Never => {
                    if let Some(what) = secrets.find(&r.out.stdout) {
                        problems.push(format!("{}: {what} on stdout", r.label));
                    }
                }
                Canary::OnStdout => {
                    let stdout = String::from_utf8_lossy(&r.out.stdout);
                    if !stdout.contains(canary) {
                        problems.push(format!("{}: the canary is missing from stdout", r.label));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "leaks:\n{}", problems.join("\n"));
    }

    /// Asserts no data key in any stdout (stderr is covered by `check`).
    fn check_stdout(&self, keys: &Needles) {
        for r in &self.0 {
            if let Some(what) = keys.find(&r.out.stdout) {
                panic!("{}: {what} on stdout", r.label);
            }
        }
    }
}

/// Asserts that no file under `dir` contains a needle.
fn check_files(dir: &Path, needles: &Needles) -> usize {
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                if let Some(what) = needles.find(&bytes) {
                    panic!("{what} in {}", path.display());
                }
                files += 1;
            }
        }
    }
    files
}

/// An unsigned AWS call to an open-mode emulator; asserts 200, returns the JSON.
fn call(endpoint: &str, target: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, text) = http(endpoint, "/", Some(target), &body.to_string());
    assert_eq!(status, 200, "{target}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

fn fault(endpoint: &str, rule: serde_json::Value) {
    let (status, body) = http(endpoint, "/_mock/faults", None, &rule.to_string());
    assert_eq!(status, 201, "{body}");
}

fn clear_faults(endpoint: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "DELETE /_mock/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    std::io::Read::read_to_string(&mut s, &mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 2"), "{resp}");
}

/// Every item of `table` (following pages).
fn scan(endpoint: &str, table: &str) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut start: Option<serde_json::Value> = None;
    loop {
        let mut body = serde_json::json!({"TableName": table});
        if let Some(k) = start.take() {
            body["ExclusiveStartKey"] = k;
        }
        let (status, text) = http(
            endpoint,
            "/",
            Some("DynamoDB_20120810.Scan"),
            &body.to_string(),
        );
        if status == 400 && text.contains("ResourceNotFoundException") {
            return items; // not created yet
        }
        assert_eq!(status, 200, "Scan {table}: {text}");
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        items.extend(page["Items"].as_array().expect("Items").iter().cloned());
        match page.get("LastEvaluatedKey") {
            Some(k) if !k.is_null() => start = Some(k.clone()),
            _ => return items,
        }
    }
}

/// The plaintext data key of every item of `table` in an open-mode emulator,
/// unwrapped with KMS Decrypt under the item's KMS encryption context (`user`
/// plus, for the sealed format, the reserved binding pairs). Items that no longer
/// decrypt (tampered on purpose) are skipped.
fn data_keys(endpoint: &str, table: &str, user: &[(&str, &str)]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    for item in scan(endpoint, table) {
        let mut context: BTreeMap<String, String> = user
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let blob = if let Some(b) = item["key"]["B"].as_str() {
            // Sealed: the key is binary (base64 in DynamoDB's JSON).
            let name = item["name"]["S"].as_str().unwrap();
            let version: u64 = item["version"]["S"].as_str().unwrap().parse().unwrap();
            let format = item["format"]["S"].as_str().expect("a format id");
            context.insert("lockbox-format".into(), format.into());
            context.insert("lockbox-name".into(), name.into());
            context.insert("lockbox-version".into(), version.to_string());
            if let Some(store) = item["store"]["S"].as_str() {
                context.insert("lockbox-store".into(), store.into());
            }
            b.to_owned()
        } else {
            // credstash: the key is a base64 string of the blob.
            item["key"]["S"]
                .as_str()
                .expect("a key attribute")
                .to_owned()
        };
        let (status, body) = http(
            endpoint,
            "/",
            Some("TrentService.Decrypt"),
            &serde_json::json!({"CiphertextBlob": blob, "EncryptionContext": context}).to_string(),
        );
        if status != 200 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let key = STANDARD
            .decode(v["Plaintext"].as_str().expect("Plaintext"))
            .unwrap();
        assert!(key.len() == 32 || key.len() == 64, "{}", key.len());
        if key.len() == 64 {
            // credstash: an AES key and an HMAC key, used apart.
            keys.push(key[..32].to_vec());
            keys.push(key[32..].to_vec());
        }
        keys.push(key);
    }
    keys
}

/// Tampers with the stored item `name` version 1 of `table` through `edit`.
fn tamper(endpoint: &str, table: &str, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let key = serde_json::json!({
        "TableName": table,
        "Key": {"name": {"S": name}, "version": {"S": "0000000000000000001"}}
    });
    let mut got = call(endpoint, "DynamoDB_20120810.GetItem", key);
    let mut item = got["Item"].take();
    edit(&mut item);
    call(
        endpoint,
        "DynamoDB_20120810.PutItem",
        serde_json::json!({"TableName": table, "Item": item}),
    );
}

/// Flips one bit of binary attribute `attr`.
fn flip(item: &mut serde_json::Value, attr: &str) {
    let mut bytes = STANDARD.decode(item[attr]["B"].as_str().unwrap()).unwrap();
    bytes[0] ^= 1;
    item[attr]["B"] = serde_json::json!(STANDARD.encode(bytes));
}

fn key_id(endpoint: &str, alias: &str) -> String {
    let v = call(
        endpoint,
        "TrentService.DescribeKey",
        serde_json::json!({"KeyId": alias}),
    );
    v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
}

/// A directory on tmpfs, for `exec --file`.
fn shm_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lockbox-leaks")
        .tempdir_in("/dev/shm")
        .expect("a tempdir in /dev/shm")
}

const FORMATS: [&str; 5] = ["json", "yaml", "csv", "dotenv", "env"];

/// Every command, in the open-mode emulator: the commands that print the canary
/// do, and nothing else shows it or a data key.
fn every_command(rec: &mut Record, home: &Path, ep: &str, canary: &str) {
    use Canary::{Never, OnStdout};
    let c = |args: &[&str]| remote(home, ep, args);
    let v = canary.as_bytes();
    rec.run("setup", c(&["setup"]), b"", 0, Never);
    rec.run("setup again", c(&["setup"]), b"", 0, Never);
    rec.run("put from stdin", c(&["put", NAME, "-"]), v, 0, Never);
    let file = home.join("value");
    std::fs::write(&file, v).unwrap();
    let at_file = format!("@{}", file.display());
    rec.run(
        "put from a file",
        c(&["put", NAME, &at_file]),
        b"",
        0,
        Never,
    );
    rec.run(
        "put with a comment",
        c(&["put", NAME, "-", "-c", "a comment"]),
        v,
        0,
        Never,
    );
    // credstash's format lives in a credstash-mode table: a sealed one refuses it.
    rec.run(
        "setup a credstash table",
        c(&["-t", "legacy", "setup", "--compat", "credstash"]),
        b"",
        0,
        Never,
    );
    rec.run(
        "put in credstash's format",
        c(&["-t", "legacy", "put", "app/legacy", "-", "-d", "SHA256"]),
        v,
        0,
        Never,
    );
    rec.run(
        "put -o json",
        c(&["-o", "json", "put", "app/json", "-"]),
        v,
        0,
        Never,
    );
    for (label, args) in [
        ("get", vec!["get", NAME]),
        ("get -n", vec!["get", NAME, "-n"]),
        ("get -v 1", vec!["get", NAME, "-v", "1"]),
        (
            "get a credstash item",
            vec!["-t", "legacy", "get", "app/legacy"],
        ),
        (
            "getall of a credstash table",
            vec!["-t", "legacy", "getall"],
        ),
        ("get -o json", vec!["-o", "json", "get", NAME]),
    ] {
        rec.run(label, c(&args), b"", 0, OnStdout);
    }
    for f in FORMATS {
        rec.run(
            &format!("get 'app/*' -f {f}"),
            c(&["get", "app/*", "-f", f]),
            b"",
            0,
            OnStdout,
        );
        rec.run(
            &format!("getall -f {f}"),
            c(&["getall", "-f", f]),
            b"",
            0,
            OnStdout,
        );
        rec.run(
            &format!("get-all -f {f}"),
            c(&["get-all", "-f", f]),
            b"",
            0,
            OnStdout,
        );
        rec.run(
            &format!("export -f {f}"),
            c(&["export", "-f", f]),
            b"",
            0,
            OnStdout,
        );
    }
    for (label, args) in [
        ("list", vec!["list"]),
        ("list -o json", vec!["-o", "json", "list"]),
        ("keys", vec!["keys"]),
        ("keys -o json", vec!["-o", "json", "keys"]),
        ("history", vec!["history", NAME]),
        ("history -o json", vec!["-o", "json", "history", NAME]),
    ] {
        rec.run(label, c(&args), b"", 0, Never);
    }

    // import: what export wrote (unchanged), and new names from each format.
    let export = home.join("export.json");
    std::fs::write(
        &export,
        &rec.0
            .iter()
            .rev()
            .find(|r| r.label == "export -f json")
            .unwrap()
            .out
            .stdout,
    )
    .unwrap();
    let export_arg = export.display().to_string();
    rec.run(
        "import unchanged",
        c(&["import", &export_arg]),
        b"",
        0,
        Never,
    );
    let yaml = home.join("new.yaml");
    std::fs::write(&yaml, format!("app/from-yaml: {canary}\n")).unwrap();
    let csv = home.join("new.csv");
    std::fs::write(&csv, format!("app/from-csv,{canary}\n")).unwrap();
    rec.run(
        "import yaml",
        c(&["import", yaml.to_str().unwrap()]),
        b"",
        0,
        Never,
    );
    rec.run(
        "import csv -o json",
        c(&["-o", "json", "import", csv.to_str().unwrap()]),
        b"",
        0,
        Never,
    );
    rec.run(
        "import - (json)",
        c(&["import", "-", "-c", "imported"]),
        format!("{{\"app/from-stdin\": \"{canary}\"}}").as_bytes(),
        0,
        Never,
    );

    rec.run(
        "rollback",
        c(&["rollback", NAME, "--to", "1"]),
        b"",
        0,
        Never,
    );
    rec.run(
        "rollback -o json",
        c(&["-o", "json", "rollback", NAME, "--to", "2"]),
        b"",
        0,
        Never,
    );
    rec.run("prune", c(&["prune", NAME, "--keep", "3"]), b"", 0, Never);
    rec.run("put doomed", c(&["put", "app/doomed", "-"]), v, 0, Never);
    rec.run(
        "put doomed again",
        c(&["put", "app/doomed", "-"]),
        v,
        0,
        Never,
    );
    rec.run(
        "delete one version",
        c(&["delete", "app/doomed", "-v", "1", "-y"]),
        b"",
        0,
        Never,
    );
    rec.run(
        "delete -o json",
        c(&["-o", "json", "delete", "app/doomed", "-y"]),
        b"",
        0,
        Never,
    );

    // exec in each process model and declaration form; the child prints $C or the file.
    let print_c = ["--", "/bin/sh", "-c", "printf %s \"$C\""];
    let mut args = vec!["exec", "-vv", "--env", "C=app/canary"];
    args.extend(print_c);
    rec.run("exec --env (execve)", c(&args), b"", 0, OnStdout);
    let mut args = vec!["exec", "-vv", "--env", "C=app/canary@3", "--pristine"];
    args.extend(print_c);
    rec.run("exec --env NAME@3 --pristine", c(&args), b"", 0, OnStdout);
    let mut args = vec!["exec", "-vv", "--prefix", "app/"];
    args.extend(["--", "/usr/bin/env"]);
    rec.run("exec --prefix", c(&args), b"", 0, OnStdout);
    let mut cmd = c(&[
        "exec",
        "-vv",
        "--env-ref",
        "C",
        "--",
        "/bin/sh",
        "-c",
        "printf %s \"$C\"",
    ]);
    cmd.env("C", "lockbox://app/canary");
    rec.run("exec lockbox:// reference", cmd, b"", 0, OnStdout);
    let manifest = home.join("lockbox.toml");
    std::fs::write(&manifest, "[env]\nC = \"app/canary\"\n").unwrap();
    let mut args = vec!["exec", "-vv", "--manifest", manifest.to_str().unwrap()];
    args.extend(print_c);
    rec.run("exec --manifest", c(&args), b"", 0, OnStdout);
    let shm = shm_dir();
    let path = shm.path().join("c");
    let decl = format!("{}=app/canary", path.display());
    let p = path.display().to_string();
    rec.run(
        "exec --file (supervisor)",
        c(&["exec", "-vv", "--file", &decl, "--", "/bin/cat", &p]),
        b"",
        0,
        OnStdout,
    );
    rec.run(
        "exec --watch (supervisor, re-checks)",
        c(&[
            "exec",
            "-vv",
            "--watch",
            "100ms",
            "--env",
            "C=app/canary",
            "--file",
            &decl,
            "--",
            "/bin/sh",
            "-c",
            "sleep 0.6; printf %s \"$C\"",
        ]),
        b"",
        0,
        OnStdout,
    );
    assert!(
        stderr(rec.last()).contains("fetching"),
        "-vv shows re-checks: {}",
        stderr(rec.last())
    );
    rec.run(
        "exec --watch --on-change signal",
        c(&[
            "exec",
            "-vv",
            "--watch",
            "100ms",
            "--on-change",
            "signal:SIGHUP",
            "--file",
            &decl,
            "--",
            "/bin/sh",
            "-c",
            "trap '' HUP; sleep 0.4; cat \"$0\"",
            &p,
        ]),
        b"",
        0,
        OnStdout,
    );

    // The table lifecycle: reports, copies and key moves print no value.
    rec.run("doctor --verify", c(&["doctor", "--verify"]), b"", 0, Never);
    rec.run(
        "doctor --verify -o json",
        c(&["-o", "json", "doctor", "--verify"]),
        b"",
        0,
        Never,
    );
    rec.run(
        "doctor --verify (credstash table)",
        c(&["-t", "legacy", "doctor", "--verify"]),
        b"",
        0,
        Never,
    );
    rec.run(
        "setup a migration target",
        c(&["-t", "leak-sealed", "setup"]),
        b"",
        0,
        Never,
    );
    for (label, json) in [("migrate", false), ("migrate again -o json", true)] {
        let mut args = vec!["-t", "legacy", "migrate", "--to-table", "leak-sealed"];
        if json {
            args.splice(0..0, ["-o", "json"]);
        }
        rec.run(label, c(&args), b"", 0, Never);
    }
    rec.run("sync", c(&["sync", "--to-table", "leak-dr"]), b"", 0, Never);
    rec.run(
        "sync again -o json",
        c(&["-o", "json", "sync", "--to-table", "leak-dr"]),
        b"",
        0,
        Never,
    );
    create_key(ep, "alias/leak-new");
    rec.run(
        "rewrap",
        c(&["-t", "leak-dr", "rewrap", "--to-key", "alias/leak-new"]),
        b"",
        0,
        Never,
    );
    rec.run(
        "rewrap again -o json",
        c(&[
            "-o",
            "json",
            "-t",
            "leak-dr",
            "-k",
            "alias/leak-new",
            "rewrap",
            "--to-key",
            "alias/leak-new",
        ]),
        b"",
        0,
        Never,
    );

    // Commands without AWS, for completeness.
    rec.run(
        "policy reader",
        c(&["policy", "reader", "app/*"]),
        b"",
        0,
        Never,
    );
    rec.run("completions", c(&["completions", "bash"]), b"", 0, Never);
    rec.run("man", c(&["man"]), b"", 0, Never);
}

/// Every error class the SDK defines, with the canary in play: the value being
/// stored, or the item being read, holds it. All but `Contention`, which takes
/// 1,000 lost conditional writes with backoff (about a minute) to provoke; its
/// message holds only the name and that count.
fn every_error_class(rec: &mut Record, home: &Path, ep: &str, canary: &str) {
    use Canary::Never;
    let c = |args: &[&str]| remote(home, ep, args);
    let v = canary.as_bytes();
    let mut binary = v.to_vec();
    binary.push(0xff);

    // NotFound (3): a version that does not exist; a missing secret beside the canary.
    rec.run("NotFound", c(&["get", NAME, "-v", "99"]), b"", 3, Never);
    rec.run(
        "NotFound in exec",
        c(&[
            "exec",
            "-vv",
            "--env",
            "C=app/canary",
            "--env",
            "M=app/missing",
            "--",
            "/bin/true",
        ]),
        b"",
        3,
        Never,
    );
    // VersionExists (1).
    rec.run(
        "VersionExists",
        c(&["put", NAME, "-", "-v", "5"]),
        v,
        1,
        Never,
    );
    // AccessDenied (4), from KMS after the item was read.
    fault(
        ep,
        serde_json::json!({"target": "kms:Decrypt", "error": "AccessDeniedException", "count": 2}),
    );
    rec.run("AccessDenied (get)", c(&["get", NAME]), b"", 4, Never);
    rec.run(
        "AccessDenied (exec)",
        c(&["exec", "-vv", "--env", "C=app/canary", "--", "/bin/true"]),
        b"",
        4,
        Never,
    );
    // NoCredentials (4), with the value read from stdin.
    let mut none = common::bare(home);
    none.env("AWS_REGION", "us-east-1")
        .args(["--endpoint-url", ep, "put", NAME, "-"]);
    rec.run("NoCredentials (put)", none, v, 4, Never);
    // ContextMismatch (5): another table, the canary stored with a context.
    rec.run("setup ctx", c(&["-t", "ctx", "setup"]), b"", 0, Never);
    rec.run(
        "put with context",
        c(&["-t", "ctx", "put", NAME, "-", "env=prod"]),
        v,
        0,
        Never,
    );
    rec.run(
        "ContextMismatch (wrong)",
        c(&["-t", "ctx", "get", NAME, "env=dev"]),
        b"",
        5,
        Never,
    );
    rec.run(
        "ContextMismatch (missing)",
        c(&["-t", "ctx", "getall"]),
        b"",
        5,
        Never,
    );
    // Integrity (5): the data key unwraps, then GCM or the commitment refuses.
    for (name, attr) in [
        ("app/t-contents", "contents"),
        ("app/t-commit", "commitment"),
    ] {
        rec.run(
            &format!("put {name}"),
            c(&["-t", "ctx", "put", name, "-"]),
            v,
            0,
            Never,
        );
        tamper(ep, "ctx", name, |item| flip(item, attr));
        rec.run(
            &format!("Integrity ({attr})"),
            c(&["-t", "ctx", "get", name]),
            b"",
            5,
            Never,
        );
    }
    // UnsupportedFormat (5).
    rec.run(
        "put app/t-format",
        c(&["-t", "ctx", "put", "app/t-format", "-"]),
        v,
        0,
        Never,
    );
    tamper(ep, "ctx", "app/t-format", |item| {
        item["format"] = serde_json::json!({"S": "lockbox-sealed-9"});
    });
    rec.run(
        "UnsupportedFormat",
        c(&["-t", "ctx", "get", "app/t-format"]),
        b"",
        5,
        Never,
    );
    // UntrustedKey (5): read trusting another key.
    rec.run(
        "UntrustedKey",
        c(&["-k", "alias/other", "get", NAME]),
        b"",
        5,
        Never,
    );
    // KeyUnavailable (4): writing under a disabled key.
    rec.run(
        "KeyUnavailable",
        c(&["-k", "alias/disabled", "put", NAME, "-"]),
        v,
        4,
        Never,
    );
    // TableNotFound (3).
    rec.run(
        "TableNotFound (put)",
        c(&["-t", "missing", "put", NAME, "-"]),
        v,
        3,
        Never,
    );
    rec.run(
        "TableNotFound (get)",
        c(&["-t", "missing", "get", NAME]),
        b"",
        3,
        Never,
    );
    // Timeout (6): KMS stalls past exec's deadline.
    fault(
        ep,
        serde_json::json!({"target": "kms:Decrypt", "latency_ms": 3000}),
    );
    rec.run(
        "Timeout",
        c(&[
            "exec",
            "-vv",
            "--deadline",
            "300ms",
            "--env",
            "C=app/canary",
            "--",
            "/bin/true",
        ]),
        b"",
        6,
        Never,
    );
    clear_faults(ep);
    // Throttled and unavailable (6) spend the SDK's retry budget: see
    // `transient_errors`, run beside this in parallel.
    // Backend (1): any other AWS error.
    fault(
        ep,
        serde_json::json!({"target": "dynamodb:PutItem", "error": "ValidationException", "count": 1}),
    );
    rec.run("Backend (other)", c(&["put", NAME, "-"]), v, 1, Never);
    // Usage errors (2) with the canary as the value.
    rec.run("InvalidName", c(&["put", "bad*name", "-"]), v, 2, Never);
    rec.run(
        "InvalidVersion",
        c(&["put", NAME, "-", "-v", "0"]),
        v,
        2,
        Never,
    );
    rec.run(
        "InvalidContext",
        c(&["put", NAME, "-", "no-pair"]),
        v,
        2,
        Never,
    );
    rec.run(
        "InvalidValue (binary in credstash's format)",
        c(&["-t", "legacy", "put", "app/bin", "-", "-d", "SHA256"]),
        &binary,
        2,
        Never,
    );
    rec.run("setup bin", c(&["-t", "bin", "setup"]), b"", 0, Never);
    rec.run(
        "put binary",
        c(&["-t", "bin", "put", "app/bin", "-"]),
        &binary,
        0,
        Never,
    );
    rec.run(
        "put beside binary",
        c(&["-t", "bin", "put", "app/a.b", "-"]),
        v,
        0,
        Never,
    );
    rec.run(
        "put a colliding name",
        c(&["-t", "bin", "put", "app/a-b", "-"]),
        v,
        0,
        Never,
    );
    rec.run(
        "binary value in a map",
        c(&["-t", "bin", "export"]),
        b"",
        2,
        Never,
    );
    rec.run(
        "binary value in get -o json",
        c(&["-t", "bin", "-o", "json", "get", "app/bin"]),
        b"",
        2,
        Never,
    );
    rec.run(
        "dotenv collision",
        c(&["-t", "bin", "get", "app/a*", "-f", "dotenv"]),
        b"",
        2,
        Never,
    );
    // import: a file that is not a map, and a map with an unusable name.
    rec.run(
        "import of a JSON string",
        c(&["import", "-", "-f", "json"]),
        format!("\"{canary}\"").as_bytes(),
        2,
        Never,
    );
    rec.run(
        "import of a YAML scalar",
        c(&["import", "-", "-f", "yaml"]),
        v,
        2,
        Never,
    );
    rec.run(
        "import of a CSV row too long",
        c(&["import", "-", "-f", "csv"]),
        format!("app/x,{canary},{canary}\n").as_bytes(),
        2,
        Never,
    );
    rec.run(
        "import of a bad name",
        c(&["import", "-", "-f", "json"]),
        format!("{{\"bad*\": \"{canary}\", \"app/ok\": \"{canary}\"}}").as_bytes(),
        2,
        Never,
    );
    rec.run(
        "import of a nested value",
        c(&["import", "-", "-f", "json"]),
        format!("{{\"app/n\": [\"{canary}\"]}}").as_bytes(),
        2,
        Never,
    );
    // clap's own errors, the value in argv beside a bad flag.
    rec.run(
        "clap error",
        c(&["put", NAME, canary, "--no-such-flag"]),
        b"",
        2,
        Never,
    );
}

/// The error classes that exhaust the SDK's retry budget (about 10 s each), each
/// against its own in-memory emulator, in parallel: Throttled (6), unavailable
/// (a 5xx, 6), answers lost on the way (6). Returns the runs and the data keys.
fn transient_errors(canary: &str) -> (Vec<Run>, Vec<Vec<u8>>) {
    let cases = [
        (
            "Throttled",
            serde_json::json!({"target": "kms:Decrypt", "error": "ThrottlingException"}),
            vec!["get", NAME],
        ),
        (
            "Backend (5xx)",
            serde_json::json!({"target": "kms:Decrypt", "error": "KMSInternalException"}),
            vec!["getall"],
        ),
        (
            "Backend (dropped answers)",
            serde_json::json!({"target": "kms:GenerateDataKey", "drop_response": true}),
            vec!["put", NAME, "-"],
        ),
    ];
    std::thread::scope(|scope| {
        let threads: Vec<_> = cases
            .into_iter()
            .map(|(label, rule, args)| {
                scope.spawn(move || {
                    let rt = tokio::runtime::Runtime::new().unwrap();
                    let home = tempfile::tempdir().unwrap();
                    let mock = rt.block_on(lockbox_mock::start()).unwrap();
                    let ep = mock.endpoint_url();
                    create_key(&ep, "alias/credstash");
                    let c = |args: &[&str]| remote(home.path(), &ep, args);
                    let mut rec = Record::default();
                    rec.run("setup", c(&["setup"]), b"", 0, Canary::Never);
                    rec.run(
                        "put",
                        c(&["put", NAME, "-"]),
                        canary.as_bytes(),
                        0,
                        Canary::Never,
                    );
                    fault(&ep, rule);
                    rec.run(label, c(&args), canary.as_bytes(), 6, Canary::Never);
                    clear_faults(&ep);
                    let keys = data_keys(&ep, "credential-store", &[]);
                    rt.block_on(mock.shutdown());
                    (rec.0, keys)
                })
            })
            .collect();
        let (mut runs, mut keys) = (Vec::new(), Vec::new());
        for t in threads {
            let (r, k) = t.join().expect("a transient-error case");
            runs.extend(r);
            keys.extend(k);
        }
        (runs, keys)
    })
}

/// Strict mode with an audit log: the admin drives the canary through, a reader
/// denied `kms:Decrypt` and a caller with a wrong secret are refused (exit 4).
fn strict_mode(rec: &mut Record, home: &Path, ep: &str, canary: &str) {
    use Canary::{Never, OnStdout};
    let c = |args: &[&str]| remote(home, ep, args);
    let v = canary.as_bytes();
    rec.run("strict put", c(&["put", NAME, "-"]), v, 0, Never);
    rec.run("strict get", c(&["get", NAME]), b"", 0, OnStdout);
    rec.run(
        "strict getall",
        c(&["getall", "-f", "env"]),
        b"",
        0,
        OnStdout,
    );
    rec.run(
        "strict exec",
        c(&[
            "exec",
            "-vv",
            "--env",
            "C=app/canary",
            "--",
            "/bin/sh",
            "-c",
            "printf %s \"$C\"",
        ]),
        b"",
        0,
        OnStdout,
    );
    rec.run(
        "strict import",
        c(&["import", "-", "-f", "json"]),
        format!("{{\"app/strict\": \"{canary}\"}}").as_bytes(),
        0,
        Never,
    );
    let as_user = |akid: &str, secret: &str, args: &[&str]| {
        let mut cmd = c(args);
        cmd.env("AWS_ACCESS_KEY_ID", akid)
            .env("AWS_SECRET_ACCESS_KEY", secret);
        cmd
    };
    rec.run(
        "AccessDenied (strict, denied kms:Decrypt)",
        as_user("AKIANODECRYPT", "nodecrypt-secret", &["get", NAME]),
        b"",
        4,
        Never,
    );
    assert!(
        stderr(rec.last()).contains("kms:Decrypt"),
        "{}",
        stderr(rec.last())
    );
    rec.run(
        "strict put by a writer that cannot decrypt",
        as_user("AKIANODECRYPT", "nodecrypt-secret", &["put", NAME, "-"]),
        v,
        0,
        Never,
    );
    rec.run(
        "AccessDenied (strict, wrong signature)",
        as_user("AKIDLOCKBOXTEST", "wrong-secret", &["put", NAME, "-"]),
        v,
        4,
        Never,
    );
}

/// Starts the emulator on `data` (open mode, or strict with `iam` and `audit`).
fn start(
    rt: &tokio::runtime::Runtime,
    data: &Path,
    strict: Option<(&serde_json::Value, &Path)>,
) -> lockbox_mock::RunningMock {
    let mut config = lockbox_mock::Config::builder().data_dir(data);
    if let Some((iam, audit)) = strict {
        config = config.iam_json(iam.to_string()).audit_log(audit);
    }
    rt.block_on(lockbox_mock::start_with(config))
        .expect("start the emulator")
}

/// Every data key in the tables this suite writes.
fn all_data_keys(ep: &str, keys: &mut BTreeSet<Vec<u8>>) {
    for (table, user) in [
        ("credential-store", &[][..]),
        ("legacy", &[][..]),
        ("ctx", &[][..]),
        ("ctx", &[("env", "prod")][..]),
        ("bin", &[][..]),
    ] {
        keys.extend(data_keys(ep, table, user));
    }
}

#[test]
fn a_canary_and_its_data_keys_appear_only_where_a_command_prints_the_value() {
    let canary = new_canary();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let audit = home.path().join("audit.log");
    let mut rec = Record::default();
    let mut keys = BTreeSet::new();
    let transient = std::thread::spawn({
        let canary = canary.clone();
        move || transient_errors(&canary)
    });

    // Open mode: every command and error class.
    let open = start(&rt, data.path(), None);
    let ep = open.endpoint_url();
    for alias in ["alias/credstash", "alias/other", "alias/disabled"] {
        create_key(&ep, alias);
    }
    let disabled = key_id(&ep, "alias/disabled");
    call(
        &ep,
        "TrentService.DisableKey",
        serde_json::json!({"KeyId": disabled}),
    );
    every_command(&mut rec, home.path(), &ep, &canary);
    all_data_keys(&ep, &mut keys);
    every_error_class(&mut rec, home.path(), &ep, &canary);
    all_data_keys(&ep, &mut keys);
    rt.block_on(open.shutdown());

    // Strict mode on the same state, with an audit log.
    let iam = serde_json::json!({"users": [
        {"name": "admin", "access_key_id": "AKIDLOCKBOXTEST", "secret_access_key": "test-secret",
         "policies": [{"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]},
        {"name": "nodecrypt", "access_key_id": "AKIANODECRYPT", "secret_access_key": "nodecrypt-secret",
         "policies": [{"Version": "2012-10-17", "Statement": [
             {"Effect": "Allow", "Action": ["dynamodb:*", "kms:GenerateDataKey", "kms:DescribeKey"], "Resource": "*"},
             {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}]}
    ]});
    let strict = start(&rt, data.path(), Some((&iam, &audit)));
    strict_mode(&mut rec, home.path(), &strict.endpoint_url(), &canary);
    rt.block_on(strict.shutdown());

    // Open again, only to unwrap the data keys the strict phase made.
    let open = start(&rt, data.path(), None);
    all_data_keys(&open.endpoint_url(), &mut keys);
    rt.block_on(open.shutdown());
    let (runs, more) = transient.join().expect("transient errors");
    rec.0.extend(runs);
    keys.extend(more);
    assert!(keys.len() >= 20, "only {} data keys unwrapped", keys.len());

    let mut secrets = canary_needles(&canary);
    let mut key_needles = Needles::default();
    for (i, k) in keys.iter().enumerate() {
        secrets.add(&format!("data key {i}"), k);
        key_needles.add(&format!("data key {i}"), k);
    }
    rec.check(&canary, &secrets);
    rec.check_stdout(&key_needles);

    let log = std::fs::read_to_string(&audit).expect("the audit log");
    assert!(
        log.contains("\"kms:Decrypt\"") && log.contains("\"deny\""),
        "the audit log records the decisions: {log}"
    );
    if let Some(what) = secrets.find(log.as_bytes()) {
        panic!("{what} in the emulator's audit log");
    }
    let files = check_files(data.path(), &secrets);
    assert!(files > 0);
    eprintln!(
        "{} runs, {} data keys, {} audit lines, {files} data files: no leak",
        rec.0.len(),
        keys.len(),
        log.lines().count()
    );
}

#[test]
fn the_needle_search_finds_every_form_of_a_secret() {
    let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let mut needles = Needles::default();
    needles.add("key", &key);
    let hay = |text: String| format!("x={text}; ").into_bytes();
    assert!(needles.find(&hay(hex(&key))).is_some());
    assert!(needles.find(&hay(hex(&key).to_uppercase())).is_some());
    assert!(needles.find(&hay(format!("{key:?}"))).is_some());
    for prefix in 0..3 {
        let mut framed = vec![7u8; prefix];
        framed.extend_from_slice(&key);
        framed.extend_from_slice(b"tail");
        assert!(
            needles.find(&hay(STANDARD.encode(&framed))).is_some(),
            "{prefix}"
        );
        assert!(
            needles
                .find(&hay(URL_SAFE_NO_PAD.encode(&framed)))
                .is_some(),
            "{prefix}"
        );
    }
    let mut raw = b"before".to_vec();
    raw.extend_from_slice(&key);
    assert!(needles.find(&raw).is_some());
    assert!(needles.find(&hay(hex(&key[1..]))).is_none());
    let canary = new_canary();
    let c = canary_needles(&canary);
    assert_eq!(
        c.find(&canary.as_bytes()[3..]),
        Some("the canary's random part")
    );
}

/// An in-memory emulator with `alias/credstash`, a table and the canary as NAME.
struct Emulator {
    rt: tokio::runtime::Runtime,
    mock: Option<lockbox_mock::RunningMock>,
    endpoint: String,
    home: tempfile::TempDir,
}

impl Emulator {
    fn start(canary: &str) -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mock = rt.block_on(lockbox_mock::start()).unwrap();
        let endpoint = mock.endpoint_url();
        create_key(&endpoint, "alias/credstash");
        let e = Self {
            rt,
            mock: Some(mock),
            endpoint,
            home: tempfile::tempdir().unwrap(),
        };
        let mut rec = Record::default();
        rec.run("setup", e.cmd(&["setup"]), b"", 0, Canary::Never);
        rec.run(
            "put",
            e.cmd(&["put", NAME, "-"]),
            canary.as_bytes(),
            0,
            Canary::Never,
        );
        e
    }

    fn cmd(&self, args: &[&str]) -> Command {
        remote(self.home.path(), &self.endpoint, args)
    }

    /// The canary's and its data keys' needles.
    fn needles(&self, canary: &str) -> Needles {
        let mut n = canary_needles(canary);
        for (i, k) in data_keys(&self.endpoint, "credential-store", &[])
            .iter()
            .enumerate()
        {
            n.add(&format!("data key {i}"), k);
        }
        n
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(m) = self.mock.take() {
            self.rt.block_on(m.shutdown());
        }
    }
}

#[test]
fn a_forced_panic_with_a_secret_in_memory_prints_neither_it_nor_its_data_key() {
    let canary = new_canary();
    let e = Emulator::start(&canary);
    let mut rec = Record::default();
    for (point, args, stdin) in [
        ("after-fetch", vec!["get", NAME], &b""[..]),
        ("after-fetch", vec!["-o", "json", "get", NAME], &b""[..]),
        ("after-read", vec!["put", NAME, "-"], canary.as_bytes()),
    ] {
        let mut c = e.cmd(&args);
        c.env("LOCKBOX_TEST_PANIC", point);
        // Rust's panic status.
        rec.run(
            &format!("panic {point} {args:?}"),
            c,
            stdin,
            101,
            Canary::Never,
        );
        let err = stderr(rec.last());
        assert!(
            err.contains("lockbox: internal error (a bug) at cli/src/main.rs:")
                && err.contains("message withheld"),
            "{err}"
        );
        // The backtrace is there (RUST_BACKTRACE=full), naming the hook's caller.
        assert!(err.contains("test_panic_point"), "{err}");
        assert!(!err.contains("forced panic"), "the payload is not printed");
        assert!(rec.last().stdout.is_empty());
    }
    rec.check(&canary, &e.needles(&canary));
    // The put that panicked stored nothing.
    let out = run_with_stdin(&mut e.cmd(&["history", NAME]), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn put_with_the_value_in_argv_warns_without_echoing_it() {
    let canary = new_canary();
    let e = Emulator::start(&canary);
    let mut rec = Record::default();
    for args in [
        vec!["put", "app/argv", &canary],
        vec!["-o", "json", "put", "app/argv", &canary],
    ] {
        rec.run("put VALUE", e.cmd(&args), b"", 0, Canary::Never);
        let err = stderr(rec.last());
        assert!(
            err.contains(
                "lockbox: warning: a value given as an argument is visible in shell history"
            ),
            "{err}"
        );
    }
    // Values from stdin and files are not warned about.
    rec.run(
        "put -",
        e.cmd(&["put", "app/stdin", "-"]),
        canary.as_bytes(),
        0,
        Canary::Never,
    );
    assert!(!stderr(rec.last()).contains("warning"));
    rec.run(
        "get",
        e.cmd(&["get", "app/argv", "-n"]),
        b"",
        0,
        Canary::OnStdout,
    );
    assert_eq!(rec.last().stdout, canary.as_bytes());
    rec.check(&canary, &e.needles(&canary));
}

#[test]
fn exec_children_inherit_none_of_lockbox_configuration_in_any_process_model() {
    let canary = new_canary();
    let e = Emulator::start(&canary);
    let shm = shm_dir();
    let decl = format!("{}=app/canary", shm.path().join("c").display());
    let config = [
        ("LOCKBOX_TABLE", "credential-store"),
        ("LOCKBOX_KMS_KEY", "alias/credstash"),
        ("LOCKBOX_LOG", "trace"),
        ("LOCKBOX_LOCAL", "0"),
        ("LOCKBOX_TEST_PANIC", "not-a-point"),
        ("CREDSTASH_DEFAULT_TABLE", "credential-store"),
        ("REF", "lockbox://app/canary"),
        ("NOT_NAMED", "lockbox://app/canary"),
    ];
    for (model, extra) in [
        ("execve", vec!["--env-ref", "REF"]),
        (
            "supervisor (--file)",
            vec!["--env-ref", "REF", "--file", decl.as_str()],
        ),
        (
            "supervisor (--watch)",
            vec!["--env-ref", "REF", "--watch", "1h"],
        ),
        ("execve --pristine", vec!["--pristine"]),
    ] {
        let mut args = vec!["exec", "-vv", "--env", "C=app/canary"];
        args.extend(&extra);
        args.extend(["--", "/usr/bin/env"]);
        let mut c = e.cmd(&args);
        c.envs(config).env("KEEP_ME", "yes");
        let out = run_with_stdin(&mut c, b"");
        assert!(out.status.success(), "{model}: {}", stderr(&out));
        let env: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            env.get("C").map(String::as_str),
            Some(canary.as_str()),
            "{model}"
        );
        let pristine = extra.contains(&"--pristine");
        // A reference in a variable named by --env-ref is a declaration: resolved.
        // Any other (and every one under --pristine) is neither resolved nor
        // passed on.
        assert_eq!(
            env.get("REF").map(String::as_str),
            (!pristine).then_some(canary.as_str()),
            "{model}"
        );
        assert!(!env.contains_key("NOT_NAMED"), "{model}");
        let leaked: Vec<_> = env
            .iter()
            .filter(|(k, v)| {
                k.starts_with("LOCKBOX_")
                    || k.starts_with("CREDSTASH_")
                    || v.starts_with("lockbox://")
            })
            .collect();
        assert!(leaked.is_empty(), "{model}: {leaked:?}");
        // AWS credentials are the app's too (a task role) and pass, except --pristine.
        assert_eq!(env.contains_key("KEEP_ME"), !pristine, "{model}");
        assert_eq!(env.contains_key("AWS_ACCESS_KEY_ID"), !pristine, "{model}");
        if pristine {
            let names: BTreeSet<&str> = env.keys().map(String::as_str).collect();
            assert_eq!(names, BTreeSet::from(["C", "HOME"]), "{model}");
        }
        // LOCKBOX_LOG=trace was lockbox's: its stderr has the trace lines.
        assert!(stderr(&out).contains("TRACE"), "{model}");
    }
}

#[test]
fn the_embedded_emulator_at_trace_level_shows_no_canary_or_data_key() {
    let canary = new_canary();
    let local = common::Local::new();
    let mut rec = Record::default();
    let v = canary.as_bytes();
    rec.run(
        "local put",
        local.cmd(&["put", NAME, "-"]),
        v,
        0,
        Canary::Never,
    );
    rec.run(
        "local setup of a credstash table",
        local.cmd(&["-t", "legacy", "setup", "--compat", "credstash"]),
        b"",
        0,
        Canary::Never,
    );
    rec.run(
        "local put -d",
        local.cmd(&["-t", "legacy", "put", "app/legacy", "-", "-d", "SHA"]),
        v,
        0,
        Canary::Never,
    );
    rec.run(
        "local get",
        local.cmd(&["get", NAME]),
        b"",
        0,
        Canary::OnStdout,
    );
    rec.run(
        "local getall",
        local.cmd(&["getall", "-f", "env"]),
        b"",
        0,
        Canary::OnStdout,
    );
    rec.run("local list", local.cmd(&["list"]), b"", 0, Canary::Never);
    rec.run(
        "local exec",
        local.cmd(&[
            "exec",
            "-vv",
            "--env",
            "C=app/canary",
            "--",
            "/bin/sh",
            "-c",
            "printf %s \"$C\"",
        ]),
        b"",
        0,
        Canary::OnStdout,
    );
    rec.run(
        "local context mismatch",
        local.cmd(&["get", NAME, "a=b"]),
        b"",
        5,
        Canary::Never,
    );
    // The state directory served again, only to unwrap the data keys.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = start(&rt, &local.state(), None);
    let mut keys = data_keys(&mock.endpoint_url(), "credential-store", &[]);
    keys.extend(data_keys(&mock.endpoint_url(), "legacy", &[]));
    rt.block_on(mock.shutdown());
    assert_eq!(
        keys.len(),
        4,
        "one sealed key, one credstash key and its halves"
    );
    let mut needles = canary_needles(&canary);
    for (i, k) in keys.iter().enumerate() {
        needles.add(&format!("data key {i}"), k);
    }
    rec.check(&canary, &needles);
    assert!(check_files(&local.state(), &needles) > 0);
}

/// `sh` running `program args` with the soft core limit raised as far as the
/// hard limit allows, in `dir`.
fn with_cores(dir: &Path, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("/bin/sh");
    c.args([
        "-c",
        "ulimit -c unlimited 2>/dev/null || ulimit -c \"$(ulimit -H -c)\"; exec \"$@\"",
        "sh",
        program,
    ])
    .args(args)
    .current_dir(dir)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    c
}

/// "Max core file size" soft and hard limits of `pid`, as /proc shows them.
fn core_limits(pid: u32) -> Option<(String, String)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))?;
    let mut f = line["Max core file size".len()..].split_whitespace();
    Some((f.next()?.to_owned(), f.next()?.to_owned()))
}

/// Sends `signal` until the process dies, and reaps it. More than once for
/// SIGSEGV: Rust's runtime catches the first one to tell a stack overflow apart,
/// finds no fault, restores the default action and returns, so a SIGSEGV sent
/// with kill() takes effect the second time.
fn kill_with(
    child: &mut std::process::Child,
    signal: rustix::process::Signal,
) -> std::process::ExitStatus {
    let pid = rustix::process::Pid::from_child(child);
    for _ in 0..5 {
        rustix::process::kill_process(pid, signal).unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
        while std::time::Instant::now() < until {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    panic!("{signal:?} did not end the process");
}

fn core_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("core"))
        .collect()
}

#[test]
fn no_command_holding_a_secret_leaves_a_core_dump() {
    use rustix::process::Signal;
    use std::os::unix::process::ExitStatusExt as _;

    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let suid = std::fs::read_to_string("/proc/sys/fs/suid_dumpable").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();

    // Control: an ordinary process with the same limit raising does dump here.
    let mut control = Reaped(with_cores(dir.path(), "sleep", &["30"]).spawn().unwrap());
    let pid = control.0.id();
    wait_for(10, "the control runs sleep", || {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
    });
    let control_limit = core_limits(pid).unwrap();
    let status = kill_with(&mut control.0, Signal::SEGV);
    assert_eq!(status.signal(), Some(Signal::SEGV.as_raw()));
    let cores_possible = status.core_dumped();
    if cores_possible {
        eprintln!(
            "control: sleep dumped core (limit {control_limit:?}, core_pattern {:?}); \
             the no-core assertions below are meaningful",
            pattern.trim()
        );
        if !pattern.starts_with('|') && !pattern.contains('/') {
            assert!(
                !core_files(dir.path()).is_empty(),
                "the control's core file"
            );
        }
    } else {
        eprintln!(
            "NOTE: this system does not write core dumps even for an ordinary process \
             (limit {control_limit:?}, core_pattern {:?}): the no-core assertions below hold \
             trivially here; the limits asserted from /proc still hold",
            pattern.trim()
        );
    }
    for f in core_files(dir.path()) {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }

    // lockbox put, blocked reading a value from stdin (no AWS call is made yet).
    let canary = new_canary();
    for signal in [Signal::SEGV, Signal::ABORT] {
        let mut c = with_cores(
            dir.path(),
            common::BIN,
            &["--endpoint-url", "http://127.0.0.1:9", "put", NAME, "-"],
        );
        c.env_clear()
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::piped());
        let mut child = Reaped(c.spawn().unwrap());
        let pid = child.0.id();
        let mut stdin = child.0.stdin.take().unwrap();
        stdin.write_all(canary.as_bytes()).unwrap();
        // harden() has run when the limits read 0, and it runs before stdin is read.
        wait_for(10, "lockbox lowers its core limit", || {
            core_limits(pid) == Some(("0".into(), "0".into()))
        });
        wait_for(10, "lockbox has read the value", || {
            match std::fs::read_to_string(format!("/proc/{pid}/io")) {
                Ok(io) => io
                    .lines()
                    .find_map(|l| l.strip_prefix("rchar: "))
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .is_some_and(|n| n >= canary.len()),
                // Not root: a non-dumpable process's /proc/PID/io is closed to us.
                Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
            }
        });
        if !rustix::process::geteuid().is_root() {
            let environ = std::fs::read(format!("/proc/{pid}/environ"));
            assert!(
                environ.is_err(),
                "a non-dumpable process's environ is closed"
            );
        }
        let status = kill_with(&mut child.0, signal);
        drop(stdin);
        assert_eq!(status.signal(), Some(signal.as_raw()), "{status:?}");
        assert!(
            !status.core_dumped(),
            "lockbox put dumped core on {signal:?}"
        );
        assert!(core_files(dir.path()).is_empty());
    }

    // exec as a supervisor with --allow-core-dumps: its core limit stays raised,
    // so only its non-dumpable flag can stop the dump.
    let e = Emulator::start(&canary);
    let shm = shm_dir();
    let file = shm.path().join("c");
    let decl = format!("{}=app/canary", file.display());
    let mut c = with_cores(
        dir.path(),
        common::BIN,
        &[
            "--endpoint-url",
            &e.endpoint,
            "exec",
            "--allow-core-dumps",
            "--file",
            &decl,
            "--",
            "sleep",
            "30",
        ],
    );
    c.env_clear()
        .env("HOME", dir.path())
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1");
    let mut child = Reaped(c.spawn().unwrap());
    let pid = child.0.id();
    wait_for(10, "the secret's file is written", || file.exists());
    let limit = core_limits(pid).unwrap();
    assert_ne!(limit.0, "0", "--allow-core-dumps keeps the limit");
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let status = kill_with(&mut child.0, Signal::SEGV);
    for grandchild in children.split_whitespace() {
        let pid = rustix::process::Pid::from_raw(grandchild.parse().unwrap()).unwrap();
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
    assert_eq!(status.signal(), Some(Signal::SEGV.as_raw()));
    let suid_dumps = suid.trim() == "2" && (pattern.starts_with('|') || pattern.starts_with('/'));
    if suid_dumps {
        eprintln!(
            "NOTE: suid_dumpable=2 with an absolute core_pattern dumps non-dumpable processes too"
        );
    } else {
        assert!(
            !status.core_dumped(),
            "the non-dumpable supervisor dumped core"
        );
    }
    assert!(core_files(dir.path()).is_empty());
}

#[test]
fn put_all_and_the_log_file_never_show_a_value_or_its_data_key() {
    let canary = new_canary();
    let e = Emulator::start(&canary);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("lockbox.log");
    let log = log.to_str().unwrap();
    let mut rec = Record::default();
    let json = serde_json::json!({ "app/putall": canary }).to_string();
    rec.run(
        "putall -",
        e.cmd(&["--log-level", "NOTSET", "--log-file", log, "putall", "-"]),
        json.as_bytes(),
        0,
        Canary::Never,
    );
    // The JSON in argv: warned about, never echoed, even when it cannot be stored.
    let bad = serde_json::json!({ "app/putall": canary, "n": 5 }).to_string();
    rec.run(
        "putall bad",
        e.cmd(&["putall", &bad]),
        b"",
        2,
        Canary::Never,
    );
    assert!(stderr(rec.last()).contains("visible in shell history"));
    let twice = serde_json::json!({ "app/putall2": canary }).to_string();
    rec.run(
        "putall -v",
        e.cmd(&["--log-file", log, "putall", "-v", "1", &twice]),
        b"",
        0,
        Canary::Never,
    );
    rec.run(
        "putall -v again",
        e.cmd(&["--log-file", log, "-o", "json", "putall", "-v", "1", &twice]),
        b"",
        1,
        Canary::Never,
    );
    rec.run(
        "get",
        e.cmd(&[
            "--log-level",
            "NOTSET",
            "--log-file",
            log,
            "get",
            "app/putall",
        ]),
        b"",
        0,
        Canary::OnStdout,
    );
    rec.check(&canary, &e.needles(&canary));
    let log_text = std::fs::read_to_string(log).unwrap();
    assert!(log_text.contains("TRACE"), "the log holds the diagnostics");
    assert_eq!(check_files(logs.path(), &e.needles(&canary)), 1);
}

/// JSON fields, fan-out, labels and staged rotations at trace level: the canary,
/// stored inside JSON documents, in a value that is not JSON and in a binary
/// one, appears only on the stdout of reads that print it. Every failing field
/// (missing, `null`, not JSON, binary, not an object, a fan-out collision)
/// starts nothing (a marker file proves it) and names the secret and pointer,
/// never the value.
#[test]
fn json_fields_labels_and_rotations_show_a_value_only_where_it_is_printed() {
    use Canary::{Never, OnStdout};
    let canary = new_canary();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let open = start(&rt, data.path(), None);
    let ep = open.endpoint_url();
    create_key(&ep, "alias/credstash");
    let h = home.path();
    let c = |args: &[&str]| remote(h, &ep, args);
    let mut rec = Record::default();
    let doc =
        format!(r#"{{"user":"app","password":"{canary}","nested":{{"k":"{canary}"}},"n":null}}"#);
    let next = format!(r#"{{"user":"app","password":"{canary}-2"}}"#);
    let mut binary = canary.as_bytes().to_vec();
    binary.push(0xff);
    rec.run("setup", c(&["setup"]), b"", 0, Never);
    rec.run(
        "put --json",
        c(&["put", "db", "-", "--json"]),
        doc.as_bytes(),
        0,
        Never,
    );
    rec.run(
        "put text",
        c(&["put", "text", "-"]),
        canary.as_bytes(),
        0,
        Never,
    );
    rec.run("put binary", c(&["put", "bin", "-"]), &binary, 0, Never);
    let broken = format!("{{\"a\": {canary}");
    rec.run(
        "put --json of a value that is not JSON",
        c(&["put", "text", "-", "--json"]),
        broken.as_bytes(),
        2,
        Never,
    );
    rec.run(
        "rotate start --json of a value that is not JSON",
        c(&["rotate", "start", "db", "-", "--json"]),
        broken.as_bytes(),
        2,
        Never,
    );

    // Reads whose purpose is to print the field.
    for (label, args) in [
        ("get a field", vec!["get", "lockbox://db#/password"]),
        ("get --field", vec!["get", "db", "--field", "/password"]),
        (
            "get -o json a field",
            vec!["-o", "json", "get", "db", "--field", "/nested/k"],
        ),
        (
            "get @current a field",
            vec!["get", "lockbox://db@current#/password"],
        ),
    ] {
        rec.run(label, c(&args), b"", 0, OnStdout);
    }
    let marker = h.join("started");
    let print = |var: &str| format!("touch {}; printf %s \"${var}\"", marker.display());
    let script = print("X");
    rec.run(
        "exec --env a field",
        c(&[
            "exec",
            "--env",
            "X=db#/password",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ]),
        b"",
        0,
        OnStdout,
    );
    let script = print("P_K");
    rec.run(
        "exec --env-json",
        c(&[
            "exec",
            "--env-json",
            "P_=db#/nested",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ]),
        b"",
        0,
        OnStdout,
    );
    std::fs::remove_file(&marker).unwrap();

    // Failures: exit 3 like a missing secret (2 for a collision), nothing started.
    for (label, args, code) in [
        (
            "get a missing field",
            vec!["get", "db", "--field", "/nope"],
            3,
        ),
        ("get a null field", vec!["get", "lockbox://db#/n"], 3),
        (
            "get into a string",
            vec!["get", "lockbox://db#/password/x"],
            3,
        ),
        (
            "get a field of text",
            vec!["get", "text", "--field", "/a"],
            3,
        ),
        (
            "get a field of binary",
            vec!["get", "bin", "--field", "/a"],
            3,
        ),
        (
            "-o json get a missing field",
            vec!["-o", "json", "get", "db", "--field", "/nope"],
            3,
        ),
    ] {
        rec.run(label, c(&args), b"", code, Never);
    }
    let script = print("X");
    for (label, decls, code) in [
        ("exec a missing field", vec!["--env", "X=db#/nope"], 3),
        ("exec a field of text", vec!["--env", "X=text#/a"], 3),
        ("exec a field of binary", vec!["--env", "X=bin#/a"], 3),
        ("exec a null field", vec!["--env", "X=db#/n"], 3),
        (
            "exec --env-json with a null member",
            vec!["--env-json", "P_=db"],
            3,
        ),
        ("exec --env-json of text", vec!["--env-json", "P_=text"], 3),
        (
            "exec --env-json of a string",
            vec!["--env-json", "P_=db#/password"],
            3,
        ),
        (
            "exec --env-json colliding with --env",
            vec!["--env-json", "=db#/nested", "--env", "K=text"],
            2,
        ),
    ] {
        let mut args = vec!["exec"];
        args.extend_from_slice(&decls);
        args.extend_from_slice(&["--", "/bin/sh", "-c", &script]);
        rec.run(label, c(&args), b"", code, Never);
        assert!(!marker.exists(), "{label} started the command");
    }

    // Labels and a staged rotation: nothing prints a value but the reads.
    rec.run(
        "rotate start",
        c(&["rotate", "start", "db", "-", "--token", "t1"]),
        next.as_bytes(),
        0,
        Never,
    );
    rec.run(
        "rotate start again",
        c(&["-o", "json", "rotate", "start", "db", "-", "--token", "t1"]),
        next.as_bytes(),
        0,
        Never,
    );
    rec.run(
        "get pending",
        c(&["get", "lockbox://db@pending#/password"]),
        b"",
        0,
        OnStdout,
    );
    for (label, args, code) in [
        ("label", vec!["label", "db"], 0),
        ("-o json label", vec!["-o", "json", "label", "db"], 0),
        ("label pending", vec!["label", "db", "pending"], 0),
        ("history", vec!["-o", "json", "history", "db"], 0),
        ("list", vec!["list"], 0),
        ("rotate finish", vec!["rotate", "finish", "db"], 0),
        (
            "rotate finish again",
            vec!["-o", "json", "rotate", "finish", "db"],
            0,
        ),
        ("label stable", vec!["label", "db", "stable=1"], 0),
        (
            "label conflict",
            vec!["label", "db", "stable=2", "--from", "2"],
            8,
        ),
        ("rollback", vec!["-o", "json", "rollback", "db"], 0),
        (
            "rotate abort of nothing",
            vec!["rotate", "abort", "db", "--token", "t9"],
            8,
        ),
    ] {
        rec.run(label, c(&args), b"", code, Never);
    }
    rt.block_on(open.shutdown());
    let needles = canary_needles(&canary);
    rec.check(&canary, &needles);
    assert!(check_files(data.path(), &needles) > 0);
}
