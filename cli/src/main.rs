//! `lockbox`: the operator's command-line tool. Thin: arguments -> SDK calls -> output.

#![forbid(unsafe_code)]

mod advice;
mod args;
mod aws_profile;
mod cmd;
mod credstash_file;
mod envnames;
mod exec;
mod exit;
mod hygiene;
mod local;
mod logging;
mod names;
mod output;
mod values;
mod yaml;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::cmd::Done;

fn main() -> ExitCode {
    // A child `exec` supervises, on its way to becoming the command.
    if let Some(code) = exec::trampoline::run_if_asked() {
        return code;
    }
    install_panic_hook();
    // Asked for before the command line is parsed, so that a usage error is
    // JSON too.
    exit::set_json_errors(args::json_asked(std::env::args_os()));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(bad) = exit::bad_value(&e) {
                return ExitCode::from(exit::report(&bad));
            }
            if e.use_stderr() && exit::json_errors() {
                return ExitCode::from(exit::report(&exit::usage(
                    e.render()
                        .to_string()
                        .trim_start_matches("error: ")
                        .trim_end()
                        .to_owned(),
                )));
            }
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    exit::set_json_errors(cli.global.output == args::OutputMode::Json);
    exit::set_invocation(cli.global.store_flags());
    let verbosity = match &cli.command {
        Command::Exec(a) => a.verbose,
        _ => 0,
    };
    let logging = match logging::init(&cli.global, verbosity) {
        Ok(logging) => logging,
        Err(e) => return ExitCode::from(exit::report(&e)),
    };
    let failed = |e: anyhow::Error| {
        logging.failed(&e);
        ExitCode::from(exit::report(&e))
    };
    match cmd::run(&cli) {
        Ok(Done::Exit(code)) => ExitCode::from(code),
        Ok(Done::Exec(exec)) => {
            // The runtime and everything of ours are gone: only the command's
            // environment and arguments remain.
            let (mut command, launch) = *exec;
            use std::os::unix::process::CommandExt as _;
            let e = command.exec();
            failed(launch.start_error(&e))
        }
        Err(e) => failed(e),
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
/// leak suite (`cli/tests/it/leaks.rs`) uses it to show that a panic prints neither.
/// Points: `after-fetch` (`get`, the value fetched, not yet printed) and
/// `after-read` (`put`, the value read, not yet stored). Release builds ignore
/// the variable entirely. It lives here, called from `cmd/`, because the suite
/// pins where the panic is reported (`at cli/src/main.rs:`).
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
