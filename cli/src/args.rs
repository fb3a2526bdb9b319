//! The command line: global options and one subcommand, parsed with clap's derive API.
//!
//! Names are kebab-case; credstash's names are kept as aliases where they differ
//! (`getall`), so a credstash user can switch by changing the command name.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lockbox::Digest;
use lockbox::{SecretName, Version};

use crate::values::{self, ContextPair, LogLevel, NameOrPattern, OnChange};

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
        7 done with problems left (doctor found problems, migrate, rewrap or sync is incomplete)."
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
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputMode::Text)]
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

impl GlobalArgs {
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

/// `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// For people.
    Text,
    /// For scripts: one JSON document on stdout.
    Json,
}

/// A format for a map of secrets (`get 'pat*'`, `getall`, `export`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MapFormat {
    /// credstash's JSON: sorted keys, 4-space indent, non-ASCII escaped
    Json,
    /// YAML mapping
    Yaml,
    /// name,value rows
    Csv,
    /// NAME='value' lines, correctly quoted; names upper-cased, other characters as `_`
    Dotenv,
    /// export NAME='value' lines, to source from a POSIX shell
    Env,
}

/// Formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// A flat JSON object (what `export -f json` and `getall -f json` write)
    Json,
    /// A flat YAML mapping
    Yaml,
    /// name,value rows
    Csv,
}

/// `setup --compat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compat {
    /// Items in credstash 1.17's format, so credstash clients can share the table
    Credstash,
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
    #[command(alias = "putall")]
    PutAll(PutAllArgs),
    /// Print a secret (or, with `*` in NAME, a map of the matching secrets)
    Get(GetArgs),
    /// Print the latest version of every secret, all or nothing
    #[command(alias = "getall")]
    GetAll(GetAllArgs),
    /// List every stored version: name, version, comment, format, creation time
    List,
    /// List secret names
    Keys,
    /// Every version of one secret
    History(HistoryArgs),
    /// Delete one version, or every version, of a secret
    Delete(DeleteArgs),
    /// Delete all but the newest N versions of a secret
    Prune(PruneArgs),
    /// Store version N's value as a new latest version (history stays intact)
    Rollback(RollbackArgs),
    /// Store every secret of a JSON, YAML or CSV file (skipping unchanged ones)
    Import(ImportArgs),
    /// Print the latest value of every secret as a map
    Export(ExportArgs),
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
    /// Print the man page (roff)
    Man,
}

/// `policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Who the policy is for
    #[arg(value_enum)]
    pub role: PolicyRole,
    /// Names the identity may use: `*` and `?` are wildcards (for example `app1/*`)
    pub pattern: String,
    /// The AWS account id of the table and key [default: the emulator's placeholder,
    /// 000000000000, with a warning]
    #[arg(long)]
    pub account: Option<String>,
    /// The KMS key's ARN (needed when -k is an alias: IAM checks KMS permissions
    /// against key ARNs; without it the policy allows any key in the account)
    #[arg(long, value_name = "ARN")]
    pub key_arn: Option<String>,
    /// The table's store identity (`lockbox setup` prints it) [default: ACCOUNT/TABLE]
    #[arg(long, value_name = "ID")]
    pub store: Option<String>,
    /// An encryption-context key the secrets are stored with (repeatable): the KMS
    /// conditions refuse any context key but lockbox's and these
    #[arg(long = "context-key", value_name = "KEY")]
    pub context_keys: Vec<String>,
    /// Readers may also list the table (dynamodb:Scan: `list`, `keys`, wildcard
    /// `get`, `getall`, `exec --prefix`); a scan shows every item's name and
    /// ciphertext, not only the pattern's
    #[arg(long)]
    pub allow_list: bool,
}

/// The two policies `policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyRole {
    /// Read (GetItem/Query/BatchGetItem + kms:Decrypt)
    Reader,
    /// Write new versions (PutItem + kms:GenerateDataKey), no decrypt
    Writer,
}

/// `setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Write items credstash 1.17 can read (for tables shared with credstash clients)
    #[arg(long, value_enum)]
    pub compat: Option<Compat>,
    /// Tags for the table
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = values::tag)]
    pub tags: Vec<(String, String)>,
    /// The store identity every sealed item of the table binds [default: ACCOUNT/TABLE,
    /// the account being the KMS key's]. Give a DR copy or a restored table the
    /// identity of the table it copies, and unrelated tables different ones.
    #[arg(long, value_name = "ID")]
    pub store: Option<String>,
    /// Save REGION in ~/.credstash as the KMS region (credstash's settings file),
    /// used whenever --kms-region is not given
    #[arg(long, value_name = "REGION")]
    pub save_kms_region: Option<String>,
    /// With --regions: the consistency of the replicas setup adds (strong needs
    /// exactly three regions of one region set and an empty table)
    #[arg(long, value_enum, value_name = "MODE")]
    pub consistency: Option<Consistency>,
}

/// A global table's consistency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Consistency {
    /// Replicated asynchronously (about a second); the default.
    Eventual,
    /// Every write checked against every region before it is acknowledged.
    Strong,
}

/// `put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// `-` reads stdin, `@FILE` reads FILE (bytes as they are); anything else is the
    /// value itself, visible in shell history and the process list
    pub value: Option<String>,
    /// Encryption context KEY=VALUE pairs
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// Ask for the value on the terminal, twice, without echo
    #[arg(short = 'P', long)]
    pub prompt: bool,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// How `put` and `put-all` write each secret.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Write exactly this version; one that exists is refused, never overwritten
    /// [default: the next one]
    #[arg(short = 'v', long, value_name = "N", value_parser = values::version)]
    pub version: Option<Version>,
    /// Accepted for credstash compatibility: the next version is the default
    #[arg(short = 'a', long)]
    pub autoversion: bool,
    /// Comment stored beside the secret (not encrypted)
    #[arg(short = 'c', long)]
    pub comment: Option<String>,
    /// Write credstash's format with this HMAC digest
    #[arg(short = 'd', long, ignore_case = true, value_parser = values::digest())]
    pub digest: Option<Digest>,
}

impl WriteArgs {
    /// The put options these flags ask for, with `context`.
    pub fn put_options(&self, context: lockbox::EncryptionContext) -> lockbox::PutOptions {
        lockbox::PutOptions {
            // credstash's -a ignores -v: the next version.
            version: if self.autoversion { None } else { self.version },
            context,
            comment: self.comment.clone(),
            format: self.digest.map(lockbox::FormatPolicy::Credstash),
        }
    }
}

/// `put-all`.
#[derive(Debug, Args)]
#[command(
    after_help = "Every secret is checked before any is stored. A secret that cannot be \
        stored (a version that exists with -v, a denied call) is named on stderr, the others \
        are still stored, and the exit status is that of the first failure's class."
)]
pub struct PutAllArgs {
    /// The secrets as JSON ({"NAME": "VALUE", ...}, what `getall -f json` prints):
    /// `-` reads stdin, `@FILE` reads FILE; anything else is the JSON itself, visible
    /// in shell history and the process list
    #[arg(value_name = "CREDENTIALS")]
    pub credentials: String,
    /// Encryption context KEY=VALUE pairs for every secret
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Secret name; `*` matches any text (everything else literally)
    #[arg(value_name = "NAME", value_parser = values::name_or_pattern)]
    pub name: NameOrPattern,
    /// Encryption context KEY=VALUE pairs
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// This version instead of the latest
    #[arg(short = 'v', long, value_name = "N", value_parser = values::version)]
    pub version: Option<Version>,
    /// No newline after the value
    #[arg(short = 'n', long)]
    pub noline: bool,
    /// Format of the map printed for a wildcard [default: json]
    #[arg(short = 'f', long, value_enum)]
    pub format: Option<MapFormat>,
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
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// Delete only this version [default: every version]
    #[arg(short = 'v', long, value_name = "N", value_parser = values::version)]
    pub version: Option<Version>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// How many of the newest versions to keep
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: u64,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// The version whose value becomes the new latest
    #[arg(long, value_name = "N", value_parser = values::version)]
    pub to: Version,
    /// Encryption context KEY=VALUE pairs
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// File to read (`-` for stdin)
    pub file: PathBuf,
    /// Encryption context KEY=VALUE pairs for every secret
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// File format [default: from the extension; JSON, then YAML]
    #[arg(short = 'f', long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Comment stored with every new version
    #[arg(short = 'c', long)]
    pub comment: Option<String>,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Encryption context KEY=VALUE pairs (one context for every secret)
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t = MapFormat::Json)]
    pub format: MapFormat,
}

/// `exec`.
#[derive(Debug, Args)]
#[command(override_usage = "lockbox exec [OPTIONS] -- COMMAND [ARGS]...")]
#[command(after_help = "Examples:\n  \
        lockbox exec --env DB_PASSWORD=prod/db/password -- /app/server\n  \
        lockbox exec --prefix prod/app/ --file /dev/shm/tls.key=prod/tls/key -- /app/server\n  \
        DB_PASSWORD=lockbox://prod/db/password@3 lockbox exec --env-ref DB_PASSWORD -- /app/server\n  \
        lockbox exec --manifest /etc/lockbox.toml --watch 5m --on-change signal:SIGHUP -- /app/server\n\n\
        If any secret cannot be read the command is not started; every failure is named \
        on stderr and the exit code is that of the most severe class (5, then 4, 3, 2, 6, 1). \
        Otherwise lockbox becomes the command (execve), or supervises it with --file or \
        --watch, and exits with its status (128+N when killed by signal N).")]
pub struct ExecArgs {
    /// Put secret NAME (latest, or version VERSION) in variable VAR
    #[arg(long = "env", value_name = "VAR=NAME[@VERSION]")]
    pub env: Vec<String>,
    /// Every secret whose name starts with PREFIX (latest version), in a variable named
    /// from the rest of its name: upper-cased, other characters as `_`
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefix: Vec<String>,
    /// Resolve VAR's inherited value if it is a reference (`lockbox://NAME[@VERSION]`);
    /// no other variable's value is ever resolved (repeatable; not with --pristine)
    #[arg(long = "env-ref", value_name = "VAR", conflicts_with = "pristine")]
    pub env_ref: Vec<String>,
    /// Write secret NAME to PATH (mode 0400, on a memory-backed filesystem), removed
    /// when the command exits
    #[arg(long = "file", value_name = "PATH=NAME[@VERSION]")]
    pub file: Vec<String>,
    /// A TOML, YAML (.yaml/.yml) or JSON (.json) file with the same declarations
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Encryption context pair for every secret (repeatable)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// Give up if the secrets are not all read within this time (e.g. 30s, 2m, 500ms)
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
    /// Stay as a supervisor and re-read the secrets every INTERVAL (±10% jitter)
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

/// Which secrets a lifecycle command takes, and their encryption contexts.
#[derive(Debug, Args)]
pub struct Selection {
    /// Only the secrets whose names match: `*` matches any text (for example `app/*`)
    #[arg(long, value_name = "PATTERN")]
    pub names: Option<String>,
    /// A JSON file of the encryption contexts secrets were stored with:
    /// {"NAME": {"KEY": "VALUE", ...}, ...}
    #[arg(long, value_name = "FILE")]
    pub contexts: Option<PathBuf>,
    /// Encryption context KEY=VALUE pairs for every secret not in --contexts (those
    /// stored with no context are read without)
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
}

/// `doctor --fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 7 on a warning or an error
    Warning,
    /// Exit 7 on an error
    Error,
}

/// `doctor`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 nothing at or above --fail-on, 7 something at or above \
        it (the report says what), 3 the table does not exist, others as for every command."
)]
pub struct DoctorArgs {
    /// Decrypt and check every item (one KMS call each); an item whose context is
    /// not given is reported as such, not as corrupt
    #[arg(long)]
    pub verify: bool,
    /// The least severe finding that makes the exit status 7
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub select: Selection,
}

/// `migrate`.
#[derive(Debug, Args)]
#[command(
    after_help = "The source (-t) is only read: credstash clients keep reading it. Run it \
        again after an interruption: versions already copied count as done. Exit 7 when some \
        versions were not migrated (listed: a context to give, a conflict, an unreadable item)."
)]
pub struct MigrateArgs {
    /// The sealed-mode table to copy into (`lockbox -t TABLE setup` makes one)
    #[arg(long, value_name = "TABLE")]
    pub to_table: String,
    /// Say what would be copied; write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub select: Selection,
}

/// `rewrap`.
#[derive(Debug, Args)]
#[command(
    after_help = "Readers must trust both keys while it runs (--trust-key OLD --trust-key \
        NEW); writers keep the old key until the pin moves at the end, then must use the new \
        one. Run it again after an interruption: items already moved are left as they are. \
        Exit 7 when some items were not moved (the pin then stays)."
)]
pub struct RewrapArgs {
    /// The new KMS key: key id, ARN, alias or alias ARN
    #[arg(long, value_name = "KEY")]
    pub to_key: String,
    /// Leave the table's key pin as it is
    #[arg(long)]
    pub keep_pin: bool,
    /// Say what would be moved; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub select: Selection,
}

/// `sync`.
#[derive(Debug, Args)]
#[command(
    after_help = "Items are copied as stored: nothing is decrypted or overwritten. An item \
        on both sides with different contents is a conflict, left alone: exit 7."
)]
pub struct SyncArgs {
    /// The table to copy into [default: the same name, with --to-region]
    #[arg(long, value_name = "TABLE", required_unless_present = "to_region")]
    pub to_table: Option<String>,
    /// The region to copy into [default: this table's]
    #[arg(long, value_name = "REGION")]
    pub to_region: Option<String>,
    /// Copy even when the target region has no replica of the key (its readers
    /// then need KMS in this region: --kms-region)
    #[arg(long)]
    pub copy_anyway: bool,
    /// Say what would be copied; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Only the secrets whose names match: `*` matches any text
    #[arg(long, value_name = "PATTERN")]
    pub names: Option<String>,
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
