//! lockbox-examples: see the `examples` in this package, and [`service`], a web
//! service built on the SDK (run it with `cargo run -p lockbox-examples --example
//! service`). What the examples share lives here.

pub mod service;

use anyhow::Context as _;

/// The AWS configuration of an application pointed at a local `lockbox-mock` (open
/// mode: any credentials), with the KMS key `alias/credstash` created in it as an
/// administrator would.
pub async fn emulator_config(endpoint: &str) -> anyhow::Result<aws_types::SdkConfig> {
    let credentials =
        aws_credential_types::Credentials::new("AKIDLOCAL", "local-secret", None, None, "example");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    create_alias(&aws_sdk_kms::Client::new(&config)).await?;
    Ok(config)
}

/// Create a KMS key in the emulator at `endpoint` and point `alias/credstash`
/// at it, as an administrator would before `lockbox setup`.
pub async fn create_key(
    endpoint: &str,
    credentials: aws_credential_types::Credentials,
) -> anyhow::Result<()> {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    create_alias(&aws_sdk_kms::Client::from_conf(config)).await
}

/// A new key, and `alias/credstash` pointed at it.
async fn create_alias(kms: &aws_sdk_kms::Client) -> anyhow::Result<()> {
    let key = kms
        .create_key()
        .send()
        .await
        .context("CreateKey")?
        .key_metadata
        .context("CreateKey returned no metadata")?
        .key_id;
    kms.create_alias()
        .alias_name("alias/credstash")
        .target_key_id(key)
        .send()
        .await
        .context("CreateAlias")?;
    Ok(())
}
