//! `--local[=DIR]`: the embedded emulator, so every command runs on a laptop or in
//! CI with no AWS account, through the same AWS SDK code path production uses.
//!
//! The emulator runs in-process on a free loopback port with its state under DIR;
//! the first use creates the KMS key (and its alias) the configured key names. The
//! table is created by the caller through `Lockbox::setup`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;

/// The region the local state lives in unless `-r` says otherwise.
pub const REGION: &str = "us-east-1";

/// The account of every ARN in the local state (the emulator's default).
pub const ACCOUNT: &str = "000000000000";

/// A running embedded emulator.
#[derive(Debug)]
pub struct Local {
    mock: lockbox_mock::RunningMock,
    dir: PathBuf,
}

/// The static credentials local mode signs with (the emulator runs in open mode).
pub fn credentials() -> Credentials {
    Credentials::new(
        "LOCKBOXLOCAL",
        "lockbox-local-secret",
        None,
        None,
        "lockbox-local",
    )
}

impl Local {
    /// Start the emulator with its state in `dir` (created if missing).
    pub async fn start(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the local state directory {}; pass another with --local=DIR",
                dir.display()
            )
        })?;
        let mock = lockbox_mock::start_with(lockbox_mock::Config::builder().data_dir(dir))
            .await
            .with_context(|| {
                format!(
                    "cannot start the embedded emulator on {} (is another lockbox --local \
                     using it? each state directory serves one process at a time)",
                    dir.display()
                )
            })?;
        Ok(Self {
            mock,
            dir: dir.to_owned(),
        })
    }

    /// The emulator's endpoint.
    pub fn endpoint_url(&self) -> String {
        self.mock.endpoint_url()
    }

    /// Make sure `key` exists: create a key and, for an alias, point it there.
    pub async fn ensure_key(&self, key: &str, region: &str) -> Result<()> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(region.to_owned()))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(credentials())
            .build();
        let kms = aws_sdk_kms::Client::from_conf(config);
        match kms.describe_key().key_id(key).send().await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("NotFoundException") => {}
            Err(e) => {
                return Err(anyhow::Error::from(e)).with_context(|| {
                    format!("the embedded emulator could not look up KMS key {key}")
                })
            }
        }
        let alias = if key.starts_with("alias/") {
            key
        } else {
            bail!(
                "KMS key {key} does not exist in the local state {}; in local mode use an \
                 alias (alias/NAME), which is created on first use",
                self.dir.display()
            )
        };
        let created = kms
            .create_key()
            .description(format!("lockbox --local key for {alias}"))
            .send()
            .await
            .context("the embedded emulator could not create a KMS key")?;
        let id = created
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .context("CreateKey answered without a key id")?;
        kms.create_alias()
            .alias_name(alias)
            .target_key_id(id)
            .send()
            .await
            .with_context(|| format!("the embedded emulator could not create {alias}"))?;
        Ok(())
    }

    /// Stop the emulator and release its state directory.
    pub async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}
