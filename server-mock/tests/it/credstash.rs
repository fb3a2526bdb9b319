//! Interop: the unmodified credstash 1.17.1 CLI (from the venv that
//! `scripts/setup-python` builds) against the emulator's KMS and DynamoDB.
//!
//! Runs when `LOCKBOX_TEST_VENV` names the venv; otherwise it says so and passes,
//! unless `LOCKBOX_REQUIRE_INTEROP=1` demands it.

use lockbox_testkit::Credstash;

use crate::common::{kms_client, venv, MockProcess};

#[tokio::test]
async fn credstash_1_17_runs_unmodified_against_the_emulator() {
    let Some(venv) = venv() else { return };
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

    // credstash's default table, named as credstash users leave it.
    let credstash = Credstash::new(&venv, &mock.endpoint, "credential-store");
    let cs = |args: &[&str]| credstash.ok(args);
    cs(&["setup"]);
    assert!(cs(&["setup"]).contains("already exists"));
    assert!(cs(&["put", "db.password", "s3cret-1"]).contains("has been stored"));
    cs(&["put", "-a", "db.password", "s3cret-2"]);
    cs(&["put", "api.token", "tok", "env=prod"]);

    assert_eq!(cs(&["get", "db.password"]), "s3cret-2\n");
    assert_eq!(cs(&["get", "-v", "1", "db.password"]), "s3cret-1\n");
    assert_eq!(cs(&["get", "api.token", "env=prod"]), "tok\n");
    let wrong_context = credstash.run(&["get", "api.token", "env=dev"], None);
    assert!(!wrong_context.status.success(), "a wrong context must fail");
    // A version that exists already is refused through the conditional write.
    assert!(!credstash
        .run(&["put", "db.password", "x", "-v", "1"], None)
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
