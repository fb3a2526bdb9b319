//! Cross-crate test helpers: an emulator fixture that builds `Lockbox`es through
//! the production AWS code path, and the backend contract suite.
#![allow(missing_debug_implementations)]

pub mod contract;
pub mod credstash;
pub mod labels;

use std::sync::Arc;

use aws_credential_types::Credentials;
use lockbox::backend::{MemoryKeyService, MemorySecretStore, SecretStore};
use lockbox::{AwsOptions, Lockbox, LockboxBuilder};

/// Static credentials for the emulator (open mode accepts any signature).
pub fn test_credentials() -> Credentials {
    Credentials::new(
        "AKIDLOCKBOXTEST",
        "test-secret",
        None,
        None,
        "lockbox-tests",
    )
}

/// What a contract test gets: ways to build lockboxes over one fresh table, with
/// two master keys `A` (the default) and `B`.
#[async_trait::async_trait]
pub trait Fixture: Send + Sync {
    /// A lockbox writing under key A and trusting only A.
    async fn lockbox(&self) -> LockboxBuilder {
        self.lockbox_with_keys(KeyChoice::A).await
    }
    /// A lockbox with the given key configuration.
    async fn lockbox_with_keys(&self, keys: KeyChoice) -> LockboxBuilder;
    /// The raw store (for forging items).
    async fn store(&self) -> Arc<dyn SecretStore>;
}

/// Which master keys a lockbox writes with and trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoice {
    /// Writes under A, trusts A.
    A,
    /// Writes under B, trusts B.
    B,
    /// Writes under A, trusts A and B.
    AandB,
}

/// The in-memory backends.
pub struct MemoryFixture {
    keys: MemoryKeyService,
    store: Arc<MemorySecretStore>,
}

impl Default for MemoryFixture {
    fn default() -> Self {
        Self {
            keys: MemoryKeyService::new(&["A", "B"]),
            store: Arc::new(MemorySecretStore::new()),
        }
    }
}

#[async_trait::async_trait]
impl Fixture for MemoryFixture {
    async fn lockbox_with_keys(&self, keys: KeyChoice) -> LockboxBuilder {
        let service = match keys {
            KeyChoice::A => self.keys.view("A", &["A"]),
            KeyChoice::B => self.keys.view("B", &["B"]),
            KeyChoice::AandB => self.keys.view("A", &["A", "B"]),
        };
        Lockbox::builder()
            .key_service(service)
            .secret_store_arc(self.store.clone())
    }
    async fn store(&self) -> Arc<dyn SecretStore> {
        self.store.clone()
    }
}

/// The AWS backends against an in-process `lockbox-mock`, built with
/// [`Lockbox::from_env`] exactly as production builds them.
pub struct EmulatorFixture {
    /// The running emulator.
    pub mock: lockbox_mock::RunningMock,
    /// The table name.
    pub table: String,
}

impl EmulatorFixture {
    /// Start an emulator with keys `alias/A` and `alias/B`.
    pub async fn start() -> Self {
        let mock = lockbox_mock::start().await.expect("emulator starts");
        let kms = kms_client(&mock.endpoint_url());
        for alias in ["alias/A", "alias/B"] {
            let key = kms.create_key().send().await.expect("CreateKey");
            let id = key.key_metadata.expect("metadata").key_id;
            kms.create_alias()
                .alias_name(alias)
                .target_key_id(id)
                .send()
                .await
                .expect("CreateAlias");
        }
        Self {
            mock,
            table: "lockbox-test".into(),
        }
    }

    /// `AwsOptions` for this emulator: static credentials, explicit region and endpoint.
    pub fn options(&self, keys: KeyChoice) -> AwsOptions {
        let (writer, trusted) = match keys {
            KeyChoice::A => ("alias/A", vec![]),
            KeyChoice::B => ("alias/B", vec![]),
            KeyChoice::AandB => ("alias/A", vec!["alias/B".to_owned()]),
        };
        AwsOptions {
            table: self.table.clone(),
            kms_key: writer.into(),
            trusted_keys: trusted,
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.mock.endpoint_url()),
            credentials: Some(test_credentials()),
            ..AwsOptions::default()
        }
    }
}

#[async_trait::async_trait]
impl Fixture for EmulatorFixture {
    async fn lockbox_with_keys(&self, keys: KeyChoice) -> LockboxBuilder {
        Lockbox::from_env(&self.options(keys))
            .await
            .expect("configuration loads")
    }
    async fn store(&self) -> Arc<dyn SecretStore> {
        Arc::new(lockbox::backend::DynamoDbSecretStore::new(
            ddb_client(&self.mock.endpoint_url()),
            &self.table,
        ))
    }
}

/// The AWS backends against an in-process `lockbox-mock` serving a global table
/// in two regions, read in `eu-west-1` first and written in `us-east-1`, with
/// keys `alias/A` and `alias/B` naming multi-Region keys in both regions and
/// global-table copies applied before each write is answered: every read goes
/// through the other region's replica and the key's replica there.
pub struct RegionalFixture {
    /// The emulator and table, as for one region.
    pub inner: EmulatorFixture,
}

impl RegionalFixture {
    /// Start the emulator and make the keys, their replicas and aliases.
    pub async fn start() -> Self {
        let mock = lockbox_mock::start().await.expect("emulator starts");
        mock.state()
            .set_replication_lag(std::time::Duration::ZERO, std::time::Duration::ZERO);
        let east = kms_client(&mock.endpoint_url());
        let west = kms_client_in(&mock.endpoint_url(), "eu-west-1");
        for alias in ["alias/A", "alias/B"] {
            let key = east
                .create_key()
                .multi_region(true)
                .send()
                .await
                .expect("CreateKey");
            let id = key.key_metadata.expect("metadata").key_id;
            east.replicate_key()
                .key_id(&id)
                .replica_region("eu-west-1")
                .send()
                .await
                .expect("ReplicateKey");
            for kms in [&east, &west] {
                kms.create_alias()
                    .alias_name(alias)
                    .target_key_id(&id)
                    .send()
                    .await
                    .expect("CreateAlias");
            }
        }
        Self {
            inner: EmulatorFixture {
                mock,
                table: "lockbox-test".into(),
            },
        }
    }
}

#[async_trait::async_trait]
impl Fixture for RegionalFixture {
    async fn lockbox_with_keys(&self, keys: KeyChoice) -> LockboxBuilder {
        let options = AwsOptions {
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            write_region: Some("us-east-1".into()),
            ..self.inner.options(keys)
        };
        Lockbox::from_env(&options)
            .await
            .expect("configuration loads")
    }
    async fn store(&self) -> Arc<dyn SecretStore> {
        self.inner.store().await
    }
}

/// A KMS client for the emulator.
pub fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    kms_client_in(endpoint, "us-east-1")
}

/// A KMS client for the emulator, signing for `region`.
pub fn kms_client_in(endpoint: &str, region: &str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new(region.to_owned()))
        .credentials_provider(test_credentials())
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// A DynamoDB client for the emulator.
pub fn ddb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(test_credentials())
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Add a fault rule to the emulator at `endpoint` (`POST /_mock/faults`).
pub async fn add_fault(endpoint: &str, rule: serde_json::Value) {
    let status = mock_request(endpoint, "POST", "/_mock/faults", &rule.to_string()).await;
    assert!(
        status.starts_with("HTTP/1.1 2"),
        "fault rule refused: {status}"
    );
}

/// Remove every fault rule (`DELETE /_mock/faults`).
pub async fn clear_faults(endpoint: &str) {
    let status = mock_request(endpoint, "DELETE", "/_mock/faults", "").await;
    assert!(
        status.starts_with("HTTP/1.1 2"),
        "clearing faults: {status}"
    );
}

/// The emulator's fault rules with their `fired` counts (`GET /_mock/faults`).
pub async fn faults(endpoint: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("GET /_mock/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).expect("the rule list is JSON")
}

/// How often each fault rule has fired, by its target.
pub async fn fired(endpoint: &str) -> std::collections::BTreeMap<String, u64> {
    faults(endpoint).await["rules"]
        .as_array()
        .expect("a list of rules")
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap_or_default().to_owned(),
                r["fired"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Send one request to the emulator's control API; returns the status line.
async fn mock_request(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response.lines().next().unwrap_or_default().to_owned()
}
