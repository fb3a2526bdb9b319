//! The attack suite: forged, tampered, swapped and downgraded items against the
//! AWS backends on the emulator. Every case must end in a typed error, and no
//! case may return the plaintext.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_kms::primitives::Blob;
use lockbox::backend::TableMode;
use lockbox::envelope::{Attr, Attributes};
use lockbox::format::sealed;
use lockbox::{
    EncryptionContext, Error, ErrorKind, FormatPolicy, Lockbox, PutOptions, SecretName, SecretRef,
    SecretValue, Version,
};
use lockbox_tests::{kms_client, EmulatorFixture, Fixture, KeyChoice};

const CANARY: &str = "canary-7f3a9c-plaintext";

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

fn none() -> EncryptionContext {
    EncryptionContext::new()
}

async fn sealed_table() -> (EmulatorFixture, Lockbox) {
    let fx = EmulatorFixture::start().await;
    let lb = fx.lockbox().await.build().unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    (fx, lb)
}

/// Store the canary and return its item as stored.
async fn canary_item(
    fx: &EmulatorFixture,
    lb: &Lockbox,
    n: &str,
    ctx: &EncryptionContext,
) -> Attributes {
    let opts = PutOptions {
        context: ctx.clone(),
        ..PutOptions::default()
    };
    let v = lb.put(&name(n), &CANARY.into(), &opts).await.unwrap();
    fx.store()
        .await
        .get_version(&name(n), v)
        .await
        .unwrap()
        .unwrap()
}

/// The canary sealed as the next version of `n` with `ctx` by a writer that calls
/// KMS and DynamoDB itself instead of `Lockbox::put`; returns the item.
async fn sealed_around_lockbox(
    fx: &EmulatorFixture,
    lb: &Lockbox,
    n: &str,
    ctx: &EncryptionContext,
) -> Attributes {
    use lockbox::backend::KeyService as _;
    let store = fx.store().await;
    let version = match store.latest_version(&name(n)).await.unwrap() {
        Some(latest) => latest.version.unwrap().next().unwrap(),
        None => Version::FIRST,
    };
    let record = lb.table_record().await.unwrap();
    let n = name(n);
    let metadata = lockbox::envelope::Metadata::default();
    let request = lockbox::envelope::data_key_request(&lockbox::envelope::Sealing {
        format: lockbox::envelope::WriteFormat::Sealed,
        name: &n,
        version,
        context: ctx,
        store: record.store.as_deref(),
        metadata: &metadata,
    })
    .unwrap();
    let keys = lockbox::backend::KmsKeyService::new(kms_client(&fx.mock.endpoint_url()), "alias/A");
    let key = keys
        .generate_data_key(request.bytes(), request.context())
        .await
        .unwrap();
    let item = lockbox::envelope::seal(&request, CANARY.as_bytes(), &key).unwrap();
    store.put_new(&item).await.unwrap();
    item
}

/// The binding context (the KMS context) of version 1 of `n`, as sealed in this table.
async fn binding_of(lb: &Lockbox, n: &str) -> EncryptionContext {
    let record = lb.table_record().await.unwrap();
    let n = name(n);
    sealed::Binding {
        revision: sealed::Revision::V2,
        name: &n,
        version: Version::FIRST,
        store: record.store.as_deref(),
    }
    .context(&none())
    .unwrap()
}

/// Open a forged item; it must fail with a typed error and never yield the canary.
async fn must_refuse(
    lb: &Lockbox,
    item: &Attributes,
    ctx: &EncryptionContext,
    what: &str,
) -> Error {
    match lb.open_item(item, ctx).await {
        Ok(secret) => panic!(
            "{what}: accepted (plaintext is canary: {})",
            secret.value.expose_str().ok() == Some(CANARY)
        ),
        Err(e) => {
            assert!(
                !e.to_string().contains(CANARY),
                "{what}: plaintext in error"
            );
            assert!(
                !format!("{e:?}").contains(CANARY),
                "{what}: plaintext in Debug"
            );
            e
        }
    }
}

/// The attributes that carry bytes an attacker can flip: (name, bytes, is_string).
fn flippable(item: &Attributes) -> Vec<(String, Vec<u8>, bool)> {
    item.iter()
        .filter_map(|(k, v)| match v {
            Attr::B(b) => Some((k.clone(), b.clone(), false)),
            Attr::S(s) => Some((k.clone(), s.as_bytes().to_vec(), true)),
            Attr::Ss(ss) => Some((k.clone(), ss.join("\u{1f}").into_bytes(), true)),
            _ => None,
        })
        .filter(|(k, _, _)| k != "comment" && k != "created_at")
        .collect()
}

fn with_bytes(
    item: &Attributes,
    attr: &str,
    bytes: Vec<u8>,
    is_string: bool,
) -> Option<Attributes> {
    let mut forged = item.clone();
    let value = if is_string {
        let s = String::from_utf8(bytes).ok()?;
        match &item[attr] {
            Attr::Ss(_) => Attr::Ss(s.split('\u{1f}').map(str::to_owned).collect()),
            _ => Attr::S(s),
        }
    } else {
        Attr::B(bytes)
    };
    forged.insert(attr.to_owned(), value);
    Some(forged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_bit_flip_in_every_attribute_is_refused() {
    let (fx, lb) = sealed_table().await;
    let ctx = EncryptionContext::from_pairs(["env=prod"]).unwrap();
    let item = canary_item(&fx, &lb, "flip/me", &ctx).await;
    let mut tried = BTreeMap::new();
    for (attr, bytes, is_string) in flippable(&item) {
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            // A flip that breaks UTF-8 in a string attribute cannot be stored in
            // DynamoDB as a string; every other flip is tried.
            let Some(forged) = with_bytes(&item, &attr, b, is_string) else {
                continue;
            };
            must_refuse(&lb, &forged, &ctx, &format!("{attr} bit {bit}")).await;
            *tried.entry(attr.clone()).or_insert(0) += 1;
        }
    }
    for attr in [
        "key",
        "salt",
        "nonce",
        "commitment",
        "contents",
        "format",
        "name",
        "version",
        "context_keys",
    ] {
        assert!(
            tried.get(attr).copied().unwrap_or(0) > 0,
            "no flips tried in {attr}: {tried:?}"
        );
    }
    assert_eq!(tried["salt"], sealed::SALT_LEN * 8);
    // The untouched item still opens.
    let ok = lb.open_item(&item, &ctx).await.unwrap();
    assert_eq!(ok.value.expose_str().unwrap(), CANARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_truncation_removal_and_wrong_type_is_refused() {
    let (fx, lb) = sealed_table().await;
    let ctx = EncryptionContext::from_pairs(["env=prod"]).unwrap();
    let item = canary_item(&fx, &lb, "trunc/me", &ctx).await;
    for (attr, bytes, is_string) in flippable(&item) {
        for len in 0..bytes.len() {
            if let Some(forged) = with_bytes(&item, &attr, bytes[..len].to_vec(), is_string) {
                must_refuse(&lb, &forged, &ctx, &format!("{attr} truncated to {len}")).await;
            }
        }
    }
    for attr in item
        .keys()
        .filter(|k| *k != "comment" && *k != "created_at")
    {
        let mut forged = item.clone();
        forged.remove(attr);
        let e = must_refuse(&lb, &forged, &ctx, &format!("{attr} removed")).await;
        assert!(
            matches!(
                e,
                Error::Integrity { .. }
                    | Error::UnsupportedFormat { .. }
                    | Error::ContextMismatch { .. }
            ),
            "{attr} removed: {e:?}"
        );
        for wrong in [
            Attr::N("1".into()),
            Attr::Other("BOOL".into()),
            Attr::Other("M".into()),
            match &item[attr] {
                Attr::B(b) => Attr::S(String::from_utf8_lossy(b).into_owned()),
                Attr::S(s) => Attr::B(s.as_bytes().to_vec()),
                Attr::Ss(ss) => Attr::S(ss.join(",")),
                other => other.clone(),
            },
        ] {
            let mut forged = item.clone();
            forged.insert(attr.clone(), wrong.clone());
            must_refuse(
                &lb,
                &forged,
                &ctx,
                &format!("{attr} as {}", wrong.type_tag()),
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_items_are_refused_by_name_version_and_context() {
    let (fx, lb) = sealed_table().await;
    let store = fx.store().await;
    let prod = EncryptionContext::from_pairs(["env=prod"]).unwrap();
    let dev = EncryptionContext::from_pairs(["env=dev"]).unwrap();
    let item = canary_item(&fx, &lb, "swap/src", &prod).await;

    let mut other_name = item.clone();
    other_name.insert("name".into(), Attr::S("swap/dst".into()));
    store.put_new(&other_name).await.unwrap();
    let e = lb.get(&name("swap/dst"), &prod).await.unwrap_err();
    assert!(!e.to_string().contains(CANARY));

    let mut other_version = item.clone();
    other_version.insert(
        "version".into(),
        Attr::S(Version::new(7).unwrap().sort_key()),
    );
    store.put_new(&other_version).await.unwrap();
    let e = lb
        .get_version(&name("swap/src"), Version::new(7).unwrap(), &prod)
        .await
        .unwrap_err();
    assert!(!e.to_string().contains(CANARY));

    // Read with another context value: KMS refuses the unwrap.
    let e = lb.get(&name("swap/src"), &dev).await.unwrap_err();
    assert!(matches!(e, Error::ContextMismatch { .. }), "{e:?}");
    // Relabel the stored context keys to match another context: still refused.
    let mut relabeled = item.clone();
    relabeled.insert("context_keys".into(), Attr::Ss(vec!["team".into()]));
    let team = EncryptionContext::from_pairs(["team=prod"]).unwrap();
    must_refuse(&lb, &relabeled, &team, "context keys relabeled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downgrades_are_refused() {
    let (fx, lb) = sealed_table().await;
    // A credstash-format item in a sealed table: a sealed table never writes one
    // (FormatPolicy::Credstash is refused), so it is put there around lockbox.
    let legacy_writer = fx
        .lockbox()
        .await
        .format(FormatPolicy::Credstash(lockbox::envelope::Digest::Sha256))
        .build()
        .unwrap();
    let e = legacy_writer
        .put(&name("down/legacy"), &CANARY.into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage, "{e:?}");
    let legacy = lockbox::envelope::seal(
        &lockbox::envelope::data_key_request(&lockbox::envelope::Sealing {
            format: lockbox::envelope::WriteFormat::Credstash(lockbox::envelope::Digest::Sha256),
            name: &name("down/legacy"),
            version: Version::FIRST,
            context: &none(),
            store: None,
            metadata: &Default::default(),
        })
        .unwrap(),
        CANARY.as_bytes(),
        &lockbox::backend::DataKey::new(vec![7; 64], b"blob".to_vec()),
    )
    .unwrap();
    fx.store().await.put_new(&legacy).await.unwrap();
    let strict = fx.lockbox().await.require_sealed(true).build().unwrap();
    let e = strict.get(&name("down/legacy"), &none()).await.unwrap_err();
    assert!(matches!(e, Error::UnsupportedFormat { .. }), "{e:?}");
    // The default reader of a sealed table refuses it too, before any KMS call
    // (the blob above would fail there with another error).
    let e = lb.get(&name("down/legacy"), &none()).await.unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    assert!(e.to_string().contains("whose mode is sealed"), "{e}");

    // A sealed item relabeled as another format id, or stripped of its id.
    let item = canary_item(&fx, &lb, "down/sealed", &none()).await;
    // (`lockbox-sealed-1` is a known id, but a reader accepts it only when told to.)
    for id in [
        "lockbox-sealed-0",
        "lockbox-sealed-1",
        "lockbox-sealed-3",
        "",
        "credstash",
    ] {
        let mut forged = item.clone();
        forged.insert("format".into(), Attr::S(id.into()));
        let e = must_refuse(&strict, &forged, &none(), id).await;
        assert!(matches!(e, Error::UnsupportedFormat { .. }), "{id}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_key_rewrapped_under_another_usable_key_is_refused() {
    let (fx, lb) = sealed_table().await;
    let item = canary_item(&fx, &lb, "subst/x", &none()).await;
    let Attr::B(blob) = &item["key"] else {
        panic!("sealed key is binary")
    };
    let kms = kms_client(&fx.mock.endpoint_url());
    let binding = binding_of(&lb, "subst/x").await;
    // The attacker may use key B (ReEncrypt needs only their own KMS rights).
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .set_source_encryption_context(Some(binding.to_map()))
        .set_destination_encryption_context(Some(binding.to_map()))
        .destination_key_id("alias/B")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let mut forged = item.clone();
    forged.insert("key".into(), Attr::B(moved.into_inner()));
    let e = must_refuse(&lb, &forged, &none(), "rewrapped under B").await;
    assert!(matches!(e, Error::UntrustedKey { .. }), "{e:?}");
    // A reader that also trusts B reads it: the refusal is the pinning, not damage.
    let ab = fx
        .lockbox_with_keys(KeyChoice::AandB)
        .await
        .build()
        .unwrap();
    assert_eq!(
        ab.open_item(&forged, &none())
            .await
            .unwrap()
            .value
            .expose_str()
            .unwrap(),
        CANARY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_key_that_does_not_match_the_commitment_is_refused() {
    let (fx, lb) = sealed_table().await;
    let item = canary_item(&fx, &lb, "commit/x", &none()).await;
    // An attacker with GenerateDataKey under the same key and the same binding
    // context wraps a different data key of their own.
    let kms = kms_client(&fx.mock.endpoint_url());
    let binding = binding_of(&lb, "commit/x").await;
    let other = kms
        .generate_data_key()
        .key_id("alias/A")
        .number_of_bytes(32)
        .set_encryption_context(Some(binding.to_map()))
        .send()
        .await
        .unwrap();
    let mut forged = item.clone();
    forged.insert(
        "key".into(),
        Attr::B(other.ciphertext_blob.unwrap().into_inner()),
    );
    let e = must_refuse(&lb, &forged, &none(), "other data key").await;
    match e {
        Error::Integrity { reason, .. } => assert!(reason.contains("commitment"), "{reason}"),
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_differing_only_at_a_boundary_never_open_each_other() {
    let (fx, lb) = sealed_table().await;
    let make = |pairs: &[(&str, &str)]| {
        let mut c = EncryptionContext::new();
        for (k, v) in pairs {
            c.insert(*k, *v).unwrap();
        }
        c
    };
    let contexts = [
        make(&[("ab", "c")]),
        make(&[("a", "bc")]),
        make(&[("a=b", "c")]),
        make(&[("a", "b=c")]),
        make(&[("a,b", "c")]),
        make(&[("a", "b"), ("c", "")]),
        make(&[("a/b", "c")]),
        make(&[("a", "b/c")]),
        make(&[("a\0", "bc")]),
        make(&[("a", "\0bc")]),
    ];
    let names = ["ctx/a=b", "ctx/a,b", "ctx/a/b", "ctx/ab"];
    for (i, ctx) in contexts.iter().enumerate() {
        let n = names[i % names.len()];
        // `put` refuses a context key holding a NUL (an invisible character):
        // such items are sealed around it, as another writer could.
        let item = if ctx.keys().any(|k| k.contains('\0')) {
            sealed_around_lockbox(&fx, &lb, n, ctx).await
        } else {
            canary_item(&fx, &lb, n, ctx).await
        };
        for (j, other) in contexts.iter().enumerate() {
            if i == j {
                assert_eq!(
                    lb.open_item(&item, other)
                        .await
                        .unwrap()
                        .value
                        .expose_str()
                        .unwrap(),
                    CANARY
                );
            } else {
                must_refuse(&lb, &item, other, &format!("{ctx:?} read as {other:?}")).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_puts_of_one_value_share_no_salt_nonce_or_wrapped_key() {
    let (fx, lb) = sealed_table().await;
    let n = name("unique");
    let value = SecretValue::from("same value every time");
    for _ in 0..1000 {
        lb.put(&n, &value, &PutOptions::default()).await.unwrap();
    }
    let store = fx.store().await;
    let (mut salts, mut nonces, mut keys, mut contents) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for s in lb.history(&n).await.unwrap() {
        let item = store
            .get_version(&n, s.version.unwrap())
            .await
            .unwrap()
            .unwrap();
        for (attr, set) in [
            ("salt", &mut salts),
            ("nonce", &mut nonces),
            ("key", &mut keys),
            ("contents", &mut contents),
        ] {
            let Attr::B(b) = &item[attr] else {
                panic!("{attr} is binary")
            };
            set.insert(b.clone());
        }
    }
    assert_eq!(salts.len(), 1000);
    assert_eq!(nonces.len(), 1000);
    assert_eq!(keys.len(), 1000);
    assert_eq!(contents.len(), 1000);
}

// ---------------------------------------------------------------------------
// What a table records (its mode, store identity and key) and what it serves.
// ---------------------------------------------------------------------------

/// A lockbox on the fixture's emulator for `table`, writing under `alias/A`.
async fn lockbox_for(fx: &EmulatorFixture, table: &str) -> lockbox::LockboxBuilder {
    let mut options = fx.options(KeyChoice::A);
    options.table = table.to_owned();
    Lockbox::from_env(&options).await.unwrap()
}

/// Copy `name`/`sort_key` from `src` into `dst` as `new_name`/`new_key`, as a
/// writer of items with no KMS permission would (GetItem, then PutItem).
async fn copy_item(
    fx: &EmulatorFixture,
    (src, name, sort_key): (&str, &str, &str),
    (dst, new_name, new_key): (&str, &str, &str),
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let ddb = lockbox_tests::ddb_client(&fx.mock.endpoint_url());
    let mut item = ddb
        .get_item()
        .table_name(src)
        .key("name", AttributeValue::S(name.into()))
        .key("version", AttributeValue::S(sort_key.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the item to copy");
    item.insert("name".into(), AttributeValue::S(new_name.into()));
    item.insert("version".into(), AttributeValue::S(new_key.into()));
    ddb.put_item()
        .table_name(dst)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// Counts KMS Decrypt calls: a fault rule that changes nothing but counts.
async fn count_decrypts(
    fx: &EmulatorFixture,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
    let ep = fx.mock.endpoint_url();
    lockbox_tests::add_fault(
        &ep,
        serde_json::json!({"target": "kms:Decrypt", "latency_ms": 0}),
    )
    .await;
    move || {
        let ep = ep.clone();
        Box::pin(async move {
            let rules = lockbox_tests::faults(&ep).await;
            rules["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["target"] == "kms:Decrypt")
                .and_then(|r| r["fired"].as_u64())
                .unwrap()
        })
    }
}

fn expect_downgrade_refused(e: &Error, what: &str) {
    assert!(matches!(e, Error::Integrity { .. }), "{what}: {e:?}");
    assert_eq!(e.kind(), ErrorKind::Integrity, "{what}");
    let text = e.to_string();
    assert!(text.contains("app/a"), "{what}: names the secret: {text}");
    assert!(
        text.contains("credstash's format") && text.contains("whose mode is sealed"),
        "{what}: {text}"
    );
    assert!(text.contains("lockbox doctor"), "{what}: {text}");
    assert!(!text.contains("attacker-chosen"), "{what}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credstash_item_copied_into_a_sealed_table_is_refused_on_every_read_path() {
    let fx = EmulatorFixture::start().await;
    let sealed = lockbox_for(&fx, "sealed-store").await.build().unwrap();
    sealed.setup(TableMode::Sealed, &[]).await.unwrap();
    sealed
        .put(&name("app/a"), &"genuine".into(), &PutOptions::default())
        .await
        .unwrap();
    // An older credstash table on the same key.
    let legacy = lockbox_for(&fx, "legacy-store").await.build().unwrap();
    legacy.setup(TableMode::Credstash, &[]).await.unwrap();
    legacy
        .put(
            &name("other/thing"),
            &"attacker-chosen".into(),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    let v1 = Version::FIRST.sort_key();
    let v2 = Version::new(2).unwrap().sort_key();
    copy_item(
        &fx,
        ("legacy-store", "other/thing", &v1),
        ("sealed-store", "app/a", &v2),
    )
    .await;

    let decrypts = count_decrypts(&fx).await;
    let a = name("app/a");
    let two = Version::new(2).unwrap();
    let reader = lockbox_for(&fx, "sealed-store").await.build().unwrap();
    expect_downgrade_refused(&reader.get(&a, &none()).await.unwrap_err(), "get");
    expect_downgrade_refused(
        &reader.get_version(&a, two, &none()).await.unwrap_err(),
        "get -v",
    );
    expect_downgrade_refused(
        &reader
            .fetch(&SecretRef::pinned(a.clone(), two), &none())
            .await
            .unwrap_err(),
        "fetch",
    );
    for refs in [
        vec![SecretRef::latest(a.clone())],
        vec![
            SecretRef::pinned(a.clone(), two),
            SecretRef::pinned(name("app/missing"), two),
        ],
    ] {
        expect_downgrade_refused(
            &reader.get_many(&refs, &none()).await.unwrap_err(),
            "get_many",
        );
        let each = reader.get_each(&refs, &none()).await;
        expect_downgrade_refused(each[0].as_ref().unwrap_err(), "get_each");
    }
    // A new reader for each, so no earlier refusal is remembered.
    let cached = lockbox_for(&fx, "sealed-store")
        .await
        .cache_ttl(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    expect_downgrade_refused(&cached.get(&a, &none()).await.unwrap_err(), "cache");
    expect_downgrade_refused(&cached.get(&a, &none()).await.unwrap_err(), "cache again");
    let fresh = lockbox_for(&fx, "sealed-store").await.build().unwrap();
    expect_downgrade_refused(
        &fresh.rollback(&a, two, &none()).await.unwrap_err(),
        "rollback's source",
    );
    assert_eq!(decrypts().await, 0, "the refused item never reached KMS");
    assert_eq!(
        sealed.history(&a).await.unwrap().len(),
        2,
        "rollback wrote nothing"
    );

    // A reader that pins the mode itself refuses it without the table's record.
    let pinned = lockbox_for(&fx, "sealed-store")
        .await
        .table_mode(TableMode::Sealed)
        .build()
        .unwrap();
    expect_downgrade_refused(&pinned.get(&a, &none()).await.unwrap_err(), "pinned");
    assert_eq!(decrypts().await, 0);

    // Only an explicit migration window serves it.
    let window = lockbox_for(&fx, "sealed-store")
        .await
        .accept_credstash_items(true)
        .build()
        .unwrap();
    let got = window.get(&a, &none()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "attacker-chosen");

    // The same copy into a credstash-mode table reads: it binds nothing there to
    // protect, as credstash itself never did.
    copy_item(
        &fx,
        ("legacy-store", "other/thing", &v1),
        ("legacy-store", "app/a", &v1),
    )
    .await;
    let got = legacy.get(&a, &none()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "attacker-chosen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_item_opens_only_in_its_own_store_and_under_its_own_name() {
    let fx = EmulatorFixture::start().await;
    let prod = lockbox_for(&fx, "prod").await.build().unwrap();
    prod.setup(TableMode::Sealed, &[]).await.unwrap();
    let store = prod.table_record().await.unwrap().store.unwrap();
    assert_eq!(
        store, "000000000000/prod",
        "ACCOUNT/TABLE of the key's account"
    );
    // A DR copy is set up with prod's identity; staging, on the same key, with its own.
    let dr = lockbox_for(&fx, "prod-dr").await.build().unwrap();
    let mut options = lockbox::SetupOptions::new(TableMode::Sealed);
    options.store = Some(store.clone());
    dr.setup_with(&options).await.unwrap();
    let staging = lockbox_for(&fx, "staging").await.build().unwrap();
    staging.setup(TableMode::Sealed, &[]).await.unwrap();
    staging
        .put(
            &name("app2/db"),
            &"staging-value".into(),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    prod.put(
        &name("app2/db"),
        &"prod-value".into(),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let v1 = Version::FIRST.sort_key();
    let v2 = Version::new(2).unwrap().sort_key();

    // Into the DR copy, as stored: readable (same store, same name).
    copy_item(&fx, ("prod", "app2/db", &v1), ("prod-dr", "app2/db", &v1)).await;
    let got = dr.get(&name("app2/db"), &none()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "prod-value");

    // From staging into prod (F1): refused, naming both stores.
    copy_item(&fx, ("staging", "app2/db", &v1), ("prod", "app2/db", &v2)).await;
    let reader = lockbox_for(&fx, "prod").await.build().unwrap();
    let e = reader.get(&name("app2/db"), &none()).await.unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    assert!(e.to_string().contains("000000000000/staging"), "{e}");
    assert!(!e.to_string().contains("staging-value"));
    // Relabeled to the prod store as well: the binding refuses it.
    use aws_sdk_dynamodb::types::AttributeValue;
    let ddb = lockbox_tests::ddb_client(&fx.mock.endpoint_url());
    ddb.update_item()
        .table_name("prod")
        .key("name", AttributeValue::S("app2/db".into()))
        .key("version", AttributeValue::S(v2.clone()))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "store")
        .expression_attribute_values(":s", AttributeValue::S(store.clone()))
        .send()
        .await
        .unwrap();
    let e = reader.get(&name("app2/db"), &none()).await.unwrap_err();
    assert!(
        matches!(e, Error::ContextMismatch { .. } | Error::Integrity { .. }),
        "{e:?}"
    );
    assert!(!e.to_string().contains("staging-value"));

    // Within prod, under another name: refused by the binding.
    copy_item(&fx, ("prod", "app2/db", &v1), ("prod", "app1/db", &v1)).await;
    let e = reader.get(&name("app1/db"), &none()).await.unwrap_err();
    assert!(
        matches!(e, Error::ContextMismatch { .. } | Error::Integrity { .. }),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_goes_back_below_a_version_it_has_read() {
    let (fx, lb) = sealed_table().await;
    let n = name("api/signing-key");
    lb.put(&n, &"old-compromised-key".into(), &PutOptions::default())
        .await
        .unwrap();
    lb.put(&n, &"new-rotated-key".into(), &PutOptions::default())
        .await
        .unwrap();
    let reader = fx.lockbox().await.build().unwrap();
    assert_eq!(reader.get(&n, &none()).await.unwrap().version.get(), 2);
    // A table writer deletes the newest version.
    fx.store()
        .await
        .delete(&n, &Version::new(2).unwrap().sort_key())
        .await
        .unwrap();
    let e = reader.get(&n, &none()).await.unwrap_err();
    match &e {
        Error::Rollback { seen, got, .. } => {
            assert_eq!((seen.get(), got.get()), (2, 1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.kind(), ErrorKind::Integrity);
    assert!(!e.to_string().contains("old-compromised-key"));
    // Through get_many too; a pinned read of the old version is still allowed.
    let refs = [SecretRef::latest(n.clone())];
    assert!(matches!(
        reader.get_many(&refs, &none()).await,
        Err(Error::Rollback { .. })
    ));
    assert!(reader
        .get_version(&n, Version::FIRST, &none())
        .await
        .is_ok());
    // A process that never saw version 2 cannot know (documented in SECURITY.md).
    let fresh = fx.lockbox().await.build().unwrap();
    assert_eq!(fresh.get(&n, &none()).await.unwrap().version.get(), 1);
    // A deletion through the reader itself is on purpose: it may go back.
    lb.put(&n, &"third".into(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(reader.get(&n, &none()).await.unwrap().version.get(), 2);
    reader
        .delete(&n, Some(Version::new(2).unwrap()))
        .await
        .unwrap();
    assert_eq!(reader.get(&n, &none()).await.unwrap().version.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_mode_record_never_turns_writes_into_credstash_items() {
    use aws_sdk_dynamodb::types::Tag;
    let (fx, lb) = sealed_table().await;
    lb.put(
        &name("payments/key"),
        &"payments-key".into(),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let ddb = lockbox_tests::ddb_client(&fx.mock.endpoint_url());
    let arn = ddb
        .describe_table()
        .table_name(&fx.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn
        .unwrap();
    // An unknown value: nothing is read or written.
    ddb.tag_resource()
        .resource_arn(&arn)
        .tags(
            Tag::builder()
                .key("lockbox:format")
                .value("Sealed")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let writer = fx.lockbox().await.build().unwrap();
    let e = writer
        .put(&name("web/key"), &"web-key".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"Sealed\""), "{e}");
    assert_eq!(e.kind(), ErrorKind::Integrity);
    let e = writer
        .get(&name("payments/key"), &none())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"Sealed\""), "{e}");
    // The tag removed: a name whose newest version is sealed is not downgraded,
    // and a client that pins the mode refuses the table altogether.
    ddb.untag_resource()
        .resource_arn(&arn)
        .tag_keys("lockbox:format")
        .send()
        .await
        .unwrap();
    let writer = fx.lockbox().await.build().unwrap();
    let e = writer
        .put(&name("payments/key"), &"x".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("newest version is sealed"), "{e}");
    let pinned = fx
        .lockbox()
        .await
        .table_mode(TableMode::Sealed)
        .build()
        .unwrap();
    let e = pinned
        .put(&name("web/key"), &"web-key".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("records no mode"), "{e}");
    let e = pinned
        .get(&name("payments/key"), &none())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("records no mode"), "{e}");
    // `setup` reports what it finds and records the mode again.
    let report = lb
        .setup_with(&lockbox::SetupOptions::new(TableMode::Sealed))
        .await
        .unwrap();
    assert_eq!(
        report.result,
        lockbox::SetupResult::Refused(report_reason(&report)),
        "a table with items and no mode is not adopted as sealed"
    );
}

fn report_reason(report: &lockbox::SetupReport) -> String {
    match &report.result {
        lockbox::SetupResult::Refused(why) => {
            assert!(why.contains("holds items"), "{why}");
            why.clone()
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repointed_alias_is_refused_by_writers_and_readers() {
    let (fx, lb) = sealed_table().await;
    lb.put(&name("svc/old"), &"before".into(), &PutOptions::default())
        .await
        .unwrap();
    let pinned_arn = lb.table_record().await.unwrap().key_arn.unwrap();
    // A key administrator repoints alias/A to a key of theirs (here: B's key).
    let kms = kms_client(&fx.mock.endpoint_url());
    let b = kms.describe_key().key_id("alias/B").send().await.unwrap();
    let b_arn = b.key_metadata.unwrap().arn.unwrap();
    // (UpdateAlias, done as the review did it: delete, then create.)
    kms.delete_alias()
        .alias_name("alias/A")
        .send()
        .await
        .unwrap();
    kms.create_alias()
        .alias_name("alias/A")
        .target_key_id(&b_arn)
        .send()
        .await
        .unwrap();
    let writer = fx.lockbox().await.build().unwrap();
    let e = writer
        .put(
            &name("svc/new-secret"),
            &"new-prod-secret".into(),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e:?}");
    assert!(e.to_string().contains(&pinned_arn), "{e}");
    assert!(e.to_string().contains(&b_arn), "{e}");
    assert!(
        writer.history(&name("svc/new-secret")).await.is_err(),
        "nothing written"
    );
    // A reader through the repointed alias cannot unwrap the old items; one that
    // names the pinned key ARN can.
    let reader = fx.lockbox().await.build().unwrap();
    assert!(reader.get(&name("svc/old"), &none()).await.is_err());
    let mut options = fx.options(KeyChoice::A);
    options.kms_key = pinned_arn.clone();
    let by_arn = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let got = by_arn.get(&name("svc/old"), &none()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_checks_an_existing_table_and_fills_in_what_it_lacks() {
    use lockbox::{SetupOptions, SetupResult};
    let fx = EmulatorFixture::start().await;
    let lb = fx.lockbox().await.build().unwrap();
    // Created with every tag.
    let report = lb
        .setup_with(&SetupOptions::new(TableMode::Sealed))
        .await
        .unwrap();
    assert_eq!(report.result, SetupResult::Created);
    assert_eq!(report.record.mode.as_deref(), Some("sealed"));
    assert!(report
        .record
        .key_arn
        .as_deref()
        .unwrap()
        .starts_with("arn:aws:kms:"));
    // Again: unchanged. Another mode: refused, nothing changed.
    let again = lb
        .setup_with(&SetupOptions::new(TableMode::Sealed))
        .await
        .unwrap();
    assert_eq!(again.result, SetupResult::Unchanged);
    let other = lb
        .setup_with(&SetupOptions::new(TableMode::Credstash))
        .await
        .unwrap();
    assert!(
        matches!(&other.result, SetupResult::Refused(why) if why.contains("records mode sealed"))
    );
    assert_eq!(lb.table_mode().await.unwrap(), Some(TableMode::Sealed));
    // An older sealed table (mode only) gains its store identity and key.
    let ddb = lockbox_tests::ddb_client(&fx.mock.endpoint_url());
    let arn = ddb
        .describe_table()
        .table_name(&fx.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn
        .unwrap();
    ddb.untag_resource()
        .resource_arn(&arn)
        .tag_keys("lockbox:store")
        .tag_keys("lockbox:kms-key")
        .send()
        .await
        .unwrap();
    let old = fx.lockbox().await.build().unwrap();
    let e = old
        .put(&name("x"), &"v".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("records no store identity"), "{e}");
    let fixed = old
        .setup_with(&SetupOptions::new(TableMode::Sealed))
        .await
        .unwrap();
    assert_eq!(
        fixed.result,
        SetupResult::Recorded(vec!["lockbox:store".into(), "lockbox:kms-key".into()])
    );
    let writer = fx.lockbox().await.build().unwrap();
    writer
        .put(&name("x"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    // An empty table that records no mode is adopted.
    let mut options = fx.options(KeyChoice::A);
    options.table = "bare".into();
    let bare = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    lockbox_testkit::aws::create_credstash_table(&ddb, "bare").await;
    let adopted = bare
        .setup_with(&SetupOptions::new(TableMode::Sealed))
        .await
        .unwrap();
    assert!(
        matches!(adopted.result, SetupResult::Recorded(_)),
        "{adopted:?}"
    );
    assert_eq!(bare.table_mode().await.unwrap(), Some(TableMode::Sealed));
}

/// KMS `ReEncrypt` moves a data key to another encryption context without anyone
/// seeing it. A sealed item's key rewrapped under another user-context value, or
/// another name or version, and written back still fails for an honest reader:
/// the commitment and the AAD hold the original binding, so nothing is decrypted.
/// (A credstash item has no such defence: its context lives only in KMS.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_key_rewrapped_under_another_context_never_opens() {
    let (fx, lb) = sealed_table().await;
    let prod = EncryptionContext::from_pairs(["env=prod"]).unwrap();
    let dev = EncryptionContext::from_pairs(["env=dev"]).unwrap();
    let item = canary_item(&fx, &lb, "launder/x", &prod).await;
    let Attr::B(blob) = &item["key"] else {
        panic!("sealed key is binary")
    };
    let record = lb.table_record().await.unwrap();
    let binding = |n: &str, v: u64, user: &EncryptionContext| {
        let n = name(n);
        sealed::Binding {
            revision: sealed::Revision::V2,
            name: &n,
            version: Version::new(v).unwrap(),
            store: record.store.as_deref(),
        }
        .context(user)
        .unwrap()
    };
    let kms = kms_client(&fx.mock.endpoint_url());
    let source = binding("launder/x", 1, &prod);
    for (label, to_name, to_version, to_user) in [
        ("another context value", "launder/x", 1, &dev),
        ("another name", "launder/y", 1, &prod),
        ("another version", "launder/x", 2, &prod),
    ] {
        let destination = binding(to_name, to_version, to_user);
        let moved = kms
            .re_encrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .set_source_encryption_context(Some(source.to_map()))
            .set_destination_encryption_context(Some(destination.to_map()))
            .destination_key_id("alias/A")
            .send()
            .await
            .unwrap()
            .ciphertext_blob
            .unwrap();
        let mut forged = item.clone();
        forged.insert("key".into(), Attr::B(moved.into_inner()));
        forged.insert("name".into(), Attr::S(to_name.into()));
        forged.insert(
            "version".into(),
            Attr::S(Version::new(to_version).unwrap().sort_key()),
        );
        let e = must_refuse(&lb, &forged, to_user, label).await;
        match e {
            Error::Integrity { reason, .. } => {
                assert!(reason.contains("commitment"), "{label}: {reason}")
            }
            other => panic!("{label}: expected the commitment to refuse it, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junk_item_at_the_highest_version_blocks_put_with_a_way_out() {
    let (fx, lb) = sealed_table().await;
    let n = name("app/db");
    lb.put(&n, &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    // A table writer stores a copy at the highest version there is.
    let top = Version::new(lockbox::MAX_VERSION).unwrap();
    copy_item(
        &fx,
        (&fx.table, "app/db", &Version::FIRST.sort_key()),
        (&fx.table, "app/db", &top.sort_key()),
    )
    .await;
    let e = lb
        .put(&n, &"v2".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage, "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("lockbox delete app/db -v 9999999999999999999"),
        "{text}"
    );
    // The way out works: the junk item goes, the next put is version 2.
    lb.delete(&n, Some(top)).await.unwrap();
    let v = lb
        .put(&n, &"v2".into(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(v.get(), 2);
}
