//! AWS SDK clients aimed at an emulator, with static test credentials.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_smithy_types::retry::RetryConfig;

/// The access key id of [`credentials`].
pub const ACCESS_KEY_ID: &str = "AKIDLOCKBOXTEST";
/// The secret key of [`credentials`].
pub const SECRET_ACCESS_KEY: &str = "test-secret";

/// Static credentials (an emulator in open mode accepts any signature).
pub fn credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
        None,
        "lockbox-tests",
    )
}

/// Up to four attempts 5 ms apart: an emulator answers at once, so a test of
/// throttling need not wait out the SDK's production backoff.
pub fn quick_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(4)
        .with_initial_backoff(Duration::from_millis(5))
}

/// A KMS client configuration for `endpoint`, signing for `region`, over plain
/// HTTP, with the SDK's default retries.
pub fn kms_config(endpoint: &str, region: &str) -> aws_sdk_kms::config::Builder {
    aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new(region.to_owned()))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
}

/// A DynamoDB client configuration, as [`kms_config`].
pub fn ddb_config(endpoint: &str, region: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(region.to_owned()))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
}

/// A KMS client for `endpoint` signing for `region`, with [`quick_retries`].
pub fn kms_client_in(endpoint: &str, region: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        kms_config(endpoint, region)
            .retry_config(quick_retries())
            .build(),
    )
}

/// A DynamoDB client for `endpoint` signing for `region`, with [`quick_retries`].
pub fn ddb_client_in(endpoint: &str, region: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        ddb_config(endpoint, region)
            .retry_config(quick_retries())
            .build(),
    )
}

/// A KMS client for `endpoint` in `us-east-1`, with [`quick_retries`].
pub fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    kms_client_in(endpoint, "us-east-1")
}

/// A DynamoDB client for `endpoint` in `us-east-1`, with [`quick_retries`].
pub fn ddb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    ddb_client_in(endpoint, "us-east-1")
}

/// Creates credstash's table (`name` HASH, `version` RANGE, both S).
pub async fn create_credstash_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .key_schema(key("name", KeyType::Hash))
        .key_schema(key("version", KeyType::Range))
        .attribute_definitions(attr("name"))
        .attribute_definitions(attr("version"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
}
