//! `lockbox`: the operator's command-line tool. Thin: arguments -> SDK calls -> output.

#![forbid(unsafe_code)]

mod args;
mod cmd;
mod envnames;
mod exec;
mod exit;
mod local;
mod output;
mod yaml;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser;
use lockbox::{AwsOptions, Lockbox};

use crate::args::{Cli, Command, GlobalArgs, OutputMode};

/// Default table and key, as credstash.
const DEFAULT_TABLE: &str = "credential-store";
const DEFAULT_KEY: &str = "alias/credstash";

fn main() -> ExitCode {
    // A child `exec` supervises, on its way to becoming the command.
    if let Some(code) = exec::trampoline::run_if_asked() {
        return code;
    }
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_tracing(match &cli.command {
        Command::Exec(a) => a.verbose,
        _ => 0,
    });
    // Commands that need no AWS at all.
    match &cli.command {
        Command::Completions(a) => return finish(cmd::completions::run(a)),
        Command::Man => return finish(cmd::man::run()),
        Command::Policy(a) => {
            return finish(cmd::policy::run(
                a,
                &table_name(&cli.global),
                &key_id(&cli.global),
                cli.global.region.as_deref(),
            ))
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return finish(Err(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(None) => ExitCode::from(exit::OK),
        Ok(Some(cmd::exec::Done::Exit(code))) => ExitCode::from(code),
        Ok(Some(cmd::exec::Done::Exec(exec))) => {
            let (mut command, launch) = *exec;
            // Nothing of ours may outlive the exec: the runtime's threads go first.
            drop(runtime);
            use std::os::unix::process::CommandExt as _;
            let e = command.exec();
            finish(Err(launch.start_error(&e)))
        }
        Err(e) => finish(Err(e)),
    }
}

/// A panic is a bug, and its message may carry data: `Result::expect` and
/// `unwrap` format the error's `Debug`, and a library's `panic!("{x}")` anything
/// it holds, possibly a value or key bytes. So the default hook, which prints the
/// payload, is replaced by one that prints a plain line with the location, the
/// payload only when it is a `&'static str` (a literal written in the source, so it
/// cannot hold run-time data), and the backtrace when `RUST_BACKTRACE` asks for
/// it (frames name functions and source lines, never data). The process still
/// unwinds, so zeroizing buffers are wiped on the way out, and exits with Rust's
/// panic status, 101.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("(message withheld: it may contain secret data)");
        // Not eprintln!: a closed stderr must not turn the panic into an abort.
        use std::io::Write as _;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "lockbox: internal error (a bug){location}: {message}");
        let _ = writeln!(
            err,
            "  please report it; no value was printed and no core dump is written"
        );
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            let _ = writeln!(err, "{backtrace}");
        }
    }));
}

/// Test hook, compiled into debug builds only: with `LOCKBOX_TEST_PANIC=POINT`,
/// the command panics at the named point while `value` (a secret) is in memory,
/// and the panic's message carries the value, as a careless library's might. The
/// leak suite (`cli/tests/leaks.rs`) uses it to show that a panic prints neither.
/// Points: `after-fetch` (`get`, the value fetched, not yet printed) and
/// `after-read` (`put`, the value read, not yet stored). Release builds ignore
/// the variable entirely.
#[cfg(debug_assertions)]
pub(crate) fn test_panic_point(point: &str, value: &[u8]) {
    if std::env::var_os("LOCKBOX_TEST_PANIC").is_some_and(|p| p == point) {
        panic!(
            "LOCKBOX_TEST_PANIC={point}: forced panic; the value is {:?}",
            String::from_utf8_lossy(value)
        );
    }
}

/// Release builds: no test hook.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn test_panic_point(_point: &str, _value: &[u8]) {}

fn finish(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => ExitCode::from(exit::report(&e)),
    }
}

/// Logs go to stderr; `LOCKBOX_LOG` takes a tracing filter (default: warnings,
/// and the embedded emulator's open-mode notice left out). `exec -v` adds what it
/// resolves (names and versions), `-vv` more.
fn init_tracing(verbose: u8) {
    let exec = match verbose {
        0 => "",
        1 => ",lockbox_exec=info",
        _ => ",lockbox_exec=debug",
    };
    let filter = std::env::var("LOCKBOX_LOG")
        .unwrap_or_else(|_| format!("warn,lockbox_mock=error,aws_smithy_runtime=error{exec}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // No colour codes in a container's log collector or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Everything a command needs.
#[derive(Debug)]
pub struct Ctx {
    /// The store.
    pub lockbox: Lockbox,
    /// Text or JSON.
    pub output: OutputMode,
    /// The table (for messages).
    pub table: String,
    /// How the store was reached (commands that use other tables or keys start
    /// from these).
    pub aws: AwsOptions,
    /// The reading options the global flags set.
    pub reading: Reading,
    /// Calls in flight at most.
    pub concurrency: usize,
}

/// The global flags that decide what a reader accepts.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub table_mode: Option<lockbox::TableMode>,
    pub require_sealed: bool,
    pub accept_credstash_items: bool,
    pub accept_sealed_v1: bool,
}

/// A non-empty environment variable.
fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `-t`, else `LOCKBOX_TABLE`, else `CREDSTASH_DEFAULT_TABLE`, else credstash's default.
fn table_name(g: &GlobalArgs) -> String {
    g.table
        .clone()
        .or_else(|| env_nonempty("LOCKBOX_TABLE"))
        .or_else(|| env_nonempty("CREDSTASH_DEFAULT_TABLE"))
        .unwrap_or_else(|| DEFAULT_TABLE.into())
}

/// `-k`, else `LOCKBOX_KMS_KEY`, else credstash's default.
fn key_id(g: &GlobalArgs) -> String {
    g.key
        .clone()
        .or_else(|| env_nonempty("LOCKBOX_KMS_KEY"))
        .unwrap_or_else(|| DEFAULT_KEY.into())
}

/// `--concurrency`, else `LOCKBOX_CONCURRENCY`, else the SDK's default.
fn concurrency(g: &GlobalArgs) -> Result<usize> {
    if let Some(n) = g.concurrency {
        return Ok(n.into());
    }
    match env_nonempty("LOCKBOX_CONCURRENCY") {
        None => Ok(lockbox::DEFAULT_CONCURRENCY),
        Some(text) => match text.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n.into()),
            _ => Err(exit::usage(format!(
                "LOCKBOX_CONCURRENCY is {text:?}: set it to a whole number from 1 to 65535, or unset it for the default ({})",
                lockbox::DEFAULT_CONCURRENCY
            ))),
        },
    }
}

/// `--local[=DIR]`, else `LOCKBOX_LOCAL` (a directory, or `1`/`true` for the
/// default; `0`/`false` for off).
fn local_dir(global: &GlobalArgs) -> Option<PathBuf> {
    if let Some(dir) = &global.local {
        return Some(dir.clone());
    }
    match env_nonempty("LOCKBOX_LOCAL")?.as_str() {
        "0" | "false" | "no" => None,
        "1" | "true" | "yes" => Some(PathBuf::from(".lockbox")),
        dir => Some(PathBuf::from(dir)),
    }
}

async fn run(cli: Cli) -> Result<Option<cmd::exec::Done>> {
    let g = &cli.global;
    // Every command that reaches here handles credentials or secrets: before any
    // is in memory, no core dump and no ptrace by other processes of the user.
    // Only exec's --allow-core-dumps keeps the core limit (for its child).
    exec::hygiene::harden(matches!(&cli.command, Command::Exec(a) if a.allow_core_dumps))?;
    let table = table_name(g);
    let key = key_id(g);
    let concurrency = concurrency(g)?;
    let mut options = AwsOptions {
        table: table.clone(),
        kms_key: key.clone(),
        region: g.region.clone(),
        kms_region: g.kms_region.clone(),
        profile: g.profile.clone(),
        assume_role: g.arn.clone().or_else(|| g.arn_short.clone()),
        endpoint_url: g.endpoint_url.clone(),
        trusted_keys: g.trust_keys.clone(),
        ..AwsOptions::default()
    };

    let local = match local_dir(g) {
        None => None,
        Some(dir) => {
            let local = local::Local::start(&dir).await?;
            let region = g.region.clone().unwrap_or_else(|| local::REGION.into());
            options.endpoint_url = Some(local.endpoint_url());
            options.region = Some(region.clone());
            options.kms_region = None;
            options.profile = None;
            options.assume_role = None;
            options.credentials = Some(local.credentials());
            options.account_id = Some(local::ACCOUNT.into());
            Some((local, region))
        }
    };

    // Run, then stop the emulator whatever happened, so its state dir is released.
    let result = async {
        if let Some((local, region)) = &local {
            local.ensure_key(&key, region).await?;
            // A key to move to is made on first use too, like -k's.
            if let Command::Rewrap(a) = &cli.command {
                local.ensure_key(&a.to_key, region).await?;
            }
        }
        // Every command but `exec --watch` fetches once and exits (or execs).
        let one_shot = !matches!(&cli.command, Command::Exec(a) if a.watch.is_some());
        let mut builder = Lockbox::from_env(&options)
            .await
            .context("cannot load the AWS configuration")?
            .concurrency(concurrency)
            .one_shot(one_shot)
            .require_sealed(g.require_sealed)
            .accept_credstash_items(g.accept_credstash_items)
            .accept_sealed_v1(g.accept_sealed_v1);
        if let Some(mode) = g.table_mode {
            builder = builder.table_mode(mode);
        }
        let lockbox = builder.build()?;
        if local.is_some() && !matches!(cli.command, Command::Setup(_)) {
            // First use of a local state dir: a sealed table, as `lockbox setup` makes.
            lockbox
                .setup(lockbox::backend::TableMode::Sealed, &[])
                .await
                .context("cannot create the table in the embedded emulator")?;
        }
        let ctx = Ctx {
            lockbox,
            output: g.output,
            table,
            aws: options.clone(),
            reading: Reading {
                table_mode: g.table_mode,
                require_sealed: g.require_sealed,
                accept_credstash_items: g.accept_credstash_items,
                accept_sealed_v1: g.accept_sealed_v1,
            },
            concurrency,
        };
        match &cli.command {
            Command::Exec(a) => cmd::exec::run(&ctx, a).await.map(Some),
            other => cmd::run(&ctx, other).await.map(|()| None),
        }
    }
    .await;
    if let Some((local, _)) = local {
        local.shutdown().await;
    }
    result
}
