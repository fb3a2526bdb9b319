//! Clock skew beyond AWS's 15 minutes, end to end from the `lockbox` binary in
//! strict mode: a server clock 20 minutes off costs one refused attempt per AWS
//! client (the SDK measures the skew from the answer's `Date` header and retries in
//! step), and a refusal that correction cannot fix ends at once with exit 4 and a
//! hint to check this machine's clock — never an endless retry.
//!
//! The skew is the emulator's (`clock_skew_s` fault), not the CLI's: SigV4 and the
//! SDK's correction only see the difference between the two clocks.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{http, populated_state, remote, run_with_stdin, stderr};
use serde_json::{json, Value};

/// Strict mode over `data` with one user allowed everything, auditing to `audit`.
fn strict(rt: &tokio::runtime::Runtime, data: &Path, audit: &Path) -> lockbox_mock::RunningMock {
    let iam = json!({"users": [{
        "name": "admin", "access_key_id": "AKIAADMIN", "secret_access_key": "admin-secret",
        "policies": [{"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
    }]});
    rt.block_on(lockbox_mock::start_with(
        lockbox_mock::Config::builder()
            .data_dir(data)
            .iam_json(iam.to_string())
            .audit_log(audit),
    ))
    .expect("start the emulator in strict mode")
}

fn as_admin(home: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut c = remote(home, endpoint, args);
    c.env("AWS_ACCESS_KEY_ID", "AKIAADMIN")
        .env("AWS_SECRET_ACCESS_KEY", "admin-secret");
    run_with_stdin(&mut c, b"")
}

/// Audit lines written since `from`: per action, the outcomes in order.
fn outcomes(audit: &Path, from: usize) -> (usize, BTreeMap<String, Vec<String>>) {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect();
    let mut by_action: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in &lines[from.min(lines.len())..] {
        let outcome = match l["error"].as_str() {
            Some(code) => code.to_owned(),
            None => l["decision"].as_str().unwrap_or("-").to_owned(),
        };
        by_action
            .entry(l["action"].as_str().unwrap_or("-").to_owned())
            .or_default()
            .push(outcome);
    }
    (lines.len(), by_action)
}

fn fault(endpoint: &str, rule: Value) {
    let (status, body) = http(endpoint, "/_mock/faults", None, &rule.to_string());
    assert_eq!(status, 201, "{body}");
}

fn clear_faults(endpoint: &str) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
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
fn fired(endpoint: &str) -> u64 {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
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

#[test]
fn a_server_clock_twenty_minutes_off_costs_one_refused_attempt_per_client() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let audit = home.path().join("audit.log");
    populated_state(&rt, data.path(), home.path(), &["app/db"]);
    let mock = strict(&rt, data.path(), &audit);
    let endpoint = mock.endpoint_url();

    for skew in [1200, -1200] {
        clear_faults(&endpoint);
        fault(&endpoint, json!({"target": "*", "clock_skew_s": skew}));
        let (from, _) = outcomes(&audit, 0);

        // get: DynamoDB Query and DescribeTable (the table's record) at once, then
        // ListTagsOfResource and KMS Decrypt — each request sent before its client
        // learned the skew is refused once; none sent after.
        let out = as_admin(home.path(), &endpoint, &["get", "app/db"]);
        assert!(out.status.success(), "skew {skew}: {}", stderr(&out));
        assert_eq!(out.stdout, b"app/db\n");
        let (from_list, seen) = outcomes(&audit, from);
        let refused_then_allowed = vec!["InvalidSignatureException".to_owned(), "allow".to_owned()];
        assert_eq!(
            seen,
            BTreeMap::from([
                (
                    "dynamodb:DescribeTable".to_owned(),
                    refused_then_allowed.clone()
                ),
                (
                    "dynamodb:ListTagsOfResource".to_owned(),
                    vec!["allow".to_owned()]
                ),
                ("dynamodb:Query".to_owned(), refused_then_allowed.clone()),
                ("kms:Decrypt".to_owned(), refused_then_allowed.clone()),
            ]),
            "skew {skew}"
        );

        // list: a parallel scan of sixteen segments and the table's record
        // (DescribeTable, then ListTagsOfResource: does the table keep labels in
        // a companion table?) sent at once, each refused once (sent before the
        // client learned the skew), then every call in step.
        let out = as_admin(home.path(), &endpoint, &["list"]);
        assert!(out.status.success(), "skew {skew}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("app/db"));
        let (_, seen) = outcomes(&audit, from_list);
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            [
                "dynamodb:DescribeTable",
                "dynamodb:ListTagsOfResource",
                "dynamodb:Scan"
            ],
            "skew {skew}"
        );
        assert_eq!(
            seen["dynamodb:DescribeTable"], refused_then_allowed,
            "skew {skew}"
        );
        assert_eq!(
            seen["dynamodb:ListTagsOfResource"],
            ["allow"],
            "skew {skew}"
        );
        let mut scans = seen["dynamodb:Scan"].clone();
        scans.sort();
        let segments = 16;
        let expected: Vec<String> = std::iter::repeat_n(refused_then_allowed[0].clone(), segments)
            .chain(std::iter::repeat_n(
                refused_then_allowed[1].clone(),
                segments,
            ))
            .collect();
        assert_eq!(scans.len(), 2 * segments, "skew {skew}: {scans:?}");
        assert_eq!(scans, expected, "skew {skew}");
    }
    rt.block_on(mock.shutdown());
}

#[test]
fn a_signing_time_refusal_correction_cannot_fix_ends_at_once_with_a_clock_hint() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let audit = home.path().join("audit.log");
    populated_state(&rt, data.path(), home.path(), &["app/db"]);
    let mock = strict(&rt, data.path(), &audit);
    let endpoint = mock.endpoint_url();

    // The server refuses the signing time on every call, yet its Date header is
    // true: the SDK measures no skew, so nothing it could retry would differ.
    fault(
        &endpoint,
        json!({"target": "dynamodb:*", "error": "InvalidSignatureException",
               "message": "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"}),
    );
    let out = as_admin(home.path(), &endpoint, &["get", "app/db"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("InvalidSignatureException"), "{err}");
    assert!(err.contains("Signature expired"), "{err}");
    assert!(
        err.contains("more than 15 minutes away from the service's clock"),
        "{err}"
    );
    assert!(err.contains("hint: check this machine's clock"), "{err}");
    assert!(
        !err.contains("IAM policy"),
        "not blamed on the policy: {err}"
    );
    assert!(out.stdout.is_empty());
    // The Query and the table's DescribeTable, sent together: one attempt each.
    assert_eq!(fired(&endpoint), 2, "one attempt, no retry");

    // A plain bad signature keeps the policy hint.
    clear_faults(&endpoint);
    fault(
        &endpoint,
        json!({"target": "dynamodb:*", "error": "InvalidSignatureException",
               "message": "The request signature we calculated does not match the signature you provided."}),
    );
    let out = as_admin(home.path(), &endpoint, &["get", "app/db"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(!stderr(&out).contains("clock"), "{}", stderr(&out));
    assert_eq!(fired(&endpoint), 2);
    rt.block_on(mock.shutdown());
}
