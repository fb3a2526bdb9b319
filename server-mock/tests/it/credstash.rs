//! Interop: the unmodified credstash 1.17.1 CLI (from the venv that
//! `scripts/setup-python` builds) against the emulator's KMS and DynamoDB.
//!
//! Runs when `LOCKBOX_TEST_VENV` names the venv; otherwise it says so and passes,
//! unless `LOCKBOX_REQUIRE_INTEROP=1` demands it.

use std::path::{Path, PathBuf};

use std::process::{Command, Output};

use crate::common::{kms_client, venv, MockProcess};

struct Credstash<'a> {
    bin: PathBuf,
    endpoint: &'a str,
    home: &'a Path,
}

impl Credstash<'_> {
    fn run(&self, args: &[&str]) -> Output {
        // A clean environment: nothing inherited can point credstash at real AWS.
        Command::new(&self.bin)
            .args(args)
            .env_clear()
            .env("HOME", self.home)
            .env("AWS_ENDPOINT_URL_KMS", self.endpoint)
            .env("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.home.join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.join("no-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .current_dir(self.home)
            .output()
            .expect("run credstash")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "credstash {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }
}

#[tokio::test]
async fn credstash_1_17_runs_unmodified_against_the_emulator() {
    let Some(venv) = venv() else { return };
    let home = tempfile::tempdir().unwrap();
    let mock = MockProcess::spawn(&[]).expect("spawn the emulator");
    let kms = kms_client(&mock.endpoint);
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms.create_alias()
        .alias_name("alias/credstash")
        .target_key_id(key)
        .send()
        .await
        .unwrap();

    let credstash = Credstash {
        bin: venv.join("bin").join("credstash"),
        endpoint: &mock.endpoint,
        home: home.path(),
    };
    let cs = |args: &[&str]| credstash.ok(args);
    cs(&["setup"]);
    assert!(cs(&["setup"]).contains("already exists"));
    assert!(cs(&["put", "db.password", "s3cret-1"]).contains("has been stored"));
    cs(&["put", "-a", "db.password", "s3cret-2"]);
    cs(&["put", "api.token", "tok", "env=prod"]);

    assert_eq!(cs(&["get", "db.password"]), "s3cret-2\n");
    assert_eq!(cs(&["get", "-v", "1", "db.password"]), "s3cret-1\n");
    assert_eq!(cs(&["get", "api.token", "env=prod"]), "tok\n");
    let wrong_context = credstash.run(&["get", "api.token", "env=dev"]);
    assert!(!wrong_context.status.success(), "a wrong context must fail");
    // A version that exists already is refused through the conditional write.
    assert!(!credstash
        .run(&["put", "db.password", "x", "-v", "1"])
        .status
        .success());

    // getall decrypts every name with one context: drop the one that has its own.
    cs(&["delete", "api.token"]);
    let all: serde_json::Value =
        serde_json::from_str(&cs(&["getall", "-f", "json"])).expect("getall JSON");
    assert_eq!(all, serde_json::json!({"db.password": "s3cret-2"}));

    let list = cs(&["list"]);
    assert!(
        list.contains("db.password -- version 0000000000000000001"),
        "{list}"
    );
    assert!(
        list.contains("db.password -- version 0000000000000000002"),
        "{list}"
    );
    assert_eq!(cs(&["keys"]), "db.password\n");

    let deleted = cs(&["delete", "db.password"]);
    assert_eq!(
        deleted.matches("Deleting db.password").count(),
        2,
        "{deleted}"
    );
    assert_eq!(cs(&["keys"]), "");
}
