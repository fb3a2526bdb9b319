//! `lockbox-mock`: the emulator as a process. Prints its URL on the first line of
//! stdout, logs to stderr, and stops cleanly on SIGINT/SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lockbox_mock::{Config, MockState};
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
    /// Add this many milliseconds of latency to every AWS call.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The AWS account id used in ARNs.
    #[arg(long, default_value = "000000000000")]
    account_id: String,
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
    let mut config = Config::builder()
        .latency(Duration::from_millis(args.latency_ms))
        .account_id(args.account_id);
    if let Some(dir) = &args.data_dir {
        config = config.data_dir(dir);
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
    tracing::warn!("open mode: requests are not authenticated or authorized");
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
