//! The command line: global options and one subcommand, parsed with clap's derive API.
//!
//! Names are kebab-case; credstash's names are kept as aliases where they differ
//! (`getall`), so a credstash user can switch by changing the command name.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::values::{self, LogLevel};

mod exec;
mod kinds;
mod labels;
mod lifecycle;
mod read;
mod write;

pub use exec::*;
pub use kinds::*;
pub use labels::*;
pub use lifecycle::*;
pub use read::*;
pub use write::*;

/// Versioned secrets in DynamoDB, envelope-encrypted with AWS KMS (credstash-compatible).
#[derive(Debug, Parser)]
#[command(
    name = "lockbox",
    version,
    about,
    long_about = "Versioned secrets in DynamoDB, envelope-encrypted with AWS KMS.\n\n\
        Compatible with credstash 1.17 tables and command names. Try it with no AWS \
        account: `lockbox --local setup`, then `lockbox --local put NAME -`.",
    after_help = "Exit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 access denied or \
        no credentials, 5 integrity or context mismatch, 6 throttled, unavailable or timed out, \
        7 done with problems left (doctor found problems, migrate, rewrap or sync is incomplete), \
        8 label conflict (a label moved or a rotation changed since it was read: nothing was changed)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// DynamoDB table [default: CREDSTASH_DEFAULT_TABLE, then credential-store]
    #[arg(
        short = 't',
        long,
        global = true,
        value_name = "TABLE",
        env = "LOCKBOX_TABLE"
    )]
    pub table: Option<String>,

    /// KMS key new secrets are written under, and the only one trusted when reading:
    /// key id, ARN, alias or alias ARN
    #[arg(
        short = 'k',
        long = "key",
        global = true,
        value_name = "KEY",
        env = "LOCKBOX_KMS_KEY",
        default_value = lockbox::DEFAULT_KMS_KEY,
        value_parser = values::or_default(lockbox::DEFAULT_KMS_KEY)
    )]
    pub key: String,

    /// AWS region (default: the AWS configuration's, then us-east-1)
    #[arg(short = 'r', long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// A different region for KMS (DynamoDB global tables) [default: the one
    /// `setup --save-kms-region` saved in ~/.credstash, else the region]
    #[arg(long, global = true, value_name = "REGION")]
    pub kms_region: Option<String>,

    /// Several regions, in read order, for a global table: each secret is read,
    /// and its data key unwrapped, in the first available region; writes go to the
    /// first (or --write-region). Takes precedence over --region [env:
    /// LOCKBOX_REGIONS, comma-separated]
    #[arg(
        long,
        global = true,
        value_name = "R1,R2",
        env = "LOCKBOX_REGIONS",
        value_delimiter = ',',
        hide_env = true
    )]
    pub regions: Vec<String>,

    /// The region writes go to, one of --regions [default: the first]; naming
    /// another is a manual write failover, logged
    #[arg(
        long,
        global = true,
        value_name = "REGION",
        env = "LOCKBOX_WRITE_REGION"
    )]
    pub write_region: Option<String>,

    /// Named AWS profile
    #[arg(
        short = 'p',
        long,
        global = true,
        value_name = "PROFILE",
        conflicts_with = "arn"
    )]
    pub profile: Option<String>,

    /// Assume this IAM role first
    #[arg(long, global = true, value_name = "ROLE_ARN")]
    pub arn: Option<String>,

    /// credstash's short form of --arn (before the command only: `get -n` is --noline)
    #[arg(short = 'n', value_name = "ROLE_ARN", hide = true, conflicts_with_all = ["arn", "profile"])]
    pub arn_short: Option<String>,

    /// Endpoint for both KMS and DynamoDB (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KMS and
    /// AWS_ENDPOINT_URL_DYNAMODB work too)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// How many secrets are fetched at once, each on its own connection (1-65535)
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "LOCKBOX_CONCURRENCY",
        default_value_t = lockbox::DEFAULT_CONCURRENCY,
        value_parser = values::concurrency
    )]
    pub concurrency: usize,

    /// The mode this table must record (`sealed` or `credstash`): a table that
    /// records another is refused; taken as the table's mode when its record
    /// cannot be read
    #[arg(long, global = true, value_name = "MODE", env = "LOCKBOX_TABLE_MODE", value_parser = values::table_mode)]
    pub table_mode: Option<lockbox::TableMode>,

    /// Refuse credstash-format items in every table, whatever its mode
    #[arg(long, global = true, env = "LOCKBOX_REQUIRE_SEALED", value_parser = clap::builder::FalseyValueParser::new())]
    pub require_sealed: bool,

    /// Serve credstash-format items from a sealed table too (a migration window)
    #[arg(
        long,
        global = true,
        env = "LOCKBOX_ACCEPT_CREDSTASH_ITEMS", value_parser = clap::builder::FalseyValueParser::new(),
        conflicts_with = "require_sealed"
    )]
    pub accept_credstash_items: bool,

    /// Serve items of the first sealed format, lockbox-sealed-1, which binds no
    /// store (a migration window)
    #[arg(long, global = true, env = "LOCKBOX_ACCEPT_SEALED_V1", value_parser = clap::builder::FalseyValueParser::new())]
    pub accept_sealed_v1: bool,

    /// Also trust this KMS key when reading, whatever key the table is pinned to
    /// (repeatable; name keys by ARN). During `rewrap`, readers trust both keys:
    /// --trust-key OLD --trust-key NEW [env: LOCKBOX_TRUST_KEYS, comma-separated]
    #[arg(
        long = "trust-key",
        global = true,
        value_name = "KEY",
        env = "LOCKBOX_TRUST_KEYS",
        value_delimiter = ','
    )]
    pub trust_keys: Vec<String>,

    /// How much to log: DEBUG, INFO, WARNING, ERROR or CRITICAL (credstash's names;
    /// NOTSET for everything) [default: LOCKBOX_LOG's filter, else WARNING]
    #[arg(long, global = true, value_name = "LEVEL", value_parser = values::log_level)]
    pub log_level: Option<LogLevel>,

    /// Append diagnostics to FILE (created 0600) instead of stderr; errors are still
    /// printed on stderr, and logged there too. No value is ever logged
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Output for people (text) or scripts (json)
    #[arg(
        short = 'o',
        long,
        global = true,
        value_enum,
        env = "LOCKBOX_OUTPUT",
        default_value_t = OutputMode::Text
    )]
    pub output: OutputMode,

    /// Run against an embedded emulator with its state in DIR (default ./.lockbox);
    /// no AWS account needed [env: LOCKBOX_LOCAL=DIR, or 1 for the default]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ".lockbox"
    )]
    pub local: Option<PathBuf>,
}

/// Whether the command line asks for `-o json`, looked for before it is parsed
/// (so that a usage error can be JSON too).
pub fn json_asked(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .collect();
    args.iter().enumerate().any(|(i, a)| {
        matches!(a.as_str(), "-ojson" | "--output=json")
            || (matches!(a.as_str(), "-o" | "--output")
                && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}

/// `text` quoted for a POSIX shell when it needs it (for commands in hints).
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

impl GlobalArgs {
    /// The flags of this run that choose the store (`-t`, `-r`, `--kms-region`,
    /// `-p`, `--endpoint-url`, `--local=DIR`), as a hint's command repeats them.
    pub fn store_flags(&self) -> String {
        let mut flags = Vec::new();
        match &self.local {
            // The default directory: plain `--local` finds it again.
            Some(dir) if dir.as_os_str() == ".lockbox" => flags.push("--local".to_owned()),
            Some(dir) => flags.push(format!(
                "--local={}",
                shell_word(&dir.display().to_string())
            )),
            None => {}
        }
        let mut pair = |flag: &str, value: &Option<String>| {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                flags.push(format!("{flag} {}", shell_word(v)));
            }
        };
        pair("-t", &self.table);
        pair("-r", &self.region);
        if self.local.is_none() {
            pair("--kms-region", &self.kms_region);
            pair("-p", &self.profile);
            pair("--endpoint-url", &self.endpoint_url);
        }
        flags.join(" ")
    }

    /// `-t` (or `LOCKBOX_TABLE`), else `CREDSTASH_DEFAULT_TABLE`, else credstash's
    /// default; an empty variable counts as unset.
    pub fn table(&self) -> String {
        self.table
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| {
                std::env::var("CREDSTASH_DEFAULT_TABLE")
                    .ok()
                    .filter(|t| !t.is_empty())
            })
            .unwrap_or_else(|| lockbox::DEFAULT_TABLE.into())
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the table (sealed format; --compat credstash for tables shared with credstash)
    Setup(SetupArgs),
    /// Store a new version of a secret and print its version
    Put(PutArgs),
    /// Store every secret of a flat JSON object {"NAME": "VALUE", ...} (credstash's
    /// putall), each as `put` stores it
    #[command(visible_alias = "putall")]
    PutAll(PutAllArgs),
    /// Print a secret (or, with `*` in NAME, a map of the matching secrets)
    Get(GetArgs),
    /// Print the latest version of every secret, all or nothing
    #[command(visible_alias = "getall")]
    GetAll(GetAllArgs),
    /// List every stored version: name, version, comment, format, creation time
    List(ListArgs),
    /// List secret names
    Keys(KeysArgs),
    /// Find secrets by name (text anywhere in it, or a `*` pattern), or by value
    /// (--by-value: the value is read from stdin, never the command line)
    Find(FindArgs),
    /// Every version of one secret
    History(HistoryArgs),
    /// Delete one version, or every version, of a secret
    Delete(DeleteArgs),
    /// Delete all but the newest N versions of a secret
    Prune(PruneArgs),
    /// Go back: store version N's value as a new latest version (--to N), or
    /// move `current` back to `previous` (history stays intact)
    Rollback(RollbackArgs),
    /// Show, set, move or remove the labels of a secret (`current`, `previous`,
    /// `pending` or your own)
    Label(LabelArgs),
    /// A staged rotation: `start` stores a new value as `pending`, `finish` makes
    /// it `current`, `abort` drops it
    Rotate(RotateArgs),
    /// Store every secret of a JSON, YAML or CSV file (skipping unchanged ones)
    Import(ImportArgs),
    /// Print the latest value of every secret as a map (what `import` reads back)
    Export(ExportArgs),
    /// Print `export VAR='value'` lines for every secret under PREFIX, named as
    /// `exec --prefix` names them (chamber's `env`)
    Env(EnvArgs),
    /// Run a command with secrets in its environment or in memory-backed files:
    /// all of them, or the command is not started
    Exec(ExecArgs),
    /// Print a least-privilege IAM policy for the readers or writers of a name pattern
    Policy(PolicyArgs),
    /// Inspect the table: its settings, what it records, its key, every item's
    /// format and variant (--verify: decrypt and check each); no value is printed
    Doctor(DoctorArgs),
    /// Copy every version from this table (credstash's format, lockbox-sealed-1)
    /// into a sealed-mode table, re-sealed, same versions and comments
    Migrate(MigrateArgs),
    /// Move every item's data key to a new KMS key (KMS ReEncrypt, values
    /// unchanged), then the table's key pin
    Rewrap(RewrapArgs),
    /// Copy items as stored into another table or region (a DR copy), never
    /// overwriting
    Sync(SyncArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a directory
    Man(ManArgs),
}

/// `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write lockbox.1 and one lockbox-COMMAND.1 per command into DIR instead
    /// of printing one page
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use lockbox::Digest;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn credstash_spellings_parse() {
        let cli = Cli::try_parse_from([
            "lockbox", "-n", "arn:role", "put", "-k", "alias/x", "-a", "-d", "sha512", "n", "-",
        ])
        .unwrap();
        assert_eq!(cli.global.arn_short.as_deref(), Some("arn:role"));
        assert_eq!(cli.global.key, "alias/x");
        assert!(
            matches!(cli.command, Command::Put(ref p) if p.write.digest == Some(Digest::Sha512))
        );
        let cli = Cli::try_parse_from(["lockbox", "getall", "-f", "csv"]).unwrap();
        assert!(matches!(cli.command, Command::GetAll(_)));
        let cli = Cli::try_parse_from(["lockbox", "get", "-n", "x"]).unwrap();
        assert!(matches!(cli.command, Command::Get(ref g) if g.noline));
    }

    #[test]
    fn local_takes_an_optional_dir_with_equals() {
        let cli = Cli::try_parse_from(["lockbox", "--local", "keys"]).unwrap();
        assert_eq!(cli.global.local, Some(PathBuf::from(".lockbox")));
        let cli = Cli::try_parse_from(["lockbox", "keys", "--local=/tmp/x"]).unwrap();
        assert_eq!(cli.global.local, Some(PathBuf::from("/tmp/x")));
    }
}
