//! `lockbox-mock`: the emulator as a process. Prints its URL on the first line of
//! stdout, logs to stderr, and stops cleanly on SIGINT/SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lockbox_mock::{Config, MockState, Quotas};
use tokio::net::TcpListener;

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
    /// Lifetime of temporary credentials in seconds (default: the identity file's, or 900).
    #[arg(long)]
    credential_ttl: Option<u64>,
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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
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
    let quotas = Quotas::default()
        .provisioned(args.enforce_capacity)
        .burst_seconds(args.burst_seconds)
        .on_demand(args.on_demand_max_read, args.on_demand_max_write)
        .kms_rps(args.kms_rps);
    let mut config = Config::builder()
        .latency(Duration::from_millis(args.latency_ms))
        .account_id(args.account_id)
        .quotas(quotas);
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
    let state = MockState::new(config).context("cannot load the emulator's state")?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // The first line of stdout is the contract with scripts and tests.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "http://{addr}")?;
    stdout.flush()?;
    tracing::info!(
        %addr,
        data_dir = ?args.data_dir,
        "lockbox-mock listening"
    );
    match &args.iam {
        Some(iam) => tracing::info!(
            iam = %iam.display(),
            "strict mode: every request is SigV4-verified and authorized against IAM policies"
        ),
        None => tracing::warn!("open mode: requests are not authenticated or authorized"),
    }
    lockbox_mock::serve(listener, state, shutdown_signal()).await;
    tracing::info!("lockbox-mock stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
