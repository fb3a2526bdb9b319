//! Batch reads: every reference fetched with one bound on the calls in flight,
//! pinned versions read together, each outcome reported in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::stream::{self, StreamExt};

use crate::{EncryptionContext, Error, Lockbox, Result, Secret, SecretName, SecretRef, Version};

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

    /// The number of the latest version of `name` (`None` if it has none): a
    /// cheap probe for rotation, one projected read with no KMS call.
    pub async fn latest_version(&self, name: &SecretName) -> Result<Option<Version>> {
        Ok(self
            .inner
            .store
            .latest_version(name)
            .await?
            .and_then(|s| s.version))
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
        // Pinned versions are read together (one BatchGetItem per 100) while the
        // latest versions are queried; every item is then unwrapped concurrently.
        let pinned: Vec<(SecretName, Version)> = refs
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.version?)))
            .collect();
        let batch = async {
            if pinned.len() < 2 || self.inner.cache.is_some() {
                return None;
            }
            self.inner
                .store
                .get_versions(&pinned)
                .await
                .ok()
                .map(|items| pinned.iter().cloned().zip(items).collect::<HashMap<_, _>>())
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
            (0..refs.len()).partition(|&i| refs[i].version.is_none());
        let latest = paced(latest_at.into_iter())
            .map(|i| async move {
                let _slot = start().await;
                (i, self.fetch_unbounded(&refs[i], context).await)
            })
            .buffer_unordered(self.inner.concurrency)
            .collect::<Vec<_>>();
        let pinned = async {
            let batched = batch.await;
            paced(pinned_at.into_iter())
                .map(|i| {
                    let r = &refs[i];
                    let found = batched
                        .as_ref()
                        .and_then(|m| m.get(&(r.name.clone(), r.version.expect("pinned"))));
                    async move {
                        let _slot = start().await;
                        let result = match found {
                            Some(Some(item)) => self.open_item(item, context).await,
                            Some(None) => Err(Error::NotFound {
                                name: r.name.clone(),
                                version: r.version,
                            }),
                            // No batch (or it failed): fetch on its own, which reports its error.
                            None => self.fetch_unbounded(r, context).await,
                        };
                        (i, result)
                    }
                })
                .buffer_unordered(self.inner.concurrency)
                .collect::<Vec<_>>()
                .await
        };
        let (latest, pinned_results, ()) = futures::join!(latest, pinned, self.prefetch_record());
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
