//! Several regions, as an operator sees them: which region served each secret
//! (`-o json`, `exec -v`), a version the fallback region has not received yet,
//! IAM policies naming every region's table and key, and `doctor` checking the
//! key in each region.

use crate::common;

use common::{bare, ok, run_with_stdin, stderr, Remote};

const REGIONS: &str = "us-east-1,eu-west-1";

/// `lockbox --regions us-east-1,eu-west-1 -k KEY args...` against `r`.
fn run(r: &Remote, key: &str, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut all = vec!["--regions", REGIONS, "-k", key];
    all.extend_from_slice(args);
    r.run(&all, stdin)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is no JSON document ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

/// The home region answering 503 to every KMS and DynamoDB call.
fn home_down(r: &Remote) {
    r.fault(serde_json::json!({
        "target": "*", "region": "us-east-1", "error": "ServiceUnavailable"
    }));
}

#[test]
fn json_and_exec_verbose_say_which_region_served_each_secret() {
    let r = Remote::start();
    let key = r.multi_region_key(true);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    assert!(run(&r, &key, &["put", "db", "-"], b"v1").status.success());

    let out = run(&r, &key, &["-o", "json", "get", "db"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["region"], "us-east-1", "{doc}");
    assert_eq!(doc["kms_region"], "us-east-1", "{doc}");
    // One region (no --regions): the region is named all the same.
    let out = r.run(&["-k", &key, "-o", "json", "get", "db"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["region"], "us-east-1");

    home_down(&r);
    let out = run(&r, &key, &["-o", "json", "get", "db"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(
        (&doc["value"], &doc["region"], &doc["kms_region"]),
        (
            &serde_json::json!("v1"),
            &serde_json::json!("eu-west-1"),
            &serde_json::json!("eu-west-1")
        ),
        "{doc}"
    );
    // A field of a JSON value (another document, `Selected`) says it too.
    let out = run(&r, &key, &["-o", "json", "get", "lockbox://db"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["region"], "eu-west-1");

    let out = run(
        &r,
        &key,
        &["exec", "-v", "--env", "DB=db", "--", "/bin/true"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("DB <- db version 1 from eu-west-1"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("v1"), "{}", stderr(&out));
}

#[test]
fn a_version_missing_in_a_fallback_region_may_not_have_replicated_yet() {
    let r = Remote::start();
    let key = r.multi_region_key(true);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    assert!(run(&r, &key, &["put", "db", "-"], b"v1").status.success());
    // Written in the home region, not yet copied to eu-west-1.
    r.replication(serde_json::json!({"paused": true}));
    assert!(run(&r, &key, &["put", "db", "-"], b"v2").status.success());
    assert!(run(&r, &key, &["put", "fresh", "-"], b"f1")
        .status
        .success());
    home_down(&r);

    let hint = "may not have replicated to eu-west-1 yet";
    let out = run(&r, &key, &["get", "db", "-v", "2"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "db has no version 2 in eu-west-1, read there because us-east-1 is unavailable"
        ),
        "{err}"
    );
    assert!(err.contains(hint), "{err}");
    assert!(
        err.contains("hint: retry once us-east-1 answers again"),
        "{err}"
    );
    let out = run(&r, &key, &["-o", "json", "get", "db", "-v", "2"], b"");
    assert_eq!(out.status.code(), Some(3));
    let doc = json(&out);
    assert_eq!(doc["error"]["class"], "not_found", "{doc}");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains(hint)
            || doc["error"]["causes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c.as_str().unwrap().contains(hint)),
        "{doc}"
    );
    // A secret never copied: the same, without a version.
    let out = run(&r, &key, &["get", "fresh"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fresh not found in eu-west-1"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(hint), "{}", stderr(&out));
    // The latest read there is the version that arrived (stale, and named as
    // served by eu-west-1).
    let out = run(&r, &key, &["-o", "json", "get", "db"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["version"], 1);
    assert_eq!(json(&out)["region"], "eu-west-1");
    // exec: pinned versions read together (one batch) name it too.
    let out = run(
        &r,
        &key,
        &[
            "exec",
            "--env",
            "A=db@2",
            "--env",
            "B=db@1",
            "--",
            "/bin/true",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(hint), "{}", stderr(&out));
}

#[test]
fn a_secret_missing_in_the_first_region_read_is_plain_not_found() {
    // eu-west-1 read first by choice, not because us-east-1 is down: a secret
    // not there yet is not found, without the fallback hint.
    let r = Remote::start();
    let key = r.multi_region_key(true);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    r.replication(serde_json::json!({"paused": true}));
    assert!(run(&r, &key, &["put", "db", "-"], b"v1").status.success());
    let out = r.run(
        &[
            "--regions",
            "eu-west-1,us-east-1",
            "--write-region",
            "us-east-1",
            "-k",
            &key,
            "get",
            "db",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stderr(&out).contains("replicated"), "{}", stderr(&out));
}

#[test]
fn policy_for_several_regions_names_each_regions_table_and_key_replica() {
    let home = tempfile::tempdir().unwrap();
    let mrk = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";
    let args = [
        "--regions",
        REGIONS,
        "-k",
        mrk,
        "policy",
        "reader",
        "app/*",
        "--account",
        "111122223333",
    ];
    let policy: serde_json::Value = serde_json::from_slice(&ok(
        run_with_stdin(bare(home.path()).args(args), b""),
        &args,
    ))
    .unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let resources = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid} in {policy}"))["Resource"]
            .clone()
    };
    let tables = serde_json::json!([
        "arn:aws:dynamodb:us-east-1:111122223333:table/credential-store",
        "arn:aws:dynamodb:eu-west-1:111122223333:table/credential-store"
    ]);
    assert_eq!(resources("LockboxReadItems"), tables);
    assert_eq!(resources("LockboxTableRecord"), tables);
    assert_eq!(
        resources("LockboxDecrypt"),
        serde_json::json!([mrk, mrk.replace("us-east-1", "eu-west-1")])
    );
    // The writer's too.
    let mut writer = args;
    writer[5] = "writer";
    let policy: serde_json::Value = serde_json::from_slice(&ok(
        run_with_stdin(bare(home.path()).args(writer), b""),
        &writer,
    ))
    .unwrap();
    assert_eq!(
        policy["Statement"][2]["Resource"][1],
        mrk.replace("us-east-1", "eu-west-1")
    );
    // A name that is no region is a usage error saying which.
    let out = run_with_stdin(
        bare(home.path()).args(["--regions", "us-east-1,Mars", "policy", "reader", "a"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"Mars\" is not a region name"),
        "{}",
        stderr(&out)
    );
}

fn findings(out: &std::process::Output) -> Vec<serde_json::Value> {
    json(out)["findings"].as_array().unwrap().clone()
}

fn finding<'a>(all: &'a [serde_json::Value], code: &str) -> Option<&'a serde_json::Value> {
    all.iter().find(|f| f["code"] == code)
}

#[test]
fn doctor_names_the_region_where_the_key_has_no_replica() {
    let r = Remote::start();
    let key = r.multi_region_key(false);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    let out = run(&r, &key, &["-o", "json", "doctor"], b"");
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let all = findings(&out);
    let missing = finding(&all, "key-no-replica").unwrap_or_else(|| panic!("{all:?}"));
    let message = missing["message"].as_str().unwrap();
    let west = key.replace("us-east-1", "eu-west-1");
    assert!(message.contains("no replica in eu-west-1"), "{message}");
    assert!(message.contains(&west), "{message}");
    assert!(
        missing["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("replicate-key --key-id {key}")),
        "{missing}"
    );
    // Said once, not again as an unusable key.
    assert!(finding(&all, "key-unusable").is_none(), "{all:?}");
    let text = run(&r, &key, &["doctor"], b"");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("key-no-replica"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );

    // Replicated: nothing to report about the key.
    let kms = lockbox_testkit::aws::kms_client(&r.endpoint);
    r.rt.block_on(
        kms.replicate_key()
            .key_id(&key)
            .replica_region("eu-west-1")
            .send(),
    )
    .unwrap();
    let out = run(&r, &key, &["-o", "json", "doctor"], b"");
    let all = findings(&out);
    assert!(finding(&all, "key-no-replica").is_none(), "{all:?}");
    assert!(finding(&all, "key-differs-by-region").is_none(), "{all:?}");
    let keys = json(&out)["keys"].as_array().unwrap().clone();
    assert!(
        keys.iter()
            .any(|k| k["region"] == "eu-west-1" && k["arn"] == west && k["round_trip"] == true),
        "{keys:?}"
    );
}

#[test]
fn doctor_names_the_region_where_an_alias_names_another_key() {
    let r = Remote::start();
    let key = r.multi_region_key(true);
    let other = r.multi_region_key(true);
    let alias = |region: &str, target: &str| {
        let kms = lockbox_testkit::aws::kms_client_in(&r.endpoint, region);
        r.rt.block_on(
            kms.create_alias()
                .alias_name("alias/app")
                .target_key_id(target)
                .send(),
        )
        .unwrap();
    };
    alias("us-east-1", &key);
    let other_west = other.replace("us-east-1", "eu-west-1");
    alias("eu-west-1", &other_west);
    assert!(run(&r, "alias/app", &["setup"], b"").status.success());
    let out = run(&r, "alias/app", &["-o", "json", "doctor"], b"");
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let all = findings(&out);
    let differs = finding(&all, "key-differs-by-region").unwrap_or_else(|| panic!("{all:?}"));
    let message = differs["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("in eu-west-1 it is {other_west}")),
        "{message}"
    );
    assert!(message.contains(&key), "{message}");
}

#[test]
fn doctor_names_a_region_read_where_the_table_has_no_replica() {
    let r = Remote::start();
    let key = r.multi_region_key(true);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    // A third region read, where neither the table nor the key has a replica.
    let out = r.run(
        &[
            "--regions",
            "us-east-1,eu-west-1,ap-south-1",
            "-k",
            &key,
            "-o",
            "json",
            "doctor",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let all = findings(&out);
    let table = finding(&all, "region-no-table-replica").unwrap_or_else(|| panic!("{all:?}"));
    assert!(
        table["message"]
            .as_str()
            .unwrap()
            .contains("no replica in ap-south-1"),
        "{table}"
    );
    let missing = finding(&all, "key-no-replica").unwrap_or_else(|| panic!("{all:?}"));
    let message = missing["message"].as_str().unwrap();
    assert!(
        message.contains(&key.replace("us-east-1", "ap-south-1")) && !message.contains("eu-west-1"),
        "{message}"
    );
}

#[test]
fn with_the_home_region_hanging_exec_starts_whole_from_the_next_region() {
    const SECRETS: usize = 6;
    let r = Remote::start();
    let key = r.multi_region_key(true);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    for i in 0..SECRETS {
        let out = run(&r, &key, &["put", &format!("app/{i}"), "-"], b"value");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // us-east-1 accepts every call and never answers (an hour is longer than
    // any budget of the command).
    r.fault(serde_json::json!({
        "target": "*", "region": "us-east-1", "latency_ms": 3_600_000
    }));
    let mut args: Vec<String> = vec!["exec".into(), "-v".into()];
    for i in 0..SECRETS {
        args.extend(["--env".into(), format!("S{i}=app/{i}")]);
    }
    args.extend(["--".into(), "/usr/bin/env".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&r, &key, &args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let env = String::from_utf8(out.stdout.clone()).unwrap();
    for i in 0..SECRETS {
        assert!(env.contains(&format!("S{i}=value\n")), "{env}");
        assert!(
            stderr(&out).contains(&format!("S{i} <- app/{i} version 1 from eu-west-1")),
            "{}",
            stderr(&out)
        );
    }
    // The hanging region got each secret's read and the table's record once:
    // the first timeout sent every read to eu-west-1, none was retried there.
    let calls = r.fired()[0];
    assert!(
        (1..=SECRETS as u64 + 1).contains(&calls),
        "{calls} calls to the hanging region"
    );
}

#[test]
fn getall_and_export_fail_over_to_the_next_region() {
    let r = Remote::start();
    let key = r.multi_region_key(true);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    for (n, v) in [("a", "1"), ("b", "2")] {
        assert!(run(&r, &key, &["put", n, "-"], v.as_bytes())
            .status
            .success());
    }
    home_down(&r);
    let out = run(&r, &key, &["getall"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out), serde_json::json!({"a": "1", "b": "2"}));
    let out = run(&r, &key, &["export", "-f", "csv"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("a,1") && text.contains("b,2"), "{text}");
    // Denied in the home region is still an answer: no scan elsewhere.
    let r = Remote::start();
    let key = r.multi_region_key(true);
    assert!(run(&r, &key, &["setup"], b"").status.success());
    assert!(run(&r, &key, &["put", "a", "-"], b"1").status.success());
    r.fault(serde_json::json!({
        "target": "dynamodb:Scan", "region": "us-east-1", "error": "AccessDeniedException"
    }));
    let out = run(&r, &key, &["getall"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}
