//! Batch reads: every reference fetched with one bound on the calls in flight,
//! pinned versions read together, each outcome reported in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::stream::{self, StreamExt};

use crate::{
    EncryptionContext, Error, Lockbox, Reference, Result, Secret, SecretName, SecretRef, Selector,
    Version,
};

impl Lockbox {
    /// The latest version of each of `names`, as a map by name, all or nothing.
    pub async fn get_map(
        &self,
        names: &[SecretName],
        context: &EncryptionContext,
    ) -> Result<std::collections::BTreeMap<SecretName, Secret>> {
        let refs: Vec<SecretRef> = names.iter().cloned().map(SecretRef::latest).collect();
        Ok(self
            .get_many(&refs, context)
            .await?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect())
    }

    /// The number of the version an un-pinned read of `name` returns (`None` if
    /// it has none): `current` when it has labels, its highest version
    /// otherwise. A cheap probe for rotation, one projected read with no KMS
    /// call (two for a secret whose labels name no `current`).
    pub async fn latest_version(&self, name: &SecretName) -> Result<Option<Version>> {
        Ok(self.probe(name).await?.map(|(v, _)| v))
    }

    /// The version an un-pinned read returns, and the revision of the labels
    /// that chose it (`None`: no labels).
    pub(crate) async fn probe(&self, name: &SecretName) -> Result<Option<(Version, Option<u64>)>> {
        let Some(top) = self.inner.store.latest_version(name).await? else {
            return Ok(None);
        };
        if !top.is_label_document() {
            return Ok(top.version.map(|v| (v, None)));
        }
        let doc = self.document_of(name, &top).await?;
        let version = match doc.current() {
            Some(v) => Some(v),
            None if crate::read::rotating(&doc) => None,
            None => {
                let except: Vec<Version> = doc.pending().into_iter().collect();
                self.highest_except(name, &except).await?
            }
        };
        Ok(version.map(|v| (v, Some(doc.revision))))
    }

    /// The highest version of `name`, whatever its labels say (`None` if it has
    /// none): what `put` writes after.
    pub async fn highest_version(&self, name: &SecretName) -> Result<Option<Version>> {
        Ok(self.head(name).await?.latest.and_then(|s| s.version))
    }

    /// Fetch every secret in `refs`, all or nothing: the first failure fails the call.
    pub async fn get_many(
        &self,
        refs: &[SecretRef],
        context: &EncryptionContext,
    ) -> Result<Vec<Secret>> {
        self.get_each(refs, context).await.into_iter().collect()
    }

    /// Fetch every secret in `refs` with bounded concurrency, reporting each
    /// outcome in order (for callers that name every failure).
    pub async fn get_each(
        &self,
        refs: &[SecretRef],
        context: &EncryptionContext,
    ) -> Vec<Result<Secret>> {
        let targets: Vec<Reference> = refs.iter().cloned().map(Reference::from).collect();
        self.fetch_each(&targets, context, None).await
    }

    /// [`get_each`](Lockbox::get_each) within a deadline: a secret not read by
    /// `until` fails with [`Error::Throttled`] if its calls were being throttled
    /// (the AWS SDK still retrying them), else with [`Error::Timeout`]; the
    /// secrets read in time keep their outcome.
    ///
    /// Throttled calls are retried on one schedule per client rather than each
    /// on its own backoff: the next free slot, spaced a little below the rate
    /// the service granted this client over the last second (at least one call
    /// a second), never past most of the time left before `until`. A process
    /// of a fleet started at once then retries at about its share of the
    /// quota, and most of its throttled calls are retried once. (With
    /// `AWS_RETRY_MODE=adaptive`, a delay the AWS SDK's own rate limiter asks
    /// for comes first.)
    pub async fn get_each_until(
        &self,
        refs: &[SecretRef],
        context: &EncryptionContext,
        until: tokio::time::Instant,
    ) -> Vec<Result<Secret>> {
        let targets: Vec<Reference> = refs.iter().cloned().map(Reference::from).collect();
        self.fetch_each(&targets, context, Some(until)).await
    }

    /// What each of `refs` names ([`Lockbox::resolve`]), all or nothing.
    pub async fn resolve_many(
        &self,
        refs: &[Reference],
        context: &EncryptionContext,
    ) -> Result<Vec<Secret>> {
        self.resolve_each(refs, context).await.into_iter().collect()
    }

    /// What each of `refs` names ([`Lockbox::resolve`]), each outcome in order.
    /// A secret named by several references (fields of one JSON value, say) is
    /// fetched once; references differing only in their pointer share it, and
    /// so does a failure (reported for each of them).
    pub async fn resolve_each(
        &self,
        refs: &[Reference],
        context: &EncryptionContext,
    ) -> Vec<Result<Secret>> {
        self.resolve_each_within(refs, context, None).await
    }

    /// [`resolve_each`](Lockbox::resolve_each) within a deadline, as
    /// [`get_each_until`](Lockbox::get_each_until): a secret not read by `until`
    /// fails with [`Error::Throttled`] if its calls were being throttled, else
    /// with [`Error::Timeout`].
    pub async fn resolve_each_until(
        &self,
        refs: &[Reference],
        context: &EncryptionContext,
        until: tokio::time::Instant,
    ) -> Vec<Result<Secret>> {
        self.resolve_each_within(refs, context, Some(until)).await
    }

    async fn resolve_each_within(
        &self,
        refs: &[Reference],
        context: &EncryptionContext,
        until: Option<tokio::time::Instant>,
    ) -> Vec<Result<Secret>> {
        let mut unique: Vec<Reference> = Vec::new();
        let mut index: HashMap<Reference, usize> = HashMap::new();
        let at: Vec<usize> = refs
            .iter()
            .map(|r| {
                let target = crate::read::target_of(r);
                *index.entry(target.clone()).or_insert_with(|| {
                    unique.push(target);
                    unique.len() - 1
                })
            })
            .collect();
        let mut last_use = vec![0; unique.len()];
        for (i, &u) in at.iter().enumerate() {
            last_use[u] = i;
        }
        let mut fetched: Vec<Option<Result<Secret>>> = self
            .fetch_each(&unique, context, until)
            .await
            .into_iter()
            .map(Some)
            .collect();
        refs.iter()
            .zip(&at)
            .enumerate()
            .map(|(i, (r, &u))| {
                let result = match fetched[u].as_ref().expect("taken at the last use only") {
                    Ok(secret) => Ok(match &r.pointer {
                        Some(p) => secret.field(p).map(|value| secret.with_value(value)),
                        None => Ok(secret.with_value(secret.value.duplicate())),
                    }),
                    Err(e) => Err(e.duplicate()),
                };
                match result {
                    Ok(r) => r,
                    // The last reference to a failed secret gets the error itself
                    // (with its source); the others a copy.
                    Err(e) if last_use[u] == i => match fetched[u].take() {
                        Some(Err(original)) => Err(original),
                        _ => Err(e),
                    },
                    Err(e) => Err(e),
                }
            })
            .collect()
    }

    /// Fetch every target (a reference without a pointer), each outcome in order,
    /// each within `until` when given.
    pub(crate) async fn fetch_each(
        &self,
        refs: &[Reference],
        context: &EncryptionContext,
        until: Option<tokio::time::Instant>,
    ) -> Vec<Result<Secret>> {
        // Pinned versions are read together (one BatchGetItem per 100) while the
        // latest versions are queried; every item is then unwrapped concurrently.
        let version = |r: &Reference| match r.selector {
            Selector::Version(v) => Some(v),
            _ => None,
        };
        let pinned: Vec<(SecretName, Version)> = refs
            .iter()
            .filter_map(|r| Some((r.name.clone(), version(r)?)))
            .collect();
        let batch = async {
            if pinned.len() < 2 || self.inner.cache.is_some() {
                return None;
            }
            let read =
                crate::served::noting(Default::default(), self.inner.store.get_versions(&pinned));
            let (items, served) = match until {
                Some(until) => tokio::time::timeout_at(until, read).await.ok()?,
                None => read.await,
            };
            let items = items.ok()?;
            Some((
                pinned.iter().cloned().zip(items).collect::<HashMap<_, _>>(),
                served,
            ))
        };
        // At most `concurrency` secrets in flight through this Lockbox (its clones
        // included), pinned and latest together: a fetch starts once it has a
        // slot; when the batch's last one starts, a one-shot lockbox tells its key
        // service. The streams run over indices, not borrowed pairs, which keeps
        // the future `Send`.
        let started = AtomicUsize::new(0);
        let start = || async {
            let slot = self
                .inner
                .slots
                .acquire()
                .await
                .expect("the semaphore is never closed");
            if self.inner.one_shot && started.fetch_add(1, Ordering::Relaxed) + 1 == refs.len() {
                self.inner.keys.finishing();
            }
            slot
        };
        let (latest_at, pinned_at): (Vec<usize>, Vec<usize>) =
            (0..refs.len()).partition(|&i| version(&refs[i]).is_none());
        let latest = paced(latest_at.into_iter())
            .map(|i| async move {
                let read = async {
                    let _slot = start().await;
                    self.fetch_unbounded(&refs[i], context).await
                };
                (i, within(until, read).await)
            })
            .buffer_unordered(self.inner.concurrency)
            .collect::<Vec<_>>();
        let pinned = async {
            let batched = batch.await;
            paced(pinned_at.into_iter())
                .map(|i| {
                    let r = &refs[i];
                    let found = batched.as_ref().and_then(|(m, served)| {
                        Some((
                            m.get(&(r.name.clone(), version(r).expect("pinned")))?,
                            served,
                        ))
                    });
                    async move {
                        let read = async {
                            let _slot = start().await;
                            match found {
                                Some((Some(item), served)) => {
                                    let (opened, served) = crate::served::noting(
                                        served.clone(),
                                        self.open_item(item, context),
                                    )
                                    .await;
                                    crate::served::apply(opened, served)
                                }
                                Some((None, served)) => crate::served::apply(
                                    Err(Error::NotFound {
                                        name: r.name.clone(),
                                        version: version(r),
                                    }),
                                    served.clone(),
                                ),
                                // No batch (or it failed): fetch on its own, which
                                // reports its error.
                                None => self.fetch_unbounded(r, context).await,
                            }
                        };
                        (i, within(until, read).await)
                    }
                })
                .buffer_unordered(self.inner.concurrency)
                .collect::<Vec<_>>()
                .await
        };
        let warm = self
            .inner
            .keys
            .open_connections(refs.len().min(self.inner.concurrency));
        let (latest, pinned_results, ()) = crate::read::alongside(
            async { futures::join!(latest, pinned, self.prefetch_record()) },
            warm,
        )
        .await;
        let mut slots: Vec<Option<Result<Secret>>> = refs.iter().map(|_| None).collect();
        for (i, result) in latest.into_iter().chain(pinned_results) {
            slots[i] = Some(result);
        }
        slots
            .into_iter()
            .map(|s| s.expect("every ref has a result"))
            .collect()
    }
}

/// `read`, failing when `until` passes first: with [`Error::Throttled`] if the
/// read's calls were being throttled, else with [`Error::Timeout`].
async fn within(
    until: Option<tokio::time::Instant>,
    read: impl std::future::Future<Output = Result<Secret>>,
) -> Result<Secret> {
    let Some(until) = until else {
        return read.await;
    };
    let note = std::sync::Arc::new(crate::throttle::Note::until(until.into_std()));
    match tokio::time::timeout_at(until, crate::throttle::noted(note.clone(), read)).await {
        Ok(result) => result,
        Err(_) => Err(match note.throttled() {
            Some((service, answers)) => Error::Throttled {
                service,
                message: format!(
                    "the deadline passed while its calls were being throttled ({answers} throttled answer{})",
                    if answers == 1 { "" } else { "s" }
                ),
                source: None,
            },
            None => Error::Timeout {
                service: note.last_service().unwrap_or(crate::error::Service::DynamoDb),
                endpoint: None,
                source: None,
            },
        }),
    }
}

/// `items` as a stream that yields to the runtime before each item, so that each
/// call started from it goes on the wire before the next one is built. Without
/// the pause, a batch of calls is serialised and signed all in one poll (about
/// 60 µs of CPU each) and the first request is sent only after the last is built.
fn paced<I: Iterator + Send>(items: I) -> impl futures::Stream<Item = I::Item> + Send
where
    I::Item: Send,
{
    stream::iter(items).then(|item| async move {
        tokio::task::yield_now().await;
        item
    })
}
