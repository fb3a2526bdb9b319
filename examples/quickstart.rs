//! The SDK end to end on the local emulator: no AWS account needed.
//!
//! ```sh
//! cargo run -p lockbox-examples --example quickstart
//! ```
//!
//! It starts `lockbox-mock` in-process, creates the KMS key `alias/credstash` and
//! a sealed-mode table, then writes, rotates and reads secrets through the same
//! AWS SDK code path that production uses.

use anyhow::Context;
use lockbox::backend::TableMode;
use lockbox::{AwsOptions, EncryptionContext, Lockbox, PutOptions, SecretName, SecretRef};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mock = lockbox_mock::start()
        .await
        .context("starting the emulator")?;
    let endpoint = mock.endpoint_url();
    println!("emulator at {endpoint}");

    // Any credentials do: the emulator runs in open mode without an IAM file.
    let credentials =
        aws_credential_types::Credentials::new("AKIDLOCAL", "local-secret", None, None, "example");
    lockbox_examples::create_key(&endpoint, credentials.clone()).await?;

    let options = AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        credentials: Some(credentials),
        ..AwsOptions::default()
    };
    let lockbox = Lockbox::from_env(&options).await?.build()?;
    lockbox.setup(TableMode::Sealed, &[]).await?;

    let name = SecretName::new("prod/db/password")?;
    let v1 = lockbox
        .put(&name, &"correct horse".into(), &PutOptions::default())
        .await?;
    let v2 = lockbox
        .put(&name, &"battery staple".into(), &PutOptions::default())
        .await?;
    println!("stored {name} versions {v1} and {v2}");

    let ctx = EncryptionContext::new();
    let latest = lockbox.get(&name, &ctx).await?;
    // Debug output of a secret value is always redacted:
    println!("latest: version {} {:?}", latest.version, latest.value);

    let refs = [
        SecretRef::latest(name.clone()),
        SecretRef::pinned(name.clone(), v1),
    ];
    let both = lockbox.get_many(&refs, &ctx).await?;
    println!("fetched {} secrets in one all-or-nothing call", both.len());

    for item in lockbox.history(&name).await? {
        println!("history: version {} format {}", item.sort_key, item.format);
    }
    mock.shutdown().await;
    Ok(())
}
