//! A test double shared by the SDK's integration tests: a key service that
//! counts the data keys it unwraps and how many unwraps overlap, optionally
//! taking a while over each, and records when it is told the batch is finishing.

// Each test binary compiles this module and uses part of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use lockbox::backend::{DataKey, KeyService, MemoryKeyService, UnwrappedKey};
use lockbox::{EncryptionContext, SecretName};

#[derive(Debug)]
pub struct ObservedKeys {
    inner: MemoryKeyService,
    delay: Duration,
    decrypts: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    finishing: Mutex<Vec<usize>>,
    failing: Mutex<Option<fn() -> lockbox::Error>>,
}

impl ObservedKeys {
    /// Keys under `alias/credstash`; each unwrap takes `delay`.
    pub fn new(delay: Duration) -> Self {
        Self {
            inner: MemoryKeyService::new(&["alias/credstash"]),
            delay,
            decrypts: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            finishing: Mutex::default(),
            failing: Mutex::default(),
        }
    }

    /// From now on every unwrap fails with `error()` (`None`: works again).
    pub fn fail_with(&self, error: Option<fn() -> lockbox::Error>) {
        *self.failing.lock().unwrap() = error;
    }

    /// Data keys unwrapped so far.
    pub fn decrypts(&self) -> usize {
        self.decrypts.load(Ordering::SeqCst)
    }

    /// The most unwraps in flight at once since the last reset.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    /// For each time the key service was told the batch is finishing, how many
    /// unwraps had started by then.
    pub fn finishing_after(&self) -> Vec<usize> {
        self.finishing.lock().unwrap().clone()
    }

    pub fn reset_most_in_flight(&self) {
        self.most_in_flight.store(0, Ordering::SeqCst);
    }
}

#[async_trait]
impl KeyService for ObservedKeys {
    async fn generate_data_key(
        &self,
        bytes: usize,
        context: &EncryptionContext,
    ) -> lockbox::Result<DataKey> {
        self.inner.generate_data_key(bytes, context).await
    }

    async fn decrypt_data_key(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> lockbox::Result<UnwrappedKey> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(error) = *self.failing.lock().unwrap() {
            return Err(error());
        }
        self.inner.decrypt_data_key(name, wrapped, context).await
    }

    async fn writer_key_arn(&self) -> lockbox::Result<String> {
        self.inner.writer_key_arn().await
    }

    fn finishing(&self) {
        self.finishing.lock().unwrap().push(self.decrypts());
    }
}
