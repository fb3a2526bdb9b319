//! The arguments of the commands that write: `setup`, `put`, `putall`, `delete`,
//! `prune`, `rollback`, `import`, and `policy` (the policies writers and readers need).

use std::path::PathBuf;

use clap::Args;
use lockbox::Digest;
use lockbox::{SecretName, Version};

use super::kinds::*;
use crate::values::{self, ContextPair};

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
    /// Also make a table shared with credstash ready for version labels and
    /// staged rotations: their companion table, TABLE.lockbox-labels, which
    /// credstash clients never read (a sealed table keeps labels in place)
    #[arg(long)]
    pub labels: bool,
    /// With --regions: the consistency of the replicas setup adds (strong needs
    /// exactly three regions of one region set and an empty table)
    #[arg(long, value_enum, value_name = "MODE")]
    pub consistency: Option<Consistency>,
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
    /// Check that the value is one JSON document first; nothing is stored otherwise
    #[arg(long)]
    pub json: bool,
    /// Ask for the value on the terminal, twice, without echo
    #[arg(short = 'P', long)]
    pub prompt: bool,
    /// Store nothing when the latest version already holds this value (prints
    /// that version)
    #[arg(long)]
    pub skip_unchanged: bool,
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
    /// Store an empty value (refused otherwise: an empty value is usually a
    /// producer that failed, as in `false | lockbox put NAME -`)
    #[arg(long)]
    pub allow_empty: bool,
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
    /// How many of the newest versions to keep (at least 1)
    #[arg(long, value_name = "N", value_parser = values::keep)]
    pub keep: u64,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// The version whose value becomes the new latest, written as a new version.
    /// Without it: `current` moves back to `previous` (a secret with labels), or,
    /// in a table shared with credstash, the value of `previous` (the version
    /// below the highest) is written anew
    #[arg(long, value_name = "N", value_parser = values::version)]
    pub to: Option<Version>,
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
    /// File format [default: from the name (.json, .yaml, .yml, .csv, .env); JSON,
    /// then YAML]
    #[arg(short = 'f', long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Comment stored with every new version
    #[arg(short = 'c', long)]
    pub comment: Option<String>,
    /// Store each NAME as PREFIX followed by NAME (`--prefix prod/app/`)
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Store empty values too (refused otherwise)
    #[arg(long)]
    pub allow_empty: bool,
}
