//! The lifecycle operations on the in-memory backends (the emulator runs them in
//! `cli/tests/it/lifecycle.rs`).

use std::sync::Arc;

use super::doctor::{DoctorOptions, Severity};
use super::rewrap::RewrapOptions;
use super::sync::SyncOptions;
use super::{Contexts, NamePattern, RunOptions};
use crate::backend::{KeyService, MemoryKeyService, MemorySecretStore, SecretStore, TableMode};
use crate::envelope::{self, Attr, Digest, Metadata, Sealing, WriteFormat};
use crate::{
    EncryptionContext, ErrorKind, ExposeSecret, FormatPolicy, Lockbox, PutOptions, SecretName,
    SecretValue, SetupOptions, Version,
};

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

fn v(n: u64) -> Version {
    Version::new(n).unwrap()
}

fn none() -> EncryptionContext {
    EncryptionContext::new()
}

struct World {
    keys: MemoryKeyService,
}

impl World {
    fn new() -> Self {
        Self {
            keys: MemoryKeyService::new(&["A", "B", "C"]),
        }
    }

    /// A lockbox on `store`, writing under `key` and trusting only it.
    fn lockbox(&self, store: &Arc<MemorySecretStore>, key: &str) -> Lockbox {
        Lockbox::builder()
            .key_service(self.keys.view(key, &[key]))
            .secret_store_arc(store.clone())
            .build()
            .unwrap()
    }

    /// A migration's source reader: credstash items and lockbox-sealed-1 accepted.
    fn source(&self, store: &Arc<MemorySecretStore>) -> Lockbox {
        Lockbox::builder()
            .key_service(self.keys.view("A", &["A"]))
            .secret_store_arc(store.clone())
            .accept_credstash_items(true)
            .accept_sealed_v1(true)
            .build()
            .unwrap()
    }
}

async fn table(world: &World, mode: TableMode, store_id: &str) -> Arc<MemorySecretStore> {
    let store = Arc::new(MemorySecretStore::new());
    let mut setup = SetupOptions::new(mode);
    setup.store = Some(store_id.into());
    world.lockbox(&store, "A").setup_with(&setup).await.unwrap();
    store
}

async fn put(lb: &Lockbox, n: &str, value: &[u8], options: PutOptions) -> Version {
    lb.put(&name(n), &SecretValue::from_slice(value), &options)
        .await
        .unwrap()
}

fn credstash(digest: Digest) -> PutOptions {
    PutOptions {
        format: Some(FormatPolicy::Credstash(digest)),
        ..PutOptions::default()
    }
}

async fn value(lb: &Lockbox, n: &str, version: u64, context: &EncryptionContext) -> Vec<u8> {
    lb.get_version(&name(n), v(version), context)
        .await
        .unwrap()
        .value
        .expose_secret()
        .to_vec()
}

/// A `lockbox-sealed-1` item of `n`@`version` holding `value`, under key A.
async fn sealed_v1_item(
    world: &World,
    n: &str,
    version: u64,
    value: &[u8],
) -> crate::format::Attributes {
    let secret_name = name(n);
    let sealing = Sealing {
        format: WriteFormat::SealedV1,
        name: &secret_name,
        version: v(version),
        context: &none(),
        store: None,
        metadata: &Metadata::default(),
    };
    let request = envelope::data_key_request(&sealing).unwrap();
    let key = world
        .keys
        .view("A", &["A"])
        .generate_data_key(request.bytes(), request.context())
        .await
        .unwrap();
    envelope::seal(&request, value, &key).unwrap()
}

#[tokio::test]
async fn migrate_copies_every_version_and_a_second_run_copies_nothing() {
    let world = World::new();
    let source_store = table(&world, TableMode::Credstash, "acct/legacy").await;
    let target_store = table(&world, TableMode::Sealed, "acct/sealed").await;
    let writer = world.lockbox(&source_store, "A");
    put(&writer, "app/db", b"one", credstash(Digest::Sha256)).await;
    put(
        &writer,
        "app/db",
        b"two",
        PutOptions {
            comment: Some("rotated".into()),
            ..credstash(Digest::Sha512)
        },
    )
    .await;
    put(&writer, "app/key", b"k", credstash(Digest::Md5)).await;
    source_store.insert_raw(sealed_v1_item(&world, "old/v1", 3, b"from-v1").await);
    let mut context = EncryptionContext::new();
    context.insert("env", "prod").unwrap();
    put(
        &writer,
        "bound",
        b"ctx",
        PutOptions {
            context: context.clone(),
            ..credstash(Digest::Sha256)
        },
    )
    .await;

    let source = world.source(&source_store);
    let target = world.lockbox(&target_store, "A");
    let options = RunOptions::default();
    let report = source.migrate_to(&target, &options).await.unwrap();
    assert_eq!(report.considered, 5);
    assert_eq!(report.copied.len(), 4, "{report:?}");
    assert_eq!(report.needs_context.len(), 1);
    assert_eq!(report.needs_context[0].0.name, "bound");
    assert!(!report.is_complete());

    // Every copy is sealed, bound to the target's store, same version and comment.
    let reader = world.lockbox(&target_store, "A");
    assert_eq!(value(&reader, "app/db", 1, &none()).await, b"one");
    let two = reader
        .get_version(&name("app/db"), v(2), &none())
        .await
        .unwrap();
    assert_eq!(two.value.expose_secret(), b"two");
    assert_eq!(two.metadata.comment.as_deref(), Some("rotated"));
    assert_eq!(two.format, crate::envelope::ItemFormat::Sealed);
    assert_eq!(value(&reader, "old/v1", 3, &none()).await, b"from-v1");
    let item = target_store
        .get_item("app/db", &v(2).sort_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.get("store"), Some(&Attr::S("acct/sealed".into())));

    // With the context: the rest, and what was copied counts as done.
    let options = RunOptions {
        contexts: Contexts::new().with_default(context.clone()),
        ..RunOptions::default()
    };
    let report = source.migrate_to(&target, &options).await.unwrap();
    assert_eq!(report.copied.len(), 1, "{report:?}");
    assert_eq!(report.unchanged.len(), 4);
    assert!(report.is_complete());
    assert_eq!(value(&reader, "bound", 1, &context).await, b"ctx");

    // Once more: nothing to copy. A different value in the target is reported.
    target_store
        .delete(&name("app/key"), &v(1).sort_key())
        .await
        .unwrap();
    put(
        &reader,
        "app/key",
        b"other",
        PutOptions {
            version: Some(v(1)),
            ..PutOptions::default()
        },
    )
    .await;
    let report = source.migrate_to(&target, &options).await.unwrap();
    assert!(report.copied.is_empty(), "{report:?}");
    assert_eq!(report.conflicts.len(), 1);
    assert!(report.conflicts[0].1.contains("another value"));
    assert_eq!(value(&reader, "app/key", 1, &none()).await, b"other");

    // The source was never written.
    assert_eq!(source_store.list().await.unwrap().len(), 5);
}

#[tokio::test]
async fn migrate_refuses_bad_targets_before_writing() {
    let world = World::new();
    let source_store = table(&world, TableMode::Credstash, "acct/legacy").await;
    put(
        &world.lockbox(&source_store, "A"),
        "n",
        b"v",
        credstash(Digest::Sha256),
    )
    .await;
    let source = world.source(&source_store);
    let options = RunOptions::default();

    // The source itself.
    let err = source.migrate_to(&source, &options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(err.to_string().contains("source"), "{err}");
    // A credstash-mode target.
    let credstash_target = table(&world, TableMode::Credstash, "acct/other").await;
    let err = source
        .migrate_to(&world.lockbox(&credstash_target, "A"), &options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("credstash mode"), "{err}");
    // A table that does not exist.
    let missing = Arc::new(MemorySecretStore::new());
    let err = source
        .migrate_to(&world.lockbox(&missing, "A"), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // A target pinned to another key than the one written with.
    let sealed = table(&world, TableMode::Sealed, "acct/s").await;
    let err = source
        .migrate_to(&world.lockbox(&sealed, "B"), &options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pinned"), "{err}");
    // A key that cannot wrap: an unknown key.
    let broken = Lockbox::builder()
        .key_service(world.keys.view("nope", &["nope"]))
        .secret_store_arc(sealed.clone())
        .build()
        .unwrap();
    assert!(source.migrate_to(&broken, &options).await.is_err());
    for store in [&credstash_target, &sealed] {
        assert!(store.list().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn migrate_dry_run_and_names() {
    let world = World::new();
    let source_store = table(&world, TableMode::Credstash, "acct/legacy").await;
    let target_store = table(&world, TableMode::Sealed, "acct/sealed").await;
    let writer = world.lockbox(&source_store, "A");
    for n in ["app/a", "app/b", "other/c"] {
        put(&writer, n, b"x", credstash(Digest::Sha256)).await;
    }
    let source = world.source(&source_store);
    let target = world.lockbox(&target_store, "A");
    let report = source
        .migrate_to(
            &target,
            &RunOptions {
                dry_run: true,
                ..RunOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.to_copy.len(), 3);
    assert!(target_store.list().await.unwrap().is_empty());
    let report = source
        .migrate_to(
            &target,
            &RunOptions {
                names: Some(NamePattern::new("app/*")),
                ..RunOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.copied.len(), 2);
    assert_eq!(target_store.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn rewrap_moves_every_key_then_the_pin_and_values_never_change() {
    let world = World::new();
    let store = table(&world, TableMode::Credstash, "acct/t").await;
    let writer = world.lockbox(&store, "A");
    put(&writer, "a", b"alpha", credstash(Digest::Sha256)).await;
    put(&writer, "a", b"alpha2", credstash(Digest::Sha512)).await;
    let mut context = EncryptionContext::new();
    context.insert("env", "prod").unwrap();
    put(
        &writer,
        "bound",
        b"ctx",
        PutOptions {
            context: context.clone(),
            ..credstash(Digest::Sha256)
        },
    )
    .await;
    let before: Vec<_> = store.list().await.unwrap();

    // Without the context, the bound item is left and the pin stays.
    let report = writer
        .rewrap(
            &world.keys.view("B", &["B"]),
            &RewrapOptions::new(),
            &RunOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.rewrapped.len(), 2, "{report:?}");
    assert_eq!(report.needs_context.len(), 1);
    assert!(!report.pin_moved && !report.is_complete());
    assert_eq!(
        writer.table_record().await.unwrap().key_arn.as_deref(),
        Some("A")
    );

    // A reader trusting both keys explicitly reads everything meanwhile.
    let both = Lockbox::builder()
        .key_service(world.keys.view("A", &["A"]).trust_explicitly(&["A", "B"]))
        .secret_store_arc(store.clone())
        .build()
        .unwrap();
    assert_eq!(value(&both, "a", 1, &none()).await, b"alpha");
    assert_eq!(value(&both, "bound", 1, &context).await, b"ctx");

    // With it: the rest moves, then the pin.
    let options = RunOptions {
        contexts: Contexts::new().with_default(context.clone()),
        ..RunOptions::default()
    };
    let report = writer
        .rewrap(
            &world.keys.view("B", &["B"]),
            &RewrapOptions::new(),
            &options,
        )
        .await
        .unwrap();
    assert_eq!(report.rewrapped.len(), 1, "{report:?}");
    assert_eq!(report.unchanged.len(), 2);
    assert!(report.pin_moved && report.is_complete());
    let fresh = world.lockbox(&store, "B");
    assert_eq!(
        fresh.table_record().await.unwrap().key_arn.as_deref(),
        Some("B")
    );
    assert_eq!(value(&fresh, "a", 2, &none()).await, b"alpha2");
    assert_eq!(value(&fresh, "bound", 1, &context).await, b"ctx");
    assert_eq!(value(&both, "a", 2, &none()).await, b"alpha2");
    // Only the wrapped keys changed; credstash items keep a base64 string key.
    let after = store.list().await.unwrap();
    assert_eq!(before, after);
    let item = store
        .get_item("a", &v(1).sort_key())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(item.get("key"), Some(Attr::S(_))));
    // Writers still on the old key are refused now, not silently accepted.
    let old_writer = world.lockbox(&store, "A");
    let err = old_writer
        .put(&name("a"), &"x".into(), &credstash(Digest::Sha256))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pinned"), "{err}");

    // Moving only some secrets never moves the pin: the others need the old key.
    let report = writer
        .rewrap(
            &world.keys.view("C", &["C"]),
            &RewrapOptions::new(),
            &RunOptions {
                names: Some(NamePattern::new("a")),
                ..options.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.rewrapped.len(), 2, "{report:?}");
    assert!(!report.pin_moved && report.pin_kept.is_some());
    assert_eq!(
        fresh.table_record().await.unwrap().key_arn.as_deref(),
        Some("B")
    );
    let back = writer
        .rewrap(&world.keys.view("B", &["B"]), &RewrapOptions::new(), &{
            let mut from_c = options.clone();
            from_c.names = Some(NamePattern::new("a"));
            from_c
        })
        .await;
    // From C is not among the keys the table trusts: left alone until named.
    let back = back.unwrap();
    assert_eq!(back.failed.len(), 2, "{back:?}");
    let mut from = RewrapOptions::new();
    from.from_keys = vec!["C".into()];
    let back = writer
        .rewrap(&world.keys.view("B", &["B"]), &from, &options)
        .await
        .unwrap();
    assert_eq!(back.rewrapped.len(), 2, "{back:?}");
    assert!(back.is_complete() && back.pin_kept.is_none());

    // A third run changes nothing.
    let report = writer
        .rewrap(
            &world.keys.view("B", &["B"]),
            &RewrapOptions::new(),
            &options,
        )
        .await
        .unwrap();
    assert!(
        report.rewrapped.is_empty() && report.is_complete(),
        "{report:?}"
    );
}

#[tokio::test]
async fn rewrap_leaves_items_under_untrusted_keys_and_checks_the_new_key_first() {
    let world = World::new();
    let store = table(&world, TableMode::Sealed, "acct/t").await;
    put(
        &world.lockbox(&store, "A"),
        "mine",
        b"1",
        PutOptions::default(),
    )
    .await;
    // An item someone wrapped under key C, which the table does not trust.
    let intruder = Lockbox::builder()
        .key_service(world.keys.view("C", &["C"]))
        .secret_store_arc(store.clone())
        .build()
        .unwrap();
    store
        .update_record(&crate::TableRecord::new(
            TableMode::Sealed,
            None,
            Some("C".into()),
        ))
        .await
        .unwrap();
    put(&intruder, "theirs", b"2", PutOptions::default()).await;
    store
        .update_record(&crate::TableRecord::new(
            TableMode::Sealed,
            None,
            Some("A".into()),
        ))
        .await
        .unwrap();

    let lb = world.lockbox(&store, "A");
    // An unknown new key: refused before anything changes.
    let err = lb
        .rewrap(
            &world.keys.view("nope", &["nope"]),
            &RewrapOptions::new(),
            &RunOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    let report = lb
        .rewrap(
            &world.keys.view("B", &["B"]),
            &RewrapOptions::new(),
            &RunOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.rewrapped.len(), 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0.name, "theirs");
    assert!(
        !report.pin_moved,
        "the pin stays while an item is not moved"
    );
}

#[tokio::test]
async fn sync_copies_as_stored_creates_the_target_and_reports_conflicts() {
    let world = World::new();
    let source_store = table(&world, TableMode::Sealed, "acct/prod").await;
    let source = world.lockbox(&source_store, "A");
    put(&source, "a", b"1", PutOptions::default()).await;
    put(&source, "a", b"2", PutOptions::default()).await;
    put(&source, "b", &[0, 255], PutOptions::default()).await;

    let target_store = Arc::new(MemorySecretStore::new());
    let target = world.lockbox(&target_store, "A");
    let report = source
        .sync_to(&target, &SyncOptions::default(), &RunOptions::default())
        .await
        .unwrap();
    assert!(report.created_target);
    assert_eq!(report.copied.len(), 3);
    let record = target.table_record().await.unwrap();
    assert_eq!(record.store.as_deref(), Some("acct/prod"));
    assert_eq!(record.mode.as_deref(), Some("sealed"));
    // Same bytes: the copy opens in the target (same store identity).
    assert_eq!(
        source_store.get_item("a", &v(2).sort_key()).await.unwrap(),
        target_store.get_item("a", &v(2).sort_key()).await.unwrap()
    );
    assert_eq!(
        value(&world.lockbox(&target_store, "A"), "b", 1, &none()).await,
        [0, 255]
    );

    // Again: unchanged; a new version is copied; a changed one is a conflict.
    put(&source, "a", b"3", PutOptions::default()).await;
    let mut forged = target_store
        .get_item("b", &v(1).sort_key())
        .await
        .unwrap()
        .unwrap();
    forged.insert("nonce".into(), Attr::B(vec![0; 12]));
    forged.insert("comment".into(), Attr::S("not compared".into()));
    target_store.insert_raw(forged.clone());
    let report = source
        .sync_to(&target, &SyncOptions::default(), &RunOptions::default())
        .await
        .unwrap();
    assert!(!report.created_target);
    assert_eq!(report.copied.len(), 1, "{report:?}");
    assert_eq!(report.unchanged.len(), 2);
    assert_eq!(report.conflicts.len(), 1);
    assert!(report.conflicts[0].1.contains("nonce"));
    assert_eq!(
        target_store.get_item("b", &v(1).sort_key()).await.unwrap(),
        Some(forged),
        "left alone"
    );

    // A target of another identity, or the source itself, is refused.
    let other = table(&world, TableMode::Sealed, "acct/else").await;
    let err = source
        .sync_to(
            &world.lockbox(&other, "A"),
            &SyncOptions::default(),
            &RunOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("store identity"), "{err}");
    let err = source
        .sync_to(&source, &SyncOptions::default(), &RunOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("source"), "{err}");
    // A target whose key cannot be used.
    let err = source
        .sync_to(
            &world.lockbox(&Arc::new(MemorySecretStore::new()), "nope"),
            &SyncOptions::default(),
            &RunOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
}

#[tokio::test]
async fn doctor_names_each_variant_and_a_sealed_table_with_credstash_items() {
    let world = World::new();
    let store = table(&world, TableMode::Credstash, "acct/legacy").await;
    let lb = world.lockbox(&store, "A");
    for digest in Digest::ALL {
        put(&lb, &format!("digest/{digest}"), b"x", credstash(digest)).await;
    }
    put(&lb, "plain", b"x", credstash(Digest::Sha256)).await;
    let plain = store
        .get_item("plain", &v(1).sort_key())
        .await
        .unwrap()
        .unwrap();
    let mut hmac_b = plain.clone();
    let Some(Attr::S(hex)) = plain.get("hmac").cloned() else {
        panic!("S hmac")
    };
    hmac_b.insert("name".into(), Attr::S("hmac-b".into()));
    hmac_b.insert("hmac".into(), Attr::B(hex.clone().into_bytes()));
    store.insert_raw(hmac_b);
    let mut upper = plain.clone();
    upper.insert("name".into(), Attr::S("hmac-upper".into()));
    upper.insert("hmac".into(), Attr::S(hex.to_uppercase()));
    store.insert_raw(upper);
    let mut no_digest = plain.clone();
    no_digest.insert("name".into(), Attr::S("no-digest".into()));
    no_digest.remove("digest");
    store.insert_raw(no_digest);
    for (n, version) in [
        ("legacy", "9"),
        ("legacy", "10"),
        ("weird", "v5"),
        ("zero", "0000000000000000000"),
    ] {
        let mut item = plain.clone();
        item.insert("name".into(), Attr::S(n.into()));
        item.insert("version".into(), Attr::S(version.into()));
        store.insert_raw(item);
    }
    let mut whirlpool = plain.clone();
    whirlpool.insert("name".into(), Attr::S("whirlpool".into()));
    whirlpool.insert("digest".into(), Attr::S("WHIRLPOOL".into()));
    store.insert_raw(whirlpool);
    store.insert_raw(sealed_v1_item(&world, "v1", 1, b"x").await);
    put(
        &lb,
        "sealed",
        &[0xff],
        PutOptions {
            format: Some(FormatPolicy::Sealed),
            ..PutOptions::default()
        },
    )
    .await;
    let mut future = plain.clone();
    future.insert("name".into(), Attr::S("future".into()));
    future.insert("format".into(), Attr::S("lockbox-sealed-9".into()));
    store.insert_raw(future);

    let report = lb
        .doctor(&DoctorOptions::new(true), &RunOptions::default())
        .await
        .unwrap();
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code).collect();
    for code in [
        "hmac-binary",
        "hmac-uppercase",
        "digest-missing",
        "digest-sha",
        "digest-sha224",
        "digest-sha384",
        "digest-sha512",
        "digest-md5",
        "digest-unsupported",
        "version-unpadded",
        "version-non-numeric",
        "version-zero",
        "sealed-v1",
        "sealed-item-in-credstash-table",
        "unknown-format",
        "no-point-in-time-recovery",
        "no-deletion-protection",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let unpadded = report.finding("version-unpadded").unwrap();
    assert_eq!(unpadded.items.len(), 2);
    assert_eq!(report.inventory.hmac_binary, 1);
    assert_eq!(report.inventory.hmac_uppercase, 1);
    assert_eq!(report.inventory.formats["lockbox-sealed-2"], 1);
    assert_eq!(report.inventory.digests["(missing)"], 1);
    assert_eq!(report.worst(), Some(Severity::Error));
    assert!(report.keys[0].round_trip, "{:?}", report.keys);
    assert!(report.inventory.verified >= 10, "{:?}", report.inventory);

    // The same items in a sealed table: every credstash item is an error.
    let sealed = table(&world, TableMode::Sealed, "acct/s").await;
    sealed.insert_raw(plain.clone());
    let report = world
        .lockbox(&sealed, "A")
        .doctor(&DoctorOptions::new(false), &RunOptions::default())
        .await
        .unwrap();
    assert!(report.finding("credstash-item-in-sealed-table").is_some());
    // A clean sealed table: no error, no item finding.
    let clean = table(&world, TableMode::Sealed, "acct/c").await;
    put(
        &world.lockbox(&clean, "A"),
        "x",
        b"1",
        PutOptions::default(),
    )
    .await;
    let report = world
        .lockbox(&clean, "A")
        .doctor(&DoctorOptions::new(true), &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(report.count(Severity::Error), 0, "{:?}", report.findings);
    assert!(report.findings.iter().all(|f| f.items.is_empty()));
    // A key other than the pin is an error.
    let report = world
        .lockbox(&clean, "B")
        .doctor(&DoctorOptions::new(false), &RunOptions::default())
        .await
        .unwrap();
    assert!(report.finding("key-pin-mismatch").is_some());
}

#[tokio::test]
async fn doctor_verify_tells_missing_contexts_from_corruption() {
    let world = World::new();
    let store = table(&world, TableMode::Sealed, "acct/s").await;
    let lb = world.lockbox(&store, "A");
    let mut context = EncryptionContext::new();
    context.insert("env", "prod").unwrap();
    put(
        &lb,
        "bound",
        b"1",
        PutOptions {
            context: context.clone(),
            ..PutOptions::default()
        },
    )
    .await;
    put(&lb, "tampered", b"1", PutOptions::default()).await;
    let mut item = store
        .get_item("tampered", &v(1).sort_key())
        .await
        .unwrap()
        .unwrap();
    item.insert("nonce".into(), Attr::B(vec![1; 12]));
    store.insert_raw(item);
    let report = lb
        .doctor(&DoctorOptions::new(true), &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(
        report.finding("needs-context").unwrap().items[0].name,
        "bound"
    );
    assert_eq!(
        report.finding("verify-failed").unwrap().items[0].name,
        "tampered"
    );
    let mut contexts = Contexts::new();
    contexts.insert("bound", context);
    let report = lb
        .doctor(
            &DoctorOptions::new(true),
            &RunOptions {
                contexts,
                ..RunOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(report.finding("needs-context").is_none());
}

/// Label documents through the lifecycle: doctor counts them and names a
/// dangling label, rewrap moves the key of their copy of `current` (so reads
/// keep opening it after the pin moves), and sync copies label moves made
/// after the first copy.
#[tokio::test]
async fn label_documents_go_through_doctor_rewrap_and_sync() {
    use crate::{Label, LabelCondition, RotateOptions};
    let world = World::new();
    let store = table(&world, TableMode::Sealed, "acct/prod").await;
    let lb = world.lockbox(&store, "A");
    put(&lb, "db", b"one", PutOptions::default()).await;
    put(&lb, "db", b"two", PutOptions::default()).await;
    let stable = Label::new("stable").unwrap();
    lb.set_label(&name("db"), &stable, v(1), LabelCondition::Absent)
        .await
        .unwrap();
    lb.rotate_start(
        &name("db"),
        &SecretValue::from("three"),
        &RotateOptions::default(),
    )
    .await
    .unwrap();

    let clean = lb
        .doctor(&DoctorOptions::default(), &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(clean.inventory.label_documents, 1);
    assert!(
        clean.findings.iter().all(|f| f.severity != Severity::Error),
        "{:?}",
        clean.findings
    );

    // Sync, then move labels in the source: the next sync carries the move.
    let target_store = Arc::new(MemorySecretStore::new());
    let target = world.lockbox(&target_store, "A");
    let first = lb
        .sync_to(&target, &SyncOptions::default(), &RunOptions::default())
        .await
        .unwrap();
    assert!(first.is_complete(), "{first:?}");
    lb.rotate_finish(&name("db"), None).await.unwrap();
    let second = lb
        .sync_to(&target, &SyncOptions::default(), &RunOptions::default())
        .await
        .unwrap();
    assert!(second.is_complete(), "{second:?}");
    assert_eq!(second.copied.len(), 1, "the label document: {second:?}");
    assert_eq!(value_of(&target, "db").await, b"three");

    // Rewrap to B: the copy's key moves too, and the pin with it.
    let report = lb
        .rewrap(
            &world.keys.view("B", &["B"]),
            &RewrapOptions::new(),
            &RunOptions::default(),
        )
        .await
        .unwrap();
    assert!(report.is_complete() && report.pin_moved, "{report:?}");
    assert_eq!(report.rewrapped.len(), 4, "three versions and the document");
    let reader = world.lockbox(&store, "B");
    assert_eq!(value_of(&reader, "db").await, b"three");

    // A version deleted around lockbox leaves a dangling label: named.
    store.delete(&name("db"), &v(1).sort_key()).await.unwrap();
    let report = lb
        .doctor(&DoctorOptions::default(), &RunOptions::default())
        .await
        .unwrap();
    assert!(
        report.findings.iter().any(|f| f.code == "dangling-label"),
        "{:?}",
        report.findings
    );
}

async fn value_of(lb: &Lockbox, n: &str) -> Vec<u8> {
    lb.get(&name(n), &none())
        .await
        .unwrap()
        .value
        .expose_secret()
        .to_vec()
}
