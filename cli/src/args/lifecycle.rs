//! The arguments of the table lifecycle: `doctor`, `migrate`, `rewrap` and `sync`.

use std::path::PathBuf;

use clap::Args;

use super::kinds::*;
use crate::values::{self, ContextPair};

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
