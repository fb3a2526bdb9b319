//! lockbox-examples: see the `examples` in this package, and [`service`], a web
//! service built on the SDK (run it with `cargo run -p lockbox-examples --example
//! service`).

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
    let kms = aws_sdk_kms::Client::new(&config);
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
    Ok(config)
}
