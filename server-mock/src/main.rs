//! `lockbox-mock`: the emulator as a process. Prints its URL on the first line of
//! stdout (and with `--tls`, `AWS_CA_BUNDLE=PATH` of its CA on the second), logs
//! to stderr, and stops cleanly on SIGINT/SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lockbox_mock::{Config, Quotas};

/// The longest `--replication-lag-ms` and `--replication-jitter-ms`.
const MAX_REPLICATION_LAG_MS: u64 = lockbox_mock::MAX_REPLICATION_LAG.as_millis() as u64;

/// A local emulator of AWS KMS and DynamoDB for lockbox, credstash and any AWS SDK.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:4600", env = "LOCKBOX_MOCK_LISTEN")]
    listen: SocketAddr,
    /// Keep state durably in this directory (in memory when absent).
    #[arg(long, env = "LOCKBOX_MOCK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Every AWS call takes at least this many milliseconds from its arrival.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The AWS account id used in ARNs.
    #[arg(long, default_value = "000000000000")]
    account_id: String,
    /// Strict mode: authenticate (SigV4) and authorize (IAM policies) every request
    /// against the identities in this JSON file. Without it the emulator is open.
    #[arg(long, env = "LOCKBOX_MOCK_IAM")]
    iam: Option<PathBuf>,
    /// Append one JSON line per authorization decision to this file (strict mode).
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Lifetime of temporary credentials in seconds, 1 to 129600 (36 hours, AWS's
    /// longest session; default: the identity file's, or 900).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=129_600))]
    credential_ttl: Option<u64>,
    /// Serve HTTPS with a certificate for 127.0.0.1, localhost and ::1 signed by a
    /// certificate authority made at start-up; the second line of stdout is
    /// `AWS_CA_BUNDLE=PATH`, the file holding the CA's certificate.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls: bool,
    /// Serve HTTPS with this PEM certificate chain (server certificate first).
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// With --tls: write the CA's certificate here (default: a new private
    /// directory under the temporary directory, removed when the emulator stops).
    #[arg(long, requires = "tls", value_name = "PATH")]
    tls_ca_out: Option<PathBuf>,
    /// Enforce the ProvisionedThroughput of PROVISIONED tables (read and write
    /// capacity units with burst credit): ProvisionedThroughputExceededException.
    #[arg(long)]
    enforce_capacity: bool,
    /// Burst credit of provisioned tables, in seconds of their capacity.
    #[arg(long, default_value_t = lockbox_mock::DEFAULT_BURST_SECONDS, value_name = "SECONDS")]
    burst_seconds: u64,
    /// Maximum read request units per second of an on-demand table that sets no
    /// OnDemandThroughput itself (default: unlimited): ThrottlingException.
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(1..))]
    on_demand_max_read: Option<u64>,
    /// Maximum write request units per second of such a table (default: unlimited).
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(1..))]
    on_demand_max_write: Option<u64>,
    /// KMS cryptographic requests per second per region, shared by Decrypt,
    /// Encrypt, GenerateDataKey... (default: unlimited): ThrottlingException.
    #[arg(long, value_name = "RPS", value_parser = clap::value_parser!(u64).range(1..))]
    kms_rps: Option<u64>,
    /// Time from a write to a global table to its copy in each other replica, in
    /// milliseconds (at most a day; POST /_mock/replication changes it later).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = lockbox_mock::DEFAULT_REPLICATION_LAG.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(..=MAX_REPLICATION_LAG_MS)
    )]
    replication_lag_ms: u64,
    /// A random extra of up to this many milliseconds on each copy's lag, so
    /// copies arrive in no particular order (at most a day).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u64).range(..=MAX_REPLICATION_LAG_MS)
    )]
    replication_jitter_ms: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// A network with a round-trip time, for benchmarks: a TCP proxy in front of
    /// UPSTREAM that delays every packet by half of RTT each way (and a new
    /// connection's first bytes by one more RTT, its TCP handshake). Prints its
    /// address on the first line of stdout.
    DelayProxy {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Where to relay to (the emulator's address).
        #[arg(long)]
        upstream: SocketAddr,
        /// Round-trip time in milliseconds (may be fractional).
        #[arg(long)]
        rtt_ms: f64,
    },
    /// Write a web identity token (JWT) for ROLE from the emulator's issuer, for
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` / `AssumeRoleWithWebIdentity`.
    IssueToken {
        /// The role the token may assume (it must trust web identities).
        #[arg(long)]
        role: String,
        /// Where to write the token.
        #[arg(long)]
        out: PathBuf,
        /// The identity file of the emulator that will accept the token.
        #[arg(long, env = "LOCKBOX_MOCK_IAM")]
        iam: PathBuf,
        /// The token's subject (`sub`).
        #[arg(long, default_value = "system:serviceaccount:default:lockbox")]
        subject: String,
        /// How long the token is valid, in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lockbox-mock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let shutdown = ShutdownSignal::listen();
    if let Some(Command::IssueToken {
        role,
        out,
        iam,
        subject,
        ttl,
    }) = &args.command
    {
        let token = lockbox_mock::issue_token(iam, role, subject, Duration::from_secs(*ttl))?;
        // A bearer credential: readable by its owner only.
        lockbox_mock::private_fs::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(out)
            .and_then(|mut f| std::io::Write::write_all(&mut f, token.as_bytes()))
            .with_context(|| format!("cannot write the token to {}", out.display()))?;
        return Ok(());
    }
    if let Some(Command::DelayProxy {
        listen,
        upstream,
        rtt_ms,
    }) = &args.command
    {
        if !(rtt_ms.is_finite() && *rtt_ms >= 0.0 && *rtt_ms <= 60_000.0) {
            anyhow::bail!("--rtt-ms must be between 0 and 60000, got {rtt_ms}");
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", listener.local_addr()?)?;
        stdout.flush()?;
        let rtt = Duration::from_secs_f64(rtt_ms / 1000.0);
        tokio::select! {
            () = lockbox_mock::netmodel::serve_delayed(listener, *upstream, rtt) => {}
            () = shutdown.recv() => {}
        }
        return Ok(());
    }
    let quotas = Quotas::default()
        .provisioned(args.enforce_capacity)
        .burst_seconds(args.burst_seconds)
        .on_demand(args.on_demand_max_read, args.on_demand_max_write)
        .kms_rps(args.kms_rps);
    let mut config = Config::builder()
        .latency(Duration::from_millis(args.latency_ms))
        .account_id(args.account_id)
        .quotas(quotas)
        .replication_lag(Duration::from_millis(args.replication_lag_ms))
        .replication_jitter(Duration::from_millis(args.replication_jitter_ms));
    if let Some(dir) = &args.data_dir {
        config = config.data_dir(dir);
    }
    if let Some(iam) = &args.iam {
        config = config.iam(iam);
    }
    if let Some(log) = &args.audit_log {
        config = config.audit_log(log);
    }
    if let Some(ttl) = args.credential_ttl {
        config = config.credential_ttl(Duration::from_secs(ttl));
    }
    if args.tls {
        config = config.tls();
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let chain = std::fs::read(cert)
            .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
        let key_pem = zeroize::Zeroizing::new(
            std::fs::read(key)
                .with_context(|| format!("cannot read the TLS key {}", key.display()))?,
        );
        config = config.tls_pem(chain, key_pem.to_vec());
    }
    let mock = lockbox_mock::start_with(config.listen(args.listen))
        .await
        .context("cannot start the emulator")?;
    // Written before the URL is printed: whoever reads the URL may connect at once.
    let ca_file = match mock.ca_pem() {
        Some(pem) => Some(
            CaFile::write(pem, args.tls_ca_out.as_deref())
                .context("cannot write the CA certificate")?,
        ),
        None => None,
    };
    // The first line of stdout is the contract with scripts and tests; with a
    // generated CA, the second names its file.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", mock.endpoint_url())?;
    if let Some(ca) = &ca_file {
        writeln!(stdout, "AWS_CA_BUNDLE={}", ca.path.display())?;
    }
    stdout.flush()?;
    tracing::info!(
        url = %mock.endpoint_url(),
        data_dir = ?args.data_dir,
        "lockbox-mock listening"
    );
    if let Some(iam) = &args.iam {
        tracing::info!(
            iam = %iam.display(),
            "strict mode: every request is SigV4-verified and authorized against IAM policies"
        );
    }
    shutdown.recv().await;
    mock.shutdown().await;
    drop(ca_file);
    tracing::info!("lockbox-mock stopped");
    Ok(())
}

/// The CA certificate's file; one the emulator chose is removed with its
/// directory when the emulator stops.
struct CaFile {
    path: PathBuf,
    remove_dir: Option<PathBuf>,
}

impl CaFile {
    fn write(pem: &str, chosen: Option<&std::path::Path>) -> std::io::Result<Self> {
        if let Some(path) = chosen {
            std::fs::write(path, pem)?;
            return Ok(Self {
                path: path.to_owned(),
                remove_dir: None,
            });
        }
        // A directory of our own (created, never reused): no one else's file or
        // link can stand where the CA is written.
        let dir = std::env::temp_dir().join(format!(
            "lockbox-mock-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        let path = dir.join("ca.pem");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(pem.as_bytes()))?;
        Ok(Self {
            path,
            remove_dir: Some(dir),
        })
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        if let Some(dir) = &self.remove_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// SIGINT and SIGTERM, listened for from creation on: made before the first
/// line of stdout is printed, so a signal sent as soon as it is read is not lost.
struct ShutdownSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignal {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = signal(SignalKind::interrupt())
                .and_then(|i| Ok((i, signal(SignalKind::terminate())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn recv(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut term)) = self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
