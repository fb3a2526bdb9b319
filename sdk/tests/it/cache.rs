//! The in-process cache (`LockboxBuilder::cache_ttl`): hits within the TTL cost no
//! KMS call, expiry and invalidation go back to the store, writes through the same
//! `Lockbox` are seen at once, and an entry is only ever served for the exact
//! encryption context it was decrypted with.

use std::sync::Arc;
use std::time::Duration;

use lockbox::backend::{MemorySecretStore, SecretStore, TableMode};
use lockbox::{
    EncryptionContext, Error, ExposeSecret, Lockbox, PutOptions, SecretName, SecretRef,
    SecretValue, Version,
};

use crate::common::ObservedKeys;

struct Fixture {
    keys: Arc<ObservedKeys>,
    store: Arc<MemorySecretStore>,
}

impl Fixture {
    /// Backends with a sealed table set up.
    async fn new() -> Self {
        let f = Self {
            keys: Arc::new(ObservedKeys::new(Duration::ZERO)),
            store: Arc::new(MemorySecretStore::new()),
        };
        f.lockbox(None).setup(TableMode::Sealed, &[]).await.unwrap();
        f
    }

    /// A lockbox on the shared backends, cached for `ttl` when given.
    fn lockbox(&self, ttl: Option<Duration>) -> Lockbox {
        let mut builder = Lockbox::builder()
            .key_service_arc(self.keys.clone())
            .secret_store_arc(self.store.clone() as Arc<dyn SecretStore>);
        if let Some(ttl) = ttl {
            builder = builder.cache_ttl(ttl);
        }
        builder.build().unwrap()
    }

    fn decrypts(&self) -> usize {
        self.keys.decrypts()
    }
}

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

async fn put(lb: &Lockbox, n: &SecretName, value: &str) -> Version {
    lb.put(n, &SecretValue::from(value), &PutOptions::default())
        .await
        .unwrap()
}

async fn get(lb: &Lockbox, n: &SecretName) -> String {
    let secret = lb.get(n, &EncryptionContext::new()).await.unwrap();
    String::from_utf8(secret.value.expose_secret().to_vec()).unwrap()
}

const LONG: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn without_a_cache_every_get_decrypts() {
    let f = Fixture::new().await;
    let lb = f.lockbox(None);
    let n = name("db/password");
    put(&lb, &n, "one").await;
    for _ in 0..3 {
        assert_eq!(get(&lb, &n).await, "one");
    }
    assert_eq!(f.decrypts(), 3);
}

#[tokio::test]
async fn a_hit_within_the_ttl_costs_no_kms_call_and_survives_other_writers() {
    let f = Fixture::new().await;
    let cached = f.lockbox(Some(LONG));
    let other = f.lockbox(None);
    let n = name("db/password");
    put(&other, &n, "one").await;

    assert_eq!(get(&cached, &n).await, "one");
    assert_eq!(f.decrypts(), 1);
    assert_eq!(get(&cached, &n).await, "one");
    assert_eq!(f.decrypts(), 1, "the second get is served from the cache");

    // Another process writes a new version: the cache serves the old value until
    // it is invalidated (the documented trade-off of a TTL cache).
    put(&other, &n, "two").await;
    assert_eq!(get(&cached, &n).await, "one");
    cached.invalidate(&n);
    assert_eq!(get(&cached, &n).await, "two");
    assert_eq!(f.decrypts(), 2);
}

#[tokio::test]
async fn entries_expire_after_the_ttl() {
    let f = Fixture::new().await;
    let ttl = Duration::from_millis(50);
    let cached = f.lockbox(Some(ttl));
    let other = f.lockbox(None);
    let n = name("api/token");
    put(&other, &n, "one").await;
    assert_eq!(get(&cached, &n).await, "one");
    put(&other, &n, "two").await;
    tokio::time::sleep(ttl * 3).await;
    assert_eq!(
        get(&cached, &n).await,
        "two",
        "an expired entry is not served"
    );
    assert_eq!(f.decrypts(), 2);
}

#[tokio::test]
async fn writes_through_the_same_lockbox_invalidate_their_name() {
    let f = Fixture::new().await;
    let lb = f.lockbox(Some(LONG));
    let n = name("svc/key");
    let kept = name("svc/other");
    put(&lb, &n, "one").await;
    put(&lb, &kept, "kept").await;
    assert_eq!(get(&lb, &n).await, "one");
    assert_eq!(get(&lb, &kept).await, "kept");

    put(&lb, &n, "two").await;
    assert_eq!(get(&lb, &n).await, "two", "put invalidates");

    lb.rollback(&n, Version::FIRST, &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(get(&lb, &n).await, "one", "rollback invalidates");

    lb.delete(&n, None).await.unwrap();
    let gone = lb.get(&n, &EncryptionContext::new()).await;
    assert!(
        matches!(gone, Err(Error::NotFound { .. })),
        "delete invalidates: {gone:?}"
    );

    // Only the written name was dropped.
    let before = f.decrypts();
    assert_eq!(get(&lb, &kept).await, "kept");
    assert_eq!(f.decrypts(), before, "the other name is still cached");

    lb.invalidate_all();
    assert_eq!(get(&lb, &kept).await, "kept");
    assert_eq!(f.decrypts(), before + 1, "invalidate_all drops everything");
}

#[tokio::test]
async fn an_entry_is_served_only_for_its_own_context() {
    let f = Fixture::new().await;
    let lb = f.lockbox(Some(LONG));
    let n = name("ctx/secret");
    let ctx = EncryptionContext::from_pairs(["env=prod"]).unwrap();
    lb.put(
        &n,
        &SecretValue::from("value"),
        &PutOptions {
            context: ctx.clone(),
            ..PutOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        lb.get(&n, &ctx).await.unwrap().value.expose_secret(),
        b"value"
    );

    // A cached plaintext must not bypass the context check.
    let wrong = EncryptionContext::from_pairs(["env=dev"]).unwrap();
    for ctx in [wrong, EncryptionContext::new()] {
        let e = lb.get(&n, &ctx).await.unwrap_err();
        assert!(matches!(e, Error::ContextMismatch { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn latest_and_pinned_versions_are_cached_apart() {
    let f = Fixture::new().await;
    let lb = f.lockbox(Some(LONG));
    let other = f.lockbox(None);
    let n = name("pin/me");
    let v1 = put(&other, &n, "one").await;
    put(&other, &n, "two").await;
    let ctx = EncryptionContext::new();
    let got = lb
        .get_many(
            &[
                SecretRef::pinned(n.clone(), v1),
                SecretRef::latest(n.clone()),
            ],
            &ctx,
        )
        .await
        .unwrap();
    let values: Vec<_> = got
        .iter()
        .map(|s| s.value.expose_secret().to_vec())
        .collect();
    assert_eq!(values, [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(f.decrypts(), 2);
    let again = lb.get_version(&n, v1, &ctx).await.unwrap();
    assert_eq!(again.value.expose_secret(), b"one");
    assert_eq!(f.decrypts(), 2, "the pinned version is a cache hit");
}

#[tokio::test]
async fn debug_output_of_a_cached_lockbox_shows_no_value() {
    let f = Fixture::new().await;
    let lb = f.lockbox(Some(LONG));
    let n = name("debug/me");
    put(&lb, &n, "canary-4f1d2a").await;
    assert_eq!(get(&lb, &n).await, "canary-4f1d2a");
    let debug = format!("{lb:?}");
    assert!(!debug.contains("canary-4f1d2a"), "{debug}");
}

fn lockbox_with(f: &Fixture, config: lockbox::CacheConfig) -> Lockbox {
    Lockbox::builder()
        .key_service_arc(f.keys.clone())
        .secret_store_arc(f.store.clone() as Arc<dyn SecretStore>)
        .cache(config)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_cache_keeps_at_most_max_entries_evicting_the_least_recently_used() {
    let f = Fixture::new().await;
    let config = lockbox::CacheConfig::new(LONG).max_entries(2.try_into().unwrap());
    let lb = lockbox_with(&f, config);
    for n in ["a", "b", "c"] {
        put(&lb, &name(n), n).await;
    }
    get(&lb, &name("a")).await;
    get(&lb, &name("b")).await;
    get(&lb, &name("a")).await; // a is now more recent than b
    get(&lb, &name("c")).await; // evicts b
    let before = f.decrypts();
    get(&lb, &name("a")).await;
    assert_eq!(f.decrypts(), before, "a was kept");
    get(&lb, &name("b")).await;
    assert_eq!(f.decrypts(), before + 1, "b was evicted");
    let stats = lb.cache_stats().unwrap();
    assert_eq!(stats.evictions, 2);
    assert_eq!((stats.hits, stats.misses), (2, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_secret_make_one_fetch() {
    let f = Fixture::new().await;
    let lb = f.lockbox(Some(LONG));
    let n = name("hot");
    put(&lb, &n, "v").await;
    let before = f.decrypts();
    let reads: Vec<_> = (0..16)
        .map(|_| {
            let (lb, n) = (lb.clone(), n.clone());
            tokio::spawn(async move { get(&lb, &n).await })
        })
        .collect();
    for r in reads {
        assert_eq!(r.await.unwrap(), "v");
    }
    assert_eq!(f.decrypts(), before + 1, "one fetch for sixteen readers");
}

#[tokio::test]
async fn the_last_good_value_is_served_stale_only_while_the_backend_is_unavailable() {
    let f = Fixture::new().await;
    let config = lockbox::CacheConfig::new(Duration::from_millis(50))
        .serve_stale_for(Duration::from_secs(3600));
    let lb = lockbox_with(&f, config);
    let n = name("db/password");
    put(&lb, &n, "good").await;
    let fresh = lb.get(&n, &EncryptionContext::new()).await.unwrap();
    assert!(!fresh.stale);
    tokio::time::sleep(Duration::from_millis(80)).await; // past the TTL
    f.keys.fail_with(Some(|| Error::Unavailable {
        service: lockbox::Service::Kms,
        message: "KMSInternalException".into(),
        source: None,
    }));
    let stale = lb.get(&n, &EncryptionContext::new()).await.unwrap();
    assert!(stale.stale, "says it is stale");
    assert_eq!(stale.value.expose_secret(), b"good");
    assert_eq!(lb.cache_stats().unwrap().stale_served, 1);
    // A refusal is never answered from the cache.
    f.keys.fail_with(Some(|| Error::AccessDenied {
        service: lockbox::Service::Kms,
        message: "AccessDeniedException".into(),
        source: None,
    }));
    let err = lb.get(&n, &EncryptionContext::new()).await.unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
    // Back up: fresh again, and refresh() bypasses the cache.
    f.keys.fail_with(None);
    let again = lb
        .refresh(&SecretRef::latest(n.clone()), &EncryptionContext::new())
        .await
        .unwrap();
    assert!(!again.stale);
}

#[tokio::test]
async fn without_a_stale_window_an_unavailable_backend_is_an_error() {
    let f = Fixture::new().await;
    let lb = lockbox_with(&f, lockbox::CacheConfig::new(Duration::from_millis(30)));
    let n = name("k");
    put(&lb, &n, "v").await;
    get(&lb, &n).await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    f.keys.fail_with(Some(|| Error::Timeout {
        service: lockbox::Service::Kms,
        endpoint: None,
        source: None,
    }));
    assert!(matches!(
        lb.get(&n, &EncryptionContext::new()).await,
        Err(Error::Timeout { .. })
    ));
}

/// `watch` reports each new version once, with the version it replaced, and a
/// deleted newest version as an error, never as a rotation back.
#[tokio::test]
async fn watch_reports_each_new_version_once_and_never_goes_back() {
    use futures::StreamExt as _;
    let f = Fixture::new().await;
    let lb = f.lockbox(None);
    let n = name("api/key");
    put(&lb, &n, "one").await;
    let mut changes = Box::pin(lb.watch(
        vec![n.clone()],
        EncryptionContext::new(),
        Duration::from_millis(20),
    ));
    // The baseline (version 1) is read by the first poll; nothing is reported.
    let calls = f.store.calls();
    let first = tokio::time::timeout(Duration::from_millis(100), changes.next()).await;
    assert!(first.is_err(), "nothing to report yet");
    assert!(f.store.calls() > calls, "the watch polled meanwhile");
    put(&lb, &n, "two").await;
    let rotation = changes.next().await.unwrap().unwrap();
    assert_eq!(rotation.from, Some(Version::new(1).unwrap()));
    assert_eq!(rotation.secret.version.get(), 2);
    assert_eq!(rotation.secret.value.expose_secret(), b"two");
    f.store
        .delete(&n, &Version::new(2).unwrap().sort_key())
        .await
        .unwrap();
    let err = changes.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Rollback { .. }), "{err}");
    assert_eq!(lb.latest_version(&n).await.unwrap(), Some(Version::FIRST));
}

/// `watch` follows `current` where its labels move it, back included, reports
/// nothing while a value is only `pending`, and refuses an older label
/// document put back.
#[tokio::test]
async fn watch_follows_label_moves_and_refuses_old_labels() {
    use futures::StreamExt as _;
    use lockbox::{Label, LabelCondition, RotateOptions, SecretValue};
    let f = Fixture::new().await;
    let lb = f.lockbox(Some(Duration::from_secs(60)));
    let n = name("db/password");
    put(&lb, &n, "one").await;
    put(&lb, &n, "two").await;
    let stable = Label::new("stable").unwrap();
    lb.set_label(&n, &stable, Version::FIRST, LabelCondition::Absent)
        .await
        .unwrap();
    let first_labels = f
        .store
        .get_item("db/password", lockbox::format::labels::SORT_KEY)
        .await
        .unwrap()
        .unwrap();
    let mut changes = Box::pin(lb.watch(
        vec![n.clone()],
        EncryptionContext::new(),
        Duration::from_millis(20),
    ));
    let quiet = Duration::from_millis(120);
    let calls = f.store.calls();
    assert!(
        tokio::time::timeout(quiet, changes.next()).await.is_err(),
        "the baseline is not reported"
    );
    assert!(f.store.calls() > calls, "the watch polled meanwhile");
    lb.rotate_start(&n, &SecretValue::from("three"), &RotateOptions::default())
        .await
        .unwrap();
    let calls = f.store.calls();
    assert!(
        tokio::time::timeout(quiet, changes.next()).await.is_err(),
        "a pending version is not a rotation"
    );
    assert!(f.store.calls() > calls, "the watch polled meanwhile");
    lb.rotate_finish(&n, None).await.unwrap();
    let rotation = changes.next().await.unwrap().unwrap();
    assert_eq!(
        (
            rotation.from.map(Version::get),
            rotation.secret.version.get()
        ),
        (Some(2), 3)
    );
    assert_eq!(rotation.secret.value.expose_secret(), b"three");
    lb.rollback_current(&n, LabelCondition::AsFound)
        .await
        .unwrap();
    let rotation = changes.next().await.unwrap().unwrap();
    assert_eq!(
        (
            rotation.from.map(Version::get),
            rotation.secret.version.get()
        ),
        (Some(3), 2)
    );
    assert_eq!(rotation.secret.value.expose_secret(), b"two");
    // The same lockbox (cached) reads what the labels say after each move.
    assert_eq!(
        lb.get(&n, &EncryptionContext::new())
            .await
            .unwrap()
            .version
            .get(),
        2
    );
    // An older label document put back (revision 1, current 2): refused.
    lb.set_label(
        &n,
        &Label::CURRENT,
        Version::new(3).unwrap(),
        LabelCondition::AsFound,
    )
    .await
    .unwrap();
    let rotation = changes.next().await.unwrap().unwrap();
    assert_eq!(rotation.secret.version.get(), 3);
    f.store
        .delete(&n, lockbox::format::labels::SORT_KEY)
        .await
        .unwrap();
    f.store.insert_raw(first_labels);
    let err = changes.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::LabelRollback { .. }), "{err}");
}
