//! The arguments of the commands that read: `list`, `keys`, `find`, `env`, `get`,
//! `getall`, `history` and `export`.

use std::path::PathBuf;

use clap::Args;
use lockbox::{SecretName, Version};

use super::kinds::*;
use crate::values::{self, ContextPair, NameOrPattern};

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only these names: a `*` pattern (`staging/*`), or a prefix matched at a
    /// `/` or `.` boundary (`staging` lists `staging/db`, not `staging2/db`)
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// A table for people: NAME, VERSION (a plain number), CREATED, FORMAT,
    /// COMMENT (the default lines are credstash's, for scripts)
    #[arg(short = 'l', long)]
    pub long: bool,
}

/// `keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Only these names (as for `list`)
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,
}

/// `find`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
        lockbox find db             names holding `db` (any letter case)\n  \
        lockbox find 'prod/*/token'  names matching the pattern\n  \
        printf '%s' \"$LEAKED\" | lockbox find --by-value    which secrets hold this value\n\n\
        --by-value decrypts the latest version of every secret (kms:Decrypt on each) and \
        compares in constant time; only names are printed, never a value.")]
pub struct FindArgs {
    /// Text the name contains (any letter case), or a `*` pattern
    #[arg(value_name = "TEXT", required_unless_present = "by_value")]
    pub text: Option<String>,
    /// Find the secrets whose latest value equals the value on stdin (a prompt
    /// without echo on a terminal)
    #[arg(long, conflicts_with = "text")]
    pub by_value: bool,
    /// With --by-value: encryption context KEY=VALUE for every secret (repeatable)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
}

/// `env`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  eval \"$(lockbox env prod/app)\"   # $DB_PASSWORD from prod/app/db.password\n\n\
        Names are made as `exec --prefix` makes them: the part after PREFIX (matched at a `/` \
        or `.` boundary), upper-cased, other characters as `_`. A prefix that matches no \
        secret is an error (exit 3), as in exec."
)]
pub struct EnvArgs {
    /// Every secret under PREFIX (repeatable; a later prefix wins for one variable)
    #[arg(value_name = "PREFIX", required = true, num_args = 1..)]
    pub prefix: Vec<String>,
    /// Encryption context KEY=VALUE for every secret (repeatable)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// Print NAME='value' lines without `export `
    #[arg(long)]
    pub no_export: bool,
}

/// `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Secret name; `*` matches any text (everything else literally);
    /// `lockbox://NAME[@VERSION|@LABEL][#/json/pointer]` is a reference
    #[arg(value_name = "NAME", value_parser = values::name_or_pattern)]
    pub name: NameOrPattern,
    /// Encryption context KEY=VALUE pairs
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// This version instead of the latest
    #[arg(short = 'v', long, value_name = "N", value_parser = values::version)]
    pub version: Option<Version>,
    /// The version this label names (`current`, `previous`, `pending` or your own)
    /// instead of the latest
    #[arg(long, value_name = "LABEL", value_parser = values::label, conflicts_with = "version")]
    pub label: Option<lockbox::Label>,
    /// Only this field of a JSON value: an RFC 6901 pointer (`/password`,
    /// `/users/0/name`); a string is printed as its text, anything else as JSON
    #[arg(long, value_name = "POINTER", value_parser = values::json_pointer)]
    pub field: Option<lockbox::JsonPointer>,
    /// No newline after the value
    #[arg(short = 'n', long)]
    pub noline: bool,
    /// Format of the map printed for a wildcard [default: json]
    #[arg(short = 'f', long, value_enum)]
    pub format: Option<MapFormat>,
    #[command(flatten)]
    pub out: OutFile,
    /// With `*`: print an empty map when no name matches (an error otherwise, exit 3)
    #[arg(long)]
    pub allow_no_match: bool,
}

/// Where a value or a map goes instead of stdout.
#[derive(Debug, Args)]
pub struct OutFile {
    /// Write to FILE (created with mode 0600; no newline is added to a value)
    /// instead of stdout
    #[arg(long = "out", value_name = "FILE")]
    pub path: Option<PathBuf>,
    /// With --out: replace FILE if it exists
    #[arg(long, requires = "path")]
    pub force: bool,
}

/// `get-all`.
#[derive(Debug, Args)]
pub struct GetAllArgs {
    /// Encryption context KEY=VALUE pairs (one context for every secret)
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// This version of every secret instead of the latest
    #[arg(short = 'v', long, value_name = "N", value_parser = values::version)]
    pub version: Option<Version>,
    /// Output format [default: json]
    #[arg(short = 'f', long, value_enum)]
    pub format: Option<MapFormat>,
    #[command(flatten)]
    pub out: OutFile,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Encryption context KEY=VALUE pairs (one context for every secret)
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// Output format [default: json]
    #[arg(short = 'f', long, value_enum)]
    pub format: Option<MapFormat>,
    #[command(flatten)]
    pub out: OutFile,
}
