//! lockbox: versioned secrets, envelope-encrypted with AWS KMS and stored in a
//! DynamoDB table, compatible with credstash.
//!
//! [`Lockbox`] is the API: `get`, `get_many`, `get_map`, `put`, `list`, `history`,
//! `watch`, with retries, a bound on calls in flight, an optional cache and the
//! table's rules for which items it serves; [`lifecycle`] adds the table-wide
//! operations (doctor, migrate, rewrap, sync). [`backend`] holds the two traits a
//! `Lockbox` is built on, [`backend::KeyService`] and [`backend::SecretStore`],
//! with their AWS and in-memory implementations, for those who bring their own.
//!
//! # Features
//!
//! - `blocking`: `lockbox::blocking::BlockingLockbox`, the same calls for
//!   synchronous programs, on a runtime of its own.
//! - `test-util`: `lockbox::testing`, an in-memory `Lockbox` for an application's tests.
//! - `wire-format`: the item encoding itself (`envelope`, `format`), for fuzzers
//!   and format tests. It is not part of the stable API: items are read and
//!   written through a `Lockbox`.
//!
//! # Reading a secret
//!
//! From the application's own AWS configuration (region, credentials, HTTP
//! client and TLS stay its choice):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use lockbox::{EncryptionContext, Lockbox, SecretName};
//!
//! let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let lockbox = Lockbox::aws(&config).table("credential-store").build()?;
//! let secret = lockbox
//!     .get(&SecretName::from_static("prod/db/password"), &EncryptionContext::new())
//!     .await?;
//! let password: &str = secret.value.expose_str()?; // wiped when `secret` drops
//! # let _ = password; Ok(()) }
//! ```
//!
//! A value is a [`SecretValue`]: bytes that are wiped on drop and never printed
//! (`Debug` shows `[REDACTED]`). Take it out as `&[u8]` ([`ExposeSecret`]), `&str`
//! ([`SecretValue::expose_str`]), a parsed type ([`SecretValue::parse`],
//! [`SecretValue::expose_json`]) or a [`secrecy::SecretString`]
//! ([`SecretValue::into_secret_string`]).
//!
//! # In a service: share one, cache, follow rotation
//!
//! A `Lockbox` is a cheap `Clone` handle, `Send + Sync`, and its futures are
//! `Send`: build one per process and clone it into tasks and handlers. Its bound on
//! calls in flight is shared by every clone.
//!
//! ```no_run
//! # async fn run(config: aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use lockbox::{CacheConfig, EncryptionContext, Lockbox, SecretName};
//!
//! let lockbox = Lockbox::aws(&config)
//!     .cache(CacheConfig::new(Duration::from_secs(300)).serve_stale_for(Duration::from_secs(600)))
//!     .build()?;
//! let name = SecretName::from_static("prod/api/key");
//! let handler = {
//!     let lockbox = lockbox.clone();
//!     let name = name.clone();
//!     tokio::spawn(async move { lockbox.get(&name, &EncryptionContext::new()).await })
//! };
//! let _key = handler.await??;
//! // Told when it rotates: a stream of new versions, found by polling.
//! let _rotations = lockbox.watch(vec![name], EncryptionContext::new(), Duration::from_secs(60));
//! # Ok(()) }
//! ```
//!
//! # Labels, staged rotation and JSON fields
//!
//! A [`Label`] names a version: an un-pinned read returns the version labelled
//! `current` (the highest version of a secret without labels) and never one
//! labelled `pending`, which a staged rotation stores before it is live
//! ([`Lockbox::rotate_start`], [`Lockbox::rotate_finish`]). Moving a label is
//! one conditional write ([`Lockbox::set_label`]); reading labelled secrets
//! costs the calls reading unlabelled ones does (`docs/FORMAT.md` §7). A
//! [`Reference`] (`NAME[@VERSION|@LABEL][#/json/pointer]`) picks a version and,
//! optionally, one field of a JSON value.
//!
//! ```no_run
//! # async fn run(lockbox: lockbox::Lockbox) -> Result<(), Box<dyn std::error::Error>> {
//! use lockbox::{EncryptionContext, Label, Reference, RotateOptions, SecretName};
//!
//! let name = SecretName::from_static("prod/db");
//! let none = EncryptionContext::new();
//! let new = r#"{"user":"app","password":"n3w-pa55"}"#.into();
//! let step = lockbox.rotate_start(&name, &new, &RotateOptions::default()).await?;
//! let pending = lockbox.get_label(&name, &Label::PENDING, &none).await?;
//! // ... set the pending password on the database, log in with it ...
//! lockbox.rotate_finish(&name, Some(&step.token)).await?;
//! let password: Reference = "prod/db#/password".parse()?;
//! let field = lockbox.resolve(&password, &none).await?; // only that field, wiped on drop
//! # let _ = (pending, field); Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every failure is one [`Error`], whose [`Error::kind`] is what a caller branches
//! on: not found, denied, integrity, unavailable, throttled, timeout, usage...
//! [`Error::is_retryable`] says whether trying again later may work. An error
//! AWS answered keeps the answer's [`Error::request_id`] (for AWS support and
//! CloudTrail), with the AWS SDK's own error further down its `source()` chain.
//! Messages never contain a value or key bytes.
//!
//! ```
//! # fn decide(err: lockbox::Error) -> &'static str {
//! use lockbox::ErrorKind;
//! match err.kind() {
//!     ErrorKind::NotFound => "use the default",
//!     ErrorKind::Unavailable | ErrorKind::Throttled | ErrorKind::Timeout => "retry later",
//!     ErrorKind::Denied => "page a human: a policy refused it",
//!     ErrorKind::Integrity => "alarm: an item was altered or moved",
//!     _ => "fail",
//! }
//! # }
//! ```
//!
//! # Testing code that uses lockbox
//!
//! With the `test-util` feature, [`testing`] gives an in-memory `Lockbox` seeded in
//! one expression, with failures injected per secret. For tests through the real
//! AWS code path, the `lockbox-mock` crate runs KMS and DynamoDB on loopback:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use lockbox::{AwsOptions, EncryptionContext, Lockbox, PutOptions, SecretName, TableMode};
//!
//! let mock = lockbox_mock::start().await?;
//! let options = AwsOptions {
//!     endpoint_url: Some(mock.endpoint_url()),
//!     region: Some("us-east-1".into()),
//!     credentials: Some(aws_credential_types::Credentials::new("AKID", "secret", None, None, "test")),
//!     ..AwsOptions::default()
//! };
//! # let kms = aws_sdk_kms::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest())
//! #     .endpoint_url(mock.endpoint_url())
//! #     .region(aws_config::Region::new("us-east-1"))
//! #     .credentials_provider(options.credentials.clone().unwrap())
//! #     .http_client(aws_smithy_http_client::Builder::new().build_http())
//! #     .load()
//! #     .await);
//! # let key = kms.create_key().send().await?.key_metadata.unwrap().key_id;
//! # kms.create_alias().alias_name("alias/credstash").target_key_id(key).send().await?;
//! // (alias/credstash created in the emulator's KMS, as an administrator would.)
//! let lockbox = Lockbox::from_env(&options).await?.build()?;
//! lockbox.setup(TableMode::Sealed, &[]).await?;
//! let name = SecretName::from_static("app/token");
//! lockbox.put(&name, &"t0k3n".into(), &PutOptions::default()).await?;
//! let got = lockbox.get(&name, &EncryptionContext::new()).await?;
//! assert_eq!(got.value.expose_str()?, "t0k3n");
//! mock.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "wire-format")]
pub mod envelope;
#[cfg(not(feature = "wire-format"))]
#[allow(dead_code)]
mod envelope;
#[cfg(feature = "wire-format")]
pub mod format;
#[cfg(not(feature = "wire-format"))]
#[allow(dead_code)]
mod format;
pub mod json;
pub mod lifecycle;
pub mod policy;

mod all;
mod aws;
mod builder;
mod cache;
mod context;
mod dns;
mod error;
mod failover;
mod fetch;
mod label;
mod labels;
mod lockbox;
mod name;
mod pace;
mod read;
mod reference;
mod rotate;
mod secret;
mod served;
mod setup;
mod table;
#[cfg(feature = "test-util")]
pub mod testing;
mod text;
mod throttle;
mod transport;
mod version;
mod watch;

pub use all::AllOptions;
pub use aws::{AwsOptions, DEFAULT_REGION};
pub use backend::ItemSummary;
pub use builder::LockboxBuilder;
pub use cache::{CacheConfig, CacheStats};
pub use context::{EncryptionContext, RESERVED_PREFIX};
pub use envelope::Digest;
pub use error::{Error, ErrorKind, Result, Service};
pub use format::sealed::check_store;
pub use json::JsonPointer;
pub use label::{
    Label, LabelCondition, LabelMove, Labels, RotationRecord, RotationState, MAX_LABELS,
    MAX_LABEL_LEN,
};
pub use lockbox::{
    FormatPolicy, Lockbox, PutOptions, DEFAULT_CONCURRENCY, DEFAULT_KMS_KEY, DEFAULT_TABLE,
};
pub use name::{SecretName, MAX_NAME_LEN};
pub use reference::{Reference, Selector, REFERENCE_SCHEME};
pub use rotate::{RotateOptions, RotationStep, MAX_TOKEN_LEN};
pub use secret::{Secret, SecretRef, SecretValue};
pub use setup::{SetupOptions, SetupReport, SetupResult};
pub use table::{
    arn_account, default_store_id, Expect, TableMode, TableRecord, TAG_KEY, TAG_MODE, TAG_STORE,
};
pub use text::{escape_untrusted, has_unsafe_characters};
pub use version::{Version, MAX_VERSION, SORT_KEY_WIDTH};
pub use watch::Rotation;

pub use secrecy::{self, ExposeSecret};
