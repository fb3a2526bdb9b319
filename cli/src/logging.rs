//! Diagnostics: how much is logged (`--log-level`, else `LOCKBOX_LOG`'s tracing
//! filter, else warnings; `exec -v` adds what it resolves) and where (stderr, or
//! appended to `--log-file`, as credstash's `--log-file` does). Nothing logged
//! holds a value, at any level.

use std::fs::OpenOptions;
use std::io::IsTerminal as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::Mutex;

use anyhow::Result;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::args::GlobalArgs;
use crate::values::LogLevel;

/// Where diagnostics go, once set up.
#[derive(Debug)]
pub struct Logging {
    to_file: bool,
}

/// lockbox's default: warnings, without the embedded emulator's open-mode notice,
/// the AWS runtime's retry chatter, and the AWS configuration loader's warnings
/// (each provider of the credential and region chains that failed, with its raw
/// HTTP answer): lockbox reports the outcome itself, once, as its own error.
const DEFAULT: &str = "warn,lockbox_mock=error,aws_smithy_runtime=error,aws_config=error";

/// The tracing filter for `level` (or, without it, `LOCKBOX_LOG`'s `env`), with
/// `exec`'s verbosity on top.
fn filter(level: Option<LogLevel>, env: Option<String>, exec_verbosity: u8) -> String {
    let exec = match exec_verbosity {
        0 => "",
        1 => ",lockbox_exec=info",
        _ => ",lockbox_exec=debug",
    };
    let base = match level {
        Some(LogLevel::Trace) => "trace".to_owned(),
        Some(LogLevel::Debug) => "debug".to_owned(),
        Some(LogLevel::Info) => "info".to_owned(),
        Some(LogLevel::Warning) => DEFAULT.to_owned(),
        Some(LogLevel::Error) => "error".to_owned(),
        None => match env {
            // LOCKBOX_LOG is a whole filter of its own: exec -v adds nothing to it.
            Some(filter) => return filter,
            None => DEFAULT.to_owned(),
        },
    };
    base + exec
}

/// Set up diagnostics for `global`'s `--log-level` and `--log-file`.
pub fn init(global: &GlobalArgs, exec_verbosity: u8) -> Result<Logging> {
    let filter = filter(
        global.log_level,
        std::env::var("LOCKBOX_LOG").ok(),
        exec_verbosity,
    );
    let (writer, ansi) = match &global.log_file {
        None => (
            BoxMakeWriter::new(std::io::stderr),
            // No colour codes in a container's log collector or a pipe.
            std::io::stderr().is_terminal(),
        ),
        Some(path) => {
            // Diagnostics name secrets and tables: the file is the user's alone.
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    let shown = path.display().to_string();
                    crate::exit::usage(format!(
                        "cannot open the log file {}: {e}; give --log-file a file lockbox may \
                         create or append to",
                        lockbox::escape_untrusted(&shown)
                    ))
                })?;
            (BoxMakeWriter::new(Mutex::new(file)), false)
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
    Ok(Logging {
        to_file: global.log_file.is_some(),
    })
}

impl Logging {
    /// A command failed: its error goes to the log file too (it is printed on
    /// stderr in any case), so the file tells what happened.
    pub fn failed(&self, err: &anyhow::Error) {
        if self.to_file {
            // As printed: each line escaped already.
            tracing::error!("{}", crate::exit::lines(err).join(": "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_the_environment() {
        assert_eq!(filter(None, None, 0), DEFAULT);
        assert_eq!(filter(Some(LogLevel::Warning), None, 0), DEFAULT);
        assert_eq!(filter(None, Some("trace".into()), 2), "trace");
        // The flag wins over LOCKBOX_LOG.
        assert_eq!(
            filter(Some(LogLevel::Debug), Some("trace".into()), 0),
            "debug"
        );
        assert_eq!(
            filter(Some(LogLevel::Error), None, 1),
            "error,lockbox_exec=info"
        );
        assert_eq!(
            filter(None, None, 2),
            format!("{DEFAULT},lockbox_exec=debug")
        );
    }
}
