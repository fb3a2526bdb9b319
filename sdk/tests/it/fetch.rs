//! `get_each`/`get_many`: the concurrency bound holds, the default lets a whole
//! batch of up to `DEFAULT_CONCURRENCY` secrets be in flight at once (one wave of
//! reads, one of decrypts), every outcome comes back in the order asked, and a
//! one-shot lockbox tells its key service when the last fetch has started.

use std::sync::Arc;
use std::time::Duration;

use lockbox::backend::{MemorySecretStore, SecretStore, TableMode};
use lockbox::{
    EncryptionContext, Error, ExposeSecret, Lockbox, PutOptions, SecretName, SecretRef,
    SecretValue, DEFAULT_CONCURRENCY,
};

use crate::common::ObservedKeys;

/// `n` secrets `s/0000`.. with values `value-<i>` under keys whose every unwrap
/// takes `unwrap`, and a way to open lockboxes on them.
async fn fixture(n: usize, unwrap: Duration) -> (Arc<ObservedKeys>, Arc<MemorySecretStore>) {
    let keys = Arc::new(ObservedKeys::new(unwrap));
    let store = Arc::new(MemorySecretStore::new());
    let lb = open(&keys, &store, None);
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    for i in 0..n {
        let value = SecretValue::from(format!("value-{i}").as_str());
        lb.put(&name(i), &value, &PutOptions::default())
            .await
            .unwrap();
    }
    keys.reset_most_in_flight();
    (keys, store)
}

fn open(keys: &Arc<ObservedKeys>, store: &Arc<MemorySecretStore>, bound: Option<usize>) -> Lockbox {
    open_with(keys, store, bound, false)
}

fn open_with(
    keys: &Arc<ObservedKeys>,
    store: &Arc<MemorySecretStore>,
    bound: Option<usize>,
    one_shot: bool,
) -> Lockbox {
    let mut builder = Lockbox::builder()
        .key_service_arc(keys.clone())
        .secret_store_arc(store.clone() as Arc<dyn SecretStore>)
        .one_shot(one_shot);
    if let Some(bound) = bound {
        builder = builder.concurrency(bound);
    }
    builder.build().unwrap()
}

fn name(i: usize) -> SecretName {
    SecretName::new(format!("s/{i:04}")).unwrap()
}

fn value(secret: &lockbox::Secret) -> String {
    String::from_utf8(secret.value.expose_secret().to_vec()).unwrap()
}

#[tokio::test]
async fn no_more_than_the_bound_is_in_flight_and_results_keep_their_order() {
    let (keys, store) = fixture(40, Duration::from_millis(20)).await;
    let lb = open(&keys, &store, Some(4));
    let refs: Vec<SecretRef> = (0..40).rev().map(|i| SecretRef::latest(name(i))).collect();
    let secrets = lb.get_many(&refs, &EncryptionContext::new()).await.unwrap();
    assert_eq!(keys.most_in_flight(), 4);
    let values: Vec<String> = secrets.iter().map(value).collect();
    let expected: Vec<String> = (0..40).rev().map(|i| format!("value-{i}")).collect();
    assert_eq!(values, expected);
}

#[tokio::test]
async fn by_default_a_batch_of_up_to_the_default_bound_is_one_wave() {
    let n = DEFAULT_CONCURRENCY + 20;
    // Long enough that every fetch of the wave has started before the first ends,
    // even on a loaded machine.
    let (keys, store) = fixture(n, Duration::from_millis(300)).await;
    let lb = open(&keys, &store, None);
    let refs: Vec<SecretRef> = (0..n).map(|i| SecretRef::latest(name(i))).collect();
    let secrets = lb.get_many(&refs, &EncryptionContext::new()).await.unwrap();
    assert_eq!(secrets.len(), n);
    assert_eq!(keys.most_in_flight(), DEFAULT_CONCURRENCY);
}

#[tokio::test]
async fn pinned_and_latest_mixed_with_a_missing_one_each_get_their_own_outcome() {
    let (keys, store) = fixture(6, Duration::from_millis(20)).await;
    let lb = open(&keys, &store, Some(2));
    let v1 = lockbox::Version::new(1).unwrap();
    let refs = vec![
        SecretRef::pinned(name(3), v1),
        SecretRef::latest(name(0)),
        SecretRef::latest(SecretName::new("s/missing").unwrap()),
        SecretRef::pinned(name(5), v1),
        SecretRef::pinned(name(1), lockbox::Version::new(9).unwrap()),
    ];
    let outcomes = lb.get_each(&refs, &EncryptionContext::new()).await;
    assert_eq!(outcomes.len(), 5);
    assert_eq!(value(outcomes[0].as_ref().unwrap()), "value-3");
    assert_eq!(value(outcomes[1].as_ref().unwrap()), "value-0");
    assert!(matches!(
        &outcomes[2],
        Err(Error::NotFound { version: None, .. })
    ));
    assert_eq!(value(outcomes[3].as_ref().unwrap()), "value-5");
    assert!(matches!(
        &outcomes[4],
        Err(Error::NotFound {
            version: Some(_),
            ..
        })
    ));
    assert!(keys.most_in_flight() <= 2);
}

#[tokio::test]
async fn a_one_shot_lockbox_says_finishing_once_its_last_fetch_has_started() {
    let (keys, store) = fixture(10, Duration::from_millis(20)).await;
    let refs: Vec<SecretRef> = (0..10).map(|i| SecretRef::latest(name(i))).collect();

    // Not one-shot (the default): never told.
    let lb = open(&keys, &store, Some(4));
    lb.get_many(&refs, &EncryptionContext::new()).await.unwrap();
    assert_eq!(keys.finishing_after(), Vec::<usize>::new());

    // One-shot, four at a time: the tenth fetch starts once a slot is free, when
    // the nine before it have started their unwraps and its own has not.
    let lb = open_with(&keys, &store, Some(4), true);
    let before = keys.decrypts();
    let secrets = lb.get_many(&refs, &EncryptionContext::new()).await.unwrap();
    assert_eq!(secrets.len(), 10);
    assert_eq!(keys.finishing_after(), vec![before + 9]);
    assert_eq!(keys.decrypts(), before + 10);

    // Pinned and latest together: still once per batch, after every fetch started.
    let v1 = lockbox::Version::new(1).unwrap();
    let mixed: Vec<SecretRef> = (0..10)
        .map(|i| match i % 2 {
            0 => SecretRef::pinned(name(i), v1),
            _ => SecretRef::latest(name(i)),
        })
        .collect();
    let before = keys.decrypts();
    lb.get_many(&mixed, &EncryptionContext::new())
        .await
        .unwrap();
    let told = keys.finishing_after();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told[1] >= before + 10 - 4, "told too early: {told:?}");
}

/// Compile-time checks: a `Lockbox` is a cheap `Clone` handle, `Send + Sync`,
/// and every future its public methods return is `Send + 'static` when called on
/// an owned clone, as `tokio::spawn` and web handlers need.
#[allow(dead_code)]
mod send {
    use lockbox::{
        EncryptionContext, Lockbox, PutOptions, SecretName, SecretRef, SecretValue, TableMode,
        Version,
    };

    fn is_send<T: Send + 'static>(_: T) {}
    fn shareable<T: Send + Sync + Clone + 'static>() {}

    fn lockbox_is_a_shareable_handle() {
        shareable::<Lockbox>();
    }

    fn every_future_is_send(lb: Lockbox, n: SecretName, r: SecretRef, refs: Vec<SecretRef>) {
        let none = EncryptionContext::new;
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move { l.get(&x, &none()).await });
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move { l.get_version(&x, Version::FIRST, &none()).await });
        let (l, x) = (lb.clone(), r.clone());
        is_send(async move { l.fetch(&x, &none()).await });
        let (l, x) = (lb.clone(), refs.clone());
        is_send(async move { l.get_many(&x, &none()).await });
        let (l, x) = (lb.clone(), refs);
        is_send(async move { l.get_each(&x, &none()).await });
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move {
            l.put(&x, &SecretValue::from("v"), &PutOptions::default())
                .await
        });
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move { l.rollback(&x, Version::FIRST, &none()).await });
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move { l.history(&x).await });
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move { l.delete(&x, None).await });
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move { l.prune(&x, 1).await });
        let l = lb.clone();
        is_send(async move { l.list().await });
        let (l, x) = (lb.clone(), vec![n.clone()]);
        is_send(async move { l.get_map(&x, &none()).await });
        let (l, x) = (lb.clone(), n.clone());
        is_send(async move { l.latest_version(&x).await });
        let (l, x) = (lb.clone(), r.clone());
        is_send(async move { l.refresh(&x, &none()).await });
        is_send(lb.watch(vec![n.clone()], none(), std::time::Duration::from_secs(1)));
        is_send(lb.list_stream());
        let l = lb.clone();
        is_send(async move { l.setup(TableMode::Sealed, &[]).await });
        let l = lb.clone();
        is_send(async move { l.table_record().await });
        is_send(async move { Lockbox::from_env(&lockbox::AwsOptions::default()).await });
    }
}

/// The bound on calls in flight is per `Lockbox`: two batches started at once
/// through two clones, in two tasks, share it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_is_shared_by_every_call_and_clone() {
    let (keys, store) = fixture(12, Duration::from_millis(30)).await;
    let lb = open(&keys, &store, Some(8));
    let refs: Vec<SecretRef> = (0..12).map(|i| SecretRef::latest(name(i))).collect();
    let other = lb.clone();
    let (a, b) = tokio::join!(
        tokio::spawn({
            let (lb, refs) = (lb.clone(), refs.clone());
            async move { lb.get_many(&refs, &EncryptionContext::new()).await }
        }),
        tokio::spawn({
            let refs = refs.clone();
            async move { other.get_many(&refs, &EncryptionContext::new()).await }
        }),
    );
    assert_eq!(a.unwrap().unwrap().len(), 12);
    assert_eq!(b.unwrap().unwrap().len(), 12);
    let most = keys.most_in_flight();
    assert!(most <= 8, "{most} unwraps in flight at once");
    assert_eq!(most, 8, "the batches filled the bound");
}
