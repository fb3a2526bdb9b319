//! An in-process cache of decrypted secrets for long-running services, keyed by
//! reference and the exact encryption context: bounded in entries (least recently
//! used first out) and in time (nothing stays in memory past its TTL plus the
//! stale window), one fetch per missed key however many callers wait for it, and,
//! when asked, the last good value served for a bounded time while the backend is
//! unavailable.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{EncryptionContext, Reference, Secret, SecretName};

/// How a [`Lockbox`](crate::Lockbox) caches decrypted secrets
/// ([`LockboxBuilder::cache`](crate::LockboxBuilder::cache); off by default).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// How long an entry is served before it is fetched again.
    pub ttl: Duration,
    /// The most entries kept; the least recently used goes first.
    pub max_entries: NonZeroUsize,
    /// How long past its TTL an entry may still be served when fetching it again
    /// fails because the backend is unavailable, throttled or timed out (never
    /// for any other failure). `None`: never.
    pub serve_stale_for: Option<Duration>,
}

impl CacheConfig {
    /// Entries served for `ttl`, at most 1,024 of them, never served stale.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            max_entries: NonZeroUsize::new(1024).expect("non-zero"),
            serve_stale_for: None,
        }
    }

    /// At most `n` entries.
    pub fn max_entries(mut self, n: NonZeroUsize) -> Self {
        self.max_entries = n;
        self
    }

    /// Serve an entry up to `window` past its TTL while the backend is unavailable;
    /// such a result says so ([`Secret::stale`]).
    pub fn serve_stale_for(mut self, window: Duration) -> Self {
        self.serve_stale_for = Some(window);
        self
    }
}

/// What a cache has done since the `Lockbox` was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered from the cache within the TTL.
    pub hits: u64,
    /// Reads that went to the backend.
    pub misses: u64,
    /// Reads answered past the TTL because the backend was unavailable.
    pub stale_served: u64,
    /// Entries dropped to stay within `max_entries`.
    pub evictions: u64,
}

/// A secret and selector (a reference without a pointer), and the exact context.
type CacheKey = (Reference, Vec<u8>);

struct Entry {
    at: Instant,
    used: u64,
    secret: Secret,
}

pub(crate) struct Cache {
    config: CacheConfig,
    entries: Mutex<HashMap<CacheKey, Entry>>,
    /// One lock per key being fetched, so concurrent misses of one key make one call.
    fetching: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
    clock: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    evictions: AtomicU64,
}

/// Held while one caller fetches a missed key.
pub(crate) struct Fetching<'a> {
    cache: &'a Cache,
    key: CacheKey,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        let mut fetching = self.cache.fetching.lock().expect("cache lock");
        // Forget the lock once no one else holds or waits for it.
        if fetching
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) <= 2)
        {
            fetching.remove(&self.key);
        }
    }
}

fn copy(s: &Secret) -> Secret {
    Secret {
        name: s.name.clone(),
        version: s.version,
        value: s.value.duplicate(),
        format: s.format,
        metadata: s.metadata.clone(),
        stale: false,
        region: s.region.clone(),
        kms_region: s.kms_region.clone(),
    }
}

impl Cache {
    pub(crate) fn new(config: CacheConfig) -> Self {
        Self {
            config,
            entries: Mutex::default(),
            fetching: Mutex::default(),
            clock: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn key(r: &Reference, ctx: &EncryptionContext) -> CacheKey {
        (r.clone(), ctx.canonical_bytes())
    }

    /// How long an entry is kept at all: its TTL, plus the stale window.
    fn lifetime(&self) -> Duration {
        self.config.ttl + self.config.serve_stale_for.unwrap_or_default()
    }

    /// A copy of the entry if it is within its TTL (a hit).
    pub(crate) fn get(&self, r: &Reference, ctx: &EncryptionContext) -> Option<Secret> {
        let mut entries = self.entries.lock().expect("cache lock");
        let key = Self::key(r, ctx);
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        match entries.get_mut(&key) {
            Some(e) if e.at.elapsed() < self.config.ttl => {
                e.used = used;
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(copy(&e.secret))
            }
            Some(e) if e.at.elapsed() >= self.lifetime() => {
                entries.remove(&key);
                None
            }
            _ => None,
        }
    }

    /// A copy of the entry, marked stale, if it is past its TTL but within the
    /// stale window.
    pub(crate) fn stale(&self, r: &Reference, ctx: &EncryptionContext) -> Option<Secret> {
        self.config.serve_stale_for?;
        let entries = self.entries.lock().expect("cache lock");
        let e = entries.get(&Self::key(r, ctx))?;
        (e.at.elapsed() < self.lifetime()).then(|| {
            self.stale_served.fetch_add(1, Ordering::Relaxed);
            Secret {
                stale: true,
                ..copy(&e.secret)
            }
        })
    }

    /// Wait for any other fetch of this key, then own its fetch.
    pub(crate) async fn fetching(&self, r: &Reference, ctx: &EncryptionContext) -> Fetching<'_> {
        let key = Self::key(r, ctx);
        let lock = self
            .fetching
            .lock()
            .expect("cache lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = lock.lock_owned().await;
        Fetching {
            cache: self,
            key,
            _guard: guard,
        }
    }

    /// One read went to the backend.
    pub(crate) fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn put(&self, r: &Reference, ctx: &EncryptionContext, s: &Secret) {
        let mut entries = self.entries.lock().expect("cache lock");
        // Nothing stays in memory past its lifetime, read again or not.
        let lifetime = self.lifetime();
        entries.retain(|_, e| e.at.elapsed() < lifetime);
        let key = Self::key(r, ctx);
        while entries.len() >= self.config.max_entries.get() && !entries.contains_key(&key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
                .expect("the cache is not empty");
            entries.remove(&oldest);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        entries.insert(
            key,
            Entry {
                at: Instant::now(),
                used,
                secret: copy(s),
            },
        );
    }

    pub(crate) fn invalidate(&self, name: &SecretName) {
        self.entries
            .lock()
            .expect("cache lock")
            .retain(|(r, _), _| &r.name != name);
    }

    pub(crate) fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}
