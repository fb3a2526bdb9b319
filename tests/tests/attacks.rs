//! The attack suite: forged, tampered, swapped and downgraded items against the
//! AWS backends on the emulator. Every case must end in a typed error, and no
//! case may return the plaintext.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_kms::primitives::Blob;
use lockbox::backend::TableMode;
use lockbox::envelope::{Attr, Attributes};
use lockbox::format::sealed;
use lockbox::{
    EncryptionContext, Error, FormatPolicy, Lockbox, PutOptions, SecretName, SecretValue, Version,
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
    // A credstash-format item where the reader requires the sealed format.
    let legacy_writer = fx
        .lockbox()
        .await
        .format(FormatPolicy::Credstash(lockbox::envelope::Digest::Sha256))
        .build()
        .unwrap();
    legacy_writer
        .put(&name("down/legacy"), &CANARY.into(), &PutOptions::default())
        .await
        .unwrap();
    let strict = fx.lockbox().await.require_sealed(true).build().unwrap();
    let e = strict.get(&name("down/legacy"), &none()).await.unwrap_err();
    assert!(matches!(e, Error::UnsupportedFormat { .. }), "{e:?}");
    // The default reader accepts it (compatibility), which is why the option exists.
    assert!(lb.get(&name("down/legacy"), &none()).await.is_ok());

    // A sealed item relabeled as another format id, or stripped of its id.
    let item = canary_item(&fx, &lb, "down/sealed", &none()).await;
    for id in ["lockbox-sealed-0", "lockbox-sealed-2", "", "credstash"] {
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
    let binding = sealed::binding_context(&name("subst/x"), Version::FIRST, &none());
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
    let binding = sealed::binding_context(&name("commit/x"), Version::FIRST, &none());
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
        let item = canary_item(&fx, &lb, n, ctx).await;
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
