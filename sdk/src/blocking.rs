//! A blocking [`Lockbox`] for synchronous programs (feature `blocking`): the same
//! calls, each run to completion on a runtime this handle owns. There is no
//! second implementation: every method is the async one, awaited here.
//!
//! ```no_run
//! # fn run() -> lockbox::Result<()> {
//! use lockbox::blocking::BlockingLockbox;
//! use lockbox::{AwsOptions, EncryptionContext, SecretName};
//!
//! let lockbox = BlockingLockbox::from_env(&AwsOptions::default())?;
//! let secret = lockbox.get(&SecretName::from_static("prod/db/password"), &EncryptionContext::new())?;
//! # let _ = secret; Ok(()) }
//! ```
//!
//! Do not call it from inside an async runtime (a tokio task or an async
//! handler): blocking there panics, as tokio's own `block_on` does. Async code
//! uses [`Lockbox`] directly.

use std::collections::BTreeMap;
use std::future::Future;

use crate::{
    AwsOptions, EncryptionContext, Error, ItemSummary, Lockbox, PutOptions, Result, Secret,
    SecretName, SecretRef, SecretValue, Version,
};

/// A [`Lockbox`] with a runtime of its own; see the [module](self) docs.
#[derive(Debug)]
pub struct BlockingLockbox {
    lockbox: Lockbox,
    runtime: tokio::runtime::Runtime,
}

impl BlockingLockbox {
    /// Wrap `lockbox` (built with [`Lockbox::aws`] or any builder) with a runtime.
    pub fn new(lockbox: Lockbox) -> Result<Self> {
        Ok(Self {
            lockbox,
            runtime: runtime()?,
        })
    }

    /// [`Lockbox::from_env`] with the defaults of its builder.
    pub fn from_env(options: &AwsOptions) -> Result<Self> {
        let runtime = runtime()?;
        let lockbox = runtime.block_on(Lockbox::from_env(options))?.build()?;
        Ok(Self { lockbox, runtime })
    }

    /// The async handle, for calls this type does not wrap (through
    /// [`BlockingLockbox::block_on`]).
    pub fn lockbox(&self) -> &Lockbox {
        &self.lockbox
    }

    /// Run any future to completion on this handle's runtime:
    /// `lb.block_on(lb.lockbox().rollback(&name, None))`.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// [`Lockbox::get`].
    pub fn get(&self, name: &SecretName, context: &EncryptionContext) -> Result<Secret> {
        self.block_on(self.lockbox.get(name, context))
    }

    /// [`Lockbox::get_version`].
    pub fn get_version(
        &self,
        name: &SecretName,
        version: Version,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        self.block_on(self.lockbox.get_version(name, version, context))
    }

    /// [`Lockbox::get_many`].
    pub fn get_many(&self, refs: &[SecretRef], context: &EncryptionContext) -> Result<Vec<Secret>> {
        self.block_on(self.lockbox.get_many(refs, context))
    }

    /// [`Lockbox::get_map`].
    pub fn get_map(
        &self,
        names: &[SecretName],
        context: &EncryptionContext,
    ) -> Result<BTreeMap<SecretName, Secret>> {
        self.block_on(self.lockbox.get_map(names, context))
    }

    /// [`Lockbox::latest_version`].
    pub fn latest_version(&self, name: &SecretName) -> Result<Option<Version>> {
        self.block_on(self.lockbox.latest_version(name))
    }

    /// [`Lockbox::put`].
    pub fn put(
        &self,
        name: &SecretName,
        value: &SecretValue,
        options: &PutOptions,
    ) -> Result<Version> {
        self.block_on(self.lockbox.put(name, value, options))
    }

    /// [`Lockbox::list`].
    pub fn list(&self) -> Result<Vec<ItemSummary>> {
        self.block_on(self.lockbox.list())
    }

    /// [`Lockbox::history`].
    pub fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        self.block_on(self.lockbox.history(name))
    }

    /// [`Lockbox::delete`].
    pub fn delete(&self, name: &SecretName, version: Option<Version>) -> Result<Vec<String>> {
        self.block_on(self.lockbox.delete(name, version))
    }
}

/// A current-thread runtime with the I/O and timers the AWS SDK needs.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Backend {
            service: crate::Service::Credentials,
            message: format!("cannot start a runtime for blocking calls: {e}"),
            source: Some(Box::new(e)),
        })
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;

    #[test]
    fn a_synchronous_program_reads_and_writes() {
        let lockbox =
            BlockingLockbox::new(crate::testing::lockbox().secret("db", "pw").build()).unwrap();
        let none = EncryptionContext::new();
        let db = SecretName::from_static("db");
        assert_eq!(
            lockbox.get(&db, &none).unwrap().value.expose_str().unwrap(),
            "pw"
        );
        let v = lockbox
            .put(&db, &"pw2".into(), &PutOptions::default())
            .unwrap();
        assert_eq!(v.get(), 2);
        assert_eq!(lockbox.latest_version(&db).unwrap(), Some(v));
        assert_eq!(lockbox.history(&db).unwrap().len(), 2);
        let map = lockbox.get_map(std::slice::from_ref(&db), &none).unwrap();
        assert_eq!(map[&db].value.expose_str().unwrap(), "pw2");
        assert_eq!(
            lockbox
                .block_on(lockbox.lockbox().latest_version(&db))
                .unwrap(),
            Some(v)
        );
    }
}
