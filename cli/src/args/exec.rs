//! The arguments of `exec`.

use std::path::PathBuf;

use clap::Args;

use crate::values::{self, ContextPair, OnChange};

/// `exec`.
#[derive(Debug, Args)]
#[command(override_usage = "lockbox exec [OPTIONS] -- COMMAND [ARGS]...")]
#[command(after_help = "Examples:\n  \
        lockbox exec --env DB_PASSWORD=prod/db/password -- /app/server\n  \
        lockbox exec --prefix prod/app/ --file /dev/shm/tls.key=prod/tls/key -- /app/server\n  \
        DB_PASSWORD=lockbox://prod/db/password@3 lockbox exec --env-ref DB_PASSWORD -- /app/server\n  \
        lockbox exec --env PGPASSWORD=prod/db#/password --env-json DB_=prod/db@previous -- /app/server\n  \
        lockbox exec --manifest /etc/lockbox.toml --watch 5m --on-change signal:SIGHUP -- /app/server\n\n\
        If any secret cannot be read the command is not started; every failure is named \
        on stderr and the exit code is that of the most severe class (5, then 4, 3, 2, 8, 6, 1). \
        Otherwise lockbox becomes the command (execve), or supervises it with --file or \
        --watch, and exits with its status (128+N when killed by signal N).")]
pub struct ExecArgs {
    /// Put secret NAME in variable VAR: its latest (`current`) version, version
    /// VERSION or the one LABEL names, or one field of its JSON value (#/POINTER)
    #[arg(long = "env", value_name = "VAR=NAME[@VERSION|@LABEL][#/POINTER]")]
    pub env: Vec<String>,
    /// Every member of the JSON object REF names in its own variable: PREFIX
    /// followed by the member's key upper-cased, other characters as `_`, nested
    /// keys joined with `_` (repeatable)
    #[arg(
        long = "env-json",
        value_name = "PREFIX=NAME[@VERSION|@LABEL][#/POINTER]"
    )]
    pub env_json: Vec<String>,
    /// Every secret whose name starts with PREFIX (latest version), in a variable named
    /// from the rest of its name: upper-cased, other characters as `_`
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefix: Vec<String>,
    /// Resolve VAR's inherited value if it is a reference
    /// (`lockbox://NAME[@VERSION|@LABEL][#/POINTER]`);
    /// no other variable's value is ever resolved (repeatable; not with --pristine)
    #[arg(long = "env-ref", value_name = "VAR", conflicts_with = "pristine")]
    pub env_ref: Vec<String>,
    /// Write secret NAME (or one field of it) to PATH (mode 0400, on a
    /// memory-backed filesystem), removed when the command exits
    #[arg(long = "file", value_name = "PATH=NAME[@VERSION|@LABEL][#/POINTER]")]
    pub file: Vec<String>,
    /// A TOML, YAML (.yaml/.yml) or JSON (.json) file with the same declarations
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Encryption context pair for every secret (repeatable)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// Give up if the secrets are not all read within this time (e.g. 30s, 2m,
    /// 500ms; a bare number is seconds)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::duration)]
    pub deadline: std::time::Duration,
    /// When two --prefix names make one variable, let the lexicographically last name win
    #[arg(long)]
    pub allow_collisions: bool,
    /// Allow --file paths on a disk-backed filesystem
    #[arg(long)]
    pub allow_disk: bool,
    /// Start the command with only the declared variables (plus PATH and HOME)
    #[arg(long)]
    pub pristine: bool,
    /// With --pristine: leave out PATH
    #[arg(long, requires = "pristine")]
    pub no_path: bool,
    /// With --pristine: leave out HOME
    #[arg(long, requires = "pristine")]
    pub no_home: bool,
    /// Leave the core-size limit alone (by default it is set to 0 for lockbox and the command)
    #[arg(long)]
    pub allow_core_dumps: bool,
    /// Stay as a supervisor and re-read the secrets every INTERVAL (±10% jitter;
    /// e.g. 5m, 30s; a bare number is seconds)
    #[arg(long, value_name = "INTERVAL", value_parser = values::duration)]
    pub watch: Option<std::time::Duration>,
    /// What to do when a watched secret changes: `restart` (new environment) or
    /// `signal:SIGNAME` (files rewritten first) [default: restart]
    #[arg(long, value_name = "ACTION", requires = "watch", value_parser = values::on_change)]
    pub on_change: Option<OnChange>,
    /// Log what is resolved (names and versions, never values); -vv for more
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command and its arguments (after `--`)
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}
