//! lockbox-examples: see the `examples` in this package. What they share lives
//! here.

use anyhow::Context;

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
    let kms = aws_sdk_kms::Client::from_conf(config);
    let key = kms.create_key().send().await?;
    let id = key
        .key_metadata
        .context("CreateKey returned no metadata")?
        .key_id;
    kms.create_alias()
        .alias_name("alias/credstash")
        .target_key_id(id)
        .send()
        .await?;
    Ok(())
}
