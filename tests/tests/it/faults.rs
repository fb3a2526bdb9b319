//! The SDK under injected faults: retries succeed within budget, persistent
//! failures end in a typed error, and a dropped answer never duplicates a write.

use lockbox::backend::TableMode;
use lockbox::{EncryptionContext, Error, Lockbox, PutOptions, SecretName, SecretRef, SecretValue};
use lockbox_tests::{add_fault, EmulatorFixture, Fixture};
use serde_json::json;

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

async fn ready() -> (EmulatorFixture, Lockbox) {
    let fx = EmulatorFixture::start().await;
    let lb = fx.lockbox().await.build().unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    (fx, lb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_of_the_first_calls_is_retried() {
    let (fx, lb) = ready().await;
    let endpoint = fx.mock.endpoint_url();
    lb.put(&name("t"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    add_fault(
        &endpoint,
        json!({"target": "kms:Decrypt", "error": "ThrottlingException", "count": 2}),
    )
    .await;
    add_fault(&endpoint, json!({"target": "dynamodb:Query", "error": "ProvisionedThroughputExceededException", "count": 2})).await;
    let got = lb.get(&name("t"), &EncryptionContext::new()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_is_a_clean_typed_error() {
    let (fx, lb) = ready().await;
    let endpoint = fx.mock.endpoint_url();
    for i in 0..5 {
        let n = format!("p/{i}");
        lb.put(
            &name(&n),
            &SecretValue::from(n.clone()),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    }
    add_fault(
        &endpoint,
        json!({"target": "kms:Decrypt", "error": "ThrottlingException"}),
    )
    .await;
    let refs: Vec<SecretRef> = (0..5)
        .map(|i| SecretRef::latest(name(&format!("p/{i}"))))
        .collect();
    let err = lb
        .get_many(&refs, &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let (fx, lb) = ready().await;
    add_fault(&fx.mock.endpoint_url(), json!({"target": "dynamodb:PutItem", "error": "InternalServerError", "status": 500, "count": 2})).await;
    let v = lb
        .put(&name("five"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(v.get(), 1);
    assert_eq!(lb.history(&name("five")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_answer_to_an_applied_put_makes_exactly_one_version() {
    let (fx, lb) = ready().await;
    lb.put(&name("d"), &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    add_fault(
        &fx.mock.endpoint_url(),
        json!({"target": "dynamodb:PutItem", "drop_response": true, "count": 1}),
    )
    .await;
    let v = lb
        .put(&name("d"), &"v2".into(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(v.get(), 2, "the applied write is recognised as ours");
    let history = lb.history(&name("d")).await.unwrap();
    assert_eq!(history.len(), 2, "no duplicate version");
    let got = lb.get(&name("d"), &EncryptionContext::new()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_named() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let options = lockbox::AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.clone()),
        credentials: Some(lockbox_tests::test_credentials()),
        max_attempts: 2,
        ..lockbox::AwsOptions::default()
    };
    let lb = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let err = lb
        .get(&name("x"), &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&endpoint), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_hole_endpoint_times_out_and_is_named() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    let hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    let options = lockbox::AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.clone()),
        credentials: Some(lockbox_tests::test_credentials()),
        attempt_timeout: std::time::Duration::from_millis(300),
        operation_timeout: std::time::Duration::from_secs(2),
        max_attempts: 2,
        ..lockbox::AwsOptions::default()
    };
    let lb = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let err = lb
        .get(&name("x"), &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains(&endpoint), "{err}");
    // Bounded by the retry budget: the read's two calls (the table's record and
    // the secret, read together) each made its two attempts, each timing out
    // on a connection of its own, and no third was tried.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
    hole.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulator_restart_with_a_data_dir_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let config = || lockbox_mock::Config::builder().data_dir(dir.path());
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let kms = lockbox_tests::kms_client(&mock.endpoint_url());
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms.create_alias()
        .alias_name("alias/A")
        .target_key_id(key)
        .send()
        .await
        .unwrap();
    let options = |endpoint: String| lockbox::AwsOptions {
        table: "restart".into(),
        kms_key: "alias/A".into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        credentials: Some(lockbox_tests::test_credentials()),
        ..lockbox::AwsOptions::default()
    };
    let lb = Lockbox::from_env(&options(mock.endpoint_url()))
        .await
        .unwrap()
        .build()
        .unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let v = lb
            .put(
                &name("r"),
                &SecretValue::from(format!("v{i}")),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        acknowledged.push((v, format!("v{i}")));
        if i == 24 {
            // Restart mid-run on the same directory (a new port).
            mock.shutdown().await;
            break;
        }
    }
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let lb = Lockbox::from_env(&options(mock.endpoint_url()))
        .await
        .unwrap()
        .build()
        .unwrap();
    for i in 25..50 {
        let v = lb
            .put(
                &name("r"),
                &SecretValue::from(format!("v{i}")),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        acknowledged.push((v, format!("v{i}")));
    }
    mock.shutdown().await;
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let lb = Lockbox::from_env(&options(mock.endpoint_url()))
        .await
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(lb.history(&name("r")).await.unwrap().len(), 50);
    for (v, want) in &acknowledged {
        let got = lb
            .get_version(&name("r"), *v, &EncryptionContext::new())
            .await
            .unwrap();
        assert_eq!(got.value.expose_str().unwrap(), want);
    }
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_writers_times_fifty_puts_give_1600_versions() {
    let fx = EmulatorFixture::start().await;
    lockbox_tests::contract::concurrent_writers(&fx, 32, 50).await;
}

/// 2,000 versions of `many` written straight into the table (sealing each through
/// the SDK would only slow the test), plus `other` (one version).
async fn two_thousand_versions() -> (EmulatorFixture, Lockbox) {
    let (fx, lb) = ready().await;
    let store = fx.store().await;
    lb.put(&name("many"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    lb.put(&name("other"), &"o".into(), &PutOptions::default())
        .await
        .unwrap();
    let template = store.get_latest(&name("many")).await.unwrap().unwrap();
    for v in 2..=2000u64 {
        let mut item = template.clone();
        item.insert(
            "version".into(),
            lockbox::envelope::Attr::S(lockbox::Version::new(v).unwrap().sort_key()),
        );
        store.put_new(&item).await.unwrap();
    }
    (fx, lb)
}

/// The versions of `name` among `summaries`, in the order given.
fn versions_of(summaries: &[lockbox::backend::ItemSummary], name: &str) -> Vec<u64> {
    summaries
        .iter()
        .filter(|s| s.name.as_str() == name)
        .map(|s| s.version.unwrap().get())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_versions_are_listed_exactly_once() {
    // Paged only by DynamoDB's 1 MB limit.
    let (_fx, lb) = two_thousand_versions().await;
    let history = lb.history(&name("many")).await.unwrap();
    assert_eq!(
        versions_of(&history, "many"),
        (1..=2000).collect::<Vec<_>>()
    );
    let listed = lb.list().await.unwrap();
    assert_eq!(versions_of(&listed, "many"), (1..=2000).collect::<Vec<_>>());
    assert_eq!(listed.len(), 2001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_versions_in_pages_of_seven_are_each_seen_exactly_once() {
    let (fx, lb) = two_thousand_versions().await;
    let endpoint = fx.mock.endpoint_url();
    // Every Query and Scan page now stops after 7 evaluated items, as if the 1 MB
    // limit hit there: ~286 pages for history, ~287 for list.
    add_fault(
        &endpoint,
        json!({"target": "dynamodb:Query", "page_size": 7}),
    )
    .await;
    add_fault(
        &endpoint,
        json!({"target": "dynamodb:Scan", "page_size": 7}),
    )
    .await;
    let all: Vec<u64> = (1..=2000).collect();

    // history (Query): every version once, oldest first, no duplicates.
    let history = lb.history(&name("many")).await.unwrap();
    assert_eq!(history.len(), 2000);
    assert_eq!(versions_of(&history, "many"), all);

    // list (Scan): both secrets, every version once, sorted by name then version.
    let listed = lb.list().await.unwrap();
    assert_eq!(listed.len(), 2001, "no item twice, none missing");
    assert_eq!(versions_of(&listed, "many"), all);
    assert_eq!(versions_of(&listed, "other"), [1]);
    let keys: Vec<(String, u64)> = listed
        .iter()
        .map(|s| (s.name.to_string(), s.version.unwrap().get()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "sorted and unique");

    // list_stream (parallel Scan segments, pages of 7): the same items, once each.
    use futures::TryStreamExt as _;
    let streamed: Vec<lockbox::ItemSummary> = lb.list_stream().try_collect().await.unwrap();
    let mut streamed_keys: Vec<(String, u64)> = streamed
        .iter()
        .map(|s| (s.name.to_string(), s.version.unwrap().get()))
        .collect();
    streamed_keys.sort();
    assert_eq!(streamed_keys, keys, "every item once, none missing");

    // get (latest): a descending Query with Limit 1 finds version 2000.
    let store = fx.store().await;
    let latest = store.get_latest(&name("many")).await.unwrap().unwrap();
    assert_eq!(
        latest["version"],
        lockbox::envelope::Attr::S(lockbox::Version::new(2000).unwrap().sort_key())
    );

    // prune pages through history too: exactly the 1,990 oldest go, once each.
    let deleted = lb.prune(&name("many"), 10).await.unwrap();
    assert_eq!(deleted.len(), 1990);
    let mut unique = deleted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 1990);
    let left = lb.history(&name("many")).await.unwrap();
    assert_eq!(
        versions_of(&left, "many"),
        (1991..=2000).collect::<Vec<_>>()
    );
    let faults = lockbox_tests::faults(&endpoint).await;
    assert!(
        faults["rules"][0]["fired"].as_u64().unwrap() > 2 * 286,
        "history really paged: {faults}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_versions_with_unprocessed_keys_are_each_read_exactly_once() {
    let (fx, lb) = two_thousand_versions().await;
    let endpoint = fx.mock.endpoint_url();
    // 150 pinned versions: one batch of 100 and one of 50, each answered 7 keys at
    // a time (15 and 8 calls), the rest always as UnprocessedKeys.
    add_fault(
        &endpoint,
        json!({"target": "dynamodb:BatchGetItem", "unprocessed_after": 7}),
    )
    .await;
    // Any GetItem would fail: the items must all come from the batches.
    add_fault(
        &endpoint,
        json!({"target": "dynamodb:GetItem", "error": "AccessDeniedException"}),
    )
    .await;
    let keys: Vec<(SecretName, lockbox::Version)> = (1..=150u64)
        .map(|v| (name("many"), lockbox::Version::new(v * 13).unwrap()))
        .collect();
    let store = fx.store().await;
    let items = store.get_versions(&keys).await.unwrap();
    assert_eq!(items.len(), 150);
    for ((_, v), item) in keys.iter().zip(&items) {
        let item = item.as_ref().expect("found");
        assert_eq!(item["version"], lockbox::envelope::Attr::S(v.sort_key()));
    }
    let faults = lockbox_tests::faults(&endpoint).await;
    assert_eq!(faults["rules"][0]["fired"], 15 + 8, "{faults}");
    assert_eq!(faults["rules"][1]["fired"], 0, "no item fetched alone");

    // Through the facade, with values: get_many of pinned versions.
    let mut refs = Vec::new();
    for i in 0..12 {
        let v = lb
            .put(
                &name("pinned"),
                &SecretValue::from(format!("p{i}")),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        refs.push(SecretRef::pinned(name("pinned"), v));
    }
    let got = lb.get_many(&refs, &EncryptionContext::new()).await.unwrap();
    let values: Vec<&str> = got.iter().map(|s| s.value.expose_str().unwrap()).collect();
    let want: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
    assert_eq!(values, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_versions_are_read_in_one_batch_not_item_by_item() {
    let (fx, lb) = ready().await;
    let mut refs = Vec::new();
    for i in 0..5 {
        let n = name(&format!("b/{i}"));
        let v = lb
            .put(
                &n,
                &SecretValue::from(format!("b{i}")),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        refs.push(SecretRef::pinned(n, v));
    }
    // Any GetItem would now fail: the batch path must not use it.
    add_fault(
        &fx.mock.endpoint_url(),
        json!({"target": "dynamodb:GetItem", "error": "AccessDeniedException"}),
    )
    .await;
    let got = lb.get_many(&refs, &EncryptionContext::new()).await.unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(got[3].value.expose_str().unwrap(), "b3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_never_progresses_ends_in_a_throttled_error_after_eight_calls() {
    let (fx, lb) = ready().await;
    let mut keys = Vec::new();
    for i in 0..3 {
        let v = lb
            .put(
                &name("stuck"),
                &SecretValue::from(format!("s{i}")),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        keys.push((name("stuck"), v));
    }
    let endpoint = fx.mock.endpoint_url();
    add_fault(
        &endpoint,
        json!({"target": "dynamodb:BatchGetItem", "unprocessed_after": 0}),
    )
    .await;
    let err = fx.store().await.get_versions(&keys).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert!(err.to_string().contains("unprocessed"), "{err}");
    let faults = lockbox_tests::faults(&endpoint).await;
    assert_eq!(faults["rules"][0]["fired"], 8, "bounded: {faults}");
}

/// Each class of error a caller branches on (region failover will fail over on
/// `Unavailable` and never on the others) is decided where the AWS error is
/// mapped, whichever service and call fails: driven through fault rules and
/// real conditions on the emulator, one case per class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_gets_its_class() {
    use lockbox::{AwsOptions, ErrorKind};
    let (fx, lb) = ready().await;
    let endpoint = fx.mock.endpoint_url();
    lb.put(&name("c"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    let none = EncryptionContext::new();
    // Fast budgets, so timeouts and retries end quickly.
    let quick = || async {
        let options = AwsOptions {
            attempt_timeout: std::time::Duration::from_millis(300),
            operation_timeout: std::time::Duration::from_secs(5),
            max_attempts: 2,
            ..fx.options(lockbox_tests::KeyChoice::A)
        };
        Lockbox::from_env(&options).await.unwrap().build().unwrap()
    };
    let cases: [(&str, serde_json::Value, ErrorKind); 8] = [
        ("not found", json!(null), ErrorKind::NotFound),
        (
            "denied",
            json!({"target": "kms:Decrypt", "error": "AccessDeniedException"}),
            ErrorKind::Denied,
        ),
        (
            "5xx from KMS",
            json!({"target": "kms:Decrypt", "error": "KMSInternalException", "status": 500}),
            ErrorKind::Unavailable,
        ),
        (
            "503 from DynamoDB",
            json!({"target": "dynamodb:Query", "error": "ServiceUnavailable", "status": 503}),
            ErrorKind::Unavailable,
        ),
        (
            "throttled",
            json!({"target": "dynamodb:Query", "error": "ThrottlingException"}),
            ErrorKind::Throttled,
        ),
        (
            "hangs past the deadline",
            json!({"target": "kms:Decrypt", "latency_ms": 5000}),
            ErrorKind::Timeout,
        ),
        (
            "answer lost on the way",
            json!({"target": "dynamodb:Query", "drop_response": true}),
            ErrorKind::Unavailable,
        ),
        (
            "a client error that is none of these",
            json!({"target": "dynamodb:Query", "error": "ValidationException"}),
            ErrorKind::Other,
        ),
    ];
    for (what, rule, kind) in cases {
        lockbox_tests::clear_faults(&endpoint).await;
        let target = if rule.is_null() {
            name("missing")
        } else {
            add_fault(&endpoint, rule).await;
            name("c")
        };
        let err = quick().await.get(&target, &none).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{what}: {err:?}");
        assert_eq!(
            err.is_retryable(),
            matches!(
                kind,
                ErrorKind::Unavailable | ErrorKind::Throttled | ErrorKind::Timeout
            ),
            "{what}"
        );
        // Every error AWS answered keeps the answer's request id; a lost answer,
        // a timeout or a plain absence has none.
        let answered = !matches!(
            what,
            "not found" | "hangs past the deadline" | "answer lost on the way"
        );
        assert_eq!(err.request_id().is_some(), answered, "{what}: {err:?}");
        if answered {
            let aws = std::error::Error::source(&err)
                .and_then(|s| s.source())
                .expect("the AWS SDK's error under the request id");
            assert!(
                aws.to_string().contains("service error"),
                "{what}: the source is the SDK's error: {aws}"
            );
        }
    }
    lockbox_tests::clear_faults(&endpoint).await;
    // An unreachable endpoint: unavailable.
    let mut options = fx.options(lockbox_tests::KeyChoice::A);
    options.endpoint_url = Some("http://127.0.0.1:1".into());
    options.max_attempts = 1;
    let gone = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let err = gone.get(&name("c"), &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert_eq!(err.request_id(), None);
    // Integrity, usage and an existing version.
    let err = lb
        .get(
            &name("c"),
            &EncryptionContext::from_pairs(["env=x"]).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err:?}");
    let err = lb
        .put(
            &name("c"),
            &"v".into(),
            &PutOptions {
                version: Some(lockbox::Version::FIRST),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:?}");
    assert_eq!(SecretName::new("").unwrap_err().kind(), ErrorKind::Usage);
}

/// `get_all` of 100 secrets: a scan in its segments (one page each here), no
/// query, and one unwrap per secret; `get_many` after a listing costs a query per
/// secret on top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_costs_one_scan_and_one_unwrap_per_secret() {
    let (fx, lb) = ready().await;
    let endpoint = fx.mock.endpoint_url();
    for i in 0..100 {
        for v in 0..2 {
            lb.put(
                &name(&format!("bulk/{i:03}")),
                &format!("{i}.{v}").into(),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        }
    }
    for target in ["dynamodb:Scan", "dynamodb:Query", "kms:Decrypt"] {
        add_fault(&endpoint, json!({"target": target, "latency_ms": 0})).await;
    }
    let fired = || async {
        let rules = lockbox_tests::faults(&endpoint).await;
        let count = |t: &str| {
            rules["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["target"] == t)
                .and_then(|r| r["fired"].as_u64())
                .unwrap()
        };
        (
            count("dynamodb:Scan"),
            count("dynamodb:Query"),
            count("kms:Decrypt"),
        )
    };
    let reader = fx.lockbox().await.build().unwrap();
    let all = reader
        .get_all(&lockbox::AllOptions::new(), &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(all.len(), 100);
    assert!(all.iter().all(|s| s.version.get() == 2));
    let (scans, queries, decrypts) = fired().await;
    assert!(
        (1..=lockbox::lifecycle::DEFAULT_SEGMENTS as u64).contains(&scans),
        "{scans} scans"
    );
    assert_eq!((queries, decrypts), (0, 100));
}

// ---- several regions --------------------------------------------------------------

/// An emulator with a multi-Region key in `us-east-1` replicated to `eu-west-1`
/// (unless `replicate` is false), and a lockbox reading `us-east-1` then
/// `eu-west-1`, set up (the global table and its replica made by `setup`).
async fn two_regions(replicate: bool) -> (EmulatorFixture, Lockbox, String) {
    let fx = EmulatorFixture::start().await;
    let kms = lockbox_tests::kms_client(&fx.mock.endpoint_url());
    let key = kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let arn = key.arn().unwrap().to_owned();
    if replicate {
        kms.replicate_key()
            .key_id(&arn)
            .replica_region("eu-west-1")
            .send()
            .await
            .unwrap();
    }
    // Copies are applied before a write is answered: no waiting in tests.
    fx.mock
        .state()
        .set_replication_lag(std::time::Duration::ZERO, std::time::Duration::ZERO);
    let options = two_region_options(&fx, arn.clone());
    let lb = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    (fx, lb, arn)
}

/// Options reading `us-east-1` then `eu-west-1` with `kms_key`, two attempts a call.
fn two_region_options(fx: &EmulatorFixture, kms_key: String) -> lockbox::AwsOptions {
    lockbox::AwsOptions {
        kms_key,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        max_attempts: 2,
        ..fx.options(lockbox_tests::KeyChoice::A)
    }
}

/// A lockbox of a fresh process (no cache, no memory of its writes) with
/// [`two_region_options`] (two attempts a call).
async fn reader(fx: &EmulatorFixture, kms_key: String) -> Lockbox {
    let options = two_region_options(fx, kms_key);
    Lockbox::from_env(&options).await.unwrap().build().unwrap()
}

/// The home region goes down: KMS and DynamoDB answer 503 there.
fn home_down(fx: &EmulatorFixture) {
    fx.mock
        .faults()
        .add(
            lockbox_mock::FaultRule::new("*")
                .region("us-east-1")
                .error("ServiceUnavailable"),
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fail_over_to_the_next_region_and_writes_stay_home() {
    let (fx, lb, arn) = two_regions(true).await;
    lb.put(&name("db"), &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    // The home region goes down: KMS and DynamoDB answer 503 there.
    home_down(&fx);
    // A fresh process (no cache, no memory of its writes) reads from eu-west-1:
    // the item from the replica, its data key unwrapped by the key's replica.
    let reader = reader(&fx, arn).await;
    let got = reader
        .get(&name("db"), &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "v1");
    // The secret says where it was read and unwrapped.
    assert_eq!(
        (got.region.as_deref(), got.kms_region.as_deref()),
        (Some("eu-west-1"), Some("eu-west-1"))
    );
    // Writes never move to another region by themselves.
    let err = reader
        .put(&name("db"), &"v2".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), lockbox::ErrorKind::Unavailable, "{err}");
    fx.mock.faults().clear();
    assert_eq!(reader.history(&name("db")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_missing_in_a_fallback_region_may_not_have_replicated_yet() {
    let (fx, lb, arn) = two_regions(true).await;
    lb.put(&name("db"), &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    let home = lb
        .get(&name("db"), &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(home.region.as_deref(), Some("us-east-1"));
    fx.mock.state().pause_replication(true);
    lb.put(&name("db"), &"v2".into(), &PutOptions::default())
        .await
        .unwrap();
    home_down(&fx);
    let reader = reader(&fx, arn).await;
    let v2 = lockbox::Version::new(2).unwrap();
    let err = reader
        .get_version(&name("db"), v2, &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), lockbox::ErrorKind::NotFound, "{err}");
    assert!(
        matches!(&err, Error::NotReplicated { region, unavailable, .. }
            if region == "eu-west-1" && unavailable == "us-east-1"),
        "{err}"
    );
    // Pinned versions read together (one batch) say it too, per secret.
    let refs: Vec<SecretRef> = vec!["db@2".parse().unwrap(), "db@1".parse().unwrap()];
    let each = reader.get_each(&refs, &EncryptionContext::new()).await;
    assert!(
        matches!(&each[0], Err(Error::NotReplicated { .. })),
        "{:?}",
        each[0]
    );
    let v1 = each[1].as_ref().unwrap();
    assert_eq!(v1.region.as_deref(), Some("eu-west-1"));
}

/// A reader of `us-east-1` then `eu-west-1` (a fresh process: nothing cached,
/// nothing written) with the SDK's retries on and a short attempt timeout.
async fn fresh_reader(fx: &EmulatorFixture, arn: &str) -> Lockbox {
    let options = lockbox::AwsOptions {
        max_attempts: 5,
        attempt_timeout: std::time::Duration::from_secs(1),
        ..two_region_options(fx, arn.to_owned())
    };
    Lockbox::from_env(&options).await.unwrap().build().unwrap()
}

/// Calls the first fault rule (the home region's) has affected.
fn home_calls(fx: &EmulatorFixture) -> u64 {
    fx.mock.faults().list()[0].fired
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_home_region_gets_one_call_per_read_and_no_retry() {
    const SECRETS: usize = 8;
    let (fx, lb, arn) = two_regions(true).await;
    let names: Vec<SecretName> = (0..SECRETS).map(|i| name(&format!("app/{i}"))).collect();
    for n in &names {
        lb.put(n, &"v".into(), &PutOptions::default())
            .await
            .unwrap();
    }
    // Every call to us-east-1 waits an hour: it times out, never answers.
    fx.mock
        .faults()
        .add(
            lockbox_mock::FaultRule::new("*")
                .region("us-east-1")
                .latency_ms(3_600_000),
        )
        .unwrap();
    let reader = fresh_reader(&fx, &arn).await;
    let got = reader
        .get_map(&names, &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(got.len(), SECRETS);
    for secret in got.values() {
        assert_eq!(
            (secret.region.as_deref(), secret.kms_region.as_deref()),
            (Some("eu-west-1"), Some("eu-west-1"))
        );
    }
    // One call per secret and one for the table's record, each given up at
    // the first timeout (no retry there: eu-west-1 could serve), and every
    // other call abandoned at once: not one timeout per call and attempt.
    let calls = home_calls(&fx);
    assert!(
        (1..=SECRETS as u64 + 1).contains(&calls),
        "{calls} calls to the hanging region"
    );
    // Later reads skip it while it cools down.
    reader
        .get(&names[0], &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(home_calls(&fx), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_region_answering_503_is_retried_once_then_left() {
    const SECRETS: usize = 8;
    let (fx, lb, arn) = two_regions(true).await;
    let names: Vec<SecretName> = (0..SECRETS).map(|i| name(&format!("app/{i}"))).collect();
    for n in &names {
        lb.put(n, &"v".into(), &PutOptions::default())
            .await
            .unwrap();
    }
    home_down(&fx);
    let reader = fresh_reader(&fx, &arn).await;
    let got = reader
        .get_map(&names, &EncryptionContext::new())
        .await
        .unwrap();
    assert!(got
        .values()
        .all(|s| s.region.as_deref() == Some("eu-west-1")));
    // At most two attempts per call (the SDK's five would be up to 45).
    let calls = home_calls(&fx);
    assert!(
        (1..=2 * (SECRETS as u64 + 1)).contains(&calls),
        "{calls} calls to the failing region"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_scans_the_next_region_when_the_home_region_is_down() {
    let (fx, lb, arn) = two_regions(true).await;
    for i in 0..5 {
        lb.put(
            &name(&format!("app/{i}")),
            &format!("v{i}").into(),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    }
    // The home region answering 503, then hanging.
    for hanging in [false, true] {
        fx.mock.faults().clear();
        match hanging {
            false => home_down(&fx),
            true => fx
                .mock
                .faults()
                .add(
                    lockbox_mock::FaultRule::new("*")
                        .region("us-east-1")
                        .latency_ms(3_600_000),
                )
                .unwrap(),
        }
        let reader = fresh_reader(&fx, &arn).await;
        let all = reader
            .get_all(&lockbox::AllOptions::new(), &EncryptionContext::new())
            .await
            .unwrap();
        assert_eq!(all.len(), 5);
        assert!(all.iter().all(|s| s.region.as_deref() == Some("eu-west-1")));
        assert_eq!(all[3].value.expose_str().unwrap(), "v3");
        // The scan's segments and the table's record, at most twice each (a
        // 5xx is retried once in place; a timeout is not).
        let calls = home_calls(&fx);
        let most = 2 * (lockbox::lifecycle::DEFAULT_SEGMENTS as u64 + 1);
        assert!((1..=most).contains(&calls), "{calls} calls to us-east-1");
    }
    // A version the fallback region's scan does not hold may not have
    // replicated yet.
    let reader = fresh_reader(&fx, &arn).await;
    let err = reader
        .get_all(
            &lockbox::AllOptions::new().version(lockbox::Version::new(2).unwrap()),
            &EncryptionContext::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotReplicated { region, .. } if region == "eu-west-1"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_in_the_home_region_is_an_answer_not_an_outage() {
    let (fx, lb, arn) = two_regions(true).await;
    lb.put(&name("db"), &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    fx.mock
        .faults()
        .add(
            lockbox_mock::FaultRule::new("dynamodb:*")
                .region("us-east-1")
                .error("AccessDeniedException"),
        )
        .unwrap();
    let options = lockbox::AwsOptions {
        kms_key: arn,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..fx.options(lockbox_tests::KeyChoice::A)
    };
    let reader = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let err = reader
        .get(&name("db"), &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), lockbox::ErrorKind::Denied, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_region_is_stale_until_the_copy_arrives() {
    let (fx, lb, arn) = two_regions(true).await;
    fx.mock.state().pause_replication(true);
    lb.put(&name("db"), &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    let options = lockbox::AwsOptions {
        kms_key: arn,
        regions: vec!["eu-west-1".into(), "us-east-1".into()],
        write_region: Some("us-east-1".into()),
        ..fx.options(lockbox_tests::KeyChoice::A)
    };
    let west_first = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let err = west_first
        .get(&name("db"), &EncryptionContext::new())
        .await
        .unwrap_err();
    // Read first by choice, not in place of another: plain not found.
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    fx.mock.state().pause_replication(false);
    fx.mock.state().flush_replication();
    let got = west_first
        .get(&name("db"), &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "v1");
    // The writer itself reads its own write from its home region.
    fx.mock.state().pause_replication(true);
    lb.put(&name("db"), &"v2".into(), &PutOptions::default())
        .await
        .unwrap();
    let got = lb
        .get(&name("db"), &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_no_replica_in_the_reading_region_fails_closed() {
    let (fx, lb, arn) = two_regions(false).await;
    lb.put(&name("db"), &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    home_down(&fx);
    let reader = reader(&fx, arn).await;
    let err = reader
        .get(&name("db"), &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), lockbox::ErrorKind::Denied, "{err}");
    assert!(err.to_string().contains("eu-west-1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_region_outside_the_regions_is_a_usage_error() {
    let fx = EmulatorFixture::start().await;
    let options = lockbox::AwsOptions {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        write_region: Some("ap-south-1".into()),
        ..fx.options(lockbox_tests::KeyChoice::A)
    };
    let err = Lockbox::from_env(&options)
        .await
        .unwrap()
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), lockbox::ErrorKind::Usage);
    assert!(err.to_string().contains("add it to --regions"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strong_mode_writers_in_three_regions_each_get_their_own_version() {
    let fx = EmulatorFixture::start().await;
    let kms = lockbox_tests::kms_client(&fx.mock.endpoint_url());
    let key = kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let arn = key.arn().unwrap().to_owned();
    let regions = ["us-east-1", "us-east-2", "us-west-2"];
    for r in &regions[1..] {
        kms.replicate_key()
            .key_id(&arn)
            .replica_region(*r)
            .send()
            .await
            .unwrap();
    }
    // EVENTUAL copies would lag a second; a STRONG table copies before answering.
    fx.mock.state().set_replication_lag(
        std::time::Duration::from_secs(3600),
        std::time::Duration::ZERO,
    );
    let writer_in = |home: usize| {
        let mut order: Vec<String> = vec![regions[home].to_owned()];
        order.extend(
            regions
                .iter()
                .filter(|r| **r != regions[home])
                .map(|r| r.to_string()),
        );
        lockbox::AwsOptions {
            kms_key: arn.clone(),
            regions: order,
            ..fx.options(lockbox_tests::KeyChoice::A)
        }
    };
    let setup = Lockbox::from_env(&writer_in(0))
        .await
        .unwrap()
        .strong_consistency(true)
        .build()
        .unwrap();
    setup.setup(TableMode::Sealed, &[]).await.unwrap();
    let (writers, puts) = (12usize, 10usize);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let lb = Lockbox::from_env(&writer_in(w % 3))
            .await
            .unwrap()
            .build()
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..puts {
                let value = SecretValue::from(format!("{w}-{i}"));
                let v = lb
                    .put(&name("shared"), &value, &PutOptions::default())
                    .await
                    .unwrap();
                mine.push((v.get(), format!("{w}-{i}")));
            }
            mine
        }));
    }
    let mut all = std::collections::BTreeMap::new();
    for t in tasks {
        for (v, value) in t.await.unwrap() {
            assert!(all.insert(v, value).is_none(), "version {v} given twice");
        }
    }
    assert_eq!(all.len(), writers * puts);
    // Every region holds every version with the value its writer put.
    for home in 0..3 {
        let reader = Lockbox::from_env(&writer_in(home))
            .await
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            reader.history(&name("shared")).await.unwrap().len(),
            writers * puts
        );
        for v in [1u64, (writers * puts) as u64] {
            let got = reader
                .get_version(
                    &name("shared"),
                    lockbox::Version::new(v).unwrap(),
                    &EncryptionContext::new(),
                )
                .await
                .unwrap();
            assert_eq!(got.value.expose_str().unwrap(), all[&v]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_home_region_times_out_once_and_reads_move_on() {
    let (fx, lb, arn) = two_regions(true).await;
    let refs: Vec<SecretRef> = (0..20)
        .map(|i| SecretRef::latest(name(&format!("app/{i}"))))
        .collect();
    for r in &refs {
        lb.put(
            &r.name,
            &SecretValue::from(r.name.to_string()),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    }
    // us-east-1 answers nothing for three seconds: every attempt there times out.
    fx.mock
        .faults()
        .add(
            lockbox_mock::FaultRule::new("*")
                .region("us-east-1")
                .latency_ms(3000),
        )
        .unwrap();
    let options = lockbox::AwsOptions {
        kms_key: arn,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        max_attempts: 2,
        attempt_timeout: std::time::Duration::from_millis(200),
        operation_timeout: std::time::Duration::from_millis(500),
        ..fx.options(lockbox_tests::KeyChoice::A)
    };
    let reader = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let got = reader
        .get_many(&refs, &EncryptionContext::new())
        .await
        .unwrap();
    for (r, secret) in refs.iter().zip(&got) {
        assert_eq!(secret.value.expose_str().unwrap(), r.name.as_str());
    }
    fx.mock.faults().clear();
}
