//! Byte-level interop with the unmodified credstash 1.17.1 CLI, through one
//! emulator: secrets credstash writes are read by the lockbox SDK, and secrets
//! lockbox writes in credstash mode are read by credstash.

use lockbox::envelope::ItemFormat;
use lockbox::{
    AwsOptions, EncryptionContext, ExposeSecret, Lockbox, PutOptions, SecretName, SecretValue,
    Version,
};
use lockbox_testkit::{venv, Credstash};
use lockbox_tests::{kms_client, test_credentials};

const TABLE: &str = "credential-store";

async fn lockbox_for(endpoint: &str) -> Lockbox {
    let options = AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        credentials: Some(test_credentials()),
        ..AwsOptions::default()
    };
    Lockbox::from_env(&options).await.unwrap().build().unwrap()
}

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

/// An emulator with `alias/credstash`, and credstash 1.17.1 (from `venv`) with
/// its table set up there by `credstash setup`.
async fn credstash_table(venv: &std::path::Path) -> (lockbox_mock::RunningMock, String, Credstash) {
    let mock = lockbox_mock::start().await.unwrap();
    let endpoint = mock.endpoint_url();
    let kms = kms_client(&endpoint);
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
    let cs = Credstash::new(venv, &endpoint, TABLE);
    cs.ok(&["setup"]);
    (mock, endpoint, cs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credstash_and_lockbox_read_each_others_secrets() {
    let Some(venv) = venv() else { return };
    let (mock, endpoint, cs) = credstash_table(&venv).await;

    // credstash writes: plain, with context, SHA512, multi-version, unicode, from stdin.
    cs.ok(&["put", "prod.db.password", "hunter2"]);
    cs.ok(&["put", "app/key", "ctx-value", "env=prod", "team=core"]);
    cs.ok(&["put", "-d", "SHA512", "A_B-c", "sha512 value"]);
    cs.ok(&["put", "-d", "SHA", "sha1", "sha1 value"]);
    cs.ok(&["put", "rotated", "one"]);
    cs.ok(&["put", "-a", "rotated", "two"]);
    cs.ok(&["put", "-c", "a comment", "unicode", "héllo wörld ✓"]);
    let out = cs.run(
        &["put", "multiline", "-"],
        Some(b"line1\nline2 'q' \"dq\" =\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let lb = lockbox_for(&endpoint).await;
    let none = EncryptionContext::new();
    let ctx = EncryptionContext::from_pairs(["env=prod", "team=core"]).unwrap();
    for (n, c, want) in [
        ("prod.db.password", &none, "hunter2"),
        ("app/key", &ctx, "ctx-value"),
        ("A_B-c", &none, "sha512 value"),
        ("sha1", &none, "sha1 value"),
        ("rotated", &none, "two"),
        ("unicode", &none, "héllo wörld ✓"),
        ("multiline", &none, "line1\nline2 'q' \"dq\" =\n"),
    ] {
        let got = lb
            .get(&name(n), c)
            .await
            .unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(got.value.expose_str().unwrap(), want, "{n}");
        assert_eq!(got.format, ItemFormat::Credstash);
    }
    let v1 = lb
        .get_version(&name("rotated"), Version::FIRST, &none)
        .await
        .unwrap();
    assert_eq!(v1.value.expose_str().unwrap(), "one");
    assert!(
        lb.get(&name("app/key"), &none).await.is_err(),
        "context is required"
    );
    let listed = lb.list().await.unwrap();
    let unicode = listed.iter().find(|s| s.name == "unicode").unwrap();
    assert_eq!(unicode.comment.as_deref(), Some("a comment"));
    assert_eq!(unicode.format, "credstash");

    // lockbox writes into the same table (not created by lockbox: credstash format).
    assert_eq!(lb.table_mode().await.unwrap(), None);
    let put = |n: &'static str, v: &'static str, c: EncryptionContext| {
        let lb = &lb;
        async move {
            let opts = PutOptions {
                context: c,
                ..PutOptions::default()
            };
            lb.put(&name(n), &SecretValue::from(v), &opts)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        put("from-lockbox", "lockbox wrote this", none.clone())
            .await
            .get(),
        1
    );
    assert_eq!(put("rotated", "three", none.clone()).await.get(), 3);
    put("lb-ctx", "with context", ctx.clone()).await;
    put("lb-unicode", "ünïcödé ✓ 'quote'", none.clone()).await;

    assert_eq!(cs.ok(&["get", "from-lockbox"]), "lockbox wrote this\n");
    assert_eq!(cs.ok(&["get", "rotated"]), "three\n");
    assert_eq!(
        cs.ok(&["get", "-v", "0000000000000000002", "rotated"]),
        "two\n"
    );
    assert_eq!(
        cs.ok(&["get", "lb-ctx", "env=prod", "team=core"]),
        "with context\n"
    );
    assert_eq!(cs.ok(&["get", "lb-unicode"]), "ünïcödé ✓ 'quote'\n");
    // credstash's autoversion continues from lockbox's version.
    cs.ok(&["put", "-a", "rotated", "four"]);
    assert_eq!(
        lb.get(&name("rotated"), &none).await.unwrap().version,
        Version::new(4).unwrap()
    );

    // getall (no context: every secret must decrypt without one) sees lockbox's items.
    for n in ["app/key", "lb-ctx"] {
        lb.delete(&name(n), None).await.unwrap();
    }
    let all: serde_json::Value = serde_json::from_str(&cs.ok(&["getall", "-f", "json"])).unwrap();
    assert_eq!(all["from-lockbox"], "lockbox wrote this");
    assert_eq!(all["rotated"], "four");
    assert_eq!(all["prod.db.password"], "hunter2");
    assert!(all.get("app/key").is_none());

    // Values are never overwritten across tools: credstash refuses an existing version.
    let out = cs.run(&["put", "-v", "1", "from-lockbox", "overwrite"], None);
    assert!(!out.status.success());
    let kept = lb.get(&name("from-lockbox"), &none).await.unwrap();
    assert_eq!(kept.value.expose_secret(), b"lockbox wrote this");
    mock.shutdown().await;
}

/// Labels and a staged rotation on a table credstash clients share change
/// nothing credstash 1.17.1 reads (`getall`, `list`, `keys`, `get`, `get -v`):
/// they live in the companion table. Finishing the rotation writes the new
/// value as the next version, which credstash then reads as the latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_on_a_shared_table_change_nothing_credstash_reads() {
    use lockbox::{Label, LabelCondition, RotateOptions};
    let Some(venv) = venv() else { return };
    let (mock, endpoint, cs) = credstash_table(&venv).await;
    cs.ok(&["put", "svc.db", "one"]);
    cs.ok(&["put", "-a", "svc.db", "two"]);
    cs.ok(&["put", "-c", "api key", "svc.api", "k1"]);
    let what_credstash_reads = || {
        [
            cs.ok(&["getall", "-f", "json"]),
            cs.ok(&["list"]),
            cs.ok(&["keys"]),
            cs.ok(&["get", "svc.db"]),
            cs.ok(&["get", "-v", "0000000000000000001", "svc.db"]),
            cs.ok(&["get", "svc.api"]),
        ]
    };
    let before = what_credstash_reads();

    let lb = lockbox_for(&endpoint).await;
    let none = EncryptionContext::new();
    let db = name("svc.db");
    lb.setup_labels().await.unwrap();
    lb.set_label(
        &db,
        &Label::new("stable").unwrap(),
        Version::FIRST,
        LabelCondition::Absent,
    )
    .await
    .unwrap();
    let mut options = RotateOptions::default();
    options.token = Some("rotation-1".into());
    lb.rotate_start(&db, &SecretValue::from("three"), &options)
        .await
        .unwrap();
    let labels = lb.labels(&db).await.unwrap();
    assert_eq!(
        (labels.current(), labels.previous(), labels.pending()),
        (
            Some(Version::new(2).unwrap()),
            Some(Version::FIRST),
            Some(Version::new(3).unwrap())
        )
    );
    assert_eq!(
        lb.get(&db, &none)
            .await
            .unwrap()
            .value
            .expose_str()
            .unwrap(),
        "two"
    );
    let pending = lb.get_label(&db, &Label::PENDING, &none).await.unwrap();
    assert_eq!(pending.value.expose_str().unwrap(), "three");
    assert_eq!(what_credstash_reads(), before, "labels and a pending value");

    lb.rotate_abort(&db, Some("rotation-1")).await.unwrap();
    assert_eq!(what_credstash_reads(), before, "an aborted rotation");

    options.token = Some("rotation-2".into());
    lb.rotate_start(&db, &SecretValue::from("three"), &options)
        .await
        .unwrap();
    assert_eq!(what_credstash_reads(), before, "a second pending value");
    let finished = lb.rotate_finish(&db, Some("rotation-2")).await.unwrap();
    assert_eq!(finished.version, Some(Version::new(3).unwrap()));
    assert_eq!(cs.ok(&["get", "svc.db"]), "three\n");
    assert_eq!(
        cs.ok(&["get", "-v", "0000000000000000002", "svc.db"]),
        "two\n"
    );
    let all: serde_json::Value = serde_json::from_str(&cs.ok(&["getall", "-f", "json"])).unwrap();
    assert_eq!(all["svc.db"], "three");
    assert_eq!(all["svc.api"], "k1");
    assert!(cs
        .ok(&["list"])
        .lines()
        .any(|l| l.starts_with("svc.db ") && l.contains("-- version 0000000000000000003")));
    // credstash's autoversion continues after the finished rotation, and the
    // labels follow: current is always the highest version.
    cs.ok(&["put", "-a", "svc.db", "four"]);
    let labels = lb.labels(&db).await.unwrap();
    assert_eq!(labels.current(), Some(Version::new(4).unwrap()));
    assert_eq!(labels.previous(), Some(Version::new(3).unwrap()));
    assert_eq!(
        labels.get(&Label::new("stable").unwrap()),
        Some(Version::FIRST)
    );
    mock.shutdown().await;
}
