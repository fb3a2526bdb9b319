//! Loading the standard AWS configuration, with lockbox's explicit retry and
//! timeout budget and one HTTP client (rustls + ring, `transport.rs`) shared by
//! every client.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_types::region::Region;
use aws_types::SdkConfig;

use crate::backend::{DynamoDbSecretStore, KmsKeyService};
use crate::{Lockbox, LockboxBuilder, Result};

/// Configuration for [`Lockbox::from_env`]: the credstash options, each optional.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// The DynamoDB table (default `credential-store`).
    pub table: String,
    /// The KMS key new secrets are written under (default `alias/credstash`).
    pub kms_key: String,
    /// More KMS keys to trust when reading.
    pub trusted_keys: Vec<String>,
    /// The region (default: the AWS configuration's, then `us-east-1`).
    pub region: Option<String>,
    /// A different region for KMS (DynamoDB global tables).
    pub kms_region: Option<String>,
    /// Several regions, in read order (a global table): each read is served by
    /// the first healthy one; empty for one region (`region`).
    pub regions: Vec<String>,
    /// The region writes go to when `regions` has several (default: the first).
    pub write_region: Option<String>,
    /// A named profile.
    pub profile: Option<String>,
    /// A role to assume first.
    pub assume_role: Option<String>,
    /// An endpoint for both services (the emulator, or a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Timeout of one attempt of one call.
    pub attempt_timeout: Duration,
    /// Timeout of one call including its retries.
    pub operation_timeout: Duration,
    /// Attempts per call (first try plus retries), with exponential backoff and jitter.
    pub max_attempts: u32,
    /// Explicit credentials, instead of the default chain (for the local
    /// emulator and tests).
    pub credentials: Option<aws_credential_types::Credentials>,
    /// The AWS account of the table, when known (default: `AWS_ACCOUNT_ID`, then
    /// the account of `kms_key` when it is an ARN). With it the table's record is
    /// read in one call instead of two, so a cold read costs no more round trips
    /// on a credstash-mode table than on a sealed one.
    pub account_id: Option<String>,
    /// A PEM file of the certificate authorities to trust instead of the
    /// system's (default: `AWS_CA_BUNDLE`, then the profile's `ca_bundle`).
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            table: crate::DEFAULT_TABLE.into(),
            kms_key: crate::DEFAULT_KMS_KEY.into(),
            trusted_keys: Vec::new(),
            region: None,
            kms_region: None,
            regions: Vec::new(),
            write_region: None,
            profile: None,
            assume_role: None,
            endpoint_url: None,
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(20),
            max_attempts: 5,
            credentials: None,
            account_id: None,
            ca_bundle: None,
        }
    }
}

/// The AWS backends a [`LockboxBuilder`] builds from an [`SdkConfig`].
#[derive(Debug, Clone)]
pub(crate) struct AwsTarget {
    config: SdkConfig,
    pub(crate) table: String,
    pub(crate) kms_key: String,
    pub(crate) trusted: Vec<String>,
    pub(crate) kms_region: Option<Region>,
    pub(crate) account_id: Option<String>,
    /// Several regions in read order (empty: the configuration's region).
    pub(crate) regions: Vec<String>,
    /// The home region for writes (default: the first of `regions`).
    pub(crate) write_region: Option<String>,
    /// How long a region that failed is skipped.
    pub(crate) cool_down: Option<std::time::Duration>,
    /// Whether `setup` makes the replicas strongly consistent.
    pub(crate) strong: bool,
    /// Named in timeouts and connection errors instead of the AWS endpoint.
    endpoint_label: Option<String>,
    /// Opens KMS connections while reads are in flight (`from_env`'s client only).
    pub(crate) warmer: Option<crate::transport::Warmer>,
}

impl AwsTarget {
    /// Settings with no configuration behind them (a misuse `build` reports).
    pub(crate) fn scratch() -> Self {
        Self {
            config: SdkConfig::builder().build(),
            table: crate::DEFAULT_TABLE.into(),
            kms_key: crate::DEFAULT_KMS_KEY.into(),
            trusted: Vec::new(),
            kms_region: None,
            account_id: None,
            regions: Vec::new(),
            write_region: None,
            cool_down: None,
            strong: false,
            endpoint_label: None,
            warmer: None,
        }
    }

    /// The key service and the store: of one region, or, with several
    /// [`regions`](AwsTarget::regions), reading in the first healthy one and
    /// writing in the home region.
    pub(crate) fn backends(
        &self,
    ) -> Result<(
        std::sync::Arc<dyn crate::backend::KeyService>,
        std::sync::Arc<dyn crate::backend::SecretStore>,
    )> {
        use crate::backend::{KeyService, SecretStore};
        use std::sync::Arc;
        if self.regions.is_empty() {
            if let Some(w) = &self.write_region {
                return Err(crate::Error::InvalidValue {
                    reason: format!(
                        "a write region ({w}) needs the list of regions it is one of: --regions R1,R2"
                    ),
                });
            }
            return self.backends_in(None, false);
        }
        let home = crate::backend::check_regions(&self.regions, self.write_region.as_deref())?;
        if home != 0 {
            tracing::warn!(
                write_region = %self.regions[home],
                first_region = %self.regions[0],
                "writes go to the region named by --write-region, not the first region: a manual write failover"
            );
        }
        if self.regions.len() == 1 {
            return self.backends_in(Some(&self.regions[0]), false);
        }
        let mut keys: Vec<(String, Arc<dyn KeyService>)> = Vec::new();
        let mut stores: Vec<(String, Arc<dyn SecretStore>)> = Vec::new();
        for r in &self.regions {
            let (k, s) = self.backends_in(Some(r), true)?;
            keys.push((r.clone(), k));
            stores.push((r.clone(), s));
        }
        let cool_down = self.cool_down.unwrap_or(crate::backend::DEFAULT_COOL_DOWN);
        let kms_only = self.kms_region.is_some().then(|| keys[0].1.clone());
        let (store, regional_keys) = crate::backend::regional_pair(stores, keys, home, cool_down)?;
        let store = store.strong_consistency(self.strong);
        let key: Arc<dyn KeyService> = match kms_only {
            // credstash's --kms-region: one KMS region for every read.
            Some(only) => only,
            None => Arc::new(regional_keys),
        };
        Ok((key, Arc::new(store)))
    }

    /// The backends of one region (`None`: the configuration's), a multi-Region
    /// key named by an ARN of another region taken as its replica there. With
    /// `several` (one region of several), their clients leave to the next
    /// region what it can retry (`failover.rs`).
    fn backends_in(
        &self,
        only: Option<&str>,
        several: bool,
    ) -> Result<(
        std::sync::Arc<dyn crate::backend::KeyService>,
        std::sync::Arc<dyn crate::backend::SecretStore>,
    )> {
        let region = only.map(|r| Region::new(r.to_owned()));
        let Some(region) = region.as_ref().or(self.config.region()) else {
            return Err(crate::Error::InvalidValue {
                reason: "the AWS configuration names no region: set one (AWS_REGION, the \
                         profile's region, or SdkConfig::builder().region(..))"
                    .into(),
            });
        };
        let label = |service: &str, region: &Region| {
            self.endpoint_label
                .clone()
                .unwrap_or_else(|| format!("{service}.{region}.amazonaws.com"))
        };
        let kms_region = self.kms_region.clone().unwrap_or_else(|| region.clone());
        let mut kms_config = aws_sdk_kms::config::Builder::from(&self.config)
            .region(kms_region.clone())
            .retry_classifier(crate::transport::NoRetryOnRefusedCertificate)
            .retry_classifier(crate::pace::PaceThrottled::default())
            .interceptor(crate::throttle::NoteThrottling(crate::error::Service::Kms));
        if several {
            kms_config = kms_config
                .retry_classifier(crate::failover::RetryElsewhere)
                .interceptor(crate::failover::CountAttempts);
        }
        let kms_config = kms_config.build();
        let local = |key: &String| match only {
            Some(_) => crate::backend::key_in_region(key, kms_region.as_ref()),
            None => key.clone(),
        };
        let mut kms = KmsKeyService::new(
            aws_sdk_kms::Client::from_conf(kms_config),
            local(&self.kms_key),
        )
        .trust(self.trusted.iter().map(local))
        .endpoint(label("kms", &kms_region));
        if let (Some(warmer), Some(timeouts)) = (&self.warmer, self.config.timeout_config()) {
            kms = kms.warm_with(crate::backend::WarmPlan {
                warmer: warmer.clone(),
                timeouts: timeouts.clone(),
                region: kms_region.to_string(),
                use_fips: self.config.use_fips().unwrap_or(false),
                use_dual_stack: self.config.use_dual_stack().unwrap_or(false),
                endpoint_url: kms_endpoint_url(&self.config),
            });
        }
        let mut ddb_config = aws_sdk_dynamodb::config::Builder::from(&self.config)
            .region(region.clone())
            .retry_classifier(crate::transport::NoRetryOnRefusedCertificate)
            .retry_classifier(crate::pace::PaceThrottled::default())
            .interceptor(crate::throttle::NoteThrottling(
                crate::error::Service::DynamoDb,
            ));
        if several {
            ddb_config = ddb_config
                .retry_classifier(crate::failover::RetryElsewhere)
                .interceptor(crate::failover::CountAttempts);
        }
        let ddb_config = ddb_config.build();
        let mut store =
            DynamoDbSecretStore::new(aws_sdk_dynamodb::Client::from_conf(ddb_config), &self.table)
                .endpoint(label("dynamodb", region));
        let account = self
            .account_id
            .clone()
            .or_else(|| crate::arn_account(&self.kms_key).map(str::to_owned));
        if let Some(account) = account {
            store = store.account(account);
        }
        Ok((std::sync::Arc::new(kms), std::sync::Arc::new(store)))
    }
}

/// The endpoint URL KMS clients built from `config` use, if one is set: as the
/// KMS SDK's `From<&SdkConfig>` decides it (`AWS_ENDPOINT_URL_KMS` and the
/// profile's `kms`/`endpoint_url` before `AWS_ENDPOINT_URL`, unless code set it).
fn kms_endpoint_url(config: &SdkConfig) -> Option<String> {
    if config.get_origin("endpoint_url").is_client_config() {
        return config.endpoint_url().map(str::to_owned);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("KMS")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    config
        .service_config()
        .and_then(|c| c.load_config(key))
        .or_else(|| config.endpoint_url().map(str::to_owned))
}

impl Lockbox {
    /// A lockbox on AWS KMS and DynamoDB built from the application's own AWS
    /// configuration, so region, credentials, retry, timeouts, HTTP client and TLS
    /// are the application's choice. Then set the table and key on the builder
    /// (defaults: credstash's `credential-store` and `alias/credstash`). There is
    /// no default region: a configuration without one fails at `build`.
    ///
    /// ```no_run
    /// # async fn run() -> lockbox::Result<()> {
    /// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let lockbox = lockbox::Lockbox::aws(&config)
    ///     .table("prod-secrets")
    ///     .kms_key("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    ///     .build()?;
    /// # let _ = lockbox; Ok(()) }
    /// ```
    pub fn aws(config: &SdkConfig) -> LockboxBuilder {
        LockboxBuilder::default().with_aws(AwsTarget {
            config: config.clone(),
            table: crate::DEFAULT_TABLE.into(),
            kms_key: crate::DEFAULT_KMS_KEY.into(),
            trusted: Vec::new(),
            kms_region: None,
            account_id: None,
            regions: Vec::new(),
            write_region: None,
            cool_down: None,
            strong: false,
            endpoint_label: None,
            warmer: None,
        })
    }

    /// Load the standard AWS configuration (environment, profile, web identity,
    /// ECS/EKS container credentials, IMDSv2) with lockbox's retry and timeout
    /// budget and credstash's options, and build a lockbox on KMS and DynamoDB.
    /// Without a configured region it uses credstash's default, `us-east-1`. The
    /// only place the SDK reads the process environment (`AWS_ACCOUNT_ID` too,
    /// the transport's variables: `AWS_CA_BUNDLE`, `*_PROXY`, and
    /// `LOCKBOX_OPEN_CONNECTIONS_EARLY`).
    ///
    /// Its HTTP client opens the KMS connections a batch read will need while the
    /// reads are in flight (an unsigned `GET /` each: no API call), so that the
    /// decrypts do not wait for TCP and TLS handshakes after the reads;
    /// `LOCKBOX_OPEN_CONNECTIONS_EARLY=0` turns that off.
    pub async fn from_env(options: &AwsOptions) -> Result<LockboxBuilder> {
        let (config, warmer) = load_with_warmer(options).await?;
        let mut builder = Lockbox::aws(&config)
            .table(&options.table)
            .kms_key(&options.kms_key)
            .trust_keys(options.trusted_keys.iter().cloned());
        if let Some(r) = &options.kms_region {
            builder = builder.kms_region(Region::new(r.clone()));
        }
        if !options.regions.is_empty() {
            builder = builder.regions(options.regions.iter().cloned());
        }
        if let Some(w) = &options.write_region {
            builder = builder.write_region(w);
        }
        let account = options.account_id.clone().or_else(|| {
            std::env::var("AWS_ACCOUNT_ID")
                .ok()
                .filter(|a| !a.is_empty())
        });
        if let Some(account) = account {
            builder = builder.account_id(account);
        }
        if let Some(url) = &options.endpoint_url {
            builder.aws_target_mut().endpoint_label = Some(url.clone());
        }
        // LOCKBOX_OPEN_CONNECTIONS_EARLY=0 turns the early KMS connections off.
        let early = std::env::var("LOCKBOX_OPEN_CONNECTIONS_EARLY")
            .map(|v| {
                !matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "off"
                )
            })
            .unwrap_or(true);
        if early {
            builder.aws_target_mut().warmer = Some(warmer);
        }
        Ok(builder)
    }
}

/// The region [`Lockbox::from_env`] uses when neither the options nor the AWS
/// configuration name one (credstash's default).
pub const DEFAULT_REGION: &str = "us-east-1";

/// lockbox's retry budget: the SDK's standard mode with `max_attempts`, unless
/// the standard AWS variables `AWS_RETRY_MODE` (`standard` or `adaptive`: the
/// SDK's client-side rate limiting) and `AWS_MAX_ATTEMPTS` say otherwise.
fn retry_config(options: &AwsOptions) -> Result<RetryConfig> {
    let mut retry = RetryConfig::standard().with_max_attempts(options.max_attempts.max(1));
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(mode) = var("AWS_RETRY_MODE") {
        let mode = mode.parse::<aws_config::retry::RetryMode>().map_err(|_| {
            crate::Error::InvalidValue {
                reason: format!("AWS_RETRY_MODE={mode:?}: expected standard or adaptive"),
            }
        })?;
        retry = retry.with_retry_mode(mode);
    }
    if let Some(n) = var("AWS_MAX_ATTEMPTS") {
        match n.parse::<u32>() {
            Ok(n) if n >= 1 => retry = retry.with_max_attempts(n),
            _ => {
                return Err(crate::Error::InvalidValue {
                    reason: format!(
                        "AWS_MAX_ATTEMPTS={n:?}: expected a whole number of at least 1"
                    ),
                })
            }
        }
    }
    Ok(retry)
}

/// Load the configuration through `aws-config`'s default chain.
#[cfg(test)]
pub(crate) async fn load(options: &AwsOptions) -> Result<SdkConfig> {
    Ok(load_with_warmer(options).await?.0)
}

/// [`load`], and the warmer of its HTTP client's pools.
pub(crate) async fn load_with_warmer(
    options: &AwsOptions,
) -> Result<(SdkConfig, crate::transport::Warmer)> {
    let trust =
        crate::transport::Trust::from_env(options.ca_bundle.as_deref(), options.profile.as_deref())
            .await?;
    let (http, warmer) = crate::transport::http_client(trust);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(retry_config(options)?)
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
    if let Some(region) = options.region.as_ref().or(options.regions.first()) {
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
    Ok((config, warmer))
}

/// Tests: one attempt at `endpoint`, with static test credentials.
#[cfg(test)]
pub(crate) fn test_options(endpoint: &str) -> AwsOptions {
    AwsOptions {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        credentials: Some(aws_credential_types::Credentials::new(
            "AKIDTEST",
            "test-secret",
            None,
            None,
            "test",
        )),
        max_attempts: 1,
        ..AwsOptions::default()
    }
}
