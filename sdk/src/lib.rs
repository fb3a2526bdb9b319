//! lockbox: versioned secrets, envelope-encrypted with AWS KMS and stored in a
//! DynamoDB table, compatible with credstash.
//!
//! Two tiers, like rage: [`Lockbox`] for the common case (`get`, `get_many`, `put`,
//! `list`, ...), and [`envelope`] plus the [`backend`] traits for the rest.
#![forbid(unsafe_code)]

pub mod backend;
pub mod envelope;
pub mod format;
pub mod lifecycle;
pub mod policy;

mod aws;
mod cache;
mod context;
mod error;
mod fetch;
mod lockbox;
mod name;
mod read;
mod secret;
mod setup;
mod table;
mod text;
mod version;

pub use aws::AwsOptions;
pub use context::{EncryptionContext, RESERVED_PREFIX};
pub use error::{Error, ErrorKind, Result, Service};
pub use lockbox::{FormatPolicy, Lockbox, LockboxBuilder, PutOptions, DEFAULT_CONCURRENCY};
pub use name::{SecretName, MAX_NAME_LEN};
pub use secret::{Secret, SecretRef, SecretValue};
pub use setup::{SetupOptions, SetupReport, SetupResult};
pub use table::{
    arn_account, default_store_id, Expect, TableMode, TableRecord, TAG_KEY, TAG_MODE, TAG_STORE,
};
pub use text::{escape_untrusted, has_unsafe_characters};
pub use version::{Version, MAX_VERSION, SORT_KEY_WIDTH};

pub use secrecy::ExposeSecret;
