//! Every secret of a table at once: one scan of the items, then one unwrap per
//! secret, instead of a listing, a read per secret and an unwrap per secret.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt as _, TryStreamExt as _};

use crate::backend::SecretStore;
use crate::format::{attr, Attr, Attributes};
use crate::lifecycle::{scan_store, NamePattern, Pacer, ScanOptions};
use crate::{EncryptionContext, Error, Lockbox, Result, Secret, SecretName, Version};

/// Which secrets [`Lockbox::get_all`] reads: every name or those matching a
/// pattern, at their latest version or at one version.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AllOptions {
    /// Only names matching this (`*` matches any text).
    pub pattern: Option<NamePattern>,
    /// This version of each name instead of the latest; a name without it is
    /// [`Error::NotFound`].
    pub version: Option<Version>,
}

impl AllOptions {
    /// Every name, latest versions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only names matching `pattern`.
    pub fn pattern(mut self, pattern: NamePattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// Version `version` of each name.
    pub fn version(mut self, version: Version) -> Self {
        self.version = Some(version);
        self
    }
}

impl Lockbox {
    /// The latest version (or [`AllOptions::version`]) of every secret in the
    /// table, sorted by name, all or nothing: the first failure fails the call.
    ///
    /// The table is scanned once, in parallel segments, keeping only the newest
    /// item of each name (the one a read of the name's latest version would get),
    /// and each is then opened with the same checks as [`Lockbox::get`], at most
    /// this `Lockbox`'s concurrency at a time. That is two waves of calls however
    /// many secrets there are, against three for a listing followed by
    /// [`Lockbox::get_many`].
    pub async fn get_all(
        &self,
        options: &AllOptions,
        context: &EncryptionContext,
    ) -> Result<Vec<Secret>> {
        // One scan of one store: with several regions, of the first region that
        // serves it whole (`elsewhere`: another region can take over, so an
        // unavailable page is left to it rather than retried here).
        let scan_in = |store: Arc<dyn SecretStore>, elsewhere: bool| async move {
            // The newest item per name, by version number as `get` finds it;
            // page by page, so memory holds one item per name and one page.
            let mut newest: BTreeMap<String, (String, Attributes)> = BTreeMap::new();
            let mut names: BTreeSet<String> = BTreeSet::new();
            let pacer = match elsewhere {
                true => Pacer::throttling_only(),
                false => Pacer::new(),
            };
            let mut pages =
                std::pin::pin!(scan_store(store, ScanOptions::default(), Arc::new(pacer),));
            while let Some(page) = pages.next().await {
                for item in page? {
                    let (Some(name), Some(sort_key)) = (
                        item.get(attr::NAME).and_then(Attr::as_s),
                        item.get(attr::VERSION).and_then(Attr::as_s),
                    ) else {
                        continue;
                    };
                    if options.pattern.as_ref().is_some_and(|p| !p.matches(name)) {
                        continue;
                    }
                    if let Some(v) = options.version {
                        names.insert(name.to_owned());
                        // A label document is no version (its sort key is the
                        // highest version's: never asked for in a sealed table).
                        if Version::from_sort_key(sort_key).ok() != Some(v)
                            || crate::format::labels::is_document(&item)
                        {
                            continue;
                        }
                    }
                    // Versions by number, as `get` orders them: pre-2015
                    // credstash items have unpadded sort keys ("9" < "10").
                    let rank = |key: &str| (Version::from_sort_key(key).ok(), key.to_owned());
                    if newest
                        .get(name)
                        .is_some_and(|(kept, _)| rank(kept) >= rank(sort_key))
                    {
                        continue;
                    }
                    let (name, sort_key) = (name.to_owned(), sort_key.to_owned());
                    newest.insert(name, (sort_key, item));
                }
            }
            // Pinned: a name that has no such version fails the call, as
            // `get_many` of the same refs would.
            if let Some(missing) = names.iter().find(|n| !newest.contains_key(*n)) {
                return Err(Error::NotFound {
                    name: SecretName::new(missing.as_str())?,
                    version: options.version,
                });
            }
            Ok(newest)
        };
        let scan = async {
            match self.inner.store.regional() {
                Some(regional) => regional.read_whole(scan_in).await,
                None => scan_in(self.inner.store.clone(), false).await,
            }
        };
        // Every item comes from one scan, of one region.
        let ((newest, served), ()) = futures::join!(
            crate::served::noting(Default::default(), scan),
            self.prefetch_record()
        );
        let newest = crate::served::replicated(newest, &served)?;
        let served = &served;
        let items: Vec<Attributes> = newest.into_values().map(|(_, item)| item).collect();
        let mut opened: Vec<Secret> = futures::stream::iter(items)
            .map(|item| async move {
                let _slot = self
                    .inner
                    .slots
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                // Un-pinned: what a read of the name gets (`current`, when the
                // newest item is its label document), with the same checks.
                let open = async {
                    match options.version {
                        None => {
                            let name = SecretName::new(
                                item.get(attr::NAME)
                                    .and_then(Attr::as_s)
                                    .unwrap_or_default(),
                            )?;
                            self.open_unpinned(&name, item, context, false).await
                        }
                        Some(_) => self.open_item(&item, context).await,
                    }
                };
                let (secret, served) = crate::served::noting(served.clone(), open).await;
                crate::served::apply(secret, served)
            })
            .buffer_unordered(self.inner.concurrency)
            .try_collect()
            .await?;
        opened.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(opened)
    }
}
