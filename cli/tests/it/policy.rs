//! `lockbox policy`: the printed policies load unchanged into the emulator's
//! strict mode, where the reader of `app1/*` reads its secrets and is refused
//! `app2/db` with exit 4 and the missing permission named.

use crate::common;

use common::{bare, ok, populated_state, remote, run_with_stdin, stderr};

#[test]
fn reader_policy_from_the_cli_confines_the_reader_in_strict_mode() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();

    // Open mode first: the key, the table and two secrets.
    let key_arn = populated_state(&rt, data.path(), home.path(), &["app1/db", "app2/db"]);

    let args = ["policy", "reader", "app1/*", "--key-arn", &key_arn];
    let policy: serde_json::Value = serde_json::from_slice(&ok(
        run_with_stdin(bare(home.path()).args(args), b""),
        &args,
    ))
    .unwrap();
    let iam = serde_json::json!({"users": [{
        "name": "reader", "access_key_id": "AKIAREADER", "secret_access_key": "reader-secret",
        "policies": [policy]
    }]});
    let mock = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder()
                .data_dir(data.path())
                .iam_json(iam.to_string()),
        ))
        .unwrap();
    let endpoint = mock.endpoint_url();
    let as_reader = |args: &[&str]| {
        let mut c = remote(home.path(), &endpoint, args);
        c.env("AWS_ACCESS_KEY_ID", "AKIAREADER")
            .env("AWS_SECRET_ACCESS_KEY", "reader-secret");
        run_with_stdin(&mut c, b"")
    };
    let out = as_reader(&["get", "app1/db"]);
    assert_eq!(ok(out, &["get"]), b"app1/db\n");
    let out = as_reader(&["get", "app2/db"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("dynamodb:Query"),
        "names the missing permission: {err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("app2/db"));
    rt.block_on(mock.shutdown());
}

#[test]
fn writer_policy_cannot_decrypt_and_an_alias_key_is_flagged() {
    let home = tempfile::tempdir().unwrap();
    let args = ["policy", "writer", "app1/*"];
    let out = run_with_stdin(bare(home.path()).args(args), b"");
    let text = String::from_utf8(ok(out.clone(), &args)).unwrap();
    assert!(
        text.contains("kms:GenerateDataKey") && !text.contains("kms:Decrypt"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("--key-arn"),
        "the alias caveat is said"
    );
}

/// Review U11: the writer `policy writer` prints cannot decrypt, so `import`
/// cannot compare with the stored values: it stores each as a new version and
/// says so, instead of failing every existing name (and failing more on each
/// re-run, since the names it stored now exist too).
#[test]
fn a_writer_can_import_and_import_again() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key_arn = populated_state(&rt, data.path(), home.path(), &["app1/db"]);
    let args = ["policy", "writer", "app1/*", "--key-arn", &key_arn];
    let policy: serde_json::Value = serde_json::from_slice(&ok(
        run_with_stdin(bare(home.path()).args(args), b""),
        &args,
    ))
    .unwrap();
    let iam = serde_json::json!({"users": [{
        "name": "writer", "access_key_id": "AKIAWRITER", "secret_access_key": "writer-secret",
        "policies": [policy]
    }]});
    let mock = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder()
                .data_dir(data.path())
                .iam_json(iam.to_string()),
        ))
        .unwrap();
    let endpoint = mock.endpoint_url();
    let import = || {
        let mut c = remote(home.path(), &endpoint, &["import", "-"]);
        c.env("AWS_ACCESS_KEY_ID", "AKIAWRITER")
            .env("AWS_SECRET_ACCESS_KEY", "writer-secret");
        run_with_stdin(&mut c, br#"{"app1/db": "a1v2", "app1/z": "z"}"#)
    };
    for run in 1..=2 {
        let out = import();
        assert!(out.status.success(), "run {run}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("2 stored, 0 unchanged, 0 failed"),
            "run {run}"
        );
        assert!(
            stderr(&out).contains("cannot be compared"),
            "{}",
            stderr(&out)
        );
    }
    rt.block_on(mock.shutdown());
}
