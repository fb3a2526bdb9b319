//! Version labels, staged rotation and JSON fields: the label contract against
//! each backend, then what only the emulator shows (call counts).

mod memory {
    lockbox_tests::labels_suite!(lockbox_tests::MemoryFixture::default());
}

mod emulator {
    lockbox_tests::labels_suite!(lockbox_tests::EmulatorFixture::start().await);
}

use std::collections::BTreeMap;

use lockbox::backend::TableMode;
use lockbox::envelope::{Attr, Envelope};
use lockbox::format::labels as doc_format;
use lockbox::{
    EncryptionContext, Error, ErrorKind, Label, LabelCondition, Lockbox, PutOptions, RotateOptions,
    SecretName, SecretRef, SecretValue, Version,
};
use lockbox_tests::{EmulatorFixture, Fixture};

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

fn none() -> EncryptionContext {
    EncryptionContext::new()
}

fn v(n: u64) -> Version {
    Version::new(n).unwrap()
}

async fn put(lb: &Lockbox, n: &str, value: &[u8]) {
    lb.put(
        &name(n),
        &SecretValue::from_slice(value),
        &PutOptions::default(),
    )
    .await
    .unwrap();
}

/// The operations counted: one rule each (0 ms) before catch-alls, so every
/// call is counted by exactly one rule.
const COUNTED: [&str; 8] = [
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "kms:Decrypt",
    "dynamodb:DescribeTable",
    "dynamodb:ListTagsOfResource",
    "dynamodb:*",
    "kms:*",
];

/// The calls a fresh reader makes to fetch `names` un-pinned, by operation.
async fn calls_to_read(fx: &EmulatorFixture, names: &[SecretName]) -> BTreeMap<String, u64> {
    let ep = fx.mock.endpoint_url();
    lockbox_tests::clear_faults(&ep).await;
    for target in COUNTED {
        lockbox_tests::add_fault(&ep, serde_json::json!({"target": target, "latency_ms": 0})).await;
    }
    let reader = fx.lockbox().await.build().unwrap();
    let refs: Vec<SecretRef> = names.iter().cloned().map(SecretRef::latest).collect();
    let got = reader.get_many(&refs, &none()).await.unwrap();
    for s in &got {
        assert_eq!(
            s.value.expose_str().unwrap(),
            "live",
            "{}: the un-pinned read returns the live value",
            s.name
        );
    }
    let fired = lockbox_tests::fired(&ep).await;
    lockbox_tests::clear_faults(&ep).await;
    fired
}

/// Reading N labelled secrets (the label document first in the query's answer,
/// with a copy of `current`) costs exactly the calls reading N unlabelled ones
/// does: one Query and one Decrypt each, no GetItem. A `current` too large to
/// copy costs one GetItem more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_reads_cost_the_calls_unlabelled_reads_do() {
    const N: usize = 24;
    let fx = EmulatorFixture::start().await;
    let lb = fx.lockbox().await.build().unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    let plain: Vec<SecretName> = (0..N).map(|i| name(&format!("plain/{i:02}"))).collect();
    let labelled: Vec<SecretName> = (0..N).map(|i| name(&format!("labelled/{i:02}"))).collect();
    for n in &plain {
        put(&lb, n.as_str(), b"old").await;
        put(&lb, n.as_str(), b"live").await;
    }
    for (i, n) in labelled.iter().enumerate() {
        put(&lb, n.as_str(), b"old").await;
        put(&lb, n.as_str(), b"live").await;
        // Half of them mid-rotation (a pending version above current), half
        // with a label of the user's (current pinned at the highest).
        if i % 2 == 0 {
            lb.rotate_start(n, &SecretValue::from("not yet"), &RotateOptions::default())
                .await
                .unwrap();
        } else {
            lb.set_label(
                n,
                &Label::new("stable").unwrap(),
                v(1),
                LabelCondition::Absent,
            )
            .await
            .unwrap();
        }
    }
    let unlabelled = calls_to_read(&fx, &plain).await;
    let with_labels = calls_to_read(&fx, &labelled).await;
    assert_eq!(
        with_labels, unlabelled,
        "the same calls, operation by operation"
    );
    assert_eq!(with_labels["dynamodb:Query"], N as u64);
    assert_eq!(with_labels["kms:Decrypt"], N as u64);
    assert_eq!(with_labels["dynamodb:GetItem"], 0);
    assert_eq!(with_labels["dynamodb:BatchGetItem"], 0);

    // A value so large its copy would not fit in the document: read by its key.
    let big = name("big/cert");
    let mut value = vec![b'x'; 380 * 1024];
    value.extend_from_slice(b"live");
    put(&lb, "big/cert", &value).await;
    lb.set_label(
        &big,
        &Label::new("stable").unwrap(),
        v(1),
        LabelCondition::Absent,
    )
    .await
    .unwrap();
    let store = fx.store().await;
    let doc = store
        .get_item("big/cert", doc_format::SORT_KEY)
        .await
        .unwrap()
        .unwrap();
    assert!(doc.keys().all(|k| !k.starts_with(doc_format::COPY_PREFIX)));
    let ep = fx.mock.endpoint_url();
    for target in COUNTED {
        lockbox_tests::add_fault(&ep, serde_json::json!({"target": target, "latency_ms": 0})).await;
    }
    let got = fx
        .lockbox()
        .await
        .build()
        .unwrap()
        .get(&big, &none())
        .await
        .unwrap();
    assert_eq!(got.value.len(), value.len());
    let fired = lockbox_tests::fired(&ep).await;
    assert_eq!((fired["dynamodb:Query"], fired["dynamodb:GetItem"]), (1, 1));
}

/// What a table writer can and cannot do with a label document (SECURITY.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_document_attacks_are_refused_where_they_can_be_told() {
    let fx = EmulatorFixture::start().await;
    let lb = fx.lockbox().await.build().unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    let store = fx.store().await;
    let n = name("app/key");
    put(&lb, "app/key", b"one").await;
    put(&lb, "app/key", b"two").await;
    lb.set_label(
        &n,
        &Label::new("stable").unwrap(),
        v(1),
        LabelCondition::Absent,
    )
    .await
    .unwrap();
    let doc_at = |store: std::sync::Arc<dyn lockbox::backend::SecretStore>| async move {
        store
            .get_item("app/key", doc_format::SORT_KEY)
            .await
            .unwrap()
            .unwrap()
    };
    let old_doc = doc_at(store.clone()).await; // revision 1: current = 2
    lb.rotate_start(&n, &SecretValue::from("three"), &RotateOptions::default())
        .await
        .unwrap();
    let started = lb.rotate_finish(&n, None).await.unwrap();
    assert_eq!(started.labels.current(), Some(v(3)));
    let reader = fx.lockbox().await.build().unwrap();
    assert_eq!(reader.get(&n, &none()).await.unwrap().version, v(3));

    // An older label document put back: the reader that read a newer
    // revision refuses it (a fresh reader cannot tell).
    let newest = doc_at(store.clone()).await;
    store.delete(&n, doc_format::SORT_KEY).await.unwrap();
    assert!(store.put_if_absent(&old_doc).await.unwrap());
    let err = reader.get(&n, &none()).await.unwrap_err();
    assert!(
        matches!(err, Error::LabelRollback { got: Some(1), .. }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Integrity);
    assert_eq!(
        fx.lockbox()
            .await
            .build()
            .unwrap()
            .get(&n, &none())
            .await
            .unwrap()
            .version,
        v(2)
    );

    // The label document deleted: the reader that read it refuses the highest
    // version in its place.
    store.delete(&n, doc_format::SORT_KEY).await.unwrap();
    let err = reader.get(&n, &none()).await.unwrap_err();
    assert!(
        matches!(err, Error::LabelRollback { got: None, .. }),
        "{err}"
    );

    // `current` relabelled without a new revision, copy left: the copy no
    // longer opens as the version the label names.
    let mut forged = newest.clone();
    forged.insert(
        doc_format::LABELS.into(),
        Attr::S("current=2,previous=3,stable=1".into()),
    );
    assert!(store.put_if_absent(&forged).await.unwrap());
    let err = fx
        .lockbox()
        .await
        .build()
        .unwrap()
        .get(&n, &none())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    // ... and with version 2's own attributes copied in: a reader that read
    // this revision naming version 3 refuses it (a fresh reader cannot tell a
    // forged move from a real one, as with any table writer's move).
    let two = store
        .get_item("app/key", &v(2).sort_key())
        .await
        .unwrap()
        .unwrap();
    for (k, val) in two.iter().filter(|(k, _)| *k != "name" && *k != "version") {
        forged.insert(format!("{}{k}", doc_format::COPY_PREFIX), val.clone());
    }
    store.delete(&n, doc_format::SORT_KEY).await.unwrap();
    assert!(store.put_if_absent(&forged).await.unwrap());
    let witness = fx.lockbox().await.build().unwrap();
    store.delete(&n, doc_format::SORT_KEY).await.unwrap();
    assert!(store.put_if_absent(&newest).await.unwrap());
    assert_eq!(witness.get(&n, &none()).await.unwrap().version, v(3));
    store.delete(&n, doc_format::SORT_KEY).await.unwrap();
    assert!(store.put_if_absent(&forged).await.unwrap());
    let err = witness.get(&n, &none()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(err.to_string().contains("without a new revision"), "{err}");

    // A lockbox reader from before labels meets the document first and fails
    // clearly, naming its format, instead of reading a version.
    let err = Envelope::parse(&newest).unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
    assert!(err.to_string().contains("lockbox-labels-1"), "{err}");
}

/// A label document planted in a table shared with credstash (lockbox never
/// writes one there) is refused, not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_document_in_a_credstash_table_is_refused() {
    let fx = EmulatorFixture::start().await;
    let sealed = fx.lockbox().await.build().unwrap();
    sealed.setup(TableMode::Sealed, &[]).await.unwrap();
    put(&sealed, "x", b"one").await;
    sealed
        .set_label(
            &name("x"),
            &Label::new("stable").unwrap(),
            v(1),
            LabelCondition::Absent,
        )
        .await
        .unwrap();
    let doc = fx
        .store()
        .await
        .get_item("x", doc_format::SORT_KEY)
        .await
        .unwrap()
        .unwrap();

    let other = lockbox_tests::EmulatorFixture {
        table: "shared".into(),
        ..fx
    };
    let lb = other.lockbox().await.build().unwrap();
    lb.setup(TableMode::Credstash, &[]).await.unwrap();
    put(&lb, "x", b"credstash").await;
    let mut planted = doc.clone();
    planted.retain(|k, _| !k.starts_with(doc_format::COPY_PREFIX));
    planted.insert(doc_format::LABELS.into(), Attr::S("current=1".into()));
    assert!(other.store().await.put_if_absent(&planted).await.unwrap());
    let err = lb.get(&name("x"), &none()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(err.to_string().contains("label document"), "{err}");
}
