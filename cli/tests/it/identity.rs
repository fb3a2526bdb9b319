//! `lockbox get` in a child process whose only AWS configuration is a cloud
//! identity — the ECS/EKS container-credentials endpoint, a web identity token
//! file, or IMDSv2 — against the emulator in strict mode, with the reader policy
//! `lockbox policy` prints.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{bare, ok, populated_state, run_with_stdin, stderr, BIN};

/// A child with nothing but `vars` (and a fresh HOME): no static keys anywhere.
fn child(home: &Path, vars: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.env_clear().env("HOME", home).current_dir(home).args(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_with_stdin(&mut c, b"")
}

#[test]
fn container_web_identity_and_imds_identities_read_only_their_secrets() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();

    // Open mode first: the key, the table and two secrets.
    let key_arn = populated_state(&rt, data.path(), home.path(), &["app1/db", "app2/db"]);

    // Strict mode: one role, reachable three ways, with the generated reader policy.
    let args = ["policy", "reader", "app1/*", "--key-arn", &key_arn];
    let policy: serde_json::Value = serde_json::from_slice(&ok(
        run_with_stdin(bare(home.path()).args(args), b""),
        &args,
    ))
    .unwrap();
    let iam = serde_json::json!({
        "issuer_secret": "lockbox-cli-identity-test",
        "instance_role": "app1-reader",
        "users": [],
        "roles": [{"name": "app1-reader",
                   "trust": {"web_identity": true, "container_token": "tok-app1"},
                   "policies": [policy]}]
    });
    let iam_file = home.path().join("iam.json");
    std::fs::write(&iam_file, iam.to_string()).unwrap();
    let strict = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder()
                .data_dir(data.path())
                .iam(&iam_file),
        ))
        .unwrap();
    let endpoint = strict.endpoint_url();
    let token = lockbox_mock::issue_token(
        &iam_file,
        "app1-reader",
        "system:serviceaccount:app1:app",
        Duration::from_secs(600),
    )
    .unwrap();
    let token_file = home.path().join("token");
    std::fs::write(&token_file, token).unwrap();

    let base = |extra: Vec<(&'static str, String)>| {
        let mut vars = vec![
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", endpoint.clone()),
        ];
        vars.extend(extra);
        vars
    };
    let identities = [
        (
            "container",
            base(vec![
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    format!("{endpoint}/_mock/container-credentials/app1-reader"),
                ),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok-app1".into()),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ]),
        ),
        (
            "web identity",
            base(vec![
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    token_file.display().to_string(),
                ),
                (
                    "AWS_ROLE_ARN",
                    "arn:aws:iam::000000000000:role/app1-reader".into(),
                ),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ]),
        ),
        (
            "IMDSv2",
            base(vec![(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                endpoint.clone(),
            )]),
        ),
    ];
    for (what, vars) in &identities {
        let out = child(home.path(), vars, &["get", "app1/db"]);
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        assert_eq!(out.stdout, b"app1/db\n", "{what}");
        let out = child(home.path(), vars, &["get", "app2/db"]);
        assert_eq!(out.status.code(), Some(4), "{what}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("dynamodb:Query"),
            "{what}: {}",
            stderr(&out)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("app2/db"));
    }
    rt.block_on(strict.shutdown());
}
