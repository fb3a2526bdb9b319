//! The backend contract suite: written once against [`Fixture`], run against the
//! in-memory backends and against the AWS backends pointed at the emulator
//! (see `tests/tests/it/contract.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use lockbox::backend::{SetupOutcome, TableMode};
use lockbox::envelope::{self, Attr, Digest, ItemFormat, Metadata, WriteFormat};
use lockbox::{
    EncryptionContext, Error, ExposeSecret, FormatPolicy, Lockbox, PutOptions, SecretName,
    SecretRef, SecretValue, Version,
};

use crate::{Fixture, KeyChoice};

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

fn none() -> EncryptionContext {
    EncryptionContext::new()
}

async fn sealed(f: &dyn Fixture) -> Lockbox {
    let lb = f.lockbox().await.build().unwrap();
    assert_eq!(
        lb.setup(TableMode::Sealed, &[]).await.unwrap(),
        SetupOutcome::Created
    );
    lb
}

async fn put(lb: &Lockbox, n: &str, v: &[u8]) -> Version {
    lb.put(
        &name(n),
        &SecretValue::from_slice(v),
        &PutOptions::default(),
    )
    .await
    .unwrap()
}

/// Setup creates the table once; the mode is recorded; a second setup changes nothing.
pub async fn setup_records_mode(f: &dyn Fixture) {
    let lb = f.lockbox().await.build().unwrap();
    assert!(matches!(lb.list().await, Err(Error::TableNotFound { .. })));
    assert_eq!(
        lb.setup(TableMode::Credstash, &[]).await.unwrap(),
        SetupOutcome::Created
    );
    assert_eq!(
        lb.setup(TableMode::Sealed, &[]).await.unwrap(),
        SetupOutcome::AlreadyExists
    );
    let fresh = f.lockbox().await.build().unwrap();
    assert_eq!(
        fresh.table_mode().await.unwrap(),
        Some(TableMode::Credstash)
    );
}

/// Values of any bytes round-trip, and versions count up from 1.
pub async fn round_trip_and_versions(f: &dyn Fixture) {
    let lb = sealed(f).await;
    let binary = [0u8, 255, 10, 13, 0xc3, 0x28, b'\'', b'"', b'='];
    assert_eq!(put(&lb, "app/db", b"one").await.get(), 1);
    assert_eq!(put(&lb, "app/db", &binary).await.get(), 2);
    assert_eq!(put(&lb, "app/empty", b"").await.get(), 1);
    let latest = lb.get(&name("app/db"), &none()).await.unwrap();
    assert_eq!(latest.version.get(), 2);
    assert_eq!(latest.value.expose_secret(), &binary[..]);
    assert_eq!(latest.format, ItemFormat::Sealed);
    let first = lb
        .get_version(&name("app/db"), Version::new(1).unwrap(), &none())
        .await
        .unwrap();
    assert_eq!(first.value.expose_secret(), b"one");
    assert!(lb
        .get(&name("app/empty"), &none())
        .await
        .unwrap()
        .value
        .is_empty());
}

/// Missing names and versions are `NotFound`.
pub async fn not_found(f: &dyn Fixture) {
    let lb = sealed(f).await;
    put(&lb, "x", b"1").await;
    assert!(matches!(
        lb.get(&name("nope"), &none()).await,
        Err(Error::NotFound { version: None, .. })
    ));
    assert!(matches!(
        lb.get_version(&name("x"), Version::new(9).unwrap(), &none())
            .await,
        Err(Error::NotFound {
            version: Some(_),
            ..
        })
    ));
    assert!(matches!(
        lb.history(&name("nope")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        lb.delete(&name("nope"), None).await,
        Err(Error::NotFound { .. })
    ));
}

/// An explicit version that exists is refused and the stored value is unchanged.
pub async fn explicit_version_never_overwrites(f: &dyn Fixture) {
    let lb = sealed(f).await;
    let opts = PutOptions {
        version: Some(Version::new(5).unwrap()),
        ..PutOptions::default()
    };
    let n = name("pinned");
    assert_eq!(lb.put(&n, &"first".into(), &opts).await.unwrap().get(), 5);
    let err = lb.put(&n, &"second".into(), &opts).await.unwrap_err();
    assert!(matches!(err, Error::VersionExists { .. }), "{err}");
    let got = lb.get(&n, &none()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "first");
    // The next automatic version follows the highest.
    assert_eq!(put(&lb, "pinned", b"third").await.get(), 6);
}

/// Context is required to read, and a wrong one is a typed mismatch naming the stored keys.
pub async fn context_binding(f: &dyn Fixture) {
    let lb = sealed(f).await;
    let ctx = EncryptionContext::from_pairs(["env=prod", "app=web"]).unwrap();
    let n = name("ctx/secret");
    let opts = PutOptions {
        context: ctx.clone(),
        ..PutOptions::default()
    };
    lb.put(&n, &"v".into(), &opts).await.unwrap();
    assert_eq!(
        lb.get(&n, &ctx).await.unwrap().value.expose_str().unwrap(),
        "v"
    );
    match lb.get(&n, &none()).await {
        Err(Error::ContextMismatch {
            stored_keys: Some(keys),
            ..
        }) => {
            assert_eq!(keys, ["app", "env"])
        }
        other => panic!("expected ContextMismatch, got {other:?}"),
    }
    let wrong = EncryptionContext::from_pairs(["env=dev", "app=web"]).unwrap();
    assert!(matches!(
        lb.get(&n, &wrong).await,
        Err(Error::ContextMismatch { .. })
    ));
}

/// list/history/delete/prune/rollback, without decrypting for list and history.
pub async fn list_history_delete(f: &dyn Fixture) {
    let lb = sealed(f).await;
    for v in ["a1", "a2", "a3"] {
        put(&lb, "a", v.as_bytes()).await;
    }
    put(&lb, "b", b"b1").await;
    let listed: Vec<(String, u64)> = lb
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.version.unwrap().get()))
        .collect();
    assert_eq!(
        listed,
        [
            ("a".into(), 1),
            ("a".into(), 2),
            ("a".into(), 3),
            ("b".into(), 1)
        ]
    );
    let history = lb.history(&name("a")).await.unwrap();
    assert!(history
        .iter()
        .all(|s| s.format == "sealed" && s.created_at.is_some()));

    // Rollback writes a new latest version with the old value.
    let v = lb
        .rollback(&name("a"), Version::new(1).unwrap(), &none())
        .await
        .unwrap();
    assert_eq!(v.get(), 4);
    assert_eq!(
        lb.get(&name("a"), &none())
            .await
            .unwrap()
            .value
            .expose_str()
            .unwrap(),
        "a1"
    );

    // Delete one version, prune to two, delete all.
    let deleted = lb
        .delete(&name("a"), Some(Version::new(2).unwrap()))
        .await
        .unwrap();
    assert_eq!(deleted, [Version::new(2).unwrap().sort_key()]);
    let pruned = lb.prune(&name("a"), 2).await.unwrap();
    assert_eq!(pruned, [Version::new(1).unwrap().sort_key()]);
    let left: Vec<u64> = lb
        .history(&name("a"))
        .await
        .unwrap()
        .iter()
        .map(|s| s.version.unwrap().get())
        .collect();
    assert_eq!(left, [3, 4]);
    assert_eq!(lb.delete(&name("a"), None).await.unwrap().len(), 2);
    assert!(matches!(
        lb.get(&name("a"), &none()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(lb.get(&name("b"), &none()).await.unwrap().version.get(), 1);
}

/// get_many returns everything or the first error, never a partial set.
pub async fn get_many_all_or_nothing(f: &dyn Fixture) {
    let lb = sealed(f).await;
    let mut refs = Vec::new();
    for i in 0..20 {
        let n = format!("many/{i}");
        put(&lb, &n, n.as_bytes()).await;
        refs.push(SecretRef::latest(name(&n)));
    }
    let got = lb.get_many(&refs, &none()).await.unwrap();
    assert_eq!(got.len(), 20);
    for (r, s) in refs.iter().zip(&got) {
        assert_eq!(s.value.expose_secret(), r.name.as_str().as_bytes());
    }
    refs.push(SecretRef::latest(name("many/missing")));
    assert!(matches!(
        lb.get_many(&refs, &none()).await,
        Err(Error::NotFound { .. })
    ));
    let each = lb.get_each(&refs, &none()).await;
    assert_eq!(each.iter().filter(|r| r.is_err()).count(), 1);
}

/// `get_all` reads the newest version of every name (or of the names a pattern
/// matches, or one version of each) from one scan, with the answers `get_many`
/// gives for the same names, all or nothing.
pub async fn get_all_reads_every_name_from_one_scan(f: &dyn Fixture) {
    use lockbox::lifecycle::NamePattern;
    use lockbox::AllOptions;
    let lb = sealed(f).await;
    assert!(lb
        .get_all(&AllOptions::new(), &none())
        .await
        .unwrap()
        .is_empty());
    for i in 0..30 {
        let n = format!("{}/{}", if i % 2 == 0 { "app" } else { "web" }, i % 10);
        put(&lb, &n, format!("{n}#{}", i / 10 + 1).as_bytes()).await;
    }
    let all = lb.get_all(&AllOptions::new(), &none()).await.unwrap();
    let names: Vec<String> = all.iter().map(|s| s.name.to_string()).collect();
    let mut expected: Vec<String> = (0..10)
        .map(|i| format!("{}/{i}", if i % 2 == 0 { "app" } else { "web" }))
        .collect();
    expected.sort();
    assert_eq!(names, expected, "every name once, sorted");
    let refs: Vec<SecretRef> = expected
        .iter()
        .map(|n| SecretRef::latest(name(n)))
        .collect();
    let many = lb.get_many(&refs, &none()).await.unwrap();
    for (a, b) in all.iter().zip(&many) {
        assert_eq!((&a.name, a.version), (&b.name, b.version));
        assert_eq!(a.value.expose_secret(), b.value.expose_secret());
        assert_eq!(a.version.get(), 3);
    }
    let apps = lb
        .get_all(
            &AllOptions::new().pattern(NamePattern::new("app/*")),
            &none(),
        )
        .await
        .unwrap();
    assert_eq!(apps.len(), 5);
    assert!(apps.iter().all(|s| s.name.as_str().starts_with("app/")));
    let first = lb
        .get_all(&AllOptions::new().version(Version::FIRST), &none())
        .await
        .unwrap();
    assert_eq!(first.len(), 10);
    assert!(first
        .iter()
        .all(|s| s.value.expose_secret().ends_with(b"#1")));
    // All or nothing: one name without version 4, one with a context.
    put(&lb, "app/0", b"app/0#4").await;
    assert!(matches!(
        lb.get_all(
            &AllOptions::new().version(Version::new(4).unwrap()),
            &none()
        )
        .await,
        Err(Error::NotFound { .. })
    ));
    lb.put(
        &name("ctx/one"),
        &SecretValue::from_slice(b"x"),
        &PutOptions {
            context: EncryptionContext::from_pairs(["env=prod"]).unwrap(),
            ..PutOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        lb.get_all(&AllOptions::new(), &none()).await,
        Err(Error::ContextMismatch { .. })
    ));
    let outside = lb
        .get_all(
            &AllOptions::new().pattern(NamePattern::new("web/*")),
            &none(),
        )
        .await
        .unwrap();
    assert_eq!(
        outside.len(),
        5,
        "a pattern leaves the context-bound name out"
    );
}

/// Pinned and latest references mix in one call, in order; a missing pinned
/// version fails the whole call and is reported on its own by `get_each`.
pub async fn get_many_pinned_and_latest(f: &dyn Fixture) {
    let lb = sealed(f).await;
    for i in 0..150 {
        let n = format!("mix/{}", i % 50);
        put(&lb, &n, format!("{n}#{}", i / 50 + 1).as_bytes()).await;
    }
    let mut refs = Vec::new();
    let mut want = Vec::new();
    for i in 0..50 {
        let n = format!("mix/{i}");
        let v = (i % 3 + 1) as u64;
        refs.push(SecretRef::pinned(name(&n), Version::new(v).unwrap()));
        want.push(format!("{n}#{v}"));
        refs.push(SecretRef::latest(name(&n)));
        want.push(format!("{n}#3"));
    }
    // The same pinned key twice is fine.
    refs.push(refs[0].clone());
    want.push(want[0].clone());
    let got = lb.get_many(&refs, &none()).await.unwrap();
    let got: Vec<String> = got
        .iter()
        .map(|s| s.value.expose_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, want);
    refs.insert(
        7,
        SecretRef::pinned(name("mix/1"), Version::new(9).unwrap()),
    );
    let each = lb.get_each(&refs, &none()).await;
    for (i, r) in each.iter().enumerate() {
        assert_eq!(r.is_err(), i == 7, "ref {i}");
    }
    assert!(matches!(
        each[7],
        Err(Error::NotFound {
            version: Some(_),
            ..
        })
    ));
    assert!(lb.get_many(&refs, &none()).await.is_err());
}

/// Concurrent writers each get their own version; none is overwritten.
pub async fn concurrent_writers(f: &dyn Fixture, writers: usize, puts: usize) {
    let lb = Arc::new(sealed(f).await);
    let n = name("contended");
    let mut tasks = Vec::new();
    for w in 0..writers {
        let lb = lb.clone();
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for p in 0..puts {
                let value = SecretValue::from(format!("{w}-{p}"));
                mine.push((
                    lb.put(&n, &value, &PutOptions::default()).await.unwrap(),
                    w,
                    p,
                ));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let versions: BTreeSet<u64> = all.iter().map(|(v, _, _)| v.get()).collect();
    assert_eq!(
        versions.len(),
        writers * puts,
        "every put got its own version"
    );
    assert_eq!(lb.history(&n).await.unwrap().len(), writers * puts);
    // Each acknowledged version holds the value its writer wrote.
    for (v, w, p) in all.iter().step_by(7) {
        let got = lb.get_version(&n, *v, &none()).await.unwrap();
        assert_eq!(got.value.expose_str().unwrap(), format!("{w}-{p}"));
    }
}

/// Tables not created by lockbox in sealed mode get credstash's exact item shape.
pub async fn credstash_mode_writes_credstash_items(f: &dyn Fixture) {
    let lb = f.lockbox().await.build().unwrap();
    lb.setup(TableMode::Credstash, &[]).await.unwrap();
    let opts = PutOptions {
        comment: Some("note".into()),
        ..PutOptions::default()
    };
    lb.put(&name("legacy"), &"secretvalue".into(), &opts)
        .await
        .unwrap();
    let store = f.store().await;
    let item = store.get_latest(&name("legacy")).await.unwrap().unwrap();
    let attrs: Vec<&str> = item.keys().map(String::as_str).collect();
    assert_eq!(
        attrs,
        ["comment", "contents", "digest", "hmac", "key", "name", "version"]
    );
    assert!(
        matches!(item["hmac"], Attr::S(ref h) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
    );
    assert_eq!(item["digest"], Attr::S("SHA256".into()));
    assert_eq!(item["version"], Attr::S("0000000000000000001".into()));
    let got = lb.get(&name("legacy"), &none()).await.unwrap();
    assert_eq!(got.format, ItemFormat::Credstash);
    assert_eq!(got.value.expose_str().unwrap(), "secretvalue");
    // credstash cannot read binary: refused on write, before anything is stored.
    let err = lb
        .put(
            &name("legacy"),
            &SecretValue::new(vec![0xff]),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    // A reader that requires the sealed format refuses it.
    let strict = f.lockbox().await.require_sealed(true).build().unwrap();
    assert!(matches!(
        strict.get(&name("legacy"), &none()).await,
        Err(Error::UnsupportedFormat { .. })
    ));
    // An explicit policy overrides the table's mode.
    let sealed_writer = f
        .lockbox()
        .await
        .format(FormatPolicy::Sealed)
        .build()
        .unwrap();
    sealed_writer
        .put(&name("legacy"), &"new".into(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(
        strict.get(&name("legacy"), &none()).await.unwrap().format,
        ItemFormat::Sealed
    );
}

/// Old credstash tables hold unpadded versions: they are read and ordered numerically.
pub async fn legacy_unpadded_versions(f: &dyn Fixture) {
    let lb = f
        .lockbox()
        .await
        .format(FormatPolicy::Credstash(Digest::Sha256))
        .build()
        .unwrap();
    lb.setup(TableMode::Credstash, &[]).await.unwrap();
    let store = f.store().await;
    let n = name("old");
    // Write versions 1..=10 and re-store them under unpadded keys, as pre-2015 credstash did.
    for i in 1..=10u64 {
        let opts = PutOptions {
            version: Some(Version::new(i).unwrap()),
            ..PutOptions::default()
        };
        lb.put(&n, &SecretValue::from(format!("v{i}")), &opts)
            .await
            .unwrap();
        let mut item = store
            .get_version(&n, Version::new(i).unwrap())
            .await
            .unwrap()
            .unwrap();
        store
            .delete(&n, &Version::new(i).unwrap().sort_key())
            .await
            .unwrap();
        item.insert("version".into(), Attr::S(i.to_string()));
        store.put_new(&item).await.unwrap();
    }
    let latest = lb.get(&n, &none()).await.unwrap();
    assert_eq!(latest.version.get(), 10, "10 beats 9 numerically");
    assert_eq!(latest.value.expose_str().unwrap(), "v10");
    let all = lb
        .get_all(&lockbox::AllOptions::new(), &none())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].version.get(),
        10,
        "get_all orders versions as get does"
    );
    let v2 = lb
        .get_version(&n, Version::new(2).unwrap(), &none())
        .await
        .unwrap();
    assert_eq!(v2.value.expose_str().unwrap(), "v2");
    let order: Vec<u64> = lb
        .history(&n)
        .await
        .unwrap()
        .iter()
        .map(|s| s.version.unwrap().get())
        .collect();
    assert_eq!(order, (1..=10).collect::<Vec<_>>());
    assert_eq!(put(&lb, "old", b"next").await.get(), 11);
}

/// A reader pins its keys: an item under a key it does not trust is refused.
pub async fn reader_pins_its_keys(f: &dyn Fixture) {
    let writer_b = f.lockbox_with_keys(KeyChoice::B).await.build().unwrap();
    writer_b.setup(TableMode::Sealed, &[]).await.unwrap();
    writer_b
        .put(&name("under-b"), &"b".into(), &PutOptions::default())
        .await
        .unwrap();
    let reader_a = f.lockbox().await.build().unwrap();
    let err = reader_a.get(&name("under-b"), &none()).await.unwrap_err();
    assert!(matches!(err, Error::UntrustedKey { .. }), "{err}");
    let reader_ab = f.lockbox_with_keys(KeyChoice::AandB).await.build().unwrap();
    assert_eq!(
        reader_ab
            .get(&name("under-b"), &none())
            .await
            .unwrap()
            .value
            .expose_str()
            .unwrap(),
        "b"
    );
}

/// A sealed item copied under another name or version is refused.
pub async fn swapped_items_are_refused(f: &dyn Fixture) {
    let lb = sealed(f).await;
    put(&lb, "src", b"payload").await;
    let store = f.store().await;
    let item = store.get_latest(&name("src")).await.unwrap().unwrap();
    let mut moved = item.clone();
    moved.insert("name".into(), Attr::S("dst".into()));
    store.put_new(&moved).await.unwrap();
    let err = lb.get(&name("dst"), &none()).await.unwrap_err();
    assert!(
        matches!(err, Error::ContextMismatch { .. } | Error::Integrity { .. }),
        "{err}"
    );
    let mut bumped = item;
    bumped.insert(
        "version".into(),
        Attr::S(Version::new(2).unwrap().sort_key()),
    );
    store.put_new(&bumped).await.unwrap();
    let err = lb.get(&name("src"), &none()).await.unwrap_err();
    assert!(
        matches!(err, Error::ContextMismatch { .. } | Error::Integrity { .. }),
        "{err}"
    );
}

/// An unknown format id fails before any KMS call, naming the format.
pub async fn unknown_format_is_refused(f: &dyn Fixture) {
    let lb = sealed(f).await;
    let n = name("future");
    let item = envelope::seal(
        &envelope::data_key_request(&envelope::Sealing {
            format: WriteFormat::Sealed,
            name: &n,
            version: Version::FIRST,
            context: &none(),
            store: Some("any/store"),
            metadata: &Metadata::default(),
        })
        .unwrap(),
        b"x",
        &lockbox::backend::DataKey::new(vec![7u8; 32], b"not-a-real-blob".to_vec()),
    )
    .unwrap();
    let mut item = item;
    item.insert("format".into(), Attr::S("lockbox-sealed-99".into()));
    f.store().await.put_new(&item).await.unwrap();
    let err = lb.get(&n, &none()).await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
    assert!(err.to_string().contains("lockbox-sealed-99"), "{err}");
}

/// What the lifecycle operations need of a store and a key service: pages of a
/// scan (in segments, keys only), raw reads, writes that never overwrite,
/// conditional key updates, and a wrapped key moved to another master key.
pub async fn lifecycle_building_blocks(f: &dyn Fixture) {
    use lockbox::backend::ScanRequest;
    let lb = sealed(f).await;
    for i in 0..10 {
        put(&lb, &format!("s/{i}"), b"v").await;
    }
    let store = f.store().await;
    // Pages of at most 3 evaluated items, then three segments: every item once.
    let mut seen = Vec::new();
    let mut request = ScanRequest {
        limit: Some(3),
        ..ScanRequest::default()
    };
    loop {
        let page = store.scan_page(&request).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items);
        match page.next {
            Some(next) => request.start = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    assert!(seen.iter().all(|i| i.contains_key("contents")));
    let mut by_segment = BTreeSet::new();
    for segment in 0..3 {
        let mut request = ScanRequest {
            segment: Some((segment, 3)),
            keys_only: true,
            ..ScanRequest::default()
        };
        loop {
            let page = store.scan_page(&request).await.unwrap();
            for item in page.items {
                assert_eq!(item.len(), 2, "keys only: {:?}", item.keys());
                let name = item["name"].as_s().unwrap().to_owned();
                assert!(by_segment.insert(name), "an item in two segments");
            }
            match page.next {
                Some(next) => request.start = Some(next),
                None => break,
            }
        }
    }
    assert_eq!(by_segment.len(), 10);

    // Raw reads and writes that never overwrite.
    let sort_key = Version::FIRST.sort_key();
    let item = store.get_item("s/0", &sort_key).await.unwrap().unwrap();
    assert!(store.get_item("s/0", "1").await.unwrap().is_none());
    assert!(!store.put_if_absent(&item).await.unwrap());
    let mut copy = item.clone();
    copy.insert("name".into(), Attr::S("copy".into()));
    assert!(store.put_if_absent(&copy).await.unwrap());
    assert_eq!(store.get_item("copy", &sort_key).await.unwrap(), Some(copy));

    // The key attribute replaced only when it is still the one read.
    let old = item["key"].clone();
    let new = Attr::B(b"other-blob".to_vec());
    assert!(!store
        .replace_key("s/0", &sort_key, &new, &new)
        .await
        .unwrap());
    assert!(store
        .replace_key("s/0", &sort_key, &old, &new)
        .await
        .unwrap());
    assert!(!store
        .replace_key("s/0", &sort_key, &old, &new)
        .await
        .unwrap());
    assert!(!store
        .replace_key("gone", &sort_key, &old, &new)
        .await
        .unwrap());
    let mut expected = item.clone();
    expected.insert("key".into(), new);
    assert_eq!(
        store.get_item("s/0", &sort_key).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        store.describe_table().await.unwrap().status.as_deref(),
        Some("ACTIVE")
    );

    // A wrapped key moved from A to B: B alone unwraps it then, A no more.
    let a = lb.key_service();
    let b = f
        .lockbox_with_keys(KeyChoice::B)
        .await
        .build()
        .unwrap()
        .key_service();
    let (a_arn, b_arn) = (
        a.writer_key_arn().await.unwrap(),
        b.writer_key_arn().await.unwrap(),
    );
    let mut context = EncryptionContext::new();
    context.insert("k", "v").unwrap();
    let key = a.generate_data_key(32, &context).await.unwrap();
    let n = name("moved");
    let moved = a
        .re_encrypt(
            &n,
            &key.wrapped,
            &context,
            std::slice::from_ref(&a_arn),
            &b_arn,
        )
        .await
        .unwrap();
    assert_eq!(moved.source_key_id.as_deref(), Some(a_arn.as_str()));
    assert_eq!(moved.key_id.as_deref(), Some(b_arn.as_str()));
    let back = b
        .decrypt_data_key(&n, &moved.wrapped, &context)
        .await
        .unwrap();
    assert_eq!(back.plaintext.as_slice(), key.plaintext.as_slice());
    assert!(a
        .decrypt_data_key(&n, &moved.wrapped, &context)
        .await
        .is_err());
    // Only from the keys named, and only under the same context.
    let err = a
        .re_encrypt(
            &n,
            &moved.wrapped,
            &context,
            std::slice::from_ref(&a_arn),
            &b_arn,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedKey { .. }), "{err}");
    let err = a
        .re_encrypt(&n, &key.wrapped, &none(), &[a_arn], &b_arn)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ContextMismatch { .. }), "{err}");
}

/// Run every contract test against fixtures made by `make`.
#[macro_export]
macro_rules! contract_suite {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn setup_records_mode() {
            $crate::contract::setup_records_mode(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn round_trip_and_versions() {
            $crate::contract::round_trip_and_versions(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn not_found() {
            $crate::contract::not_found(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn explicit_version_never_overwrites() {
            $crate::contract::explicit_version_never_overwrites(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn context_binding() {
            $crate::contract::context_binding(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn list_history_delete() {
            $crate::contract::list_history_delete(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn get_many_all_or_nothing() {
            $crate::contract::get_many_all_or_nothing(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn get_many_pinned_and_latest() {
            $crate::contract::get_many_pinned_and_latest(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn get_all_reads_every_name_from_one_scan() {
            $crate::contract::get_all_reads_every_name_from_one_scan(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_writers_16_x_20() {
            $crate::contract::concurrent_writers(&$make, 16, 20).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn credstash_mode_writes_credstash_items() {
            $crate::contract::credstash_mode_writes_credstash_items(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn legacy_unpadded_versions() {
            $crate::contract::legacy_unpadded_versions(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn reader_pins_its_keys() {
            $crate::contract::reader_pins_its_keys(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn swapped_items_are_refused() {
            $crate::contract::swapped_items_are_refused(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn unknown_format_is_refused() {
            $crate::contract::unknown_format_is_refused(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn lifecycle_building_blocks() {
            $crate::contract::lifecycle_building_blocks(&$make).await
        }
    };
}
