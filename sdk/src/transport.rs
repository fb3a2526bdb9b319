//! The HTTP client [`Lockbox::from_env`](crate::Lockbox::from_env) gives the AWS
//! SDK, set up by the AWS conventions for transport that `aws-config` leaves to
//! the application:
//!
//! - `AWS_CA_BUNDLE`, else `ca_bundle` of the selected profile: a PEM file of the
//!   certificate authorities to trust. As in the AWS CLI and boto3, the bundle
//!   replaces the system's roots (a private CA, or a TLS-inspecting proxy's).
//! - `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, in either case, with
//!   credentials in the proxy URL (`http://user:pass@proxy:3128`): `https`
//!   requests go through an HTTP `CONNECT` tunnel, `http` ones (the container and
//!   IMDS credential endpoints) are forwarded, and hosts `NO_PROXY` lists are
//!   reached directly. `aws-smithy-http-client` implements them; this module
//!   only turns them on.
//!
//! FIPS and dual-stack endpoints (`AWS_USE_FIPS_ENDPOINT`,
//! `AWS_USE_DUALSTACK_ENDPOINT`, `use_fips_endpoint`, `use_dualstack_endpoint`)
//! are `aws-config`'s own and need nothing here.
//!
//! TLS, and with it the loading of the trusted roots, is set up on the first
//! `https` request, so `http` endpoints (the emulator, `--local`) never pay for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::dns::SharedLookups;
use crate::{Error, Result};

/// The variable that names a CA bundle.
pub(crate) const CA_BUNDLE_VAR: &str = "AWS_CA_BUNDLE";

/// Where the trusted certificate authorities come from.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    /// The system's roots, or the bundle's certificates only.
    context: TlsContext,
}

impl Trust {
    /// The trust `from_env` uses: `explicit` (an [`AwsOptions`](crate::AwsOptions)
    /// field), else `AWS_CA_BUNDLE`, else `ca_bundle` in `profile` (or the profile
    /// `AWS_PROFILE` selects, or `default`), else the system's roots. A bundle that
    /// cannot be read or holds no certificate is an error naming where it was set.
    pub(crate) async fn from_env(explicit: Option<&Path>, profile: Option<&str>) -> Result<Self> {
        let (path, named_by) = if let Some(path) = explicit {
            (path.to_owned(), "the ca_bundle option".to_owned())
        } else if let Some(path) = std::env::var_os(CA_BUNDLE_VAR).filter(|p| !p.is_empty()) {
            (PathBuf::from(path), CA_BUNDLE_VAR.to_owned())
        } else if let Some((path, profile)) = profile_ca_bundle(profile).await {
            (path, format!("ca_bundle in profile {profile}"))
        } else {
            return Ok(Self::system());
        };
        let shown = crate::escape_untrusted(&path.display().to_string()).into_owned();
        let bytes = std::fs::read(&path).map_err(|e| Error::InvalidValue {
            reason: format!("{named_by} names the CA bundle {shown}, which cannot be read: {e}"),
        })?;
        if !bytes
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(Error::InvalidValue {
                reason: format!(
                    "{named_by} names the CA bundle {shown}, which holds no PEM certificate \
                     (-----BEGIN CERTIFICATE-----)"
                ),
            });
        }
        let store = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(bytes);
        let context = TlsContext::builder()
            .with_trust_store(store)
            .build()
            .map_err(|e| Error::InvalidValue {
                reason: format!("{named_by} names the CA bundle {shown}, which is unusable: {e}"),
            })?;
        Ok(Self { context })
    }

    /// The system's roots (loaded on the first `https` request).
    pub(crate) fn system() -> Self {
        Self {
            context: TlsContext::default(),
        }
    }

    fn tls_context(&self) -> TlsContext {
        self.context.clone()
    }
}

/// `ca_bundle` of the selected profile, and the profile's name.
async fn profile_ca_bundle(profile: Option<&str>) -> Option<(PathBuf, String)> {
    use aws_types::os_shim_internal::{Env, Fs};
    let selected = profile
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_owned());
    // A missing or unreadable file is the credential chain's to report.
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &Default::default(),
        Some(selected.clone().into()),
    )
    .await
    .ok()?;
    let value = profiles.get_profile(&selected)?.get("ca_bundle")?.trim();
    if value.is_empty() {
        return None;
    }
    Some((expand_home(value), selected))
}

/// `~/x` as the AWS CLI reads it.
fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => PathBuf::from(home).join(rest),
            None => PathBuf::from(path),
        },
        None => PathBuf::from(path),
    }
}

/// The HTTP client: proxies from the environment, TLS built lazily with `trust`;
/// and a [`Warmer`] that opens connections in its pools ahead of calls.
pub(crate) fn http_client(trust: Trust) -> (SharedHttpClient, Warmer) {
    let tls = TlsConnectors {
        cache: Arc::default(),
        trust,
        dns: SharedLookups::default(),
    };
    let warmer = Warmer { tls: tls.clone() };
    let client = SharedHttpClient::new(LazyTlsClient {
        plain: Arc::default(),
        tls,
    });
    (client, warmer)
}

/// Opens TLS connections to an endpoint before the calls that need them, so
/// that their TCP and TLS handshakes overlap other work (the reads that produce
/// what KMS is asked to decrypt) instead of following it.
///
/// A connection enters the HTTP client's pool only by carrying a request, so
/// each is opened with an unsigned `GET /`: no AWS API call, no credentials,
/// nothing the service bills or counts against a quota; the answer (an error) is
/// read and dropped, and the connection stays in the pool for the calls. One
/// connection carries one call at a time, so a batch of N decrypts wants N.
#[derive(Debug, Clone)]
pub(crate) struct Warmer {
    tls: TlsConnectors,
}

impl Warmer {
    /// Opens up to `n` connections to `url` (an `https` endpoint) in the pool
    /// the SDK's calls with `timeouts` use; returns once they are idle in it.
    /// Failures are ignored: the calls open their own connections then.
    pub(crate) async fn open(
        &self,
        url: &str,
        n: usize,
        timeouts: &aws_smithy_types::timeout::TimeoutConfig,
    ) {
        if n == 0
            || !url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            return;
        }
        let mut settings = HttpConnectorSettings::builder();
        settings.set_connect_timeout(timeouts.connect_timeout());
        settings.set_read_timeout(timeouts.read_timeout());
        let settings = settings.build();
        let connector = self.tls.get(
            &settings,
            aws_smithy_async::rt::sleep::default_async_sleep(),
        );
        let opens = (0..n).map(|_| {
            let connector = connector.clone();
            async move {
                let Ok(request) = HttpRequest::get(url) else {
                    return;
                };
                if let Ok(response) = connector.call(request).await {
                    // Read to the end, or the connection is not reused.
                    let _ = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
                        .collect()
                        .await;
                }
            }
        });
        futures::future::join_all(opens).await;
    }
}

/// Connectors by their timeouts, the settings a connector is built for (the
/// SDK's own client caches them the same way); one pool each.
type Cache = Arc<Mutex<Vec<((Option<Duration>, Option<Duration>), SharedHttpConnector)>>>;

/// The TLS connectors of one HTTP client, one per timeout settings, all
/// trusting `trust` and sharing host name lookups (`dns`).
#[derive(Debug, Clone)]
struct TlsConnectors {
    cache: Cache,
    trust: Trust,
    dns: SharedLookups,
}

impl TlsConnectors {
    /// The connector for `settings`, built on first use with `sleep`.
    fn get(
        &self,
        settings: &HttpConnectorSettings,
        sleep: Option<SharedAsyncSleep>,
    ) -> SharedHttpConnector {
        cached(&self.cache, settings, || {
            SharedHttpConnector::new(
                builder(settings, sleep)
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .tls_context(self.trust.tls_context())
                    .build_with_resolver(self.dns.clone()),
            )
        })
    }
}

#[derive(Debug)]
struct LazyTlsClient {
    plain: Cache,
    tls: TlsConnectors,
}

/// The connector for `settings` from `cache`, built by `build` on a miss.
fn cached(
    cache: &Cache,
    settings: &HttpConnectorSettings,
    build: impl FnOnce() -> SharedHttpConnector,
) -> SharedHttpConnector {
    let key = (settings.connect_timeout(), settings.read_timeout());
    let mut entries = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = entries.iter().find(|(k, _)| *k == key) {
        return c.clone();
    }
    let connector = build();
    entries.push((key, connector.clone()));
    connector
}

/// A connector builder for `settings`, with `sleep` (the runtime's) and the
/// environment's proxies.
fn builder(
    settings: &HttpConnectorSettings,
    sleep: Option<SharedAsyncSleep>,
) -> aws_smithy_http_client::ConnectorBuilder {
    let mut builder = Connector::builder()
        .connector_settings(settings.clone())
        .proxy_config(ProxyConfig::from_env());
    builder.set_sleep_impl(sleep);
    builder
}

impl HttpClient for LazyTlsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let plain = cached(&self.plain, settings, || {
            SharedHttpConnector::new(builder(settings, components.sleep_impl()).build_http())
        });
        SharedHttpConnector::new(ByScheme {
            plain,
            tls: Arc::new(OnceLock::new()),
            connectors: self.tls.clone(),
            settings: settings.clone(),
            sleep: components.sleep_impl(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// One attempt's connector: plain for `http`, the TLS connector (built on the
/// first `https` request, then shared) for anything else.
#[derive(Debug)]
struct ByScheme {
    plain: SharedHttpConnector,
    tls: Arc<OnceLock<SharedHttpConnector>>,
    connectors: TlsConnectors,
    settings: HttpConnectorSettings,
    sleep: Option<SharedAsyncSleep>,
}

impl HttpConnector for ByScheme {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let scheme = request.uri().get(..7).unwrap_or_default();
        if scheme.eq_ignore_ascii_case("http://") {
            return self.plain.call(request);
        }
        let tls = self
            .tls
            .get_or_init(|| self.connectors.get(&self.settings, self.sleep.clone()));
        tls.call(request)
    }
}

/// What an error says when a server's certificate was refused, if it was: the
/// rustls reason (`UnknownIssuer`, `NotValidForName`, `Expired`...).
pub(crate) fn refused_certificate(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(refused @ rustls::Error::InvalidCertificate(reason)) =
            e.downcast_ref::<rustls::Error>()
        {
            // `NotValidForNameContext { .. }` -> `NotValidForName`, then rustls's words.
            let debug = format!("{reason:?}");
            let name = debug
                .split([' ', '(', '{'])
                .next()
                .unwrap_or_default()
                .trim_end_matches("Context");
            return Some(format!("{name}: {refused}"));
        }
        // io::Error hides what it wraps from `source()` (hyper-rustls nests the
        // rustls error two io::Errors deep): look inside instead.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Stops the SDK's retries of a refused certificate: the same certificate is
/// refused every time, and five attempts with backoff only delay the answer.
#[derive(Debug)]
pub(crate) struct NoRetryOnRefusedCertificate;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry
    for NoRetryOnRefusedCertificate
{
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        match ctx.output_or_error() {
            Some(Err(err))
                if err
                    .as_connector_error()
                    .is_some_and(|c| refused_certificate(c).is_some()) =>
            {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "refused TLS certificate"
    }

    fn priority(
        &self,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
        RetryClassifierPriority::run_before(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::time::Duration;

    use crate::AwsOptions;

    /// The first byte a client sends to `scheme://127.0.0.1:PORT`: `P` of
    /// `POST` for plain HTTP, 0x16 (a TLS handshake record) for TLS.
    async fn first_byte_sent(scheme: &str) -> u8 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut byte = [0u8; 1];
            conn.read_exact(&mut byte).unwrap();
            byte[0]
        });
        let options = AwsOptions {
            attempt_timeout: Duration::from_millis(300),
            operation_timeout: Duration::from_millis(300),
            ..crate::aws::test_options(&format!("{scheme}://127.0.0.1:{port}"))
        };
        let config = crate::aws::load(&options).await.unwrap();
        let client = aws_sdk_dynamodb::Client::new(&config);
        // No answer comes: the call times out once the byte is read.
        let _ = client.list_tables().send().await;
        server.join().unwrap()
    }

    #[tokio::test]
    async fn http_endpoints_get_plain_http_and_https_endpoints_get_tls() {
        assert_eq!(first_byte_sent("http").await, b'P');
        assert_eq!(first_byte_sent("https").await, 0x16);
    }

    /// A TCP forwarder to `upstream` on loopback that counts the connections
    /// it accepted.
    fn counting_forwarder(
        upstream: std::net::SocketAddr,
    ) -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut client) = conn else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(mut server) = std::net::TcpStream::connect(upstream) else {
                    return;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client, &mut server);
                    let _ = server.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        (addr, count)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_opened_early_are_the_ones_the_calls_use() {
        use std::sync::atomic::Ordering;
        let mock = lockbox_mock::start_with(lockbox_mock::Config::default().tls())
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(format!("lockbox-warm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, mock.ca_pem().unwrap()).unwrap();
        let (addr, accepted) = counting_forwarder(mock.local_addr());
        let url = format!("https://{addr}");
        let options = AwsOptions {
            ca_bundle: Some(ca),
            ..crate::aws::test_options(&url)
        };
        let (config, warmer) = crate::aws::load_with_warmer(&options).await.unwrap();
        let timeouts = config.timeout_config().unwrap().clone();
        warmer.open(&url, 3, &timeouts).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        // The answers were read to the end: the connections go back to the pool.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let kms = aws_sdk_kms::Client::new(&config);
        let calls = (0..3).map(|_| kms.list_keys().send());
        for result in futures::future::join_all(calls).await {
            result.unwrap();
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            3,
            "the calls opened connections of their own"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn home_is_expanded_as_the_aws_cli_does() {
        assert_eq!(
            super::expand_home("/etc/ca.pem"),
            std::path::PathBuf::from("/etc/ca.pem")
        );
        assert!(!super::expand_home("~/ca.pem").starts_with("~"));
    }

    #[tokio::test]
    async fn a_bundle_without_a_certificate_is_refused_naming_where_it_was_set() {
        let dir = std::env::temp_dir().join(format!("lockbox-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here").unwrap();
        let err = super::Trust::from_env(Some(&empty), None)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
        let missing = dir.join("missing.pem");
        let err = super::Trust::from_env(Some(&missing), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = super::Trust::system();
    }
}
