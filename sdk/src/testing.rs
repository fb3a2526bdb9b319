//! A test double for applications' own tests (feature `test-util`): an in-memory
//! [`Lockbox`] seeded in one expression, with failures injected per secret, so an
//! application can test what it does when a secret is missing, denied, throttled
//! or unavailable, with no emulator and no AWS account.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use lockbox::testing;
//! use lockbox::{EncryptionContext, ErrorKind, SecretName};
//!
//! let lockbox = testing::lockbox()
//!     .secret("db/password", "s3cret")
//!     .failing("api/key", testing::throttled)
//!     .build();
//! let none = EncryptionContext::new();
//! let db = lockbox.get(&SecretName::from_static("db/password"), &none).await.unwrap();
//! assert_eq!(db.value.expose_str().unwrap(), "s3cret");
//! let err = lockbox.get(&SecretName::from_static("api/key"), &none).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Throttled);
//! let err = lockbox.get(&SecretName::from_static("missing"), &none).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::NotFound);
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::backend::{
    ItemSummary, MemoryKeyService, MemorySecretStore, SecretStore, SetupOutcome, TableRecord,
};
use crate::envelope::{self, Metadata, Sealing, WriteFormat};
use crate::format::Attributes;
use crate::{
    EncryptionContext, Error, Lockbox, Result, SecretName, SecretValue, Service, TableMode, Version,
};

/// The store identity of every test double's table.
const STORE: &str = "test/in-memory";

/// What an injected failure returns: a fresh error each time.
pub type MakeError = fn() -> Error;

/// Access denied by KMS, as a policy refusing `kms:Decrypt` answers.
pub fn denied() -> Error {
    Error::AccessDenied {
        service: Service::Kms,
        message: "AccessDeniedException: injected by lockbox::testing".into(),
        source: None,
    }
}

/// Throttled by DynamoDB after the retries ran out.
pub fn throttled() -> Error {
    Error::Throttled {
        service: Service::DynamoDb,
        message: "ThrottlingException: injected by lockbox::testing".into(),
        source: None,
    }
}

/// DynamoDB answering a server error (5xx).
pub fn unavailable() -> Error {
    Error::Unavailable {
        service: Service::DynamoDb,
        message: "InternalServerError: injected by lockbox::testing".into(),
        source: None,
    }
}

/// A timeout reaching DynamoDB.
pub fn timeout() -> Error {
    Error::Timeout {
        service: Service::DynamoDb,
        endpoint: None,
        source: None,
    }
}

/// Builds an in-memory [`Lockbox`]: [`lockbox`], then secrets and failures, then
/// [`TestLockbox::build`].
#[derive(Debug, Default)]
#[must_use]
pub struct TestLockbox {
    secrets: Vec<(SecretName, SecretValue, EncryptionContext)>,
    failures: HashMap<SecretName, Failure>,
}

#[derive(Debug, Clone, Copy)]
struct Failure {
    error: MakeError,
    /// How many reads fail before the secret reads again (`None`: every one).
    times: Option<usize>,
}

/// An in-memory lockbox to seed.
pub fn lockbox() -> TestLockbox {
    TestLockbox::default()
}

impl TestLockbox {
    /// A secret to store (as version 1, or the next version for a name given again).
    pub fn secret(self, name: &str, value: impl Into<SecretValue>) -> Self {
        self.secret_with_context(name, value, &[])
    }

    /// A secret stored with an encryption context: reading it needs the same pairs.
    ///
    /// # Panics
    ///
    /// If `name` or the context is not valid (a mistake in the test).
    pub fn secret_with_context(
        mut self,
        name: &str,
        value: impl Into<SecretValue>,
        context: &[(&str, &str)],
    ) -> Self {
        let mut ctx = EncryptionContext::new();
        for (k, v) in context {
            ctx.insert(*k, *v).expect("a valid context pair");
        }
        let name = SecretName::new(name).expect("a valid secret name");
        self.secrets.push((name, value.into(), ctx));
        self
    }

    /// Every read of `name` fails with `error()` (for example [`denied`],
    /// [`throttled`], [`unavailable`], [`timeout`], or one of the test's own).
    pub fn failing(self, name: &str, error: MakeError) -> Self {
        self.failing_times(name, usize::MAX, error)
    }

    /// The next `times` reads of `name` fail with `error()`; later ones succeed.
    pub fn failing_times(mut self, name: &str, times: usize, error: MakeError) -> Self {
        let name = SecretName::new(name).expect("a valid secret name");
        let times = (times != usize::MAX).then_some(times);
        self.failures.insert(name, Failure { error, times });
        self
    }

    /// The lockbox: a sealed table holding the secrets given, under one in-memory
    /// KMS key.
    pub fn build(self) -> Lockbox {
        let keys = MemoryKeyService::new(&["test-key"]);
        let memory = MemorySecretStore::with_record(TableRecord::new(
            TableMode::Sealed,
            Some(STORE.into()),
            Some("test-key".into()),
        ));
        let mut next: HashMap<SecretName, u64> = HashMap::new();
        for (name, value, context) in &self.secrets {
            let version = next.entry(name.clone()).or_insert(0);
            *version += 1;
            let item = seal(&keys, name, *version, value, context);
            memory.insert_raw(item);
        }
        Lockbox::builder()
            .key_service(keys)
            .secret_store(FaultyStore {
                inner: memory,
                failures: Mutex::new(self.failures),
            })
            .build()
            .expect("a key service and a store")
    }
}

fn seal(
    keys: &MemoryKeyService,
    name: &SecretName,
    version: u64,
    value: &SecretValue,
    context: &EncryptionContext,
) -> Attributes {
    use crate::backend::KeyService as _;
    use crate::ExposeSecret as _;
    let metadata = Metadata::default();
    let request = envelope::data_key_request(&Sealing {
        format: WriteFormat::Sealed,
        name,
        version: Version::new(version).expect("a small version"),
        context,
        store: Some(STORE),
        metadata: &metadata,
    })
    .expect("a valid binding");
    // The in-memory key service answers at once: no runtime is needed.
    let key =
        futures::executor::block_on(keys.generate_data_key(request.bytes(), request.context()))
            .expect("an in-memory data key");
    envelope::seal(&request, value.expose_secret(), &key).expect("a sealed item")
}

/// The in-memory store, with a failure checked before each read of a name.
#[derive(Debug)]
struct FaultyStore {
    inner: MemorySecretStore,
    failures: Mutex<HashMap<SecretName, Failure>>,
}

impl FaultyStore {
    fn check(&self, name: &SecretName) -> Result<()> {
        let mut failures = self.failures.lock().expect("failures lock");
        let Some(failure) = failures.get_mut(name) else {
            return Ok(());
        };
        match &mut failure.times {
            Some(0) => Ok(()),
            Some(n) => {
                *n -= 1;
                Err((failure.error)())
            }
            None => Err((failure.error)()),
        }
    }
}

#[async_trait]
impl SecretStore for FaultyStore {
    async fn put_new(&self, item: &Attributes) -> Result<()> {
        self.inner.put_new(item).await
    }

    async fn get_latest(&self, name: &SecretName) -> Result<Option<Attributes>> {
        self.check(name)?;
        self.inner.get_latest(name).await
    }

    async fn get_version(&self, name: &SecretName, version: Version) -> Result<Option<Attributes>> {
        self.check(name)?;
        self.inner.get_version(name, version).await
    }

    async fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        self.inner.history(name).await
    }

    async fn list(&self) -> Result<Vec<ItemSummary>> {
        self.inner.list().await
    }

    async fn delete(&self, name: &SecretName, sort_key: &str) -> Result<bool> {
        self.inner.delete(name, sort_key).await
    }

    async fn setup(&self, record: &TableRecord, tags: &[(String, String)]) -> Result<SetupOutcome> {
        self.inner.setup(record, tags).await
    }

    async fn table_record(&self) -> Result<TableRecord> {
        self.inner.table_record().await
    }

    async fn update_record(&self, record: &TableRecord) -> Result<()> {
        self.inner.update_record(record).await
    }

    fn table(&self) -> &str {
        self.inner.table()
    }

    async fn top_versions(&self, name: &SecretName, limit: usize) -> Result<Vec<ItemSummary>> {
        self.inner.top_versions(name, limit).await
    }

    async fn latest_version(&self, name: &SecretName) -> Result<Option<ItemSummary>> {
        self.check(name)?;
        self.inner.latest_version(name).await
    }

    async fn get_item(&self, name: &str, sort_key: &str) -> Result<Option<Attributes>> {
        self.inner.get_item(name, sort_key).await
    }

    async fn put_revision(&self, item: &Attributes, expected: Option<u64>) -> Result<bool> {
        self.inner.put_revision(item, expected).await
    }

    async fn delete_returning(
        &self,
        name: &SecretName,
        sort_key: &str,
    ) -> Result<Option<Attributes>> {
        self.inner.delete_returning(name, sort_key).await
    }

    fn label_store(&self) -> Option<std::sync::Arc<dyn SecretStore>> {
        self.inner.label_store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[tokio::test]
    async fn failures_last_as_long_as_asked() {
        let lb = lockbox()
            .secret("a", "1")
            .secret("a", "2")
            .secret_with_context("ctx", "c", &[("env", "prod")])
            .failing_times("a", 2, unavailable)
            .failing("b", denied)
            .build();
        let none = EncryptionContext::new();
        let a = SecretName::from_static("a");
        for _ in 0..2 {
            let e = lb.get(&a, &none).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unavailable);
        }
        let got = lb.get(&a, &none).await.unwrap();
        assert_eq!(
            (got.version.get(), got.value.expose_str().unwrap()),
            (2, "2")
        );
        let e = lb
            .get(&SecretName::from_static("b"), &none)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Denied);
        let ctx = SecretName::from_static("ctx");
        assert_eq!(
            lb.get(&ctx, &none).await.unwrap_err().kind(),
            ErrorKind::Integrity
        );
        let prod = EncryptionContext::from_pairs(["env=prod"]).unwrap();
        assert_eq!(
            lb.get(&ctx, &prod)
                .await
                .unwrap()
                .value
                .expose_str()
                .unwrap(),
            "c"
        );
        // Writes work too: the double is a whole lockbox.
        lb.put(&a, &"3".into(), &crate::PutOptions::default())
            .await
            .unwrap();
        assert_eq!(lb.get(&a, &none).await.unwrap().version.get(), 3);
    }
}
