//! [`Config`], how an emulator is set up, and [`StartError`], why it could not
//! start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::dynamodb::{DEFAULT_REPLICATION_LAG, MAX_REPLICATION_LAG};
use crate::journal::StoreError;
use crate::quotas::Quotas;
use crate::tls::{TlsSetup, DEFAULT_HOSTS};

/// How an emulator is set up. `Config::default()` is in-memory, no added latency.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) latency: Duration,
    pub(crate) account_id: String,
    pub(crate) listen: SocketAddr,
    pub(crate) iam: Option<IamSource>,
    pub(crate) audit_log: Option<PathBuf>,
    pub(crate) credential_ttl: Option<Duration>,
    pub(crate) shared: bool,
    pub(crate) tls: Option<TlsSetup>,
    pub(crate) quotas: Quotas,
    pub(crate) replication_lag: Duration,
    pub(crate) replication_jitter: Duration,
}

/// Where strict mode's identity file comes from.
#[derive(Clone)]
pub(crate) enum IamSource {
    File(PathBuf),
    Json(String),
}

impl std::fmt::Debug for IamSource {
    /// The inline JSON holds secret keys: only its presence is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IamSource::File(p) => f.debug_tuple("File").field(p).finish(),
            IamSource::Json(_) => f.write_str("Json([REDACTED])"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: None,
            latency: Duration::ZERO,
            account_id: "000000000000".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            iam: None,
            audit_log: None,
            credential_ttl: None,
            shared: false,
            tls: None,
            quotas: Quotas::default(),
            replication_lag: DEFAULT_REPLICATION_LAG,
            replication_jitter: Duration::ZERO,
        }
    }
}

impl Config {
    /// The default configuration: in memory, no latency, `127.0.0.1:0`.
    pub fn builder() -> Self {
        Self::default()
    }

    /// Keep state durably in `dir` (created if missing) instead of in memory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Make every AWS call take at least this long, counted from the request's
    /// arrival (the emulator's own work is part of it, not added to it).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The account id used in ARNs (default `000000000000`).
    pub fn account_id(mut self, account: impl Into<String>) -> Self {
        self.account_id = account.into();
        self
    }

    /// Strict mode: authenticate every request (SigV4) and authorize it against the
    /// identities and policies of this identity file (format: the crate's README).
    pub fn iam(mut self, path: impl Into<PathBuf>) -> Self {
        self.iam = Some(IamSource::File(path.into()));
        self
    }

    /// Strict mode with the identity file given as JSON text.
    pub fn iam_json(mut self, json: impl Into<String>) -> Self {
        self.iam = Some(IamSource::Json(json.into()));
        self
    }

    /// Append one JSON line per authorization decision to this file (strict mode).
    pub fn audit_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_log = Some(path.into());
        self
    }

    /// Lifetime of temporary credentials (overrides the identity file's).
    pub fn credential_ttl(mut self, ttl: Duration) -> Self {
        self.credential_ttl = Some(ttl);
        self
    }

    /// Share the data dir with emulators in other processes, at once: each
    /// operation first applies what the others wrote, so all of them serve one
    /// store. Without it, an emulator holds its data dir alone for its life.
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Enforce these throughput quotas (default: none; `POST /_mock/quotas`
    /// changes them at run time).
    pub fn quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// The time from a write to a global table to its copy in each other replica
    /// (default [`DEFAULT_REPLICATION_LAG`], at most [`MAX_REPLICATION_LAG`];
    /// `POST /_mock/replication` changes it at run time).
    pub fn replication_lag(mut self, lag: Duration) -> Self {
        self.replication_lag = lag;
        self
    }

    /// A random extra of up to `jitter` on each copy's lag, so copies arrive in
    /// no particular order (default none, at most [`MAX_REPLICATION_LAG`]).
    pub fn replication_jitter(mut self, jitter: Duration) -> Self {
        self.replication_jitter = jitter;
        self
    }

    /// Whether the settings are usable: an error names the one that is not.
    pub(crate) fn validate(&self) -> Result<(), StartError> {
        for (what, value) in [
            ("replication lag", self.replication_lag),
            ("replication jitter", self.replication_jitter),
        ] {
            if value > MAX_REPLICATION_LAG {
                return Err(StartError::Config(format!(
                    "the {what} must be at most {} ms, got {} ms",
                    MAX_REPLICATION_LAG.as_millis(),
                    value.as_millis()
                )));
            }
        }
        Ok(())
    }

    /// Whether requests are authenticated and authorized.
    pub fn is_strict(&self) -> bool {
        self.iam.is_some()
    }

    /// Serve HTTPS with a certificate for `127.0.0.1`, `localhost` and `::1`,
    /// signed by a certificate authority made at start-up: give clients
    /// [`RunningMock::ca_pem`](crate::RunningMock::ca_pem) to trust (for
    /// example as the file `AWS_CA_BUNDLE` names). Plain HTTP is the default.
    pub fn tls(self) -> Self {
        self.tls_hosts(DEFAULT_HOSTS.iter().copied())
    }

    /// As [`Config::tls`], with a certificate for these names instead (IP
    /// addresses or DNS names, `*.` wildcards allowed): a certificate for
    /// `*.amazonaws.com` lets a client reach the emulator by AWS's host names
    /// through a proxy, one for another name tests that clients check it.
    pub fn tls_hosts<S: Into<String>>(mut self, hosts: impl IntoIterator<Item = S>) -> Self {
        self.tls = Some(TlsSetup::Generate {
            hosts: hosts.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Serve HTTPS with this PEM certificate chain (the server's certificate
    /// first) and PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn tls_pem(mut self, cert_chain: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsSetup::Pem {
            chain: cert_chain.into(),
            key: zeroize::Zeroizing::new(key.into()),
        });
        self
    }

    /// Whether the emulator serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The address [`start_with`](crate::start_with) binds (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The data dir could not be opened, or its journal is damaged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting is out of its range.
    #[error("{0}")]
    Config(String),
    /// The identity file or the audit log is unusable.
    #[error("{0}")]
    Iam(String),
    /// The TLS certificate could not be made, or the one given is unusable.
    #[error("{0}")]
    Tls(String),
    /// [`spawn_thread`](crate::spawn_thread) could not start its thread or its runtime.
    #[error("cannot start the emulator's thread: {0}")]
    Thread(std::io::Error),
}
