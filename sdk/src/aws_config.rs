//! Loading the standard AWS configuration, with lockbox's explicit retry and
//! timeout budget and one HTTP client (rustls + ring) shared by every client.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_types::region::Region;
use aws_types::SdkConfig;

use crate::{AwsOptions, Result};

/// The region when neither the options nor the AWS configuration name one
/// (credstash's default).
const DEFAULT_REGION: &str = "us-east-1";

/// Load the configuration through `aws-config`'s default chain.
pub(crate) async fn load(options: &AwsOptions) -> Result<SdkConfig> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(
                    options
                        .attempt_timeout
                        .min(std::time::Duration::from_secs(3)),
                )
                .operation_attempt_timeout(options.attempt_timeout)
                .operation_timeout(options.operation_timeout)
                .build(),
        );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(credentials) = &options.credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let mut config = loader.load().await;
    if config.region().is_none() {
        config = config
            .into_builder()
            .region(Region::new(DEFAULT_REGION))
            .build();
    }
    if let Some(role) = &options.assume_role {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("lockbox")
            .configure(&config)
            .build()
            .await;
        config = config
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
    }
    Ok(config)
}
