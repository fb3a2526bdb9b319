//! `--local[=DIR]`: the embedded emulator, so every command runs on a laptop or in
//! CI with no AWS account, through the same AWS SDK code path production uses.
//!
//! The emulator runs in-process on a free loopback port with its state under DIR,
//! which several lockbox processes use at once (each runs its own emulator on the
//! shared journal, so they serve one store, in one order);
//! the first use creates the KMS key (and its alias) the configured key names. The
//! table is created by the caller through `Lockbox::setup`.
//!
//! Other users of the machine get nothing from either: DIR is created 0700 and
//! every file in it 0600 (the journal holds the KMS key material), and the port
//! serves only this process. The emulator runs in strict mode with one identity
//! whose access key is drawn at random when the process starts and never leaves
//! it, so a request from anyone else is refused as an unknown access key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use aws_sdk_kms::config::Credentials;
use lockbox_mock::private_fs::{create_private_dir, private_file, shared_mode};
use rand::RngCore as _;

/// The account of every ARN in the local state (the emulator's default).
pub const ACCOUNT: &str = "000000000000";

/// What lockbox writes into a state directory it creates, so that `git add .` in
/// the project around it never commits the emulator's key material.
const GITIGNORE: &str =
    "# lockbox --local state: the emulator's keys and secrets. Never commit it.\n*\n";

/// A running embedded emulator.
#[derive(Debug)]
pub struct Local {
    mock: lockbox_mock::RunningMock,
    dir: PathBuf,
    /// The one identity the emulator accepts (its `Debug` hides the secret).
    credentials: Credentials,
}

/// Credentials no other process can know: a random access key id and secret.
fn random_credentials() -> Credentials {
    let mut bytes = [0u8; 40];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    let id = format!("LOCKBOXLOCAL{}", hex(&bytes[..8]));
    let secret = zeroize::Zeroizing::new(hex(&bytes[8..]));
    zeroize::Zeroize::zeroize(&mut bytes);
    Credentials::new(id, secret.as_str(), None, None, "lockbox-local")
}

/// The identity file of the embedded emulator: one user allowed everything in KMS
/// and DynamoDB, with `credentials` as its key.
fn identity_file(credentials: &Credentials) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(
        serde_json::json!({
            "users": [{
                "name": "lockbox-local",
                "access_key_id": credentials.access_key_id(),
                "secret_access_key": credentials.secret_access_key(),
                "policies": [{"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Action": ["kms:*", "dynamodb:*"],
                    "Resource": "*"
                }]}]
            }]
        })
        .to_string(),
    )
}

/// Create `dir` 0700 with a `.gitignore` of `*` if it is missing; warn once if an
/// existing one is open to other users.
fn prepare_dir(dir: &Path) -> Result<()> {
    let cannot = || {
        format!(
            "cannot create the local state directory {}; pass another with --local=DIR",
            dir.display()
        )
    };
    if dir.is_dir() {
        if let Some(mode) = shared_mode(dir) {
            eprintln!(
                "lockbox: warning: the local state directory {} is open to other users \
                 (mode {mode:o}) and holds the emulator's keys: run `chmod 700 {}`",
                dir.display(),
                dir.display()
            );
        }
        return Ok(());
    }
    create_private_dir(dir).with_context(cannot)?;
    private_file()
        .write(true)
        .create_new(true)
        .open(dir.join(".gitignore"))
        .and_then(|mut f| f.write_all(GITIGNORE.as_bytes()))
        .with_context(cannot)?;
    // A new, empty store: said, so a run from the wrong directory (or a typo in
    // --local=DIR) is not mistaken for secrets that went missing.
    eprintln!(
        "lockbox: note: created new local state in {}",
        dir.display()
    );
    Ok(())
}

impl Local {
    /// Start the emulator with its state in `dir` (created if missing).
    pub async fn start(dir: &Path) -> Result<Self> {
        prepare_dir(dir)?;
        let credentials = random_credentials();
        // Shared: every lockbox --local process on DIR runs its own emulator on
        // one journal, so commands can run at once and a long `exec --watch`
        // leaves the store usable.
        let config = lockbox_mock::Config::builder()
            .data_dir(dir)
            .shared()
            .iam_json(identity_file(&credentials).as_str());
        let mock = match lockbox_mock::start_with(config).await {
            Ok(mock) => mock,
            Err(lockbox_mock::StartError::Store(lockbox_mock::StoreError::InUse { .. })) => {
                bail!(
                    "the local state directory {} is held by a lockbox-mock server; stop \
                     it, or give lockbox another directory with --local=DIR",
                    dir.display()
                )
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot start the embedded emulator on {}",
                    dir.display()
                )))
            }
        };
        Ok(Self {
            mock,
            dir: dir.to_owned(),
            credentials,
        })
    }

    /// The credentials to sign with: the only ones the emulator accepts.
    pub fn credentials(&self) -> Credentials {
        self.credentials.clone()
    }

    /// The emulator's endpoint.
    pub fn endpoint_url(&self) -> String {
        self.mock.endpoint_url()
    }

    /// Make sure `key` exists: for an alias, the emulator creates a key and points
    /// the alias at it on first use; any other key must already be there.
    pub async fn ensure_key(&self, key: &str, region: &str) -> Result<()> {
        if key.starts_with("alias/") {
            let existed = self.mock.state().key_arn_in(region, key).is_some();
            self.mock
                .ensure_alias_in(region, key)
                .with_context(|| format!("the embedded emulator could not create {key}"))?;
            if !existed && region != lockbox::DEFAULT_REGION {
                // Keys are per region, as in AWS: -r makes another key.
                eprintln!(
                    "lockbox: note: created KMS key {key} in {region} in the local state; \
                     local keys are per region, as in AWS, so it is not the key of {}",
                    lockbox::DEFAULT_REGION
                );
            }
        } else if self.mock.state().key_arn_in(region, key).is_none() {
            bail!(
                "KMS key {key} does not exist in the local state {}; in local mode use an \
                 alias (alias/NAME), which is created on first use",
                self.dir.display()
            )
        }
        Ok(())
    }

    /// Stop the emulator and release its state directory.
    pub async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}
